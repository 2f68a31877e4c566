"""Scenario comparison: replicates with common random numbers, 95% confidence intervals, figures.

``govsim compare A.toml B.toml ...`` and :func:`compare` run every scenario ``R`` times.

Seeds (common random numbers)
    Replicate ``r`` of EVERY scenario uses the same seed::

        seed_r = int(numpy.random.SeedSequence(S).spawn(R)[r].generate_state(1)[0])

    with ``S`` the root seed (the ``seed`` argument, default 1). Child ``r`` of a SeedSequence depends on
    ``S`` and ``r`` only, so raising ``R`` keeps the seeds of the first replicates. The model
    derives each random stream (arrivals, world, finding, ...) from the seed and the stream's
    name alone (:mod:`sim.core.rng`), so replicate ``r`` of every scenario sees the same world and the
    same problem arrivals whenever the scenarios' world (and prevention) parameters agree.

Statistics
    Each cell is the mean over replicates with a 95% t-interval
    (``mean +- t_{0.975, n-1} * sd / sqrt(n)``). The difference of a scenario to the first
    (baseline) scenario is the mean of the per-replicate PAIRED differences with the t-interval
    of those differences; common random numbers make the pairing valid and the interval much
    narrower than for independent runs. Replicates where a metric is undefined (NaN, e.g. a
    median over no resolved big problems) are left out of that metric's mean and interval (and
    a pair is left out of a difference if either side is NaN); ``n`` says how many were used.

    Cost-effectiveness: extra cost per percentage point of mean satisfaction gained over the
    baseline = mean paired cost difference (yuan over the run) / mean paired satisfaction
    difference (percentage points, satisfaction being on a 0-1 scale), and likewise per extra
    problem resolved (``problems_resolved``). Its 95% interval is Fieller's, which is bounded
    only when the gain is itself significant. A reform that gains nothing (mean difference
    within 1e-9 of 0 or below) or gains for no extra cost has no ratio: it is reported as
    ``dominated``, ``cheaper_less_effective`` or ``dominant`` (``compare_stats.ce_status``).

Runs go to the experiment runner's worker processes (:mod:`sim.experiments.runner`; ``workers=1``
runs in this process); workers receive the scenarios once as plain data and return only the
summary, the time series and timings; a replicate's scenarios that differ only in their policies
run their days before the reform date once (:mod:`sim.experiments.compare_runs`, ``share_prefix``).
Results are ordered by (scenario, replicate), never by completion, so they are the same whatever the
number of workers. Workers import the modules
that define non-built-in policies; a policy class defined in ``__main__`` (a notebook) exists
only in this process: use ``workers=1`` for it.

>>> from sim.experiments.compare import compare                                      # doctest: +SKIP
>>> comp = compare(["scenarios/baseline.toml", "scenarios/bazhong_street_whistle.toml"],
...                replicates=10, steps=365)                              # doctest: +SKIP
>>> comp.table()            # metric x (scenario, stat) DataFrame          # doctest: +SKIP
>>> comp.runs               # one row per (scenario, replicate)           # doctest: +SKIP
>>> comp.plot_timeseries()  # matplotlib Figure                           # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.config.taxonomy import COMPOUND_TYPES
from sim.core.scenario import Scenario
from sim.experiments.compare_json import comparison_to_json
from sim.experiments.compare_prepare import Entry, prepare, unique_labels
from sim.experiments.compare_runs import ComparisonRuns, check_run_args
from sim.experiments.compare_stats import (
    CE_OUTCOMES,
    LEVEL,
    STAT_COLUMNS,
    paired_cost_effectiveness,
    paired_summary,
    replicate_seeds,
    t_interval,
)
from sim.experiments.compare_table import MAIN_METRICS, format_table
from sim.experiments.series_every import check_series_every

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from sim.store.database import ResultStore

# The statistics live in sim.experiments.compare_stats, the text table in sim.experiments.compare_table and the
# comparison as plain data (for JSON) in sim.experiments.compare_json.
__all__ = [
    "COMPOUND_METRICS",
    "MAIN_METRICS",
    "Comparison",
    "ComparisonInterrupted",
    "Entry",
    "assemble",
    "compare",
    "new_comparison_id",
    "prepare",
    "run_comparison",
    "unique_labels",
]

#: Outcomes by compound type shown in the figures (besides satisfaction_<ctype>).
COMPOUND_METRICS: tuple[str, ...] = tuple(f"resolution_rate_{ct}" for ct in COMPOUND_TYPES)



# ---------------------------------------------------------------------------------------------
# preparing and running
# ---------------------------------------------------------------------------------------------
def new_comparison_id() -> str:
    """A short unique id: UTC time to the second and 6 random hex digits, e.g. 20250101T120000Z-1a2b3c."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def run_comparison(
    entries: Sequence[Entry],
    replicates: int = 20,
    seed: int = 1,
    workers: int | None = None,
    progress: bool = True,
    *,
    store: ResultStore | None = None,
    comparison_id: str | None = None,
    series_every: int = 1,
    share_prefix: bool = True,
) -> Comparison:
    """Run prepared entries (see :func:`prepare`); store each run in ``store`` as it finishes.

    ``series_every``: store every n-th recorded day of the time series (and the last), e.g. 7 for weekly
    series: a smaller store; the comparison returned keeps every recorded day. ``share_prefix``: run the
    days scenarios share before their reform date once per replicate (:mod:`sim.experiments.compare_runs`).
    """
    check_run_args(replicates, seed, workers)
    check_series_every(series_every)
    cid = comparison_id or new_comparison_id()
    seeds = replicate_seeds(seed, replicates)
    runs = ComparisonRuns(entries, store, cid, series_every=series_every, share_prefix=share_prefix)
    t0 = time.perf_counter()
    try:
        runs.run(seeds, int(workers or os.cpu_count() or 1), progress)
    except KeyboardInterrupt:
        raise ComparisonInterrupted(cid, len(runs.run_ids)) from None
    return assemble(runs, seeds, int(seed), time.perf_counter() - t0)


def assemble(runs: ComparisonRuns, seeds: list[int], root_seed: int, wall_s: float) -> Comparison:
    """The finished runs as a :class:`Comparison`, ordered by (scenario, replicate)."""
    import pandas as pd

    rows, timing, series, t_of = [], [], {}, {}
    for i, e in enumerate(runs.entries):
        outs = [runs.outputs[(i, r)] for r in range(len(seeds))]
        for out in outs:
            rows.append({"scenario": e.label, "replicate": out.replicate, "seed": out.seed, **out.summary})
            timing.append({"scenario": e.label, "replicate": out.replicate, "seed": out.seed,
                           "run_id": runs.run_ids.get((i, out.replicate)), "setup_s": out.setup_s,
                           "run_s": out.run_s, "started_at": out.started_at, "finished_at": out.finished_at})
        t_of[e.label] = outs[0].t
        series[e.label] = {k: np.vstack([o.timeseries[k] for o in outs]) for k in outs[0].timeseries}
    return Comparison(
        comparison_id=runs.cid, labels=[e.label for e in runs.entries], seeds=seeds, root_seed=root_seed,
        runs=pd.DataFrame(rows), series=series, t=t_of,
        files=[e.file for e in runs.entries], scenarios=[e.scenario for e in runs.entries],
        timing=pd.DataFrame(timing), wall_s=wall_s, workers=runs.n_workers,
    )


class ComparisonInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during a comparison: runs finished before it are stored (if a store was given)."""

    def __init__(self, comparison_id: str, n_stored: int) -> None:
        super().__init__(f"comparison {comparison_id} interrupted; {n_stored} finished runs stored")
        self.comparison_id = comparison_id
        self.n_stored = n_stored


def compare(
    scenarios: Sequence[Scenario | str | Path],
    replicates: int = 20,
    steps: int | None = None,
    seed: int = 1,
    workers: int | None = None,
    progress: bool = True,
    *,
    store: ResultStore | None = None,
    overrides: Mapping[str, Any] | None = None,
    series_every: int = 1,
    share_prefix: bool = True,
) -> Comparison:
    """Run every scenario ``replicates`` times with common random numbers; see the module docstring.

    ``scenarios``: Scenario objects or scenario files; the first is the baseline. ``steps``:
    days per run (default: each scenario's ``run.n_steps``). ``seed``: the root seed S.
    ``workers``: processes (default ``os.cpu_count()``; 1 runs in this process). ``store``: a
    :class:`~sim.store.database.ResultStore` to save every run in (label ``compare:<comparison_id>``).
    ``overrides``: ``{"dotted.key": value}`` set in every scenario before anything runs (as ``--set``).
    ``series_every``: store every n-th recorded day of the series, ``share_prefix``: run the days
    scenarios share once per replicate (see :func:`run_comparison`).
    """
    entries = prepare(scenarios, steps, overrides)
    return run_comparison(entries, replicates, seed, workers, progress, store=store, series_every=series_every,
                          share_prefix=share_prefix)


# ---------------------------------------------------------------------------------------------
# the result
# ---------------------------------------------------------------------------------------------
@dataclass(eq=False)
class Comparison:
    """Outcomes of a comparison. ``labels[0]`` is the baseline.

    ``runs``: per-replicate summaries, one row per (scenario, replicate), columns ``scenario``
    (label), ``replicate``, ``seed`` and every summary metric. ``series[label][metric]``: the
    time series of every replicate as an array (replicates x recorded steps ``t[label]``).
    ``timing``: per-run ``run_id`` (if stored), ``setup_s``, ``run_s``, start and end times.
    """

    comparison_id: str
    labels: list[str]
    seeds: list[int]
    runs: pd.DataFrame
    series: dict[str, dict[str, np.ndarray]]
    t: dict[str, np.ndarray]
    root_seed: int = 1
    files: list[str | None] | None = None
    scenarios: list[Scenario] | None = None
    timing: pd.DataFrame | None = None
    wall_s: float = math.nan
    workers: int = 1
    level: float = LEVEL
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    # ---- data access ---------------------------------------------------------------------
    @property
    def baseline(self) -> str:
        """The first scenario's label: every difference is taken against it."""
        return self.labels[0]

    @property
    def replicates(self) -> int:
        """Runs per scenario."""
        return len(self.seeds)

    @property
    def colours(self) -> dict[str, str]:
        """Scenario label -> colour, the same in every figure (see :func:`sim.experiments.plots.scenario_colours`)."""
        from sim.experiments.plots import scenario_colours

        return scenario_colours(self.labels)

    def values(self, label: str, metric: str) -> np.ndarray:
        """Per-replicate values of ``metric`` for scenario ``label``, ordered by replicate (NaN if absent)."""
        rows = self.runs[self.runs["scenario"] == label].sort_values("replicate")
        if metric not in rows.columns:
            return np.full(len(rows), np.nan)
        return rows[metric].to_numpy(dtype=np.float64)

    def steps(self, label: str) -> int:
        """Days simulated for scenario ``label``."""
        return int(self.values(label, "n_steps")[0])

    # ---- statistics ----------------------------------------------------------------------
    def stats(self, metrics: Sequence[str] | None = None) -> pd.DataFrame:
        """Long table: scenario, metric, n, mean, ci_low, ci_high, n_pairs, diff, diff_ci_low, diff_ci_high.

        ``diff`` is paired by replicate against the baseline (NaN for the baseline itself).
        """
        import pandas as pd

        metrics = list(metrics) if metrics is not None else [m for m, _ in MAIN_METRICS] + list(COMPOUND_METRICS)
        rows = []
        for metric in metrics:
            base = self.values(self.baseline, metric)
            for k, label in enumerate(self.labels):
                summary = paired_summary(self.values(label, metric), None if k == 0 else base, self.level)
                rows.append({"scenario": label, "metric": metric, **summary})
        return pd.DataFrame(rows)

    def table(self, metrics: Sequence[str] | None = None) -> pd.DataFrame:
        """The comparison table: index = metric, columns = (scenario, stat).

        ``stat`` is one of mean, ci_low, ci_high, diff, diff_ci_low, diff_ci_high (diffs vs the
        baseline, paired).
        """
        import pandas as pd

        metrics = list(metrics) if metrics is not None else [m for m, _ in MAIN_METRICS]
        st = self.stats(metrics)
        cols = pd.MultiIndex.from_product([self.labels, list(STAT_COLUMNS)], names=["scenario", "stat"])
        out = pd.DataFrame(index=pd.Index(metrics, name="metric"), columns=cols, dtype=np.float64)
        for rec in st.to_dict("records"):
            for s in STAT_COLUMNS:
                out.loc[rec["metric"], (rec["scenario"], s)] = rec[s]
        return out

    def reform_day(self, label: str | None = None) -> int:
        """The reform day of scenario ``label`` (default: the baseline's); 0 without a reform date."""
        days = self.values(label or self.baseline, "reform_start_day")
        return int(days[0]) if days.size and np.isfinite(days[0]) else 0

    def pre_post(self) -> pd.DataFrame:
        """Pre/post-reform windows and the paired effect (change minus the baseline's); see compare_windows."""
        from sim.experiments.compare_windows import pre_post_table

        return pre_post_table(self)

    def cost_effectiveness(self, cost: str = "cost_yuan", outcome: str = "satisfaction_mean") -> pd.DataFrame:
        """Extra cost per unit of ``outcome`` gained vs the baseline, per other scenario.

        The unit is that of :data:`CE_OUTCOMES` (a percentage point of mean satisfaction, one
        problem resolved). Columns: scenario, n_pairs, cost_diff (yuan), outcome_diff (units),
        ratio (yuan per unit), ci_low, ci_high (Fieller), status (``ok``, ``unbounded``,
        ``dominant``, ``dominated``, ``cheaper_less_effective``: see ``compare_stats.CE_STATUS``).
        """
        import pandas as pd

        scale = CE_OUTCOMES[outcome][0] if outcome in CE_OUTCOMES else 1.0
        rows = []
        cb, ob = self.values(self.baseline, cost), self.values(self.baseline, outcome)
        for label in self.labels[1:]:
            dc = self.values(label, cost) - cb
            do = (self.values(label, outcome) - ob) * scale
            rows.append({"scenario": label, **paired_cost_effectiveness(dc, do, self.level)})
        cols = ["scenario", "n_pairs", "cost_diff", "outcome_diff", "ratio", "ci_low", "ci_high", "status"]
        return pd.DataFrame(rows, columns=cols)

    def timeseries_ci(self, label: str, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(t, mean, ci_low, ci_high)`` of a time series across replicates (t-interval per step)."""
        key = f"{label}\0{metric}"
        if key not in self._cache:
            mean, lo, hi, _ = t_interval(self.series[label][metric], axis=0, level=self.level)
            self._cache[key] = (self.t[label], mean, lo, hi)
        return self._cache[key]

    def mean_timeseries(self, metrics: Sequence[str] = ("resolution_rate", "satisfaction_mean")) -> pd.DataFrame:
        """Long table of mean time series with 95% CI: scenario, metric, t, mean, ci_low, ci_high."""
        import pandas as pd

        parts = []
        for label in self.labels:
            for metric in metrics:
                t, mean, lo, hi = self.timeseries_ci(label, metric)
                parts.append(pd.DataFrame({"scenario": label, "metric": metric, "t": t, "mean": mean,
                                           "ci_low": lo, "ci_high": hi}))
        return pd.concat(parts, ignore_index=True)

    # ---- output ----------------------------------------------------------------------------
    def format_table(self, width: int = 120) -> str:
        """The table as text, ``width`` characters wide at most.

        One column group per scenario (mean [95% CI], and the paired difference to the baseline);
        groups that do not fit in ``width`` wrap to a next block.
        """
        return format_table(self, width)

    def to_json_dict(self) -> dict[str, Any]:
        """The comparison as plain data for JSON (NaN as None); see :func:`sim.experiments.compare_json.comparison_to_json`."""
        return comparison_to_json(self)

    # ---- figures ---------------------------------------------------------------------------
    def plot_timeseries(self, metrics: Sequence[str] | None = None) -> Figure:
        """Mean time series across replicates with 95% CI bands, one colour per scenario, the reform day marked.

        Default metrics: resolution rate and satisfaction, and with a reform date the windowed series too.
        """
        from sim.experiments.plots import plot_timeseries

        return plot_timeseries(self, metrics)

    def plot_compound_types(self) -> Figure:
        """Satisfaction and resolution rate by compound type: grouped bars with 95% CI."""
        from sim.experiments.plots import plot_compound_types

        return plot_compound_types(self)

    def plot_cost_effectiveness(self) -> Figure:
        """Extra cost per percentage point of satisfaction gained vs the baseline, with 95% CI."""
        from sim.experiments.plots import plot_cost_effectiveness

        return plot_cost_effectiveness(self)

    def save_figures(self, out_dir: str | Path = "results", formats: Sequence[str] = ("png", "svg")) -> list[Path]:
        """Write the three figures as ``<out_dir>/<comparison_id>_<name>.<fmt>``; return the paths."""
        from sim.config.names import safe_filename
        from sim.experiments.plots import save_figure

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        stem = safe_filename(self.comparison_id)  # an id read back from a database becomes a file name
        makers: tuple[tuple[str, Callable[[], Figure]], ...] = (
            ("timeseries", self.plot_timeseries),
            ("compound_types", self.plot_compound_types),
            ("cost_effectiveness", self.plot_cost_effectiveness),
        )
        paths: list[Path] = []
        for name, make in makers:
            paths.extend(save_figure(make(), out / f"{stem}_{name}", formats))
        return paths
