"""The report's "Parameter uncertainty" section, for a comparison run with ``govsim compare --uncertainty``.

:func:`uncertainty_from_store` finds the draws in the stored runs (the first line of each run's
scenario text, :data:`sim.experiments.uncertainty.DRAW_HEADER`) and rebuilds the
:class:`~sim.experiments.uncertainty.UncertainComparison` of a comparison rebuilt by
:func:`sim.report.data.comparison_from_store`; :func:`uncertainty_html` is the section: the table
(mean and 95% range of the replicate values, paired difference, P(beats), P(best)), the drivers
of each difference and the drawn parameters with their ranges.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.store.database import ResultStore
from sim.store.schema import runs

if TYPE_CHECKING:
    from sim.experiments.compare import Comparison
    from sim.experiments.uncertainty import UncertainComparison

__all__ = ["uncertainty_from_store", "uncertainty_html"]


def uncertainty_from_store(store: ResultStore, comp: Comparison) -> UncertainComparison | None:
    """The uncertainty analysis of stored comparison ``comp``, or None if its runs carry no draw."""
    from sqlalchemy import select

    from sim.experiments.uncertainty import UncertainComparison, parse_draw_header

    query = (select(runs.c.seed, runs.c.scenario_name, runs.c.scenario_text)
             .where(runs.c.label == f"compare:{comp.comparison_id}").order_by(runs.c.id))
    rows = store.run_op(f"read the draws of comparison {comp.comparison_id}", lambda conn: conn.execute(query).all())
    by_seed: dict[int, Any] = {}
    on: dict[str, frozenset[str]] = {}
    for seed, name, text in rows:
        parsed = parse_draw_header(text or "")
        if parsed is None:
            return None
        by_seed.setdefault(int(seed), parsed)
        on[name] = on.get(name, frozenset()) | _policies(text)
    if not by_seed or any(s not in by_seed for s in comp.seeds):
        return None
    params = by_seed[comp.seeds[0]][0]
    keys = [p.key for p in params]
    if any([p.key for p in by_seed[s][0]] != keys for s in comp.seeds):
        return None
    values = np.vstack([by_seed[s][1] for s in comp.seeds])
    by_label = {label: on.get(label.split(" #")[0], frozenset()) for label in comp.labels}
    return UncertainComparison(comp, params, values, by_label)


def _policies(text: str) -> frozenset[str]:
    """The policies switched on in a stored (drawn) scenario text."""
    import tomllib

    try:
        return frozenset(tomllib.loads(text).get("policies", {}))
    except tomllib.TOMLDecodeError:
        return frozenset()


def _fmt_p(p: float) -> str:
    return "n/a" if not math.isfinite(p) else f"{p:.2f}"


def _table(unc: UncertainComparison) -> str:
    from sim.experiments.compare_table import MAIN_METRICS
    from sim.experiments.uncertainty_text import BETTER, decimals, range_cell

    metrics = [m for m, _ in MAIN_METRICS]
    rec = {(r["scenario"], r["metric"]): r for r in unc.stats(metrics).to_dict("records")}
    base = html.escape(unc.labels[0])
    head = ['<th class="l">metric</th><th class="l">better</th>']
    for k, label in enumerate(unc.labels):
        name = html.escape(label)
        head.append(f"<th>{name}<br>mean [95% range]</th>")
        head.append(f"<th>{name}<br>diff vs {base} [95% range]</th><th>{name}<br>P(beats)</th>" if k else "")
        head.append(f"<th>{name}<br>P(best)</th>")
    out = ["<tr>" + "".join(head) + "</tr>"]
    for m in metrics:
        rows = [rec[(label, m)] for label in unc.labels]
        dec = decimals(rows)
        cells = [f'<td class="l">{m}</td><td class="l">{BETTER[rows[0]["direction"]]}</td>']
        for k, r in enumerate(rows):
            cells.append(f"<td>{range_cell(r['mean'], r['lo'], r['hi'], dec, False)}</td>")
            if k:
                sig = math.isfinite(r["diff_lo"]) and (r["diff_lo"] > 0 or r["diff_hi"] < 0)
                diff = range_cell(r["diff"], r["diff_lo"], r["diff_hi"], dec, True)
                cells.append(f'<td><span class="sig">{diff}</span></td>' if sig else f"<td>{diff}</td>")
                cells.append(f"<td>{_fmt_p(r['p_beats'])}</td>")
            cells.append(f"<td>{_fmt_p(r['p_best'])}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="uncertainty">{"".join(out)}</table>'


def _drivers(unc: UncertainComparison) -> str:
    from sim.experiments.uncertainty_stats import DRIVER_METRICS, rho_critical

    n, n_par = unc.comparison.replicates, max((len(unc.driver_columns(label)) for label in unc.labels[1:]), default=0)
    crit, strong = rho_critical(n), rho_critical(n, 1 - 0.05 / max(n_par, 1))
    if not math.isfinite(crit):
        return f'<p class="note">Too few replicates ({n}) to rank the drivers.</p>'
    parts = [f'<p class="note">Spearman rank correlation of each parameter\'s draw with the paired difference to '
             f"{html.escape(unc.labels[0])}, the 5 largest |rho|. With {n} replicates |rho| below {crit:.2f} is within "
             f"noise (grey, ~), and among {n_par} parameters about {0.05 * n_par:.1f} exceed that by chance; "
             f"<b>bold</b>: |rho| beyond {strong:.2f} (Bonferroni for {n_par} parameters).</p>"]
    for label in unc.labels[1:]:
        rows = ['<tr><th class="l">outcome</th>' + "".join(f"<th>#{i}</th>" for i in range(1, 6)) + "</tr>"]
        for m in DRIVER_METRICS:
            cells = []
            for d in unc.drivers(m, label):
                text = f"{html.escape(d['parameter'])} {d['rho']:+.2f}"
                cells.append(f'<td class="l" style="color:#999">{text}~</td>' if d["noise"] else
                             f'<td class="l"><b>{text}</b></td>' if d["strong"] else f'<td class="l">{text}</td>')
            rows.append(f'<tr><td class="l">{m}</td>{"".join(cells)}</tr>')
        parts.append(f"<h3>{html.escape(label)}</h3><table>{''.join(rows)}</table>")
    return "".join(parts)


def _parameters(unc: UncertainComparison) -> str:
    rows = ['<tr><th class="l">parameter</th><th class="l">distribution</th><th>range</th><th>drawn min</th>'
            "<th>drawn max</th></tr>"]
    for j, p in enumerate(unc.uncertain):
        col = unc.values[:, j]
        rng = f"x{p.lo:.4g}-{p.hi:.4g}" if p.factor else f"[{p.lo:.4g}, {p.hi:.4g}]"
        rows.append(f'<tr><td class="l">{html.escape(p.key)}</td><td class="l">{p.distribution}</td><td>{rng}</td>'
                    f"<td>{col.min():.4g}</td><td>{col.max():.4g}</td></tr>")
    return (f"<details><summary>The {len(unc.uncertain)} drawn parameters (x: a factor on every element of a vector "
            f"or table)</summary><table>{''.join(rows)}</table></details>")


def uncertainty_html(unc: UncertainComparison) -> str:
    """The section: what was drawn, the table with ranges and probabilities, the drivers, the parameters."""
    n = unc.comparison.replicates
    intro = (f"<p>Each of the {n} replicates drew {len(unc.uncertain)} uncertain parameters once (Latin hypercube "
             "seeded from the root seed) and used one seed; every scenario of a replicate ran with the same draw and "
             "seed, so differences are paired. Cells: mean [2.5th, 97.5th percentile] of the replicate values: the "
             "spread over the plausible parameter ranges and the model's randomness, not a confidence interval of "
             f"the mean. P(beats): share of replicates in which the scenario is better than "
             f"{html.escape(unc.labels[0])}; P(best): share in which it is the best of all compared. <b>Bold</b>: "
             "the difference's range excludes 0.</p>")
    return (intro + _table(unc) + "<h3>Cost-effectiveness under uncertainty</h3>" + _cost_effect(unc)
            + "<h3>What drives the differences</h3>" + _drivers(unc) + _parameters(unc))


def _cost_effect(unc: UncertainComparison) -> str:
    """Extra cost per unit gained per reform: ratio of mean differences, range of the replicates' ratios, quadrants."""
    from sim.experiments.compare_stats import CE_STATUS
    from sim.experiments.cost_effect import cost_effectiveness_records
    from sim.experiments.uncertainty_text import range_cell

    rows = ['<tr><th class="l">scenario</th><th class="l">per</th><th>extra cost (yuan)</th><th>gain</th>'
            "<th>yuan per unit [95% range]</th><th>status</th><th>P(costs more, gains)</th><th>P(dominant)</th>"
            "<th>P(dominated)</th><th>P(cheaper, no gain)</th></tr>"]
    for r in cost_effectiveness_records(unc.comparison, uncertain=True):
        dec = 2 if r["outcome"] == "satisfaction_mean" else 0
        ratio = range_cell(r["ratio"], r["lo"], r["hi"], 0, False) if math.isfinite(r["ratio"]) else "n/a"
        probs = "".join(f"<td>{_fmt_p(r['p_' + s])}</td>" for s in ("ok", "dominant", "dominated",
                                                                     "cheaper_less_effective"))
        rows.append(f'<tr><td class="l">{html.escape(r["scenario"])}</td><td class="l">{html.escape(r["unit"])}</td>'
                    f"<td>{r['cost_diff']:+,.0f}</td><td>{r['outcome_diff']:+.{dec}f}</td><td>{ratio}</td>"
                    f"<td>{r['status']}</td>{probs}</tr>")
    legend = "; ".join(f"{k}: {html.escape(v)}" for k, v in CE_STATUS.items())
    return (f'<table>{"".join(rows)}</table><p class="note">The ratio is that of the mean paired differences; its '
            "range is the central 95% of the per-replicate ratios over the replicates in which the reform costs "
            f"more and gains. Status: {legend}.</p>")
