"""Scenario comparison that carries parameter uncertainty (``govsim compare --uncertainty [FILE]``).

Replicate ``r`` draws every uncertain parameter once (:mod:`sim.experiments.uncertainty_spec`:
all parameters with a plausible range, or those an uncertainty file names) and runs EVERY
compared scenario with that draw and the replicate's seed (common random numbers, as in
:mod:`sim.experiments.compare`), so differences stay paired: replicate ``r`` of the baseline
and of a reform differ only by the reform. The draws are a Latin hypercube seeded from the
comparison's root seed: the same seed gives the same draws and results whatever the number of
workers. Raising the number of replicates redraws the whole hypercube.

The table (:mod:`sim.experiments.uncertainty_stats`) reports per outcome and scenario the mean
and the 95% percentile range of the replicate values (each replicate = one draw + one seed: the
spread over the plausible ranges and the model's randomness, not a confidence interval of the
mean), the paired difference to the baseline with its range, P(beats baseline), P(ranks best)
and the parameters whose draws drive the difference (Spearman rank correlation).

Store: each run is saved as by ``compare`` (label ``compare:<id>``, the compared scenario's name
and content hash, so a report groups it with its scenario); its ``scenario_text`` is the DRAWN
scenario, which reproduces the run with its seed, headed by the draw as one JSON comment line
(:data:`DRAW_HEADER`), from which ``govsim report`` rebuilds this analysis.

>>> from sim.experiments.uncertainty import compare_uncertain                        # doctest: +SKIP
>>> res = compare_uncertain(["scenarios/baseline.toml", "scenarios/combined_reforms.toml"],
...                         replicates=20, steps=365)                                # doctest: +SKIP
>>> res.table()            # metric x (scenario, stat)                               # doctest: +SKIP
>>> res.drivers("resolution_rate", "combined_reforms")                              # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.core.scenario import Scenario
from sim.experiments.compare import Comparison, ComparisonInterrupted, Entry, assemble, new_comparison_id, prepare
from sim.experiments.compare_runs import ComparisonRuns, check_run_args
from sim.experiments.compare_stats import replicate_seeds
from sim.experiments.compare_table import MAIN_METRICS
from sim.experiments.series_every import check_series_every
from sim.experiments.uncertainty_spec import Uncertain, apply_draw, draw_values, load_uncertainty, resolve_uncertain
from sim.experiments.uncertainty_stats import (
    DRIVER_METRICS,
    OUTCOME_DIRECTION,
    drivers,
    p_beats,
    p_best,
    percentile_summary,
)

if TYPE_CHECKING:
    import pandas as pd

    from sim.store.database import ResultStore

__all__ = ["DRAW_HEADER", "DRIVER_METRICS", "UncertainComparison", "compare_uncertain", "draw_header",
           "parse_draw_header", "prepare_draws", "run_uncertain"]

#: First characters of the comment line holding a run's draw in its stored scenario text.
DRAW_HEADER = "# govsim uncertainty draw: "


def draw_header(replicate: int, uncertain: Sequence[Uncertain], values: np.ndarray) -> str:
    """The comment line recording replicate ``replicate``'s draw (vectors and tables: the factor).

    JSON: ``{"replicate": r, "parameters": {key: [distribution, lo, hi, factor]}, "draw": {key: value}}``.
    """
    meta = {"replicate": int(replicate),
            "parameters": {p.key: [p.distribution, p.lo, p.hi, p.factor] for p in uncertain},
            "draw": {p.key: float(v) for p, v in zip(uncertain, values)}}
    return DRAW_HEADER + json.dumps(meta, separators=(",", ":"))


def parse_draw_header(text: str) -> tuple[list[Uncertain], np.ndarray] | None:
    """The parameters and the draw recorded in a stored scenario text by :func:`draw_header`, or None."""
    first = text.split("\n", 1)[0]
    if not first.startswith(DRAW_HEADER):
        return None
    try:
        data = json.loads(first[len(DRAW_HEADER):])
        params = [Uncertain(k, str(d), float(lo), float(hi), factor=bool(f)) for k, (d, lo, hi, f)
                  in data["parameters"].items()]
        return params, np.array([float(data["draw"][p.key]) for p in params])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None


def prepare_draws(entries: Sequence[Entry], uncertain: Sequence[Uncertain], replicates: int,
                  seed: int) -> tuple[np.ndarray, list[list[Scenario]]]:
    """The draws (replicates x parameters) and every scenario of every replicate with its draw applied.

    Every drawn scenario is validated here, before any run (a rejected draw raises
    :class:`~sim.errors.UncertaintyError` naming the scenario and replicate).
    """
    values = draw_values(uncertain, replicates, seed)
    drawn = [[apply_draw(e.scenario, uncertain, values[r], where=f"{e.label} (replicate {r})")
              for r in range(int(replicates))] for e in entries]
    return values, drawn


def run_uncertain(entries: Sequence[Entry], uncertain: Sequence[Uncertain], replicates: int = 20, seed: int = 1,
                  workers: int | None = None, progress: bool = True, *, store: ResultStore | None = None,
                  comparison_id: str | None = None, series_every: int = 1,
                  share_prefix: bool = True) -> UncertainComparison:
    """Run prepared entries (:func:`~sim.experiments.compare.prepare`) with one draw per replicate.

    ``series_every``, ``share_prefix``: as :func:`~sim.experiments.compare.run_comparison` (a replicate's
    draw is the same in every scenario, so its scenarios still share their days before the reform date).
    """
    check_run_args(replicates, seed, workers)
    check_series_every(series_every)
    values, drawn = prepare_draws(entries, uncertain, replicates, seed)
    cid = comparison_id or new_comparison_id()
    seeds = replicate_seeds(seed, replicates)
    variants = [[(drawn[i][r], draw_header(r, uncertain, values[r])) for r in range(int(replicates))]
                for i in range(len(entries))]
    runs = ComparisonRuns(entries, store, cid, variants, series_every=series_every, share_prefix=share_prefix)
    t0 = time.perf_counter()
    try:
        runs.run(seeds, int(workers or os.cpu_count() or 1), progress)
    except KeyboardInterrupt:
        raise ComparisonInterrupted(cid, len(runs.run_ids)) from None
    comp = assemble(runs, seeds, int(seed), time.perf_counter() - t0)
    on = {e.label: frozenset(s.name for s in e.scenario.policies) for e in entries}
    return UncertainComparison(comp, list(uncertain), values, on)


def compare_uncertain(scenarios: Sequence[Scenario | str | Path], replicates: int = 20, steps: int | None = None,
                      seed: int = 1, spec: str | Path | None = None, workers: int | None = None,
                      progress: bool = True, *, store: ResultStore | None = None) -> UncertainComparison:
    """Compare ``scenarios`` (the first is the baseline) with one parameter draw per replicate.

    ``spec``: an uncertainty file (see :mod:`sim.experiments.uncertainty_spec`); None draws every
    parameter with a plausible range (policies' only where they are on). Other arguments as
    :func:`sim.experiments.compare.compare`. Everything is validated before any run.
    """
    entries = prepare(scenarios, steps)
    scs = [e.scenario for e in entries]
    uncertain = load_uncertainty(spec, scs) if spec is not None else resolve_uncertain(scs)
    return run_uncertain(entries, uncertain, replicates, seed, workers, progress, store=store)


@dataclass(eq=False)
class UncertainComparison:
    """A comparison whose replicates each drew the uncertain parameters once (shared by all scenarios).

    ``comparison``: the runs (a :class:`~sim.experiments.compare.Comparison`; its own t-intervals
    are confidence intervals of means over draws and seeds). ``uncertain``: the drawn parameters.
    ``values``: the draws, replicates x parameters (vectors and tables: the factor).
    ``policies_on``: label -> the policies switched on in that scenario (None: unknown), so that a
    scenario's drivers leave out the parameters of policies on neither in it nor in the baseline.
    """

    comparison: Comparison
    uncertain: list[Uncertain]
    values: np.ndarray
    policies_on: dict[str, frozenset[str]] | None = None

    @property
    def labels(self) -> list[str]:
        """Scenario labels; the first is the baseline."""
        return self.comparison.labels

    @property
    def names(self) -> list[str]:
        """Dotted keys of the drawn parameters, in the columns' order of ``values``."""
        return [p.key for p in self.uncertain]

    def draws(self) -> pd.DataFrame:
        """The draws: one row per replicate, one column per parameter (vectors and tables: the factor)."""
        import pandas as pd

        return pd.DataFrame(self.values, columns=self.names).rename_axis("replicate")

    def stats(self, metrics: Sequence[str] | None = None) -> pd.DataFrame:
        """Long table: scenario, metric, direction, n, mean, lo, hi, n_pairs, diff, diff_lo, diff_hi, p_beats, p_best.

        ``lo``/``hi``: the 95% percentile range of the replicate values; ``diff``: paired with the
        baseline (NaN for the baseline itself, whose ``p_beats`` is NaN too).
        """
        import pandas as pd

        comp = self.comparison
        metrics = list(metrics) if metrics is not None else [m for m, _ in MAIN_METRICS]
        rows = []
        for metric in metrics:
            direction = OUTCOME_DIRECTION.get(metric, 0)
            vals = np.vstack([comp.values(label, metric) for label in self.labels])
            best = p_best(vals, direction)
            for k, label in enumerate(self.labels):
                mean, lo, hi, n = percentile_summary(vals[k])
                d = vals[k] - vals[0]
                dm, dlo, dhi, dn = percentile_summary(d) if k else (np.nan, np.nan, np.nan, 0)
                rows.append({"scenario": label, "metric": metric, "direction": direction, "n": n, "mean": mean,
                             "lo": lo, "hi": hi, "n_pairs": dn, "diff": dm, "diff_lo": dlo, "diff_hi": dhi,
                             "p_beats": p_beats(d, direction) if k else np.nan, "p_best": float(best[k])})
        return pd.DataFrame(rows)

    def driver_columns(self, label: str) -> list[int]:
        """Columns of ``values`` that can drive ``label``'s difference to the baseline.

        The core's parameters, and those of policies on in ``label`` or in the baseline (another
        policy's parameters cannot change the difference).
        """
        on = self.policies_on
        if on is None:
            return list(range(len(self.uncertain)))
        mine = on.get(label, frozenset()) | on.get(self.labels[0], frozenset())
        return [j for j, p in enumerate(self.uncertain) if p.policy is None or p.policy in mine]

    def drivers(self, metric: str, label: str, top: int = 5) -> list[dict[str, Any]]:
        """The parameters whose draws are most rank-correlated with ``label``'s paired difference in ``metric``.

        Among :meth:`driver_columns`; the Bonferroni flag counts those only.
        """
        comp = self.comparison
        diff = comp.values(label, metric) - comp.values(self.labels[0], metric)
        cols = self.driver_columns(label)
        return drivers(self.values[:, cols], [self.names[j] for j in cols], diff, top)

    def table(self, metrics: Sequence[str] | None = None) -> pd.DataFrame:
        """Index metric, columns (scenario, stat) with stat in mean, lo, hi, diff, diff_lo, diff_hi, p_beats, p_best."""
        st = self.stats(metrics)
        stats_cols = ["mean", "lo", "hi", "diff", "diff_lo", "diff_hi", "p_beats", "p_best"]
        wide = st.pivot(index="metric", columns="scenario", values=stats_cols)
        wide = wide.swaplevel(0, 1, axis=1)
        order = [(label, s) for label in self.labels for s in stats_cols]
        return wide.reindex(index=list(dict.fromkeys(st["metric"])), columns=order)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON; NaN as None): parameters with their ranges, draws, statistics, drivers."""
        from sim.experiments.compare_json import _nan_to_none

        st = self.stats()
        params = [{"key": p.key, "distribution": p.distribution, "range": [p.lo, p.hi], "factor": p.factor}
                  for p in self.uncertain]
        drv = {label: {m: self.drivers(m, label) for m in dict.fromkeys(st["metric"])} for label in self.labels[1:]}
        return _nan_to_none({
            "comparison_id": self.comparison.comparison_id, "baseline": self.labels[0],
            "replicates": self.comparison.replicates, "root_seed": self.comparison.root_seed,
            "interval": "central 95% of the replicate values (each replicate: one parameter draw and one seed)",
            "parameters": params, "draws": self.values.tolist(), "stats": st.to_dict("records"), "drivers": drv,
        })

    def format_table(self, width: int = 120) -> str:
        """The table and the drivers as text (see :func:`sim.experiments.uncertainty_text.format_uncertain`)."""
        from sim.experiments.uncertainty_text import format_uncertain

        return format_uncertain(self, width)
