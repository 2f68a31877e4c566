"""Text of a comparison with parameter uncertainty, as printed by ``govsim compare --uncertainty``.

Presentation only: reads a finished :class:`~sim.experiments.uncertainty.UncertainComparison`
through ``stats()`` and ``drivers()``. One block per scenario: the baseline's mean [95% range]
and P(best); each other scenario's mean [range], paired difference [range], P(beats) and P(best).
Then the drivers of each scenario's difference in :data:`~sim.experiments.uncertainty.DRIVER_METRICS`.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sim.experiments.compare_table import MAIN_METRICS, format_number, row_decimals
from sim.experiments.uncertainty_stats import DRIVER_METRICS, rho_critical

if TYPE_CHECKING:
    from sim.experiments.uncertainty import UncertainComparison

__all__ = ["BETTER", "decimals", "format_uncertain", "range_cell"]

#: How the direction of an outcome is written.
BETTER = {1: "higher", -1: "lower", 0: ""}
_GAP = "  "


def decimals(rows: Sequence[Mapping[str, Any]]) -> int:
    """Decimals of one metric's row of ``stats()`` records (the baseline first), as the comparison table's."""
    return row_decimals([{"mean": r["mean"], "ci_low": r["lo"], "ci_high": r["hi"], "diff": r["diff"],
                          "diff_ci_low": r["diff_lo"], "diff_ci_high": r["diff_hi"]} for r in rows])


def range_cell(mean: float, lo: float, hi: float, dec: int, sign: bool) -> str:
    """``mean [lo, hi]``; ``n/a`` for an undefined mean."""
    if not math.isfinite(mean):
        return "n/a"
    return f"{format_number(mean, dec, sign)} [{format_number(lo, dec, sign)}, {format_number(hi, dec, sign)}]"


def _prob(p: float) -> str:
    return "n/a" if not math.isfinite(p) else f"{p:.2f}"


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    """One line: the first three columns left-aligned, the numbers right-aligned."""
    return _GAP.join(f"{c:<{w}}" if j < 3 else f"{c:>{w}}" for j, (c, w) in enumerate(zip(cells, widths))).rstrip()


def _block(res: UncertainComparison, k: int, rec: dict[tuple[str, str], dict[str, Any]], metrics: list[str]) -> list[str]:
    """The lines of scenario ``k``'s block."""
    labels = res.labels
    units = dict(MAIN_METRICS)
    head = ["metric", "unit", "better", "mean [95% range]"]
    if k:
        head += ["diff [95% range]", "P(beats)"]
    head.append("P(best)")
    body = []
    for m in metrics:
        rows = [rec[(label, m)] for label in labels]
        dec = decimals(rows)
        r = rows[k]
        cells = [m, units.get(m, ""), BETTER[r["direction"]], range_cell(r["mean"], r["lo"], r["hi"], dec, False)]
        if k:
            cells += [range_cell(r["diff"], r["diff_lo"], r["diff_hi"], dec, True), _prob(r["p_beats"])]
        cells.append(_prob(r["p_best"]))
        body.append(cells)
    widths = [max(len(str(c)) for c in col) for col in zip(head, *body)]
    lines = [_row(head, widths)]
    lines.append("-" * len(lines[0]))
    lines += [_row(cells, widths) for cells in body]
    return [f"{labels[k]} (the baseline):" if k == 0 else f"{labels[k]}:", *lines]


def _drivers(res: UncertainComparison, width: int) -> list[str]:
    n, d = res.comparison.replicates, max((len(res.driver_columns(label)) for label in res.labels[1:]), default=0)
    crit, strong = rho_critical(n), rho_critical(n, 1 - 0.05 / max(d, 1))
    head = (f"Drivers of the difference to {res.labels[0]}: Spearman rank correlation (rho) of each parameter's draw "
            f"with the paired difference, the 5 largest |rho|. With {n} replicates |rho| below {crit:.2f} is within "
            f"noise (marked ~), and among {d} parameters about {0.05 * d:.1f} exceed that by chance; ! marks |rho| "
            f"beyond {strong:.2f} (Bonferroni for {d} parameters; each scenario is ranked on the core's parameters "
            f"and those of policies on in it or in {res.labels[0]}).") if math.isfinite(crit) else \
        f"Drivers of the difference to {res.labels[0]}: too few replicates ({n}) to rank them."
    lines = ["", *textwrap.wrap(head, max(width, 40))]
    if not math.isfinite(crit):
        return lines
    for label in res.labels[1:]:
        lines.append(f"{label}:")
        for m in DRIVER_METRICS:
            top = res.drivers(m, label)
            items = ", ".join(f"{d['parameter']} {d['rho']:+.2f}{'~' if d['noise'] else '!' if d['strong'] else ''}" for d in top)
            lines += textwrap.wrap(f"{m}: {items or 'none (the difference does not vary)'}", max(width, 40),
                                   initial_indent="  ", subsequent_indent="      ")
    return lines


def format_uncertain(res: UncertainComparison, width: int = 120) -> str:
    """The table (one block per scenario) and the drivers as text; see the module docstring."""
    comp = res.comparison
    metrics = [m for m, _ in MAIN_METRICS]
    rec = {(r["scenario"], r["metric"]): r for r in res.stats(metrics).to_dict("records")}
    steps = sorted({comp.steps(label) for label in comp.labels})
    head = (f"Comparison {comp.comparison_id} with parameter uncertainty: {len(comp.labels)} scenarios x "
            f"{comp.replicates} replicates x {'/'.join(map(str, steps))} days, root seed {comp.root_seed}. Replicate r "
            f"draws {len(res.uncertain)} uncertain parameters once (Latin hypercube) and uses one seed, the same in "
            "every scenario. Cells: mean [2.5th, 97.5th percentile] of the replicate values: the spread over parameter "
            "draws and seeds, not a confidence interval of the mean. diff: paired by replicate. P(beats): share of "
            f"replicates in which the scenario is better than {comp.baseline}; P(best): share in which it is the best "
            "of all compared (better: the outcome's direction).")
    lines = textwrap.wrap(head, max(width, 40))
    for k in range(len(res.labels)):
        lines += ["", *_block(res, k, rec, metrics)]
    lines += _drivers(res, width)
    return "\n".join(lines)
