"""The sweep coordinator: creates the sweep in the store, runs what is missing, streams results in.

Crash safety. The sweep and all its experiments are written in one transaction before any run
starts. Each finished run is then stored with its link ``(experiment, replicate) -> run``, and the
store's unique constraint on ``(experiment, replicate)`` makes saving idempotent. A result is
committed, with any runs waiting, when it arrives if its run took ``commit_every_s`` (default
:data:`STORE_EVERY_S`, 2 s) or longer, if the last commit is that old, once a stop signal came, or
at :data:`_STORE_BATCH` runs waiting; otherwise (a short run soon after a commit) it waits. The
runs waiting are also committed when the executor has had no result for a tick (``commit_every_s``
within :data:`_TICK_S`, 0.05-0.5 s) and the last commit is ``commit_every_s`` old or a stop signal
came, and at the loop's end or an error ending it. So with worker processes or Dask a run waits at
most ``commit_every_s`` and a tick after it finished, however long the runs still in flight; in
this process (one worker) the run under way holds the coordinator, and a short run waits for it to
end. A commit has a fixed cost (3-15 ms on SQLite and on a local PostgreSQL right after a run, when
the store's code and the server run cold), so short runs committed together cost the sweep well
under 1% of its time. The price: a SIGKILL loses the short runs not yet committed (with workers,
at most those of the last ``commit_every_s`` and a tick; after a scheduler's SIGTERM, none once a
tick has passed), which a rerun makes again. Running the same sweep file again (same
content -> same sweep id) reads the finished pairs and runs only the missing ones, whether the last
attempt ended normally, by Ctrl-C, by SIGTERM or by SIGKILL.

Memory. Tasks are generated lazily from the design and at most ``window`` are in flight; results
are written (at most :data:`_STORE_BATCH` waiting) and dropped, so the coordinator's memory does not
grow with the number of runs.

One coordinator per sweep. The coordinator holds the sweep's lease in the store
(:class:`~sim.store.lease.LeaseKeeper`) while it runs; a second coordinator of the same sweep
stops at once with a :class:`~sim.errors.StoreError` naming the holder and since when, having run
nothing, so no run is computed twice.

Failures. A run that raises, or whose worker process dies on every attempt (the executor reruns
it elsewhere first), is recorded in the store's ``sweep_failures`` with its error, and the sweep
goes on; the report lists the failures. Running the same sweep again retries them.

Signals. The first SIGINT (Ctrl-C) or SIGTERM (batch schedulers) stops the sweep gracefully
(:class:`~sim.experiments.runner.StopSignals`): no new run is handed out, the runs waiting are
committed (at the next result or tick), the runs in flight (at most the executor's window, twice
the workers) finish and are stored, then it returns with the report marked interrupted. A second
signal drops the runs still in flight at once (a result being stored is committed first). Finished
runs always stay.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from sim.core.scenario import dump_toml
from sim.errors import InputError, StoreError, WorkerError
from sim.experiments import runner
from sim.experiments.runner import TICK, Executor, StopSignals, progress_bar, run_record
from sim.experiments.sweep import work
from sim.experiments.sweep.spec import SweepSpec, dynamic_metric
from sim.experiments.sweep.work import RunContext, RunOutput, Task
from sim.store.database import ResultStore, SweepRun
from sim.store.lease import DEFAULT_TTL_S, LeaseKeeper, record_failure

__all__ = ["STORE_EVERY_S", "SweepReport", "experiment_rows", "run_context", "run_sweep", "sweep_executor", "sweep_row"]

_MAX_ERRORS_KEPT = 10
_GC_EVERY = 250  # stored results between full garbage collections in the coordinator
#: seconds after a commit during which short runs wait to be stored together (see the module docstring)
STORE_EVERY_S = 2.0
#: finished runs stored together at most
_STORE_BATCH = 64
#: bounds of the executor's tick (``commit_every_s`` within them): how often a loop with no result looks at the runs
#: waiting, to store them once due
_TICK_S = (0.05, 0.5)


@dataclass
class SweepReport:
    """What a call of :func:`run_sweep` did."""

    sweep_id: str
    n_runs: int  # runs in the sweep (experiments x replicates)
    n_before: int  # already stored when it started
    n_stored: int = 0  # stored by this call
    #: runs of this call found stored when it saved them: a commit that happened though its answer was lost (the
    #: save is retried and finds its runs), or a coordinator that outlived its lease; done, not stored again
    n_found: int = 0
    n_failed: int = 0
    errors: list[str] = field(default_factory=list)  # the first few failures, one line each
    interrupted: bool = False
    in_flight_at_stop: int = 0  # runs handed out when the first stop signal came
    stored_after_stop: int = 0  # of those, stored before the sweep returned
    worker_restarts: int = 0  # worker pools restarted after a worker process died
    created: bool = False
    wall_s: float = 0.0
    loop_s: float = 0.0  # from the first task to the last result (without set-up)
    compute_s: float = 0.0  # model set-up + run time summed over runs (in the workers)
    store_s: float = 0.0  # time spent storing, in the coordinator
    executor: str = ""

    @property
    def n_done(self) -> int:
        """Runs stored, before this call and by it (or found stored when it saved them)."""
        return self.n_before + self.n_stored + self.n_found

    @property
    def complete(self) -> bool:
        """Every run of the sweep is stored."""
        return self.n_done == self.n_runs

    def to_json(self) -> dict[str, Any]:
        """The report as plain data (seconds rounded to the millisecond)."""
        return {"sweep_id": self.sweep_id, "n_runs": self.n_runs, "n_before": self.n_before,
                "n_stored": self.n_stored, "n_found": self.n_found, "n_done": self.n_done, "n_failed": self.n_failed,
                "errors": self.errors, "interrupted": self.interrupted, "created": self.created,
                "in_flight_at_stop": self.in_flight_at_stop, "stored_after_stop": self.stored_after_stop,
                "worker_restarts": self.worker_restarts,
                "complete": self.complete, "wall_s": round(self.wall_s, 3), "loop_s": round(self.loop_s, 3),
                "compute_s": round(self.compute_s, 3),
                "store_s": round(self.store_s, 3), "executor": self.executor}


def run_context(spec: SweepSpec) -> RunContext:
    """What every run of the sweep shares: base scenario, kept outcomes and series, policy modules."""
    from sim import policies

    pols = spec.policies_used()
    local = tuple(name for name in sorted(pols) if policies.get(name).__module__ == "__main__")
    return RunContext(key=spec.sweep_id, base=spec.base.to_dict(), outcomes=spec.outcomes,
                      dynamic=tuple(o for o in spec.outcomes if dynamic_metric(o, pols)), series=spec.timeseries,
                      plugins=policies.defining_modules(sorted(pols - set(local))), local_policies=local,
                      share_prefix=spec.shares_prefix)


def sweep_executor(spec: SweepSpec, workers: int | None = None, scheduler: str | None = None, *,
                   security: Any = None) -> Executor:
    """The executor of a sweep's runs (:func:`~sim.experiments.runner.make_executor` of :func:`work.execute`).

    Other processes import the sweep's policies by module (``RunContext.plugins``); a policy
    defined in ``__main__`` (a notebook) exists only here: :class:`~sim.errors.InputError` unless
    the sweep runs in this process. An unreachable scheduler fails here, before any write.
    ``security``: Dask's TLS settings (:func:`sim.experiments.cluster.tls_security`).
    """
    ctx = run_context(spec)
    if ctx.local_policies and not runner.in_this_process(workers, scheduler):
        raise InputError(f"policy {ctx.local_policies[0]!r} is defined in __main__ (a notebook or a script), which "
                         f"worker processes cannot import: run the sweep with workers=1, or define it in a module")
    return runner.make_executor(work.execute, ctx, workers, scheduler, security=security)


def sweep_row(spec: SweepSpec) -> dict[str, Any]:
    """The sweep's row of the ``sweeps`` table: identity, spec, base scenario, design, provenance."""
    from sim.config.version import __version__

    return {
        "id": spec.sweep_id, "name": spec.name, "spec_hash": spec.spec_hash, "spec": spec.to_json(),
        "sweep_file": spec.path, "base_scenario_name": spec.base.name,
        "base_scenario_hash": spec.base.content_hash(), "base_scenario_text": spec.base.to_toml(),
        "design": spec.design, "n_experiments": spec.n_experiments, "replicates": spec.replicates,
        "root_seed": spec.seed, "n_steps": spec.steps, "record_every": spec.record_every,
        "package_version": __version__, "created_at": datetime.now(UTC),
    }


def experiment_rows(spec: SweepSpec) -> Iterator[dict[str, Any]]:
    """The ``experiments`` rows of a sweep: index, parameters, design sample, scenario hash (lazily)."""
    for i in range(spec.n_experiments):
        yield {"idx": i, "parameters": spec.parameters(i), "sample": spec.sample(i),
               "scenario_hash": spec.scenario(i).content_hash()}


def _scenario_text(spec: SweepSpec, out: RunOutput, params: dict[str, Any]) -> str:
    lines = [(f"# sweep {spec.sweep_id}, experiment {out.experiment}: the sweep's base scenario "
              f"(sweeps.base_scenario_text) with these keys set")]
    return "\n".join(lines) + "\n" + dump_toml(params)


def _hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class _ExperimentRows:
    """The experiment rows of a sweep, readable again (the store may retry creating the sweep)."""

    def __init__(self, spec: SweepSpec) -> None:
        self.spec = spec

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return experiment_rows(self.spec)


def _open(spec: SweepSpec, store: ResultStore, report: SweepReport) -> tuple[dict[int, int], set[tuple[int, int]]]:
    """Create the sweep in the store unless it is there; its experiment ids and the pairs already done."""
    report.created = store.open_sweep(sweep_row(spec), _ExperimentRows(spec))
    exp_ids = store.sweep_experiment_ids(spec.sweep_id)
    if len(exp_ids) != spec.n_experiments:
        raise StoreError(f"sweep {spec.sweep_id} has {len(exp_ids)} experiments stored, "
                         f"expected {spec.n_experiments}")
    done = store.sweep_done(spec.sweep_id)
    report.n_before = len(done)
    return exp_ids, done


def _say_plan(spec: SweepSpec, report: SweepReport, done: set[tuple[int, int]], say: Callable[[str], None]) -> None:
    say(f"sweep {spec.sweep_id}: {spec.n_experiments:,} experiments x {spec.replicates} replicate"
        f"{'s' if spec.replicates != 1 else ''} = {spec.n_runs:,} runs; {len(done):,} already stored; "
        f"running {spec.n_runs - len(done):,} on {report.executor}")


@dataclass
class _Loop:
    """The coordinator's loop: stores the results as they arrive (short runs together), reports failures and progress."""

    spec: SweepSpec
    store: ResultStore
    report: SweepReport
    exp_ids: dict[int, int]
    say: Callable[[str], None]
    progress: bool
    stream: TextIO
    log_every_s: float
    on_result: Callable[[SweepReport], None] | None
    lease: LeaseKeeper | None = None
    bar: Any = None
    commit_every_s: float = STORE_EVERY_S
    pending: list[tuple[Task, RunOutput, int]] = field(default_factory=list)  # finished, not yet stored
    unstored: int = 0  # runs of a commit under way (taken from ``pending``) until it succeeds
    maybe_stored: bool = False  # the store gave up on a commit that may have happened
    t_commit: float = float("-inf")  # when the last batch was stored
    t_log: float = 0.0
    t_run0: float = 0.0
    handed_out: int = 0
    received: int = 0
    received_at_stop: int = 0

    def _tasks(self, done: set[tuple[int, int]], stop: StopSignals) -> Iterator[Task]:
        """The runs still to do, lazily; none once a stop signal came."""
        spec = self.spec
        for e, r in spec.pairs(done):
            if stop.stopping:
                return
            self.handed_out += 1
            yield Task(e, r, spec.seed_of(e, r), spec.overrides(e))

    def _on_stop(self) -> None:
        """The first stop signal: say what happens to the runs in flight."""
        self.received_at_stop = self.received  # runs received later were in flight at the stop
        self.report.in_flight_at_stop = n = self.handed_out - self.received
        self._say(f"govsim: stopping: finishing the {n} run{'s' if n != 1 else ''} in flight, then storing them "
                  f"(press Ctrl-C again to drop them)")

    def _say(self, msg: str) -> None:
        self.bar.write(msg, file=self.stream) if self.progress else self.say(msg)

    def run(self, executor: Executor, done: set[tuple[int, int]]) -> bool:
        """Run the pairs not ``done``; False if SIGINT or SIGTERM stopped it."""
        spec, report = self.spec, self.report
        self.bar = progress_bar(spec.n_runs, spec.sweep_id[:40], self.progress, initial=len(done), file=self.stream,
                                dynamic_ncols=True, smoothing=0.05, leave=True)
        self.t_log = self.t_run0 = time.perf_counter()
        restarts0 = getattr(executor, "restarts", 0)
        try:
            with StopSignals(graceful=True, on_stop=self._on_stop) as stop:
                try:
                    with closing(executor.run(self._tasks(done, stop), tick_s=self._tick_s())) as results:
                        for item in results:
                            self._take(item, stop)
                except KeyboardInterrupt:
                    report.interrupted = True
                except BaseException:  # an executor's, the store's or a callback's error: store what finished first
                    self._store_before_failing(stop)
                    raise
                try:  # finished runs always stay
                    self._store(stop)
                except KeyboardInterrupt:  # a further Ctrl-C before the commit began
                    report.interrupted = True
                    self._say_unstored()
                except BaseException:  # the store gave up: say what was lost, then its error
                    self._say_unstored()
                    raise
                report.interrupted = report.interrupted or stop.stopping
                report.loop_s = time.perf_counter() - self.t_run0
        finally:
            report.worker_restarts = getattr(executor, "restarts", 0) - restarts0
            self.bar.close()
        return not report.interrupted

    def _tick_s(self) -> float | None:
        """The executor's tick: ``commit_every_s`` within :data:`_TICK_S`; none if each run is committed at once."""
        lo, hi = _TICK_S
        return min(max(self.commit_every_s, lo), hi) if self.commit_every_s > 0 else None

    def _take(self, item: tuple[Any, Any], stop: StopSignals) -> None:
        """One item from the executor: a run's result or failure, or a tick (nothing finished for a while)."""
        if item is TICK:
            if self._due(stop):
                self._store(stop)  # the runs waiting, due while only longer runs are in flight (or a signal came)
            return
        task, out = item
        self.received += 1
        if isinstance(out, Exception):
            self._failed(task, out, stop)
        else:
            self._received(task, out, stop, self.received)

    def _failed(self, task: Task, exc: Exception, stop: StopSignals) -> None:
        """Record the failed run in the store with its error, and report it; the sweep goes on."""
        self.report.n_failed += 1
        attempts = exc.attempts if isinstance(exc, WorkerError) else 1
        msg = (f"experiment {task.experiment} replicate {task.replicate} failed: "
               f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        with stop.critical():
            record_failure(self.store, self.exp_ids[task.experiment], task.replicate, task.seed, attempts, msg)
        if self._due(stop):
            self._store(stop)  # a result arrived: the runs waiting are due as after a short run
        if len(self.report.errors) < _MAX_ERRORS_KEPT:
            self.report.errors.append(msg)
            self._say(f"govsim: {msg}")

    def _received(self, task: Task, out: RunOutput, stop: StopSignals, nth: int) -> None:
        """Keep the ``nth`` run received; store it with those waiting unless it is short and the last commit recent.

        See the module docstring; on a stop signal, and at :data:`_STORE_BATCH` runs waiting, at once.
        """
        self.pending.append((task, out, nth))
        if out.run_s >= self.commit_every_s or len(self.pending) >= _STORE_BATCH or self._due(stop):
            self._store(stop)

    def _due(self, stop: StopSignals) -> bool:
        """Whether a result or a tick now commits the runs waiting: a stop signal came, or the last commit is old."""
        return stop.stopping or time.perf_counter() - self.t_commit >= self.commit_every_s

    def _store_before_failing(self, stop: StopSignals) -> None:
        """Store the runs waiting while an error ends the loop; the loop's error is the one raised.

        Runs that could not be stored (an error or a Ctrl-C while storing them) are said in one line.
        """
        try:
            self._store(stop)
        except BaseException:  # noqa: BLE001, S110 - said below if runs were lost; the loop's error goes on
            pass
        self._say_unstored()

    def _say_unstored(self) -> None:
        """Say how many finished runs were not stored (an error or a Ctrl-C while storing them), if any."""
        n, self.unstored = self.unstored + len(self.pending), 0
        self.pending.clear()
        if n and self.maybe_stored:
            self._say(f"govsim: {n} finished run{'s' if n != 1 else ''} may not have been stored; running the same "
                      f"sweep again makes any that are missing")
        elif n:
            self._say(f"govsim: {n} finished run{'s were' if n != 1 else ' was'} not stored; running the same "
                      f"sweep again makes {'them' if n != 1 else 'it'} again")

    def _store(self, stop: StopSignals) -> None:
        """Store the runs received and not yet stored, in one transaction.

        A run counts as stored after the stop if it was in flight then (received after it). The
        runs leave ``pending`` when the transaction starts: if it fails, its error says so and a
        rerun makes them again.
        """
        if not self.pending:
            return
        spec, report = self.spec, self.report
        t0 = time.perf_counter()
        with stop.critical():  # a Ctrl-C or SIGTERM waits for this commit
            items, self.pending = self.pending, []
            self.unstored = len(items)  # until the commit
            batch = [SweepRun(run_record(out, scenario_name=spec.base.name, scenario_hash=out.scenario_hash,
                                         scenario_text=_scenario_text(spec, out, task.parameters), seed=out.seed,
                                         n_steps=out.n_steps, label=f"sweep:{spec.sweep_id}"),
                              self.exp_ids[task.experiment], task.replicate, out.worker, out.run_s)
                     for task, out, _ in items]
            try:
                stored = self.store.save_sweep_runs(batch)
            except StoreError as exc:
                self.maybe_stored = exc.maybe_written
                raise
            self.unstored = 0
            self.t_commit = time.perf_counter()
            report.store_s += self.t_commit - t0
            gc_due = report.n_stored // _GC_EVERY
            for (_, out, nth), run_id in zip(items, stored, strict=True):
                report.compute_s += out.run_s
                if run_id is None:  # stored already: by a first try of this commit whose answer was lost
                    report.n_found += 1
                else:
                    report.n_stored += 1
                # not ``stop.stopping``: a signal during this commit must not count a run received before it
                report.stored_after_stop += stop.stopping and nth > self.received_at_stop
            self.bar.update(len(batch))
        if self.lease is not None and self.lease.lost:
            raise StoreError(f"sweep {spec.sweep_id}: another coordinator took over its lease (this one's heartbeat "
                             f"had stopped); stopping here, every run finished so far is stored")
        if report.n_stored // _GC_EVERY > gc_due:
            gc.collect()  # storing leaves cyclic garbage: keep the coordinator's heap flat
        if self.on_result is not None:
            self.on_result(report)
        if not self.progress and time.perf_counter() - self.t_log >= self.log_every_s:
            self._log_progress()

    def _log_progress(self) -> None:
        spec, report = self.spec, self.report
        self.t_log = time.perf_counter()
        rate = (report.n_stored + report.n_found) / max(self.t_log - self.t_run0, 1e-9) * 60
        left = spec.n_runs - report.n_done
        eta = _hms(left / rate * 60) if rate > 0 else "?"
        self.say(f"sweep {spec.sweep_id}: {report.n_done:,}/{spec.n_runs:,} runs "
                 f"({100 * report.n_done / spec.n_runs:.0f}%), {rate:.1f} runs/min, ETA {eta}")


def run_sweep(
    spec: SweepSpec,
    store: ResultStore,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    executor: Executor | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    log_every_s: float = 60.0,
    stream: TextIO | None = None,
    on_result: Callable[[SweepReport], None] | None = None,
    lease_ttl_s: float = DEFAULT_TTL_S,
    on_start: Callable[[], None] | None = None,
    commit_every_s: float = STORE_EVERY_S,
) -> SweepReport:
    """Run the missing runs of ``spec`` and store them as they finish; see the module docstring.

    ``executor`` (if given) is used and left open (cancelled if the sweep is interrupted); otherwise one is
    made from ``workers`` / ``scheduler`` and closed. With ``progress`` a tqdm bar (runs done, rate, ETA) goes
    to ``stream`` (stderr); without it ``log`` gets a line every ``log_every_s`` seconds (for batch logs).
    ``on_start`` is called once the sweep's lease is held and runs are to be made (not when every
    run is stored, nor when another coordinator holds the sweep); ``on_result`` with the report
    after each commit (of one or more runs: ``commit_every_s``, 0 for one each; module docstring).
    ``lease_ttl_s``: seconds without heartbeat after which another coordinator may take the sweep's
    lease over. A coordinator already running the sweep: :class:`~sim.errors.StoreError`, nothing run.
    """
    if not (isinstance(commit_every_s, (int, float)) and 0 <= commit_every_s < float("inf")):
        raise InputError(f"commit_every_s must be a number of seconds >= 0, got {commit_every_s!r}")
    stream = stream or sys.stderr
    say = log or (lambda msg: print(msg, file=stream, flush=True))
    t_start = time.perf_counter()
    if own_executor := executor is None:  # one is made: an unreachable scheduler fails before any write
        executor = sweep_executor(spec, workers, scheduler)
    report = SweepReport(spec.sweep_id, spec.n_runs, 0, executor=executor.name)
    cancel = True
    try:
        exp_ids, done = _open(spec, store, report)
        if len(done) == spec.n_runs:
            _say_plan(spec, report, done, say)
            cancel = False
            return report
        with LeaseKeeper(store, spec.sweep_id, ttl_s=lease_ttl_s) as lease:
            done = store.sweep_done(spec.sweep_id)  # read again under the lease: what the last holder stored
            report.n_before = len(done)
            if on_start is not None:
                on_start()
            _say_plan(spec, report, done, say)
            loop = _Loop(spec, store, report, exp_ids, say, progress, stream, log_every_s, on_result, lease,
                         commit_every_s=float(commit_every_s))
            cancel = not loop.run(executor, done)
    finally:
        if own_executor or cancel:
            try:
                executor.close(cancel=cancel)
            except KeyboardInterrupt:  # a second Ctrl-C while shutting down
                executor.close(cancel=True)
        work.forget_prefixes()  # runs made in this process (one worker) kept their shared days here
        report.wall_s = time.perf_counter() - t_start
    return report
