"""A publishable report of a stored run, comparison or sweep (``govsim report``).

Writes ``<DIR>/<stem>_report.html``, a self-contained page (every figure embedded as a base64
PNG, no external assets), and every figure as ``<DIR>/<stem>_<figure>.png`` and ``.svg``. Everything
is rebuilt from the results database (see :mod:`sim.report.data`), so a report can be made at any
time after ``govsim run``, ``govsim compare`` or ``govsim sweep``:

* a comparison (``compare:<id>`` or ``<id>``): the scenario table (mean [95% CI] and the paired
  difference to the baseline), with a reform date (``reform.start_day`` > 0) the pre/post-reform
  table, resolution rate and satisfaction over time with 95% bands (a dashed line at the reform
  day), share resolved by level, satisfaction (and resolution rate) by compound type,
  cost-effectiveness;
* a run (integer id): the same sections for one run (no intervals, no cost-effectiveness);
* a sweep (id or unique prefix): the design, outcome ranges, heatmaps of the outcomes over
  households per grid x alliance size (or the first two factors), and the Sobol / Morris
  sensitivity indices when the design has them.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.config.names import safe_filename
from sim.errors import OutputError, StoreError
from sim.experiments.compare_table import format_number
from sim.store.database import ResultStore

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sim.experiments.compare import Comparison
    from sim.experiments.uncertainty import UncertainComparison

__all__ = ["Report", "comparison_report", "make_report", "run_report", "sweep_report"]

COMPARISON_SECTIONS: tuple[tuple[str, str], ...] = (
    ("timeseries", "Resolution rate and satisfaction over time"),
    ("levels", "Share resolved by level"),
    ("compound_types", "Satisfaction by compound type"),
    ("cost_effectiveness", "Cost-effectiveness"),
)

_CSS = """body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222}h1{font-size:1.6em}h2{margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}th,td{border:1px solid #ddd;padding:3px 6px;
text-align:right}th{background:#f3f3f3}td.l,th.l{text-align:left}img{max-width:100%;height:auto}
.note{color:#555;font-size:.9em}.sig{font-weight:bold}"""


@dataclass
class Report:
    """A report being built: sections of HTML, figures written as PNG and SVG."""

    title: str
    stem: str
    out: Path
    sections: list[tuple[str, str, str]] = field(default_factory=list)  # (id, heading, html)
    files: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.stem = safe_filename(self.stem)  # ids from the database become file names: no separators, no '..'

    def add(self, sid: str, heading: str, body: str) -> None:
        """Append a section (``sid`` is its HTML id)."""
        self.sections.append((sid, heading, body))

    def figure(self, name: str, fig: Figure, alt: str) -> str:
        """Save ``fig`` as PNG and SVG next to the report; return an <img> embedding the PNG."""
        from sim.experiments.plots import save_figure

        paths = save_figure(fig, self.out / f"{self.stem}_{name}")
        self.files.extend(paths)
        data = base64.b64encode(paths[0].read_bytes()).decode("ascii")  # the PNG just written
        return f'<figure id="fig-{name}"><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></figure>'

    def write(self, intro: str = "") -> Path:
        """Write ``<out>/<stem>_report.html`` (self-contained) and return its path."""
        from sim.config.version import __version__

        toc = "".join(f'<li><a href="#{sid}">{html.escape(h)}</a></li>' for sid, h, _ in self.sections)
        body = "".join(f'<section id="{sid}"><h2>{html.escape(h)}</h2>{b}</section>' for sid, h, b in self.sections)
        made = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(self.title)}</title>'
                f"<style>{_CSS}</style></head><body><h1>{html.escape(self.title)}</h1>{intro}<ul>{toc}</ul>{body}"
                f'<p class="note">Made by govsim {html.escape(__version__)} on {made} from the results database.</p>'
                "</body></html>")
        path = self.out / f"{self.stem}_report.html"
        path.write_text(page, encoding="utf-8")
        self.files.insert(0, path)
        return path


def _table_html(comp: Comparison) -> str:
    """The comparison table: mean [95% CI] per scenario and the paired difference to the baseline.

    One run (one replicate): its values only, without interval columns.
    """
    from sim.experiments.compare_table import MAIN_METRICS, row_decimals

    units = dict(MAIN_METRICS)
    metrics = [m for m, _ in MAIN_METRICS]
    st = comp.stats(metrics)
    rec = {(r["scenario"], r["metric"]): r for r in st.to_dict("records")}
    colours = comp.colours
    single = comp.replicates == 1
    head = ['<th class="l">metric</th><th class="l">unit</th>']
    for k, label in enumerate(comp.labels):
        sw = f'<span style="color:{colours[label]}">&#9632;</span> '
        head.append(f"<th>{sw}{html.escape(label)}<br>{'value' if single else 'mean [95% CI]'}</th>")
        if k:
            head.append(f"<th>{html.escape(label)}<br>diff vs {html.escape(comp.baseline)} [95% CI]</th>")
    rows = ["<tr>" + "".join(head) + "</tr>"]
    for metric in metrics:
        rs = [rec[(label, metric)] for label in comp.labels]
        dec = row_decimals(rs)
        cells = [f'<td class="l">{metric}</td><td class="l">{units[metric]}</td>']
        for k, r in enumerate(rs):
            if single:
                cells.append(f"<td>{format_number(r['mean'], dec)}</td>")
                continue
            cells.append(f"<td>{_cell(r['mean'], r['ci_low'], r['ci_high'], dec, False)}</td>")
            if k:
                cells.append(f"<td>{_cell(r['diff'], r['diff_ci_low'], r['diff_ci_high'], dec, True)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="scenarios">{"".join(rows)}</table>'


def _cell(mean: float, lo: float, hi: float, dec: int, sign: bool) -> str:
    if not math.isfinite(mean):
        return "n/a"
    ci = "[n/a]" if not (math.isfinite(lo) and math.isfinite(hi)) else f"[{format_number(lo, dec, sign)}, {format_number(hi, dec, sign)}]"
    sig = sign and math.isfinite(lo) and math.isfinite(hi) and (lo > 0 or hi < 0)
    text = f"{format_number(mean, dec, sign)} {ci}"
    return f'<span class="sig">{text}*</span>' if sig else text


def _ce_html(comp: Comparison) -> str:
    from sim.experiments.compare_stats import CE_OUTCOMES, CE_STATUS

    rows = [('<tr><th class="l">scenario</th><th class="l">per</th><th>extra cost (yuan)</th><th>gain</th>'
            "<th>yuan per unit</th><th>95% CI (Fieller)</th><th>status</th></tr>")]
    for outcome, (_scale, unit) in CE_OUTCOMES.items():
        dec = 2 if outcome == "satisfaction_mean" else 0
        for r in comp.cost_effectiveness(outcome=outcome).to_dict("records"):
            ci = (f"[{format_number(r['ci_low'], 0)}, {format_number(r['ci_high'], 0)}]" if r["status"] == "ok"
                  else "unbounded / n/a")
            rows.append(f'<tr><td class="l">{html.escape(r["scenario"])}</td><td class="l">{html.escape(unit)}</td>'
                        f"<td>{format_number(r['cost_diff'], 0, True)}</td>"
                        f"<td>{format_number(r['outcome_diff'], dec, True)}</td><td>{format_number(r['ratio'], 0)}</td>"
                        f"<td>{ci}</td><td>{r['status']}</td></tr>")
    legend = "; ".join(f"{k}: {html.escape(v)}" for k, v in CE_STATUS.items())
    return f'<table>{"".join(rows)}</table><p class="note">Status: {legend}.</p>'


def _pre_post_html(comp: Comparison) -> str:
    """Pre/post-reform windows per outcome and scenario, and each reform's paired effect (compare_windows)."""
    from sim.experiments.compare_windows import pre_post_records

    day = comp.reform_day()
    if comp.replicates == 1:
        return _pre_post_single_html(comp)
    rows = ['<tr><th class="l">outcome</th><th class="l">scenario</th><th>pre</th><th>post</th>'
            "<th>change [95% CI]</th><th>effect vs " + html.escape(comp.baseline) + " [95% CI]</th>"
            "<th>days to 50%</th><th>days to 90%</th></tr>"]
    for r in pre_post_records(comp):
        base = r["scenario"] == comp.baseline
        effect = "" if base else _cell(r["effect"], r["effect_ci_low"], r["effect_ci_high"], 4, True)
        days = [("n/a" if not math.isfinite(r[k]) else f"{r[k]:.0f}") + (f" ({r['n_' + k]}/{comp.replicates})"
                if math.isfinite(r[k]) and r["n_" + k] < comp.replicates else "") for k in ("t50", "t90")]
        rows.append(f'<tr><td class="l">{r["outcome"]}</td><td class="l">{html.escape(r["scenario"])}</td>'
                    f"<td>{format_number(r['pre'], 4)}</td><td>{format_number(r['post'], 4)}</td>"
                    f"<td>{_cell(r['change'], r['change_ci_low'], r['change_ci_high'], 4, True)}</td>"
                    f"<td>{effect}</td><td>{days[0]}</td><td>{days[1]}</td></tr>")
    note = (f'<p class="note">The reform starts on day {day} (dashed line on every time-series figure). pre: mean '
            f"over the window before day {day}; post: mean over the last window of the run; change = post - pre; "
            f"effect = the scenario's change minus {html.escape(comp.baseline)}'s, paired by replicate (a difference "
            f"in differences); days to 50% / 90%: days after day {day} until the series, smoothed by a centred 30-day "
            "mean, covers that share of its change (mean over the replicates that reached it, (k/R) if not all "
            "did).</p>")
    return note + f'<table class="pre-post">{"".join(rows)}</table>'


def _pre_post_single_html(comp: Comparison) -> str:
    """Pre/post-reform windows of one run: values, no intervals and no effect (there is no second scenario)."""
    from sim.experiments.compare_windows import pre_post_records

    day = comp.reform_day()
    rows = ['<tr><th class="l">outcome</th><th>pre</th><th>post</th><th>change</th><th>days to 50%</th>'
            "<th>days to 90%</th></tr>"]
    for r in pre_post_records(comp):
        days = ["n/a" if not math.isfinite(r[k]) else f"{r[k]:.0f}" for k in ("t50", "t90")]
        rows.append(f'<tr><td class="l">{r["outcome"]}</td><td>{format_number(r["pre"], 4)}</td>'
                    f"<td>{format_number(r['post'], 4)}</td><td>{format_number(r['change'], 4, True)}</td>"
                    f"<td>{days[0]}</td><td>{days[1]}</td></tr>")
    note = (f'<p class="note">The reform starts on day {day} (dashed line on every time-series figure). pre: mean '
            f"over the window before day {day}; post: mean over the last window of the run; change = post - pre; "
            f"days to 50% / 90%: days after day {day} until the series, smoothed by a centred 30-day mean, covers "
            "that share of its change.</p>")
    return note + f'<table class="pre-post">{"".join(rows)}</table>'


def comparison_report(comp: Comparison, out: Path, title: str | None = None, single_run: bool = False,
                      uncertainty: UncertainComparison | None = None) -> Report:
    """Build and write the report of a comparison (or of one run, ``single_run``; with parameter ``uncertainty``)."""
    from sim.report.figures import plot_levels

    rep = Report(title or f"govsim comparison {comp.comparison_id}", comp.comparison_id, out)
    steps = sorted({comp.steps(label) for label in comp.labels})
    if single_run:
        intro = (f"<p>One run of scenario <b>{html.escape(comp.baseline)}</b>, {'/'.join(map(str, steps))} days, seed "
                 f"{comp.seeds[0]}: its values (a single run has no confidence intervals).</p>")
        rep.add("table", "Outcomes", _table_html(comp))
    else:
        root = f"root seed {comp.root_seed}" if comp.root_seed >= 0 else "root seed not recovered"
        intro = (f"<p>{len(comp.labels)} scenarios x {comp.replicates} replicates x {'/'.join(map(str, steps))} days "
                 f"({root}; replicate r uses the same seed in every scenario: common random numbers). Baseline: "
                 f"<b>{html.escape(comp.baseline)}</b>. Cells: mean [95% t-interval] over replicates; diff = scenario - "
                 "baseline, paired by replicate; <b>*</b> the difference's CI excludes 0.</p>")
        rep.add("table", "Scenario table with 95% confidence intervals", _table_html(comp))
    if uncertainty is not None:
        from sim.report.uncertainty import uncertainty_html

        rep.add("uncertainty", "Parameter uncertainty", uncertainty_html(uncertainty))
    if comp.reform_day() > 0:
        rep.add("pre_post", f"Before and after the reform (day {comp.reform_day()})", _pre_post_html(comp))
    makers: dict[str, Callable[[], Figure]] = {
        "timeseries": comp.plot_timeseries, "levels": lambda: plot_levels(comp),
        "compound_types": comp.plot_compound_types, "cost_effectiveness": comp.plot_cost_effectiveness,
    }
    for name, heading in COMPARISON_SECTIONS:
        if single_run and name == "cost_effectiveness":
            continue
        body = rep.figure(name, makers[name](), heading)
        if name == "cost_effectiveness":
            body = _ce_html(comp) + body
        rep.add(name, heading, body)
    rep.write(intro)
    return rep


def _sweep_tables(sweep: dict[str, Any], frame: Any) -> str:
    spec = sweep["spec"]
    rows = ['<tr><th class="l">factor</th><th class="l">range</th><th>min</th><th>max</th></tr>']
    for f in spec["factors"]:
        name = f["name"]
        rng = {k: v for k, v in f.items() if k != "name"}
        col = frame[name] if name in frame.columns else None
        lo = col.min() if col is not None and len(col) else float("nan")
        hi = col.max() if col is not None and len(col) else float("nan")
        rows.append(f'<tr><td class="l">{html.escape(name)}</td><td class="l">{html.escape(str(rng))}</td>'
                    f"<td>{lo:.4g}</td><td>{hi:.4g}</td></tr>")
    factors = f"<table>{''.join(rows)}</table>"
    rows = ['<tr><th class="l">outcome</th><th>mean</th><th>min</th><th>max</th><th>runs</th></tr>']
    for o in spec["outcomes"]:
        c = frame[o]
        rows.append(f'<tr><td class="l">{html.escape(o)}</td><td>{c.mean():.4g}</td><td>{c.min():.4g}</td>'
                    f"<td>{c.max():.4g}</td><td>{int(c.notna().sum())}</td></tr>")
    return factors + f"<table>{''.join(rows)}</table>"


def sweep_report(store: ResultStore, sweep: dict[str, Any], out: Path) -> Report:
    """Build and write the report of a stored sweep."""
    from sim.errors import InputError
    from sim.experiments.sensitivity import METHODS, analyse
    from sim.report.figures import choose_heatmap_factors, plot_sensitivity, plot_sweep_heatmap
    from sim.store.export import sweep_table

    sweep, frame = sweep_table(store, sweep["id"])
    sid = sweep["id"]
    if frame.empty:
        raise StoreError(f"sweep {sid} has no stored runs yet; run `govsim sweep {sweep['sweep_file']}`")
    rep = Report(f"govsim sweep {sid}", sid, out)
    n_runs = int(sweep["n_experiments"]) * int(sweep["replicates"])
    intro = (f"<p>Sweep <b>{html.escape(sid)}</b> ({html.escape(sweep['design'])} design) on scenario "
             f"<b>{html.escape(sweep['base_scenario_name'])}</b>: {sweep['n_experiments']} experiments x "
             f"{sweep['replicates']} replicates x {sweep['n_steps']} days; {len(frame)} of {n_runs} runs stored.</p>")
    rep.add("design", "Design and outcomes", _sweep_tables(sweep, frame))
    factors = [f["name"] for f in sweep["spec"]["factors"]]
    pair = choose_heatmap_factors(factors)
    if pair:
        outcomes = [o for o in ("resolution_rate", "satisfaction_mean") if o in frame.columns] or \
            list(sweep["spec"]["outcomes"])[:2]
        fig = plot_sweep_heatmap(frame, pair[0], pair[1], outcomes,
                                 title=f"Sweep {sid}: mean outcome per cell (other factors and replicates averaged)")
        rep.add("heatmaps", "Heatmaps", rep.figure("heatmap", fig, "sweep heatmaps"))
    else:
        rep.add("heatmaps", "Heatmaps", '<p class="note">The sweep varies fewer than two factors: no heatmap.</p>')
    if sweep["design"] in METHODS:
        try:
            analysis = analyse(store, sid)
        except (StoreError, InputError) as exc:
            rep.add("sensitivity", "Sensitivity indices", f'<p class="note">No indices: {html.escape(str(exc))}</p>')
        else:
            from sim.experiments.sensitivity import format_results

            body = rep.figure("sensitivity", plot_sensitivity(analysis), "sensitivity indices")
            body += f"<pre>{html.escape(format_results(analysis))}</pre>"
            rep.add("sensitivity", "Sensitivity indices", body)
    else:
        rep.add("sensitivity", "Sensitivity indices",
                f'<p class="note">A {html.escape(sweep["design"])} design has no Sobol or Morris indices.</p>')
    rep.write(intro)
    return rep


def run_report(store: ResultStore, run_id: int, out: Path) -> Report:
    """Build and write the report of one stored run."""
    from sim.report.data import run_as_comparison, run_row

    comp = run_as_comparison(store, run_id)
    row = run_row(store, run_id)
    title = f"govsim run {run_id}: {row['scenario_name']}" + (f" ({row['label']})" if row["label"] else "")
    return comparison_report(comp, out, title=title, single_run=True)


def make_report(store: ResultStore, ref: str, out: str | Path = "results") -> Report:
    """Resolve ``ref`` (run id, comparison id or sweep id) and write its report to ``out``.

    Raises :class:`~sim.errors.StoreError` for an unknown ``ref`` and :class:`~sim.errors.OutputError`
    when ``out`` cannot be written.
    """
    from sim.report.data import ComparisonTarget, RunTarget, comparison_from_store, resolve

    target = resolve(store, ref)
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        if isinstance(target, RunTarget):
            return run_report(store, target.run_id, out)
        if isinstance(target, ComparisonTarget):
            from sim.report.uncertainty import uncertainty_from_store

            comp = comparison_from_store(store, target.comparison_id)
            return comparison_report(comp, out, uncertainty=uncertainty_from_store(store, comp))
        return sweep_report(store, target.sweep, out)
    except OSError as err:
        raise OutputError(f"could not write the report to '{out}' ({err.strerror or err})") from None
