"""Text table of a scenario comparison, as printed by ``govsim compare`` (:meth:`Comparison.format_table`).

Also holds :data:`MAIN_METRICS`, the rows of the table with their units, and the number
formatting (:func:`row_decimals`, :func:`format_number`) that :mod:`sim.report.html` shares. Kept apart from
:mod:`sim.experiments.compare` (which runs the scenarios and holds the :class:`~sim.experiments.compare.Comparison`)
because it is presentation only: it reads a finished comparison through ``stats()``,
``labels``, ``steps()`` and never runs anything. Everything used elsewhere is re-exported by
:mod:`sim.experiments.compare`.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.experiments.compare import Comparison

__all__ = ["MAIN_METRICS", "format_number", "format_table", "row_decimals"]

#: Rows of the comparison table, in order, with their unit.
MAIN_METRICS: tuple[tuple[str, str], ...] = (
    ("resolution_rate", "share"),
    ("days_to_resolution_median", "days"),
    ("days_to_resolution_median_big", "days"),
    ("abandonment_rate", "share"),
    ("share_found_proactive", "share"),
    ("repeat_contacts_per_resolved", "contacts"),
    ("satisfaction_mean", "0-1"),
    ("satisfaction_p10", "0-1"),
    ("satisfaction_old", "0-1"),
    ("satisfaction_mature", "0-1"),
    ("satisfaction_new", "0-1"),
    ("trust_mean", "0-1"),
    ("staff_utilisation", "share"),
    ("volunteer_hours", "hours"),
    ("cost_yuan", "yuan"),
)


def _decimals(values: Sequence[float], halfwidths: Sequence[float]) -> int:
    """Decimals for a row: two significant digits of its narrowest CI half-width (0..4).

    With no half-width above float noise (e.g. a deterministic cost difference), by the size of the values.
    """
    big = max((abs(v) for v in values if math.isfinite(v)), default=0.0)
    hw = [h for h in halfwidths if math.isfinite(h) and h > 1e-9 * big]
    if hw:
        return int(min(4, max(0, 1 - math.floor(math.log10(min(hw))))))
    return 0 if big >= 100 else 2 if big >= 1 else 3


def row_decimals(rows: Sequence[Mapping[str, float]]) -> int:
    """Decimals for one metric's row of stats records: the baseline first, then the variants.

    The variants' paired differences (``diff``, ``diff_ci_low``, ``diff_ci_high``) share the row.
    """
    vals = [r["mean"] for r in rows] + [r["diff"] for r in rows[1:]]
    hws = ([(r["ci_high"] - r["ci_low"]) / 2 for r in rows]
           + [(r["diff_ci_high"] - r["diff_ci_low"]) / 2 for r in rows[1:]])
    return _decimals(vals, hws)


def format_number(v: float, dec: int, sign: bool = False) -> str:
    """``v`` with ``dec`` decimals (thousands separated, ``+`` if ``sign``); ``n/a`` if not finite."""
    if not math.isfinite(v):
        return "n/a"
    if round(v, dec) == 0:
        v = 0.0  # no "-0.000"
    sep = "," if abs(v) >= 1000 else ""
    return f"{v:{'+' if sign else ''}{sep}.{dec}f}"


def ci_text(mean: float, lo: float, hi: float, dec: int, sign: bool) -> str:
    """``mean [lo, hi]`` of one cell as one string, ``*`` marking a difference whose CI excludes 0."""
    return "".join(_cells(mean, lo, hi, dec, sign))


def _cells(mean: float, lo: float, hi: float, dec: int, sign: bool) -> tuple[str, str]:
    """(value, ' [lo, hi]') strings of one cell; a '*' marks a difference whose CI excludes 0."""
    if not math.isfinite(mean):
        return "n/a", ""
    ci = ("[n/a]" if not (math.isfinite(lo) and math.isfinite(hi))
          else f"[{format_number(lo, dec, sign)}, {format_number(hi, dec, sign)}]")
    star = "*" if sign and math.isfinite(lo) and math.isfinite(hi) and (lo > 0 or hi < 0) else ""
    return format_number(mean, dec, sign), f" {ci}{star}"


#: A column of the table: (scenario index, header, kind) with kind "mean" or "diff".
_Column = tuple[int, str, str]
_GAP = "  "


def _columns(comp: Comparison) -> list[_Column]:
    columns: list[_Column] = [(0, "mean [95% CI]", "mean")]
    for k in range(1, len(comp.labels)):
        columns += [(k, "mean [95% CI]", "mean"), (k, f"diff vs {comp.baseline} [95% CI]", "diff")]
    return columns


def _column_texts(comp: Comparison, metrics: Sequence[str], columns: Sequence[_Column]) -> list[list[str]]:
    """Each column's cells, one per metric, padded to the column's width (value right, CI left)."""
    rec = {(r["scenario"], r["metric"]): r for r in comp.stats(metrics).to_dict("records")}
    cells: dict[tuple[int, str], list[tuple[str, str]]] = {}
    for metric in metrics:
        rows = [rec[(label, metric)] for label in comp.labels]
        dec = row_decimals(rows)
        for k, _, kind in columns:
            r = rows[k]
            cell = (_cells(r["mean"], r["ci_low"], r["ci_high"], dec, False) if kind == "mean"
                    else _cells(r["diff"], r["diff_ci_low"], r["diff_ci_high"], dec, True))
            cells.setdefault((k, kind), []).append(cell)
    out = []
    for k, header, kind in columns:
        cs = cells[(k, kind)]
        wv = max(len(v) for v, _ in cs)
        texts = [f"{v:>{wv}}{ci}" for v, ci in cs]
        w = max(len(header), max(len(t) for t in texts))
        out.append([f"{t:<{w}}" for t in texts])
    return out


def _groups(columns: Sequence[_Column]) -> list[list[int]]:
    """Column indices grouped by scenario; a group never splits."""
    groups: list[list[int]] = []
    for j, (k, _, _) in enumerate(columns):
        if groups and columns[groups[-1][0]][0] == k:
            groups[-1].append(j)
        else:
            groups.append([j])
    return groups


def _blocks(group_width: Sequence[int], lead: int, width: int) -> list[list[int]]:
    """Groups per block of the text: as many as fit in ``width`` after the ``lead`` columns."""
    blocks: list[list[int]] = []
    used = lead
    for gi, gw in enumerate(group_width):
        if blocks and used + len(_GAP) + gw <= width:
            blocks[-1].append(gi)
            used += len(_GAP) + gw
        else:
            blocks.append([gi])
            used = lead + len(_GAP) + gw
    return blocks


def _heading(comp: Comparison, width: int) -> list[str]:
    steps = sorted({comp.steps(label) for label in comp.labels})
    head = (f"Comparison {comp.comparison_id}: {len(comp.labels)} scenarios x {comp.replicates} replicates x "
            f"{'/'.join(map(str, steps))} days, root seed {comp.root_seed} (replicate r: same seed in every scenario). "
            f"Cells: mean [95% t-interval] over replicates; diff = scenario - {comp.baseline}, paired by replicate "
            "(common random numbers); * the difference's CI excludes 0.")
    return textwrap.wrap(head, max(width, 40))


def format_table(comp: Comparison, width: int = 120) -> str:
    """The table as text, ``width`` characters wide at most; see :meth:`Comparison.format_table`.

    One column group per scenario (mean [95% CI], and the paired difference to the baseline);
    groups that do not fit in ``width`` wrap to a next block.
    """
    metrics = [m for m, _ in MAIN_METRICS]
    units = dict(MAIN_METRICS)
    columns = _columns(comp)
    col_text = _column_texts(comp, metrics, columns)
    col_width = [len(texts[0]) for texts in col_text]
    groups = _groups(columns)
    wm = max(len(m) for m in metrics)
    wu = max(len(u) for u in units.values())
    group_width = [sum(col_width[j] for j in g) + len(_GAP) * (len(g) - 1) for g in groups]
    lines = _heading(comp, width)
    for block in _blocks(group_width, wm + len(_GAP) + wu, width):
        head1, head2 = [f"{'':<{wm}}{_GAP}{'':<{wu}}"], [f"{'metric':<{wm}}{_GAP}{'unit':<{wu}}"]
        for gi in block:
            g = groups[gi]
            label = comp.labels[columns[g[0]][0]]
            if len(label) > group_width[gi]:
                label = label[: max(group_width[gi] - 3, 1)] + "..."
            head1.append(f"{label:<{group_width[gi]}}")
            head2.append(_GAP.join(f"{columns[j][1]:<{col_width[j]}}" for j in g))
        lines += ["", _GAP.join(head1).rstrip(), _GAP.join(head2).rstrip()]
        lines.append("-" * len(lines[-1]))
        for i, metric in enumerate(metrics):
            parts = [f"{metric:<{wm}}{_GAP}{units[metric]:<{wu}}"]
            parts += [_GAP.join(col_text[j][i] for j in groups[gi]) for gi in block]
            lines.append(_GAP.join(parts).rstrip())
    return "\n".join(lines)
