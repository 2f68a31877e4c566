"""Cost-effectiveness of each reform vs the baseline, as text and records, with or without parameter uncertainty.

Per reform and per outcome of :data:`~sim.experiments.compare_stats.CE_OUTCOMES` (a percentage
point of mean satisfaction, one extra problem resolved): the mean paired extra cost (yuan over
the run), the mean paired gain and the yuan per unit gained. Without uncertainty the interval is
Fieller's 95% confidence interval (:func:`~sim.experiments.compare_stats.paired_cost_effectiveness`);
with ``--uncertainty`` it is the central 95% range of the per-replicate ratios, as for every other
effect there (:func:`~sim.experiments.compare_stats.spread_cost_effectiveness`), with the share of
replicates in each quadrant. A reform that gains nothing, or gains for no extra cost, has no ratio
and is reported by its status (``compare_stats.CE_STATUS``), never as a ratio to a difference of ~0.
"""

from __future__ import annotations

import math
import textwrap
from typing import TYPE_CHECKING, Any

from sim.experiments.compare_stats import CE_OUTCOMES, CE_STATUS, spread_cost_effectiveness
from sim.experiments.compare_table import format_number

if TYPE_CHECKING:
    from sim.experiments.compare import Comparison
    from sim.experiments.uncertainty import UncertainComparison

__all__ = ["cost_effectiveness_records", "format_cost_effectiveness"]


def cost_effectiveness_records(comp: Comparison, uncertain: bool = False) -> list[dict[str, Any]]:
    """One record per (reform, outcome), the reforms in order for each outcome.

    Keys: scenario, outcome, unit, n_pairs, cost_diff, outcome_diff, ratio, lo, hi, status and,
    with ``uncertain``, the shares ``p_<status>`` of replicates in each quadrant.
    """
    out: list[dict[str, Any]] = []
    cost = "cost_yuan"
    for outcome, (scale, unit) in CE_OUTCOMES.items():
        if uncertain:
            cb, ob = comp.values(comp.baseline, cost), comp.values(comp.baseline, outcome)
            for label in comp.labels[1:]:
                rec = spread_cost_effectiveness(comp.values(label, cost) - cb, (comp.values(label, outcome) - ob) * scale,
                                                comp.level)
                out.append({"scenario": label, "outcome": outcome, "unit": unit, **rec})
        else:
            for r in comp.cost_effectiveness(cost, outcome).to_dict("records"):
                lo, hi = r.pop("ci_low"), r.pop("ci_high")
                out.append({"scenario": r.pop("scenario"), "outcome": outcome, "unit": unit, **r, "lo": lo, "hi": hi})
    return out


def format_cost_effectiveness(comp: Comparison, unc: UncertainComparison | None = None, width: int = 120) -> str:
    """The cost-effectiveness block of ``govsim compare``'s text output, lines wrapped at ``width``."""
    recs = cost_effectiveness_records(comp, uncertain=unc is not None)
    if not recs:
        return ""
    interval = ("95% range of the replicates' ratios (replicates that cost more and gain)" if unc is not None
                else "95% CI (Fieller)")
    lines = [f"Cost-effectiveness vs {comp.baseline} (extra cost over the run per unit gained; interval: {interval})"]
    width = max(width, 40)
    for r in recs:
        dec = 2 if r["outcome"] == "satisfaction_mean" else 0
        ratio = "n/a" if not math.isfinite(r["ratio"]) else format_number(r["ratio"], 0)
        iv = (f" [{format_number(r['lo'], 0)}, {format_number(r['hi'], 0)}]"
              if math.isfinite(r["lo"]) and math.isfinite(r["hi"]) else "")
        shares = ""
        if unc is not None:
            shares = "  " + ", ".join(f"P({s})={r['p_' + s]:.2f}" for s in ("ok", "dominant", "dominated",
                                                                             "cheaper_less_effective"))
        lines.append(f"  {r['scenario']}: per {r['unit']}: cost {format_number(r['cost_diff'], 0, True)} yuan, gain "
                     f"{format_number(r['outcome_diff'], dec, True)}: {ratio} yuan{iv} ({r['status']}){shares}")
    lines.append("  status: " + "; ".join(f"{k}: {v}" for k, v in CE_STATUS.items()))
    return "\n".join(w for line in lines for w in textwrap.wrap(line, width, subsequent_indent="      "))
