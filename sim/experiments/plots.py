"""Figures of a scenario comparison (:class:`sim.experiments.compare.Comparison`), with matplotlib.

Figures are built with the object-oriented API on an Agg canvas (``Figure`` +
``FigureCanvasAgg``), never through ``pyplot``: no display is needed, no global state is
touched, and a notebook's backend is left alone (a returned Figure still shows inline).

Every figure colours a scenario the same way: :func:`scenario_colours` maps the comparison's
scenario labels, in order, to a fixed palette (the baseline always gets the first colour).
Labels are English/romanised, so no CJK font is needed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from sim.config.taxonomy import COMPOUND_TYPES

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from sim.experiments.compare import Comparison

__all__ = [
    "PALETTE",
    "new_figure",
    "plot_compound_types",
    "plot_cost_effectiveness",
    "plot_timeseries",
    "replicates_text",
    "reform_line",
    "save_figure",
    "scenario_colours",
]

#: Colours in the order scenarios are given (matplotlib's "tab10", then "Dark2" for more than ten).
PALETTE: tuple[str, ...] = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666",
)

#: y-axis label (with unit) and scale factor to the plotted unit of the time-series metrics. Shares and
#: scores are on 0-1 as in the tables and JSON (one convention: :mod:`sim.config.units`).
SERIES_AXES: dict[str, tuple[str, float]] = {
    "resolution_rate": ("Resolution rate (share of problems arisen, 0-1)", 1.0),
    "satisfaction_mean": ("Mean satisfaction (0-1)", 1.0),
    "satisfaction_p10": ("10th-percentile satisfaction (0-1)", 1.0),
    "trust_mean": ("Mean trust (0-1)", 1.0),
    "cost_yuan": ("Cumulative cost (yuan)", 1.0),
    "volunteer_hours": ("Cumulative volunteer hours (h)", 1.0),
    "resolution_rate_30d": ("Resolution rate, 30 days (0-1)", 1.0),  # the title says of what (a longer label was cut)
    "satisfaction_mean_30d": ("Mean satisfaction, last 30 days (0-1)", 1.0),
    "trust_mean_30d": ("Mean trust, last 30 days (0-1)", 1.0),
}
SERIES_TITLES: dict[str, str] = {
    "resolution_rate": "Resolution rate (resolved / arisen, cumulative)",
    "satisfaction_mean": "Mean resident satisfaction",
    "resolution_rate_30d": "Resolution rate over the last 30 days (resolved / closed)",
    "trust_mean": "Mean resident trust",
}
#: the time series drawn by default, and with a reform date (the windowed ones show the change when it happens)
TIMESERIES_METRICS: tuple[str, ...] = ("resolution_rate", "satisfaction_mean")
REFORM_TIMESERIES_METRICS: tuple[str, ...] = ("resolution_rate_30d", "satisfaction_mean", "trust_mean")
COMPOUND_LABELS: dict[str, str] = {"old": "old (no property firm)", "mature": "mature", "new": "new"}


def scenario_colours(labels: Sequence[str]) -> dict[str, str]:
    """Scenario label -> hex colour, by position (the first, the baseline, is always PALETTE[0])."""
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(labels)}


def new_figure(**kwargs: object) -> Figure:
    """A Figure with constrained layout on its own Agg canvas: no pyplot, no global state."""
    fig = Figure(layout="constrained", **kwargs)  # type: ignore[arg-type]
    FigureCanvasAgg(fig)
    return fig


def _wrap(text: str, width: int = 16) -> str:
    """Wrap at spaces and after underscores (scenario names are snake_case), at most ``width`` a line."""
    lines: list[str] = []
    for tok in (t for t in re.split(r"(?<=_)|(?<= )", text) if t):
        if lines and len(lines[-1]) + len(tok.rstrip()) <= width:
            lines[-1] += tok
            continue
        while len(tok.rstrip()) > width:  # a word longer than a line
            lines.append(tok[:width])
            tok = tok[width:]
        lines.append(tok)
    return "\n".join(line.rstrip() for line in lines) or text


def _thousands(x: float, _pos: object = None) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 or x == 0 else f"{x:g}"


def replicates_text(comp: Comparison, interval: str) -> str:
    """``mean of R replicates, <interval>`` for a figure's title, or ``one run`` (which has no interval)."""
    return f"mean of {comp.replicates} replicates, {interval}" if comp.replicates > 1 else "one run"


def reform_line(ax: Axes, comp: Comparison) -> None:
    """A dashed vertical line at each scenario's reform day (``reform.start_day`` > 0), labelled once."""
    days = sorted({d for d in (comp.reform_day(label) for label in comp.labels) if d > 0})
    for day in days:
        ax.axvline(day, color="#444444", linestyle="--", linewidth=1.0, label=f"reform (day {day})")


def plot_timeseries(comp: Comparison, metrics: Sequence[str] | None = None) -> Figure:
    """One panel per metric: the mean over replicates (line) and its 95% CI (band) per scenario.

    One replicate: its values, without a band. A dashed vertical line marks the reform day on every panel. Default metrics:
    :data:`TIMESERIES_METRICS`, or :data:`REFORM_TIMESERIES_METRICS` when the runs have a reform date.
    """
    if metrics is None:  # runs stored before the windowed series existed fall back to the cumulative ones
        wanted = REFORM_TIMESERIES_METRICS if comp.reform_day() > 0 else TIMESERIES_METRICS
        metrics = [m for m in wanted if m in comp.series[comp.baseline]] or list(TIMESERIES_METRICS)
    colours = scenario_colours(comp.labels)
    fig = new_figure(figsize=(9.0, 3.2 * len(metrics) + 1.0))
    axes = fig.subplots(len(metrics), 1, sharex=True, squeeze=False)[:, 0]
    for ax, metric in zip(axes, metrics):
        ylabel, scale = SERIES_AXES.get(metric, (metric, 1.0))
        for label in comp.labels:
            t, mean, lo, hi = comp.timeseries_ci(label, metric)
            if comp.replicates > 1:
                ax.fill_between(t, lo * scale, hi * scale, color=colours[label], alpha=0.2, linewidth=0)
            ax.plot(t, mean * scale, color=colours[label], label=label, linewidth=1.6)
        reform_line(ax, comp)
        ax.set_ylabel(ylabel)
        ax.set_title(SERIES_TITLES.get(metric, metric))
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("Day of simulation (days)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 3), title="Scenario")
    fig.suptitle(f"Outcomes over time: {replicates_text(comp, 'shaded 95% CI')}")
    return fig


def plot_compound_types(comp: Comparison) -> Figure:
    """Grouped bars by compound type (old / mature / new) for satisfaction and resolution rate.

    One bar per scenario, with its 95% CI as error bar (none for a single run).
    """
    colours = scenario_colours(comp.labels)
    panels = (
        ("satisfaction", "Mean satisfaction (0-1)", "Satisfaction by compound type"),
        ("resolution_rate", "Resolved / arisen (0-1)", "Resolution rate by compound type"),
    )
    metrics = [f"{prefix}_{ct}" for prefix, _, _ in panels for ct in COMPOUND_TYPES]
    st = comp.stats(metrics)
    rec = {(r["scenario"], r["metric"]): r for r in st.to_dict("records")}
    fig = new_figure(figsize=(max(9.0, 3.0 + 1.2 * len(comp.labels)), 4.6))
    axes = fig.subplots(1, 2)
    n = len(comp.labels)
    width = 0.8 / n
    x = np.arange(len(COMPOUND_TYPES))
    for ax, (prefix, ylabel, title) in zip(axes, panels):
        for k, label in enumerate(comp.labels):
            rows = [rec[(label, f"{prefix}_{ct}")] for ct in COMPOUND_TYPES]
            mean = np.array([r["mean"] for r in rows])
            lo = np.array([r["ci_low"] for r in rows])
            hi = np.array([r["ci_high"] for r in rows])
            yerr = np.vstack([mean - lo, hi - mean]) if comp.replicates > 1 else None
            ax.bar(x - 0.4 + width * (k + 0.5), mean, width, yerr=yerr, capsize=3, color=colours[label],
                   label=label, error_kw={"elinewidth": 1.0, "ecolor": "#333333"})
        ax.set_xticks(x, [COMPOUND_LABELS.get(ct, ct) for ct in COMPOUND_TYPES])
        ax.set_xlabel("Compound type")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 3), title="Scenario")
    fig.suptitle(f"Outcomes by compound type at the end of the run: {replicates_text(comp, '95% CI')}")
    return fig


def plot_cost_effectiveness(comp: Comparison) -> Figure:
    """Extra cost (yuan) per percentage point of mean satisfaction gained vs the baseline.

    A bar per non-baseline scenario with Fieller's 95% CI. No bar but a note in its place when
    the scenario does not raise satisfaction (no cost per point), raises it for no extra cost
    (dominant), or when its gain is not
    significant (the interval is unbounded and the point estimate, a ratio to a difference
    indistinguishable from zero, would be arbitrarily large).
    """
    colours = scenario_colours(comp.labels)
    ce = comp.cost_effectiveness()
    fig = new_figure(figsize=(max(7.0, 1.8 + 1.6 * len(ce)), 5.0))
    ax = fig.add_subplot()
    ticks = []
    for k, row in enumerate(ce.to_dict("records")):
        label, status = row["scenario"], row["status"]
        d = row["outcome_diff"]
        dtxt = "n/a" if not math.isfinite(d) else f"{d:+.2f} pp"
        note = box = ""
        if status in ("dominated", "cheaper_less_effective"):
            note = f"(no satisfaction gain: {dtxt})"
            box = f"does not raise satisfaction (diff {dtxt}): no cost per point ({status.replace('_', ' ')})"
        elif status == "dominant":
            note = "(dominant)"
            box = f"raises satisfaction ({dtxt}) for no extra cost: dominant, no ratio"
        elif status == "unbounded":  # a bar at a near-zero denominator's ratio would only crush the others
            note = "(gain not significant)"
            box = (f"satisfaction gain {dtxt} not significant: 95% CI unbounded "
                   f"(point estimate {_thousands(row['ratio'])} yuan/pp)")
        else:
            yerr = [[row["ratio"] - row["ci_low"]], [row["ci_high"] - row["ratio"]]]
            ax.bar(k, row["ratio"], 0.6, yerr=yerr, capsize=4, color=colours[label], label=label,
                   error_kw={"elinewidth": 1.0, "ecolor": "#333333"})
        if box:
            ax.text(k, 0.5, _wrap(box, 16), transform=ax.get_xaxis_transform(), ha="center", va="center", fontsize=8,
                    color="#444444", bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": colours[label]})
        ticks.append(_wrap(label, 18) + ("\n" + _wrap(note, 18) if note else ""))
    if len(ce):
        ax.set_xticks(np.arange(len(ce)), ticks)
        ax.set_xlim(-0.7, len(ce) - 0.3)
    else:
        ax.set_xticks([])
        ax.text(0.5, 0.5, "only the baseline: nothing to compare", transform=ax.transAxes, ha="center", va="center")
    ax.axhline(0.0, color="#333333", linewidth=0.8)
    ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
    ax.set_ylabel("Extra cost per satisfaction point (yuan per pp)")
    ax.set_xlabel("Scenario (ratio of mean paired differences; 95% CI by Fieller's method)")
    steps = sorted({comp.steps(label) for label in comp.labels})
    ax.set_title(f"Cost per percentage point of mean satisfaction gained vs {comp.baseline}\n"
                 f"(extra cost over the whole run of {'/'.join(map(str, steps))} days)")
    ax.grid(axis="y", alpha=0.3)
    return fig


def save_figure(fig: Figure, stem: str | Path, formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Save ``fig`` as ``stem.<fmt>`` for each format (SVG keeps text as text); return the paths."""
    paths = []
    with rc_context({"svg.fonttype": "none"}):
        for fmt in formats:
            path = Path(f"{stem}.{fmt}")
            fig.savefig(path, dpi=150)
            paths.append(path)
    return paths
