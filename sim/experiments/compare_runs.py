"""The runs of a comparison: tasks for the runner's executor, the work of one task, storing as they finish.

Kept apart from :mod:`sim.experiments.compare` (which holds the :class:`~sim.experiments.compare.Comparison`).

Shared days. Scenarios that differ only in their policies run the same days, bit for bit, with one
seed until their reform date (:mod:`sim.core.branching`). Unless ``share_prefix`` is off, one task runs
those days once for every such scenario of a replicate and goes on from a copy for each: a baseline
and two reforms with a year of warm-up and a year before the reform date in a four-year run compute
5 years of days instead of 7.5. Results are those of separate runs, to the last bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.core.scenario import Scenario
from sim.errors import InputError
from sim.experiments.compare_prepare import Entry
from sim.experiments.runner import StopSignals, check_workers, open_executor, progress_bar, run_record
from sim.experiments.series_every import thin_series

if TYPE_CHECKING:
    from sim.store.database import ResultStore, RunRecord

__all__ = ["ComparisonRuns", "RunOutput", "check_run_args", "groups"]

#: a task: the indices of the scenarios it runs (sharing their first days), the replicate and its seed
Task = tuple[tuple[int, ...], int, int]


@dataclass
class RunOutput:
    """What a worker sends back: no model, only outcomes and timings."""

    index: int  # scenario position
    replicate: int
    seed: int
    n_steps: int
    summary: dict[str, float]
    timeseries: dict[str, np.ndarray]
    t: np.ndarray
    started_at: datetime
    finished_at: datetime
    setup_s: float
    run_s: float


@dataclass(frozen=True)
class _Shared:
    """What every run of a comparison gets once per worker: the scenarios as plain data, policy modules."""

    scenarios: tuple[dict[str, Any], ...]
    #: modules defining non-built-in policies, imported first (a worker starts with the built-in ones only)
    plugins: tuple[str, ...] = ()


def _run_task(shared: _Shared, task: Task) -> list[RunOutput]:
    """Run the scenarios of one task with its seed: alone, or sharing their first days; the same code in any process."""
    from sim import policies
    from sim.core.branching import Prefix
    from sim.core.model import run_scenario

    indices, replicate, seed = task
    policies.import_modules(shared.plugins)
    scenarios = [Scenario.from_dict(shared.scenarios[i]) for i in indices]
    if len(scenarios) == 1:
        results = [run_scenario(scenarios[0], seed, progress=False)]
    else:
        prefix = Prefix(scenarios[0], seed)
        results = [prefix.run(sc, share=len(scenarios)) for sc in scenarios]
    return [RunOutput(i, replicate, seed, int(res.summary["n_steps"]), res.summary, res.timeseries, res.t,
                      res.started_at, res.finished_at, res.setup_s, res.run_s) for i, res in zip(indices, results)]


def groups(scenarios: Sequence[Scenario], share_prefix: bool = True) -> list[tuple[int, ...]]:
    """The positions of ``scenarios`` run together: those sharing their first days (:func:`~sim.core.branching.prefix_key`).

    A scenario without a key (nothing to share) runs alone.
    """
    from sim.core.branching import prefix_key

    if not share_prefix:
        return [(i,) for i in range(len(scenarios))]
    by_key: dict[str, list[int]] = {}
    for i, sc in enumerate(scenarios):
        by_key.setdefault(prefix_key(sc) or f"alone {i}", []).append(i)
    return [tuple(ix) for ix in by_key.values()]


def split(together: list[list[tuple[int, ...]]], workers: int) -> list[list[tuple[int, ...]]]:
    """Each replicate's groups (``together[r]``) cut into smaller ones, in order, up to ``workers`` groups in all.

    With fewer groups than workers, the shared days are run more than once so that more workers
    have a task: one part at a time goes to the group with the most runs a part, never past
    ``workers`` parts (a second round of tasks would cost more than the days shared save).
    """
    import heapq

    parts = [[1] * len(gs) for gs in together]
    heap: list[tuple[float, int, int]] = [(-float(len(g)), r, j) for r, gs in enumerate(together)
                                          for j, g in enumerate(gs)]
    heapq.heapify(heap)
    total = len(heap)
    while total < workers and heap and -heap[0][0] > 1:
        _, r, j = heapq.heappop(heap)
        parts[r][j] += 1
        total += 1
        heapq.heappush(heap, (-len(together[r][j]) / parts[r][j], r, j))
    out: list[list[tuple[int, ...]]] = []
    for gs, ks in zip(together, parts, strict=True):
        cuts = [[len(g) * i // k for i in range(k + 1)] for g, k in zip(gs, ks, strict=True)]
        out.append([g[c[i]:c[i + 1]] for g, c in zip(gs, cuts, strict=True) for i in range(len(c) - 1)])
    return out


def check_run_args(replicates: int, seed: int, workers: int | None) -> None:
    """Raise InputError for fewer than 2 replicates, a negative seed or a bad number of workers."""
    if int(replicates) < 2:
        raise InputError(f"replicates must be at least 2 for confidence intervals, got {replicates}")
    if int(seed) < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed}")
    check_workers(workers)


class ComparisonRuns:
    """The runs of one comparison: run on the runner's executor, stored as they finish.

    ``variants`` (parameter uncertainty): per entry, per replicate, the scenario that replicate runs
    and the header stored before its TOML text; None runs each entry's own scenario in every replicate.
    ``share_prefix``: run the days scenarios share once per replicate (the module docstring).
    """

    def __init__(self, entries: Sequence[Entry], store: ResultStore | None, cid: str,
                 variants: Sequence[Sequence[tuple[Scenario, str]]] | None = None, *, series_every: int = 1,
                 share_prefix: bool = True) -> None:
        self.entries, self.store, self.cid, self.variants = entries, store, cid, variants
        self.series_every = int(series_every)
        self.share_prefix = bool(share_prefix)
        self.outputs: dict[tuple[int, int], RunOutput] = {}
        #: worker processes the runs were given (at most one a task)
        self.n_workers = 1
        self.run_ids: dict[tuple[int, int], int] = {}
        #: each scenario's provenance in the store: name, content hash, TOML text
        self.meta = [(e.scenario.name, e.scenario.content_hash(), e.scenario.to_toml()) for e in entries] if store else []

    def tasks(self, seeds: Sequence[int], workers: int = 1) -> tuple[tuple[Scenario, ...], list[Task]]:
        """The scenarios (by index) and the tasks: per replicate, the groups of scenarios sharing their first days.

        Groups are cut smaller while there are fewer tasks than ``workers`` (:func:`split`).
        Without ``share_prefix`` each scenario's replicates in turn, one run a task.
        """
        n_rep, n_ent = len(seeds), len(self.entries)
        if self.variants is None:  # scenario index: the entry
            scenarios = tuple(e.scenario for e in self.entries)
        else:  # scenario index: entry x replicate
            scenarios = tuple(sc for row in self.variants for sc, _ in row)

        def index(i: int, r: int) -> int:
            return i if self.variants is None else i * n_rep + r

        if not self.share_prefix:
            return scenarios, [((index(i, r),), r, s) for i in range(n_ent) for r, s in enumerate(seeds)]
        together = split([groups([scenarios[index(i, r)] for i in range(n_ent)]) for r in range(n_rep)], workers)
        return scenarios, [(tuple(index(i, r) for i in g), r, s) for r, s in enumerate(seeds) for g in together[r]]

    def run(self, seeds: Sequence[int], workers: int, progress: bool) -> None:
        """Run every (scenario, replicate) on ``workers`` processes at most, storing each task's runs as it finishes."""
        n_rep = len(seeds)
        scenarios, tasks = self.tasks(seeds, workers)
        self.n_workers = n_workers = min(workers, len(tasks))
        plugins: tuple[str, ...] = ()
        if n_workers > 1:  # workers must import the modules of policies that are not built in
            from sim import policies

            plugins = policies.defining_modules(sorted({s.name for e in self.entries for s in e.scenario.policies}))
        bar_cm = progress_bar(len(self.entries) * n_rep, f"compare {self.cid}", progress, terminal_only=True)
        shared = _Shared(tuple(sc.to_dict() for sc in scenarios), plugins)
        with (StopSignals() as stop, bar_cm as bar, open_executor(_run_task, shared, workers=n_workers) as executor,
              closing(executor.run(tasks)) as results):
            for _task, outs in results:
                if isinstance(outs, Exception):
                    raise outs
                with stop.critical():  # a Ctrl-C or SIGTERM waits for the task's runs to be stored
                    for out in outs:
                        key = (out.index if self.variants is None else out.index // n_rep, out.replicate)
                        self.outputs[key] = out
                        if self.store is not None:
                            self.run_ids[key] = self.store.save_run(self._record(out, *key))  # one transaction
                bar.update(len(outs))

    def _record(self, out: RunOutput, i: int, r: int) -> RunRecord:
        name, digest, text = self.meta[i]
        if self.variants is not None:  # the drawn scenario (it reproduces the run), after its header
            variant, header = self.variants[i][r]
            text = header + "\n" + variant.to_toml()
        record = run_record(out, scenario_name=name, scenario_hash=digest, scenario_text=text, seed=out.seed,
                            n_steps=out.n_steps, label=f"compare:{self.cid}")
        return thin_series(record, self.series_every)
