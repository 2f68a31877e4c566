"""Plain-data (JSON) form of a scenario comparison, as printed by ``govsim compare --json``.

:func:`comparison_to_json` is what :meth:`Comparison.to_json_dict` returns. Kept apart from
:mod:`sim.experiments.compare` (which runs the scenarios and holds the :class:`~sim.experiments.compare.Comparison`)
because it is presentation only: it reads a finished comparison and never runs anything.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.config.units import units_of
from sim.experiments.compare_stats import STAT_COLUMNS

if TYPE_CHECKING:
    from sim.experiments.compare import Comparison

__all__ = ["comparison_to_json"]


def comparison_to_json(comp: Comparison) -> dict[str, Any]:
    """The comparison as plain data for JSON (NaN as None).

    Ids, seeds, and per scenario its metrics (n and the :data:`~sim.experiments.compare_stats.STAT_COLUMNS`),
    run ids, cost per satisfaction point and per extra problem resolved (status: ``compare_stats.CE_STATUS``).
    """
    st = comp.stats()
    ce = {r["scenario"]: r for r in comp.cost_effectiveness().to_dict("records")}
    cr = {r["scenario"]: r for r in comp.cost_effectiveness(outcome="problems_resolved").to_dict("records")}
    steps = {comp.steps(label) for label in comp.labels}
    scenarios = []
    for k, label in enumerate(comp.labels):
        sub = st[st["scenario"] == label]
        metrics = {r["metric"]: {s: r[s] for s in ("n", *STAT_COLUMNS)} for r in sub.to_dict("records")}
        item: dict[str, Any] = {
            "name": label,
            "file": comp.files[k] if comp.files else None,
            "scenario_name": comp.scenarios[k].name if comp.scenarios else label,
            "scenario_hash": comp.scenarios[k].content_hash() if comp.scenarios else None,
            "steps": comp.steps(label),
            "metrics": metrics,
        }
        if comp.timing is not None:
            tm = comp.timing[comp.timing["scenario"] == label].sort_values("replicate")
            item["run_ids"] = [None if _isnull(v) else int(v) for v in tm["run_id"]]
        if k > 0:
            c = ce[label]
            item["cost_per_satisfaction_point"] = {
                "yuan_per_pp": c["ratio"], "ci_low": c["ci_low"], "ci_high": c["ci_high"], "status": c["status"],
                "cost_diff_yuan": c["cost_diff"], "satisfaction_diff_pp": c["outcome_diff"]}
            c = cr[label]
            item["cost_per_resolved_problem"] = {
                "yuan_per_problem": c["ratio"], "ci_low": c["ci_low"], "ci_high": c["ci_high"], "status": c["status"],
                "cost_diff_yuan": c["cost_diff"], "resolved_diff": c["outcome_diff"]}
        scenarios.append(item)
    names = sorted({m for item in scenarios for m in item["metrics"]})
    return _nan_to_none({
        "comparison_id": comp.comparison_id, "baseline": comp.baseline, "root_seed": comp.root_seed,
        "seeds": list(comp.seeds), "replicates": comp.replicates,
        "steps": steps.pop() if len(steps) == 1 else None, "level": comp.level,
        "wall_s": round(comp.wall_s, 3), "scenarios": scenarios,
        "units": {**units_of(names), "steps": "days", "wall_s": "seconds", **_COST_UNITS},
    })


#: units of the fields of ``cost_per_satisfaction_point`` and ``cost_per_resolved_problem`` (pp: a percentage point, 0.01 of satisfaction on 0-1)
_COST_UNITS = {"yuan_per_pp": "yuan per percentage point of mean satisfaction (0.01 on 0-1)",
               "cost_diff_yuan": "yuan", "satisfaction_diff_pp": "percentage points of mean satisfaction",
               "yuan_per_problem": "yuan per extra problem resolved", "resolved_diff": "problems resolved"}


def _isnull(value: Any) -> bool:
    """True for None and float NaN (a run without a stored id)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _nan_to_none(obj: Any) -> Any:
    """``obj`` with non-finite floats as None and numpy scalars as Python numbers, recursively (JSON has no NaN)."""
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan_to_none(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return None if not math.isfinite(float(obj)) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj
