"""Where sweep runs execute: in this process, in local worker processes, or on a Dask cluster.

Every executor runs the same function, :func:`execute`, on the same inputs: the sweep's shared
:class:`RunContext` (sent to each worker once) and one :class:`Task` (experiment, replicate,
seed, parameters) per run. Workers return only the kept outcomes (:class:`RunOutput`); they
never touch the database, so a worker that outlives a killed coordinator cannot write twice.

``Executor.run(tasks)`` consumes an iterable of tasks lazily and yields ``(task, output or
exception)`` in completion order, keeping at most ``window`` tasks in flight, so the
coordinator's memory does not grow with the number of runs.

* :class:`SerialExecutor` — in this process (``--workers 1``).
* :class:`ProcessExecutor` — a :class:`concurrent.futures.ProcessPoolExecutor` (``forkserver``
  start method where available). Workers ignore SIGINT (the coordinator decides what a Ctrl-C
  means) and exit by themselves if the coordinator dies, even by SIGKILL.
* :class:`DaskExecutor` — a ``distributed.Client`` connected to a scheduler address, with a
  short connect timeout; the context is scattered to the workers once.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any, Protocol

import numpy as np

__all__ = [
    "DaskExecutor", "Executor", "ProcessExecutor", "RunContext", "RunOutput", "SerialExecutor", "Task",
    "execute", "make_executor", "process_context",
]

DEFAULT_CONNECT_TIMEOUT = 5.0  # seconds to reach a Dask scheduler before giving up


@dataclass(frozen=True)
class RunContext:
    """What every run of a sweep shares (plain data: scenarios do not pickle)."""

    key: str  # the sweep id: workers cache the base scenario under it
    base: dict[str, Any]  # the base scenario as Scenario.to_dict()
    outcomes: tuple[str, ...]
    dynamic: tuple[str, ...]  # outcomes that are 0 when a run's summary lacks them (counters, flags)
    series: tuple[str, ...]  # time series kept
    #: modules defining the sweep's non-built-in policies, imported by every worker before a run
    plugins: tuple[str, ...] = ()
    #: policies defined in ``__main__`` (a notebook): they exist only in this process
    local_policies: tuple[str, ...] = ()


@dataclass(frozen=True)
class Task:
    """One run: experiment ``experiment`` of the design, replicate ``replicate``."""

    experiment: int
    replicate: int
    seed: int
    parameters: dict[str, Any]


@dataclass
class RunOutput:
    """What a worker sends back: kept outcomes, kept series, provenance and timing."""

    experiment: int
    replicate: int
    seed: int
    n_steps: int
    scenario_hash: str
    summary: dict[str, float]
    t: np.ndarray
    timeseries: dict[str, np.ndarray]
    started_at: datetime
    finished_at: datetime
    run_s: float  # model set-up + run
    worker: str = field(default="")


_BASE_CACHE: dict[str, Any] = {}


def _base_scenario(ctx: RunContext) -> Any:
    from sim.core.scenario import Scenario

    sc = _BASE_CACHE.get(ctx.key)
    if sc is None:
        from sim import policies

        policies.import_modules(ctx.plugins)
        if len(_BASE_CACHE) >= 4:
            _BASE_CACHE.clear()
        sc = _BASE_CACHE[ctx.key] = Scenario.from_dict(ctx.base)
    return sc


def execute(ctx: RunContext, task: Task) -> RunOutput:
    """Run one task; the same code in-process, in a worker process and on a Dask worker."""
    from sim.core.model import Model
    from sim.experiments.sweep.spec import apply_overrides

    scenario = apply_overrides(_base_scenario(ctx), task.parameters)
    t0 = time.perf_counter()
    model = Model(scenario, seed=task.seed)
    res = model.run(progress=False)
    run_s = time.perf_counter() - t0
    summary: dict[str, float] = {}
    for name in ctx.outcomes:
        value = res.summary.get(name)
        summary[name] = float(value) if value is not None else (0.0 if name in ctx.dynamic else math.nan)
    out = RunOutput(
        experiment=task.experiment, replicate=task.replicate, seed=task.seed, n_steps=model.t,
        scenario_hash=scenario.content_hash(), summary=summary, t=res.t,
        timeseries={k: res.timeseries[k] for k in ctx.series}, started_at=res.started_at,
        finished_at=res.finished_at, run_s=run_s, worker=f"{socket.gethostname()}:{os.getpid()}",
    )
    # The model's policies and recorder refer back to it (reference cycles), so a discarded model
    # would wait for a full garbage collection; dropping its state frees it at once.
    model.__dict__.clear()
    del model, res
    return out


class Executor(Protocol):
    name: str
    workers: int

    def run(self, tasks: Iterable[Task]) -> Iterator[tuple[Task, RunOutput | Exception]]: ...

    def close(self, cancel: bool = False) -> None: ...


class SerialExecutor:
    """Runs every task in this process, one after the other."""

    name = "this process"
    workers = 1

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def run(self, tasks: Iterable[Task]) -> Iterator[tuple[Task, RunOutput | Exception]]:
        for task in tasks:
            try:
                out: RunOutput | Exception = execute(self.ctx, task)
            except Exception as exc:  # noqa: BLE001 - reported per run by the coordinator
                out = exc
            yield task, out

    def close(self, cancel: bool = False) -> None:
        pass


# ------------------------------------------------------------------ local worker processes
_WORKER_CTX: RunContext | None = None


def _watch_parent(parent: int) -> None:
    """Exit this worker soon after the coordinator is gone (it may have been SIGKILLed)."""
    start_ppid = os.getppid()
    while True:
        time.sleep(0.5)
        gone = os.getppid() != start_ppid
        if not gone:
            try:
                os.kill(parent, 0)
            except ProcessLookupError:
                gone = True
            except PermissionError:  # pid reused by another user's process
                gone = True
        if gone:
            os._exit(1)


def _init_worker(ctx: RunContext, parent: int) -> None:
    global _WORKER_CTX
    _WORKER_CTX = ctx
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="govsim-watchdog").start()
    from sim.core.model import warm_up

    warm_up()  # load the compiled kernels once per worker, not inside its first run


def _ready() -> int:
    return os.getpid()


def _pool_execute(task: Task) -> RunOutput:
    assert _WORKER_CTX is not None, "worker not initialised"
    return execute(_WORKER_CTX, task)


def process_context(preload: Sequence[str] = ("sim.core.model",)) -> Any:
    """The multiprocessing context of every govsim process pool: ``forkserver`` where available.

    ``fork`` from a process that already runs threads (a progress bar's monitor, the pool's own
    manager thread, Dask) can deadlock the child, and Python 3.12+ warns about it; ``spawn``
    where there is no fork server. The fork server imports ``preload`` once, so each worker
    forks from it ready to run. Work sent to the workers must be importable: a policy class
    defined in a notebook runs only in this process (``workers=1``).
    """
    import multiprocessing as mp

    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(list(preload))
    return ctx


def _mp_context() -> Any:
    return process_context(("sim.experiments.runner", "sim.core.model", "sim.experiments.sweep.spec"))


class ProcessExecutor:
    """Local worker processes with a bounded number of tasks in flight."""

    def __init__(self, ctx: RunContext, workers: int, window: int | None = None) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.name = f"{workers} local worker process{'es' if workers > 1 else ''}"
        self.workers = workers
        self.window = window or 2 * workers
        self.max_in_flight = 0  # observed, for tests
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context(), initializer=_init_worker,
                                         initargs=(ctx, os.getpid()))
        self._inflight: dict[Future[RunOutput], Task] = {}

    def start(self) -> None:
        """Start the worker processes now (they start with the first task otherwise)."""
        wait([self._pool.submit(_ready) for _ in range(self.workers)])

    def run(self, tasks: Iterable[Task]) -> Iterator[tuple[Task, RunOutput | Exception]]:
        from concurrent.futures.process import BrokenProcessPool

        it = iter(tasks)
        inflight = self._inflight

        def fill() -> None:
            for task in islice(it, max(0, self.window - len(inflight))):
                inflight[self._pool.submit(_pool_execute, task)] = task
            self.max_in_flight = max(self.max_in_flight, len(inflight))

        fill()
        while inflight:
            done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
            for fut in sorted(done, key=lambda f: (inflight[f].experiment, inflight[f].replicate)):
                task = inflight.pop(fut)
                try:
                    out: RunOutput | Exception = fut.result()
                except BrokenProcessPool:
                    raise RuntimeError("a worker process died unexpectedly (out of memory?); "
                                       "rerun the same command to resume") from None
                except Exception as exc:  # noqa: BLE001
                    out = exc
                yield task, out
            fill()

    def close(self, cancel: bool = False) -> None:
        """Shut the pool down; with ``cancel`` stop at once (queued tasks dropped, workers terminated)."""
        if not cancel:
            self._pool.shutdown(wait=True)
            return
        procs = list((getattr(self._pool, "_processes", None) or {}).values())
        for fut in self._inflight:
            fut.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(timeout=5)
        self._inflight.clear()


# ------------------------------------------------------------------ Dask distributed
class DaskExecutor:
    """Runs tasks on a Dask cluster through its scheduler."""

    def __init__(self, ctx: RunContext, address: str, *, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
                 window: int | None = None) -> None:
        from sim.errors import InputError

        try:
            from distributed import Client
        except ImportError:
            raise InputError("--scheduler needs Dask distributed: pip install 'govsim[cluster]'") from None
        self.address = address
        try:
            self.client = Client(address, timeout=connect_timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(f"cannot reach the Dask scheduler at '{address}' within {connect_timeout:g} s "
                            f"({detail}); start one with `dask scheduler` and `dask worker ADDRESS`") from None
        nthreads = sum(self.client.nthreads().values())
        if nthreads == 0:  # e.g. a job-queue cluster whose worker jobs are still queued
            import sys

            print(f"govsim: waiting for the first Dask worker to connect to {address} ...", file=sys.stderr, flush=True)
            self.client.wait_for_workers(1)
            nthreads = sum(self.client.nthreads().values())
        self.workers = max(1, nthreads)
        self.name = f"Dask scheduler {address} ({nthreads} worker thread{'s' if nthreads != 1 else ''})"
        self.window = window or max(4, 2 * nthreads)
        self.max_in_flight = 0
        self._ctx = self.client.scatter(ctx, broadcast=True, hash=False)
        self._token = os.urandom(4).hex()
        self._inflight: dict[str, tuple[Any, Task]] = {}

    def run(self, tasks: Iterable[Task]) -> Iterator[tuple[Task, RunOutput | Exception]]:
        from distributed import as_completed

        it = iter(tasks)
        inflight = self._inflight
        ac = as_completed(loop=self.client.loop)

        def submit(task: Task) -> None:
            key = f"govsim-run-{self._token}-{task.experiment}-{task.replicate}"
            fut = self.client.submit(execute, self._ctx, task, key=key, pure=False)
            inflight[fut.key] = (fut, task)
            ac.add(fut)

        for task in islice(it, self.window):
            submit(task)
        self.max_in_flight = len(inflight)
        for fut in ac:
            _, task = inflight.pop(fut.key)
            try:
                out: RunOutput | Exception = fut.result()
            except Exception as exc:  # noqa: BLE001 - a failed run (or a lost worker) is reported per run
                out = exc
            fut.release()
            nxt = next(it, None)
            if nxt is not None:
                submit(nxt)
            self.max_in_flight = max(self.max_in_flight, len(inflight))
            yield task, out

    def close(self, cancel: bool = False) -> None:
        try:
            if cancel and self._inflight:
                self.client.cancel([f for f, _ in self._inflight.values()])
            self._inflight.clear()
        finally:
            self.client.close()


def make_executor(ctx: RunContext, workers: int | None = None, scheduler: str | None = None) -> Executor:
    """Dask if ``scheduler`` is given, else ``workers`` local processes (1: this process).

    Other processes import the policies by module (``ctx.plugins``); a policy defined in
    ``__main__`` (a notebook) exists only here: ``ValueError`` unless the sweep runs in this process.
    """
    n = int(workers) if workers is not None else (os.cpu_count() or 1)
    if ctx.local_policies and (scheduler or n > 1):
        raise ValueError(f"policy {ctx.local_policies[0]!r} is defined in __main__ (a notebook or a script), which "
                         f"worker processes cannot import: run the sweep with workers=1, or define it in a module")
    if scheduler:
        return DaskExecutor(ctx, scheduler)
    return SerialExecutor(ctx) if n <= 1 else ProcessExecutor(ctx, n)
