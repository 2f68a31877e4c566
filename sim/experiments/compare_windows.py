"""Pre/post-reform effects of a comparison whose scenarios have a reform date (``reform.start_day`` > 0).

Each run's summary holds, per outcome of :data:`sim.core.windows.PRE_POST_OUTCOMES`, its
pre-reform mean, post-reform mean, change and days to 50% / 90% of the change
(:func:`sim.core.windows.pre_post`). Here, per scenario and outcome: the means over replicates,
the change with its 95% t-interval, and the **effect**: the scenario's change minus the
baseline's change, paired by replicate (common random numbers), with its 95% t-interval. The
baseline's own change (drift, warm-up left over) is so taken out of every reform's effect (a
difference in differences). Days to 50% / 90% are means over the replicates where the
smoothed series reached them (``n`` says how many).
"""

from __future__ import annotations

import math
import textwrap
from typing import TYPE_CHECKING, Any

from sim.core.windows import PRE_POST_OUTCOMES
from sim.experiments.compare_stats import paired_summary, t_interval
from sim.experiments.compare_table import ci_text, format_number

if TYPE_CHECKING:
    import pandas as pd

    from sim.experiments.compare import Comparison

__all__ = ["PRE_POST_COLUMNS", "format_pre_post", "pre_post_records", "pre_post_table"]

#: columns of :func:`pre_post_table`
PRE_POST_COLUMNS: tuple[str, ...] = (
    "scenario", "outcome", "n", "pre", "post", "change", "change_ci_low", "change_ci_high", "n_pairs", "effect",
    "effect_ci_low", "effect_ci_high", "t50", "n_t50", "t90", "n_t90")


def _mean(values: Any) -> tuple[float, int]:
    mean, _, _, n = t_interval(values)
    return float(mean), int(n)


def pre_post_records(comp: Comparison) -> list[dict[str, Any]]:
    """One record per (scenario, outcome) with the :data:`PRE_POST_COLUMNS`; empty without a reform date."""
    out: list[dict[str, Any]] = []
    if comp.reform_day() <= 0:
        return out
    for outcome in PRE_POST_OUTCOMES:
        base = comp.values(comp.baseline, f"{outcome}_change")
        for k, label in enumerate(comp.labels):
            ch = paired_summary(comp.values(label, f"{outcome}_change"), None if k == 0 else base, comp.level)
            t50, n50 = _mean(comp.values(label, f"{outcome}_t50"))
            t90, n90 = _mean(comp.values(label, f"{outcome}_t90"))
            out.append({
                "scenario": label, "outcome": outcome, "n": ch["n"],
                "pre": _mean(comp.values(label, f"{outcome}_pre"))[0],
                "post": _mean(comp.values(label, f"{outcome}_post"))[0],
                "change": ch["mean"], "change_ci_low": ch["ci_low"], "change_ci_high": ch["ci_high"],
                "n_pairs": ch["n_pairs"], "effect": ch["diff"], "effect_ci_low": ch["diff_ci_low"],
                "effect_ci_high": ch["diff_ci_high"], "t50": t50, "n_t50": n50, "t90": t90, "n_t90": n90,
            })
    return out


def pre_post_table(comp: Comparison) -> pd.DataFrame:
    """:func:`pre_post_records` as a DataFrame (no rows without a reform date)."""
    import pandas as pd

    return pd.DataFrame(pre_post_records(comp), columns=list(PRE_POST_COLUMNS))


def _days(mean: float, n: int, reps: int) -> str:
    return "n/a" if not math.isfinite(mean) else f"{mean:.0f}" + (f" ({n}/{reps})" if n < reps else "")


def format_pre_post(comp: Comparison, width: int = 120) -> str:
    """The pre/post effects as a text table (empty string without a reform date)."""
    recs = pre_post_records(comp)
    if not recs:
        return ""
    day = comp.reform_day()
    head = (f"Pre/post-reform windows (reform on day {day}): pre = mean over the window before day {day}, post = "
            f"mean over the last window of the run; change = post - pre [95% CI]; effect = change - the change of "
            f"{comp.baseline}, paired by replicate [95% CI], * CI excludes 0; t50/t90 = days after day {day} until "
            "the smoothed series covers 50%/90% of its change (mean over replicates; (k/R) if only k reached it).")
    rows = [("outcome", "scenario", "pre", "post", "change [95% CI]", "effect [95% CI]", "t50", "t90")]
    for r in recs:
        rows.append((r["outcome"], r["scenario"], format_number(r["pre"], 4), format_number(r["post"], 4),
                     ci_text(r["change"], r["change_ci_low"], r["change_ci_high"], 4, True),
                     "" if r["scenario"] == comp.baseline else ci_text(r["effect"], r["effect_ci_low"],
                                                                       r["effect_ci_high"], 4, True),
                     _days(r["t50"], r["n_t50"], comp.replicates), _days(r["t90"], r["n_t90"], comp.replicates)))
    widths = [max(len(row[j]) for row in rows) for j in range(len(rows[0]))]
    lines = textwrap.wrap(head, max(width, 40)) + [""]
    for i, row in enumerate(rows):
        lines.append("  ".join(f"{c:<{w}}" if j < 2 else f"{c:>{w}}" for j, (c, w) in enumerate(zip(row, widths)))
                     .rstrip())
        if i == 0:
            lines.append("-" * len(lines[-1]))
    return "\n".join(lines)
