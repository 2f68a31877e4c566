"""Figures of reports that :mod:`sim.experiments.plots` does not draw.

Share resolved by level, sweep heatmaps and sensitivity indices. Same conventions as
:mod:`sim.experiments.plots`: object-oriented matplotlib on an Agg canvas, constrained layout,
English labels with units, one colour per scenario (:func:`sim.experiments.plots.scenario_colours`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from sim.config.taxonomy import LEVELS
from sim.experiments.plots import new_figure, scenario_colours

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from sim.experiments.compare import Comparison
    from sim.experiments.sensitivity import Analysis

__all__ = ["OUTCOME_AXES", "choose_heatmap_factors", "factor_label", "heatmap_grid", "plot_levels", "plot_sensitivity",
           "plot_sweep_heatmap"]

#: Label (with unit) and scale of sweep outcomes (shares and scores on 0-1, as in the tables and JSON).
OUTCOME_AXES: dict[str, tuple[str, float]] = {
    "resolution_rate": ("Resolution rate (share of problems arisen, 0-1)", 1.0),
    "satisfaction_mean": ("Mean satisfaction (0-1)", 1.0),
    "trust_mean": ("Mean trust (0-1)", 1.0),
    "days_to_resolution_median": ("Median days to resolution (days)", 1.0),
    "cost_yuan": ("Cost over the run (yuan)", 1.0),
}
FACTOR_LABELS: dict[str, str] = {
    "scale(policies.grid.households_per_grid)": "Households per grid (x 001's sizes)",
    "policies.grid.households_per_grid": "Households per grid (households)",
    "policies.alliance.n_units": "Alliance size (co-building units per community)",
    "policies.street_empowerment.capacity_moved": "Street empowerment (share of capacity moved)",
    "problems.rate_arise": "Problem rate (problems per resident per day)",
}


def factor_label(name: str) -> str:
    """A short axis label for a factor's dotted key (the key itself when it has none)."""
    return FACTOR_LABELS.get(name, name)


def plot_levels(comp: Comparison) -> Figure:
    """Share of resolved problems by the level that resolved them.

    Grouped bars, one colour per scenario, with 95% CIs; the levels on the x axis.
    """
    colours = scenario_colours(comp.labels)
    metrics = [f"share_resolved_{lvl}" for lvl in LEVELS]
    st = comp.stats(metrics)
    rec = {(r["scenario"], r["metric"]): r for r in st.to_dict("records")}
    fig = new_figure(figsize=(max(8.0, 3.0 + 1.0 * len(comp.labels)), 4.6))
    ax = fig.add_subplot()
    n = len(comp.labels)
    width = 0.8 / n
    x = np.arange(len(LEVELS))
    for k, label in enumerate(comp.labels):
        rows = [rec[(label, m)] for m in metrics]
        mean = np.array([r["mean"] for r in rows])
        lo = np.array([r["ci_low"] for r in rows])
        hi = np.array([r["ci_high"] for r in rows])
        yerr = np.nan_to_num(np.vstack([mean - lo, hi - mean]), nan=0.0) if comp.replicates > 1 else None
        ax.bar(x - 0.4 + width * (k + 0.5), np.nan_to_num(mean), width, yerr=yerr, capsize=3, color=colours[label],
               label=label, error_kw={"elinewidth": 1.0, "ecolor": "#333333"})
    ax.set_xticks(x, list(LEVELS))
    ax.set_xlabel("Level that resolved the problem")
    ax.set_ylabel("Share of resolved problems (0-1)")
    ax.set_ylim(0, 1)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title("Where problems are resolved")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=min(n, 3), title="Scenario")
    reps = f"mean of {comp.replicates} replicates, 95% CI" if comp.replicates > 1 else "one run"
    fig.suptitle(f"Share resolved by level at the end of the run: {reps}")
    return fig


def _bins(values: np.ndarray, max_bins: int) -> tuple[np.ndarray, list[str]]:
    """Bin index per value and the bin labels: the distinct values if few, else equal-width bins."""
    vals = np.asarray(values, dtype=np.float64)
    uniq = np.unique(vals[np.isfinite(vals)])
    if uniq.size <= max_bins:
        idx = np.searchsorted(uniq, vals)
        return idx, [f"{u:g}" for u in uniq]
    edges = np.linspace(uniq[0], uniq[-1], max_bins + 1)
    idx = np.clip(np.searchsorted(edges, vals, side="right") - 1, 0, max_bins - 1)
    integer = np.all(uniq == np.round(uniq))
    fmt = (lambda v: f"{v:.0f}") if integer else (lambda v: f"{v:.2g}")
    return idx, [f"{fmt(edges[i])}-{fmt(edges[i + 1])}" for i in range(max_bins)]


def heatmap_grid(frame: pd.DataFrame, fx: str, fy: str, outcome: str, max_bins: int = 5
                 ) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """Mean of ``outcome`` over the runs in each (fx bin, fy bin) cell, and the runs per cell.

    Returns ``(mean, count, x_labels, y_labels)`` with arrays of shape (y bins, x bins).
    """
    ix, xl = _bins(frame[fx].to_numpy(), max_bins)
    iy, yl = _bins(frame[fy].to_numpy(), max_bins)
    y = frame[outcome].to_numpy(dtype=np.float64)
    ok = np.isfinite(y)
    total = np.zeros((len(yl), len(xl)))
    count = np.zeros((len(yl), len(xl)))
    np.add.at(total, (iy[ok], ix[ok]), y[ok])
    np.add.at(count, (iy[ok], ix[ok]), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
    return mean, count, xl, yl


def plot_sweep_heatmap(frame: pd.DataFrame, fx: str, fy: str, outcomes: Sequence[str], title: str = "",
                       max_bins: int = 5) -> Figure:
    """One heatmap per outcome: its mean over the runs in each cell of ``fx`` x ``fy``.

    The other factors and the replicates are averaged; each cell shows the value and the number of
    runs.
    """
    fig = new_figure(figsize=(5.2 * len(outcomes) + 0.6, 4.8))
    axes = fig.subplots(1, len(outcomes), squeeze=False)[0]
    for ax, outcome in zip(axes, outcomes):
        label, scale = OUTCOME_AXES.get(outcome, (outcome, 1.0))
        mean, count, xl, yl = heatmap_grid(frame, fx, fy, outcome, max_bins)
        shown = mean * scale
        im = ax.imshow(shown, origin="lower", aspect="auto", cmap="viridis")
        ax.set_xticks(np.arange(len(xl)), xl, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(np.arange(len(yl)), yl, fontsize=8)
        ax.set_xlabel(factor_label(fx))
        ax.set_ylabel(factor_label(fy))
        finite = shown[np.isfinite(shown)]
        mid = float(np.mean([finite.min(), finite.max()])) if finite.size else 0.0
        for (i, j), v in np.ndenumerate(shown):
            text = ("n/a" if not math.isfinite(v) else f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}" if abs(v) < 1000
                    else f"{v:,.0f}")
            ax.text(j, i, f"{text}\nn={int(count[i, j])}", ha="center", va="center", fontsize=7,
                    color="white" if math.isfinite(v) and v < mid else "black")
        fig.colorbar(im, ax=ax, label=label, shrink=0.9)
        ax.set_title(label.split(" (")[0])
    fig.suptitle(title or "Sweep outcomes: mean over runs in each cell (other factors averaged)")
    return fig


def plot_sensitivity(analysis: Analysis) -> Figure:
    """Sobol S1 / ST (or Morris mu* / sigma) per factor with confidence intervals, one panel per outcome."""
    from sim.experiments.sensitivity import CONF_LEVEL

    results = analysis.results
    sobol = analysis.method == "sobol"
    keys = ("S1", "ST") if sobol else ("mu_star", "sigma")
    names = ("first-order S1", "total ST") if sobol else ("mu* (mean |elementary effect|)", "sigma")
    colours = ("#1f77b4", "#ff7f0e")
    n_f = len(results[0].factors) if results else 0
    fig = new_figure(figsize=(max(7.0, 2.0 + 1.5 * n_f), 2.9 * max(len(results), 1) + 1.0))
    axes = fig.subplots(max(len(results), 1), 1, squeeze=False)[:, 0]
    for ax, res in zip(axes, results):
        label = OUTCOME_AXES.get(res.outcome, (res.outcome, 1.0))[0].split(" (")[0]
        if res.note:
            ax.text(0.5, 0.5, f"{res.outcome}: {res.note}", ha="center", va="center", transform=ax.transAxes,
                    wrap=True)
            ax.set_axis_off()
            continue
        xs = np.arange(len(res.factors))
        for j, (key, name) in enumerate(zip(keys, names)):
            err = res.columns.get(f"{key}_conf")
            ax.bar(xs + (j - 0.5) * 0.38, res.columns[key], 0.38, label=name, color=colours[j],
                   yerr=None if err is None else np.abs(err), capsize=3, error_kw={"elinewidth": 1.0})
        ax.set_xticks(xs, [factor_label(f).split(" (")[0] for f in res.factors], fontsize=8)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_ylabel("Sobol index (share of variance)" if sobol else "Effect (outcome units per range)")
        ax.set_title(f"{label} ({res.outcome})", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, loc="upper right")
    axes[-1].set_xlabel("Factor")
    fig.suptitle(f"Sensitivity of sweep {analysis.sweep['id']}: {analysis.method}, {CONF_LEVEL:.0%} CI "
                 f"(outcome = mean of each experiment's replicates)")
    return fig


def choose_heatmap_factors(factors: Sequence[str]) -> tuple[str, str] | None:
    """Households per grid (x) and alliance size (y) if the sweep varies them, else its first two factors."""
    fx = next((f for f in factors if "households_per_grid" in f), None)
    fy = next((f for f in factors if "alliance" in f and f != fx), None)
    rest = [f for f in factors if f not in (fx, fy)]
    fx = fx or (rest.pop(0) if rest else None)
    fy = fy or (rest.pop(0) if rest else None)
    return (fx, fy) if fx and fy else None

