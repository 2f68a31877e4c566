"""The one place that starts worker processes: runs in this process, in local workers or on Dask.

Every executor applies one function ``fn(shared, task)`` to a stream of tasks: ``shared`` is the plain data every
task needs (sent to each worker once), each task is small. Workers return results and never touch the database, so a
worker that outlives a killed coordinator cannot write twice. ``run(tasks)`` consumes the tasks lazily, keeps at
most ``window`` in flight and yields ``(task, result or exception)`` in completion order (``ordered=True``: task
order), so the coordinator's memory does not grow with the number of tasks and results never depend on the number of
workers (each task carries its own seed). ``run(tasks, tick_s=s)`` also yields :data:`TICK` each time ``s`` seconds
pass without a result, so that a coordinator waiting for long tasks can do its own work meanwhile (store what
finished, act on a stop signal); in this process a task holds the coordinator anyway, so there is no tick.

* :class:`SerialExecutor` — in this process (one worker).
* :class:`ProcessExecutor` — a :class:`concurrent.futures.ProcessPoolExecutor` (``forkserver`` where available)
  whose workers preload the model, load the compiled kernels once (:func:`sim.core.model.warm_up`), ignore SIGINT
  (the coordinator decides what a Ctrl-C means) and exit by themselves if the coordinator dies, even by SIGKILL. A
  dying worker (killed, out of memory) breaks the pool: it is restarted and the tasks in flight rerun one at a time,
  so a death is pinned on its task; one whose worker dies ``max_attempts`` times running alone yields a WorkerError.
* :class:`DaskExecutor` — a ``distributed.Client`` connected to a scheduler address, with a short connect timeout
  and Dask's TLS settings (``security``); ``shared`` is scattered to the workers once. Dask reruns a lost worker's
  tasks elsewhere (``distributed.scheduler.allowed-failures``).

Each ``run`` keeps its own tasks in flight: when it is abandoned (closed, or an exception stops the loop) the tasks
it had queued are cancelled and those already running are dropped, so the next ``run`` on the same executor sees
only its own results.

:func:`open_executor`, :func:`map_tasks` and :func:`run_tasks` are the short ways to use them;
:func:`call_in_new_process` runs one function in a fresh interpreter (benchmarks measure a process of their own).
:class:`StopSignals` is how a coordinator that stores results as they arrive stops on SIGINT or SIGTERM without
cutting a commit in half; :func:`run_record` turns any run's outcome into the store's row (both re-exported here).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import closing, contextmanager
from itertools import islice
from typing import Any, Final, Protocol, TypeVar

from tqdm.auto import tqdm

from sim.errors import ClusterError, InputError, WorkerError
from sim.experiments.records import RunOutcome, run_record
from sim.experiments.signals import StopSignals

__all__ = [
    "TICK", "DaskExecutor", "Executor", "ProcessExecutor", "RunOutcome", "SerialExecutor", "StopSignals", "Work",
    "call_in_new_process", "check_workers", "gather", "in_this_process", "make_executor", "map_tasks",
    "open_executor", "progress_bar", "run_record", "run_tasks",
]

DEFAULT_CONNECT_TIMEOUT = 5.0  # seconds to reach a Dask scheduler before giving up
_POLL_S = 0.05  # seconds between looks at Dask's finished tasks while a tick is due (Dask's own wait polls too)
#: Modules every worker process imports before its first task (the fork server preloads them).
PRELOAD: tuple[str, ...] = ("sim.experiments.runner", "sim.core.model")

T = TypeVar("T")
R = TypeVar("R")
#: ``fn(shared, task) -> result``: the work an executor does, a module-level function (it is pickled by name).
Work = Callable[[Any, Any], Any]
#: What ``run(tasks, tick_s=...)`` yields in place of a ``(task, result)`` when ``tick_s`` seconds passed without a
#: result; test it with ``is``.
TICK: Final[tuple[Any, Any]] = (object(), None)


class Executor(Protocol):
    """Where tasks run: see the module docstring."""

    name: str
    workers: int

    def run(self, tasks: Iterable[Any], ordered: bool = False, *,
            tick_s: float | None = None) -> Generator[tuple[Any, Any], None, None]:
        """``(task, result or exception)`` once per task (sweeps count them), as they finish (``ordered``: in order).

        With ``tick_s``, also :data:`TICK` each time ``tick_s`` seconds pass without a result (not in this process).
        """

    def close(self, cancel: bool = False) -> None:
        """Release the workers; with ``cancel`` at once, dropping what is queued or running."""


class _Runs:
    """``run`` on top of ``_results``: ``(submission index, task, result)`` as they finish, None for a tick."""

    def _results(self, tasks: Iterable[Any], tick_s: float | None) -> Generator[tuple[int, Any, Any] | None, None, None]:
        raise NotImplementedError

    def run(self, tasks: Iterable[Any], ordered: bool = False, *,
            tick_s: float | None = None) -> Generator[tuple[Any, Any], None, None]:
        """``(task, result or exception)`` per task, as they finish (``ordered``: in task order).

        With ``tick_s`` (seconds > 0), also :data:`TICK` each time ``tick_s`` seconds pass without a result.
        """
        if tick_s is not None and not (isinstance(tick_s, (int, float)) and 0 < tick_s < float("inf")):
            raise InputError(f"tick_s must be a number of seconds > 0, got {tick_s!r}")
        held: dict[int, tuple[Any, Any]] = {}
        nxt = 0
        with closing(self._results(tasks, tick_s)) as results:  # abandoned: its tasks in flight are cancelled
            for entry in results:
                if entry is None:
                    yield TICK
                    continue
                seq, task, out = entry
                if not ordered:
                    yield task, out
                    continue
                held[seq] = (task, out)
                while nxt in held:
                    yield held.pop(nxt)
                    nxt += 1


class SerialExecutor(_Runs):
    """Runs every task in this process, one after the other."""

    name = "this process"
    workers = 1

    def __init__(self, fn: Work, shared: Any = None) -> None:
        self.fn = fn
        self.shared = shared

    def _results(self, tasks: Iterable[Any], tick_s: float | None) -> Generator[tuple[int, Any, Any], None, None]:
        for seq, task in enumerate(tasks):  # no tick: each task holds this process until it ends
            try:
                out = self.fn(self.shared, task)
            except Exception as exc:  # any failure of the work is the task's result, for the coordinator
                out = exc
            yield seq, task, out

    def close(self, cancel: bool = False) -> None:
        """Nothing to release."""


# ------------------------------------------------------------------ local worker processes
_WORKER: tuple[Work, Any] | None = None


def _watch_parent(parent: int) -> None:
    """Exit this worker soon after the coordinator is gone (it may have been SIGKILLed)."""
    start_ppid = os.getppid()
    while True:
        time.sleep(0.5)
        gone = os.getppid() != start_ppid
        if not gone:
            try:
                os.kill(parent, 0)
            except (ProcessLookupError, PermissionError):  # gone, or its pid reused by another user's process
                gone = True
        if gone:
            os._exit(1)


def _init_worker(fn: Work, shared: Any, parent: int) -> None:
    global _WORKER
    _WORKER = (fn, shared)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="govsim-watchdog").start()
    from sim.core.model import warm_up

    warm_up()  # load the compiled kernels once per worker, not inside its first task


def _ready() -> int:
    return os.getpid()


def _pool_call(task: Any) -> Any:
    assert _WORKER is not None, "worker not initialised"
    fn, shared = _WORKER
    return fn(shared, task)


def _mp_context(preload: Sequence[str]) -> Any:
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
    ctx.set_forkserver_preload(list(dict.fromkeys(preload)))
    return ctx


class ProcessExecutor(_Runs):
    """``fn`` in local worker processes, with at most ``window`` tasks in flight (default twice the workers).

    Workers import ``fn``'s module and ``preload`` before their first task; ``max_attempts``: see the module docstring.
    """

    def __init__(self, fn: Work, shared: Any, workers: int, window: int | None = None, *,
                 preload: Sequence[str] = (), max_attempts: int = 3) -> None:
        check_workers(workers)
        self.name = f"{workers} local worker process{'es' if workers > 1 else ''}"
        self.workers = workers
        self.window = window or 2 * workers
        self.max_attempts = max(1, int(max_attempts))
        self.max_in_flight = 0  # observed, for tests
        self.restarts = 0  # pools restarted after a worker died
        self._make_pool = lambda: ProcessPoolExecutor(
            max_workers=workers, mp_context=_mp_context((*PRELOAD, fn.__module__, *preload)),
            initializer=_init_worker, initargs=(fn, shared, os.getpid()))
        self._pool = self._make_pool()

    def _restart(self) -> None:
        """A fresh pool after a worker died (the broken pool has ended its other workers)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._make_pool()
        self.restarts += 1

    def start(self) -> None:
        """Start the worker processes now (they start with the first task otherwise)."""
        wait([self._pool.submit(_ready) for _ in range(self.workers)])

    def _results(self, tasks: Iterable[Any], tick_s: float | None) -> Generator[tuple[int, Any, Any] | None, None, None]:
        from concurrent.futures.process import BrokenProcessPool

        it = enumerate(tasks)
        inflight: dict[Future[Any], tuple[int, Any, int]] = {}  # this run's own: (seq, task, attempts)
        suspects: deque[tuple[int, Any, int]] = deque()  # in flight when a worker died: rerun one at a time

        def submit(entry: tuple[int, Any, int]) -> None:
            try:  # a pool broken since the last wait (a worker just died) is restarted; its tasks come back broken
                inflight[self._pool.submit(_pool_call, entry[1])] = entry
            except BrokenProcessPool:
                self._restart()
                inflight[self._pool.submit(_pool_call, entry[1])] = entry

        def fill() -> None:
            if suspects:
                if not inflight:
                    submit(suspects.popleft())
                return
            for seq, task in islice(it, max(0, self.window - len(inflight))):
                submit((seq, task, 0))
            self.max_in_flight = max(self.max_in_flight, len(inflight))

        try:
            fill()
            while inflight:
                done, _ = wait(list(inflight), timeout=tick_s, return_when=FIRST_COMPLETED)
                if not done:  # tick_s seconds and no result
                    yield None
                    continue
                victims: list[tuple[int, Any, int]] = []
                for fut in sorted(done, key=lambda f: inflight[f][0]):
                    seq, task, tries = inflight.pop(fut)
                    try:
                        out = fut.result()
                    except BrokenProcessPool:
                        victims.append((seq, task, tries))
                        continue
                    except Exception as exc:  # any failure of the work is the task's result, for the coordinator
                        out = exc
                    yield seq, task, out
                if victims:
                    yield from self._after_death(victims, inflight, suspects)
                fill()
        finally:  # abandoned: cancel what is queued; what is running finishes unseen
            for fut in inflight:
                fut.cancel()
            inflight.clear()

    def _after_death(self, victims: list[tuple[int, Any, int]], inflight: dict[Future[Any], tuple[int, Any, int]],
                     suspects: deque[tuple[int, Any, int]]) -> Iterator[tuple[int, Any, Any]]:
        """A worker died: restart the pool; rerun the tasks it took down, or fail one that died alone too often."""
        victims += inflight.values()  # every task still in flight went down with the pool
        inflight.clear()
        self._restart()
        alone = len(victims) == 1
        for seq, task, tries in sorted(victims, key=lambda v: v[0]):
            tries += alone  # only a lone task's death is its attempt: one taken down with others may not have started
            if alone and tries >= self.max_attempts:  # it ran alone: the death is its own
                err = WorkerError(f"a worker process died unexpectedly running it, on each of {tries} attempts "
                                  "(out of memory? killed?)")
                err.attempts = tries
                yield seq, task, err
            else:
                suspects.append((seq, task, tries))

    def close(self, cancel: bool = False) -> None:
        """Shut the pool down; with ``cancel`` stop at once (queued tasks dropped, workers terminated)."""
        if not cancel:
            self._pool.shutdown(wait=True)
            return
        procs = list((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(timeout=5)


# ------------------------------------------------------------------ Dask distributed
class DaskExecutor(_Runs):
    """``fn`` on a Dask cluster through its scheduler at ``address``."""

    def __init__(self, fn: Work, shared: Any, address: str, *, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
                 window: int | None = None, security: Any = None) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise ClusterError("running on a Dask scheduler needs Dask distributed: "
                               "pip install 'govsim[cluster]'") from None
        self.address = address
        self.fn = fn
        try:
            self.client = Client(address, timeout=connect_timeout, set_as_default=False, security=security)
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ClusterError(f"cannot reach the Dask scheduler at '{address}' within {connect_timeout:g} s "
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
        self._shared = self.client.scatter(shared, broadcast=True, hash=False)
        #: the futures in flight of each run under way, only for ``close(cancel=True)``
        self._runs: list[dict[Any, Any]] = []

    def _results(self, tasks: Iterable[Any], tick_s: float | None) -> Generator[tuple[int, Any, Any] | None, None, None]:
        from distributed import as_completed

        it = enumerate(tasks)
        token = os.urandom(4).hex()  # task keys of this run only: a key already known returns its old result
        inflight: dict[Any, tuple[Any, int, Any]] = {}
        ac = as_completed(loop=self.client.loop)

        def submit(seq: int, task: Any) -> None:
            fut = self.client.submit(self.fn, self._shared, task, key=f"govsim-{token}-{seq}", pure=False)
            inflight[fut.key] = (fut, seq, task)
            ac.add(fut)

        self._runs.append(inflight)
        try:
            for seq, task in islice(it, self.window):
                submit(seq, task)
            self.max_in_flight = max(self.max_in_flight, len(inflight))
            while not ac.is_empty():
                if tick_s is not None and not _ready_within(ac, tick_s):
                    yield None
                    continue
                fut = next(ac)
                _, seq, task = inflight.pop(fut.key)
                try:
                    out = fut.result()
                except Exception as exc:  # a failed task (or a lost worker) is the task's result, for the coordinator
                    out = exc
                fut.release()
                nxt = next(it, None)
                if nxt is not None:
                    submit(*nxt)
                self.max_in_flight = max(self.max_in_flight, len(inflight))
                yield seq, task, out
        finally:  # abandoned: cancel what is left of this run
            ac.clear()
            self._cancel(inflight)
            self._runs.remove(inflight)

    def _cancel(self, inflight: dict[Any, tuple[Any, int, Any]]) -> None:
        if inflight and self.client.status == "running":
            self.client.cancel([f for f, _, _ in inflight.values()])
        inflight.clear()

    def close(self, cancel: bool = False) -> None:
        """Disconnect from the scheduler; with ``cancel`` first cancel the tasks still in flight."""
        try:
            if cancel:
                for inflight in self._runs:
                    self._cancel(inflight)
        finally:
            self.client.close()


def _ready_within(ac: Any, seconds: float) -> bool:
    """Whether Dask's ``as_completed`` ``ac`` has a finished task within ``seconds``.

    Polled: its ``timeout`` bounds the whole iteration from its creation, not one wait.
    """
    end = time.monotonic() + seconds
    while not ac.has_ready():
        left = end - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(_POLL_S, left))
    return True


# ------------------------------------------------------------------ the short ways
def check_workers(workers: int | None) -> None:
    """:class:`~sim.errors.InputError` unless ``workers`` is None (one per CPU) or at least 1 (1: this process)."""
    if workers is not None and int(workers) < 1:
        raise InputError(f"workers must be at least 1 (1 runs in this process; none given: one per CPU), got {workers}")


def in_this_process(workers: int | None = None, scheduler: str | None = None) -> bool:
    """Whether :func:`make_executor` with these arguments runs the tasks in this process."""
    check_workers(workers)
    return not scheduler and (int(workers) if workers is not None else (os.cpu_count() or 1)) == 1


def make_executor(fn: Work, shared: Any = None, workers: int | None = None, scheduler: str | None = None, *,
                  preload: Sequence[str] = (), security: Any = None) -> Executor:
    """An executor of ``fn``: Dask if ``scheduler`` is given, else ``workers`` local processes (1: this process).

    ``workers`` None: one per CPU; below 1: :class:`~sim.errors.InputError`. ``fn`` must be a
    module-level function unless the tasks run in this process (it is pickled by name).
    ``security``: Dask's TLS settings for the scheduler (``distributed.Security``).
    """
    if scheduler:
        return DaskExecutor(fn, shared, scheduler, security=security)
    if in_this_process(workers):
        return SerialExecutor(fn, shared)
    return ProcessExecutor(fn, shared, int(workers) if workers is not None else (os.cpu_count() or 1), preload=preload)


@contextmanager
def open_executor(fn: Callable[[Any, T], R], shared: Any = None, *, workers: int | None = 1,
                  scheduler: str | None = None, preload: Sequence[str] = ()) -> Iterator[Executor]:
    """An executor of ``fn`` (see :func:`make_executor`), closed on leaving: at once if the block raised."""
    ex = make_executor(fn, shared, workers, scheduler, preload=preload)
    try:
        yield ex
    except BaseException:
        ex.close(cancel=True)  # do not wait for the tasks under way or queued
        raise
    ex.close()


def map_tasks(fn: Callable[[Any, T], R], tasks: Iterable[T], shared: Any = None, *, workers: int | None = 1,
              ordered: bool = False, preload: Sequence[str] = ()) -> Iterator[tuple[T, R | Exception]]:
    """``(task, fn(shared, task) or its exception)`` per task, as they finish (``ordered``: in task order)."""
    with open_executor(fn, shared, workers=workers, preload=preload) as ex:
        yield from ex.run(tasks, ordered=ordered)


def gather(executor: Executor, tasks: Iterable[Any]) -> list[Any]:
    """The results of ``tasks`` on an open executor, in task order; the first failure is raised."""
    out = []
    with closing(executor.run(tasks, ordered=True)) as results:
        for _, res in results:
            if isinstance(res, Exception):
                raise res
            out.append(res)
    return out


def run_tasks(fn: Callable[[Any, T], R], tasks: Iterable[T], shared: Any = None, *, workers: int | None = 1,
              preload: Sequence[str] = ()) -> list[R]:
    """``[fn(shared, task) for task in tasks]`` on ``workers`` processes; the first failure is raised."""
    with open_executor(fn, shared, workers=workers, preload=preload) as ex:
        return gather(ex, tasks)


def progress_bar(total: int, desc: str, enabled: bool = True, *, terminal_only: bool = False, **options: Any) -> Any:
    """The tqdm bar of a batch of runs (``options`` go to tqdm); off unless ``enabled``, or off a terminal if ``terminal_only``."""
    disable = True if not enabled else (None if terminal_only else False)  # None: tqdm asks isatty()
    return tqdm(total=total, desc=desc, disable=disable, **{"unit": "run", "leave": False, **options})


def call_in_new_process(module: str, function: str, *args: Any, env: Mapping[str, str] | None = None,
                        what: str = "") -> Any:
    """``module.function(*args)`` in a fresh Python interpreter (its own memory peak); its JSON result.

    ``args`` travel as JSON on the child's standard input (a command line is readable by every user: a
    URL may hold a password), the result as the last line of its standard output, which must be nothing
    else. ``RuntimeError`` with the child's standard error if it fails.
    """
    import json
    import subprocess
    import sys

    code = ("import importlib, json, sys; f = getattr(importlib.import_module(sys.argv[1]), sys.argv[2]); "
            "print(json.dumps(f(*json.loads(sys.stdin.read()))))")
    proc = subprocess.run([sys.executable, "-c", code, module, function], input=json.dumps(args), capture_output=True,
                          text=True, env=None if env is None else dict(env), check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{what or f'{module}.{function}'} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
