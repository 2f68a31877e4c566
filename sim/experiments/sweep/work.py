"""One run of a sweep: its :class:`Task`, the :class:`RunContext` all runs share, and :func:`execute`.

:func:`execute` is the work the sweep's executors (:mod:`sim.experiments.runner`) apply to every
task, the same code in this process, in a local worker process and on a Dask worker. It returns
only the kept outcomes (:class:`RunOutput`); it never touches the database.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

__all__ = ["RunContext", "RunOutput", "Task", "execute"]


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
    #: runs of a replicate share their days before the reform date (``SweepSpec.shares_prefix``)
    share_prefix: bool = False


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
    run_s: float  # model set-up (or the shared days, or their copy) + run
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


#: the shared days this worker ran last, by (prefix key, seed): at most two, at most _PREFIX_BYTES beyond the first
_PREFIXES: dict[tuple[str, int], Any] = {}
_PREFIX_BYTES = 512 << 20
#: a Dask worker runs tasks on several threads of one process: the cache's lock, and one lock a key being built
_PREFIX_LOCK = threading.Lock()
_BUILDING: dict[tuple[str, int], threading.Lock] = {}


def _prefix(key: str, scenario: Any, seed: int) -> Any:
    """The shared days of ``scenario``'s replicate with ``seed`` (:class:`~sim.core.branching.Prefix`), kept.

    One thread builds a replicate's days; the others asking for them wait for that one, not for other keys.
    """
    from sim.core.branching import Prefix

    with _PREFIX_LOCK:
        prefix = _PREFIXES.get((key, seed))
        building = _BUILDING.setdefault((key, seed), threading.Lock()) if prefix is None else None
    if building is None:
        return prefix
    with building:
        with _PREFIX_LOCK:
            prefix = _PREFIXES.get((key, seed))
        if prefix is None:
            prefix = Prefix(scenario, seed)
            with _PREFIX_LOCK:
                while _PREFIXES and (len(_PREFIXES) >= 2 or sum(len(p.data) for p in _PREFIXES.values())
                                     + len(prefix.data) > _PREFIX_BYTES):
                    del _PREFIXES[next(iter(_PREFIXES))]  # the oldest: runs come replicate by replicate
                _PREFIXES[(key, seed)] = prefix
                _BUILDING.pop((key, seed), None)
    return prefix


def forget_prefixes() -> None:
    """Drop the shared days this process keeps (a sweep run in this process calls it when it ends)."""
    with _PREFIX_LOCK:
        _PREFIXES.clear()
        _BUILDING.clear()


def _run(ctx: RunContext, scenario: Any, seed: int) -> Any:
    """The run's results: from the shared days of its replicate, or a model of its own."""
    from sim.core.branching import prefix_key
    from sim.core.model import run_scenario

    key = prefix_key(scenario) if ctx.share_prefix else None
    if key is not None:
        return _prefix(key, scenario, seed).run(scenario)
    return run_scenario(scenario, seed, progress=False)


def execute(ctx: RunContext, task: Task) -> RunOutput:
    """Run one task; the same code in-process, in a worker process and on a Dask worker."""
    from sim.core.scenario import apply_overrides

    scenario = apply_overrides(_base_scenario(ctx), task.parameters, switch_on=True)
    scenario_hash = scenario.content_hash()  # before the run, while this code is warm (0.3 ms, after a run ~1 ms)
    t0 = time.perf_counter()
    res = _run(ctx, scenario, task.seed)
    run_s = time.perf_counter() - t0
    summary: dict[str, float] = {}
    for name in ctx.outcomes:
        value = res.summary.get(name)
        summary[name] = float(value) if value is not None else (0.0 if name in ctx.dynamic else math.nan)
    out = RunOutput(
        experiment=task.experiment, replicate=task.replicate, seed=task.seed, n_steps=int(res.summary["n_steps"]),
        scenario_hash=scenario_hash, summary=summary, t=res.t,
        timeseries={k: res.timeseries[k] for k in ctx.series}, started_at=res.started_at,
        finished_at=res.finished_at, run_s=run_s, worker=f"{socket.gethostname()}:{os.getpid()}",
    )
    del res
    return out
