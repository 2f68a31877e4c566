"""sim.experiments.plots: figure contents (labels, one series per scenario, plotted values, colours), not just files."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.container import BarContainer
from matplotlib.figure import Figure
from scipy import stats

from sim import Scenario
from sim.config.taxonomy import COMPOUND_TYPES
from sim.experiments.compare import Comparison, compare
from sim.experiments.plots import PALETTE, save_figure, scenario_colours

LABELS = ["base", "better", "worse", "noisy"]
R, T = 6, 12


@pytest.fixture(scope="module")
def synthetic() -> Comparison:
    """Known per-replicate data: 'better' raises satisfaction significantly at a cost, 'worse' lowers it,
    'noisy' raises it on average but not significantly. A common per-replicate shock mimics CRN."""
    rng = np.random.default_rng(11)
    shock = rng.normal(0, 0.03, R)
    sat_shift = {"base": np.zeros(R), "better": 0.02 + rng.normal(0, 0.002, R), "worse": np.full(R, -0.01),
                 "noisy": np.array([0.02, -0.015, 0.01, -0.012, 0.004, 0.0])}
    cost_shift = {"base": 0.0, "better": 5000.0, "worse": 1000.0, "noisy": 300.0}
    rows, series, t = [], {}, {}
    for k, label in enumerate(LABELS):
        sat = 0.6 + shock + sat_shift[label]
        for r in range(R):
            row = {"scenario": label, "replicate": r, "seed": 100 + r, "n_steps": T, "satisfaction_mean": sat[r],
                   "cost_yuan": 20000.0 + 1000 * shock[r] + cost_shift[label] + rng.normal(0, 50)}
            for j, ct in enumerate(COMPOUND_TYPES):
                row[f"satisfaction_{ct}"] = sat[r] + 0.01 * j + rng.normal(0, 0.01)
                row[f"resolution_rate_{ct}"] = 0.4 + 0.05 * k + 0.02 * j + rng.normal(0, 0.03)
            rows.append(row)
        grow = np.linspace(0.1, 1.0, T)
        series[label] = {
            "resolution_rate": (0.3 + 0.05 * k + rng.normal(0, 0.02, (R, 1))) * grow,
            "satisfaction_mean": 0.6 + sat_shift[label][:, None] * grow + rng.normal(0, 0.005, (R, T)),
        }
        t[label] = np.arange(T)
    return Comparison(comparison_id="test-000000", labels=list(LABELS), seeds=list(range(100, 100 + R)),
                      runs=pd.DataFrame(rows), series=series, t=t)


def _bars(ax) -> list[BarContainer]:
    return [c for c in ax.containers if isinstance(c, BarContainer)]


def _texts_do_not_overlap(fig: Figure) -> None:
    """Titles, axis labels, tick labels in view, legends and notes: no two bounding boxes intersect."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = []
    if fig._suptitle is not None:
        boxes.append(("suptitle", fig._suptitle.get_window_extent(renderer)))
    for leg in fig.legends:
        boxes.append(("legend", leg.get_window_extent(renderer)))
    for i, ax in enumerate(fig.axes):
        for name, txt in (("title", ax.title), ("xlabel", ax.xaxis.label), ("ylabel", ax.yaxis.label)):
            if txt.get_text():
                boxes.append((f"{i}{name}", txt.get_window_extent(renderer)))
        for axis, lim in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            lo, hi = min(lim), max(lim)
            for loc, lab in zip(axis.get_majorticklocs(), axis.get_majorticklabels()):
                if lo - 1e-9 <= loc <= hi + 1e-9 and lab.get_text():
                    boxes.append((f"{i}tick{lab.get_text()!r}", lab.get_window_extent(renderer)))
        for txt in ax.texts:
            boxes.append((f"{i}note", txt.get_window_extent(renderer)))
    for (n1, b1), (n2, b2) in itertools.combinations(boxes, 2):
        assert not b1.overlaps(b2), f"{n1} overlaps {n2}"


def test_colour_mapping() -> None:
    colours = scenario_colours(["a", "b", "c"])
    assert colours == {"a": PALETTE[0], "b": PALETTE[1], "c": PALETTE[2]}
    assert scenario_colours(["x", "y"])["x"] == PALETTE[0]  # the baseline always gets the first colour
    assert len(set(scenario_colours([str(i) for i in range(len(PALETTE))]).values())) == len(PALETTE)


def test_timeseries_figure(synthetic: Comparison) -> None:
    fig = synthetic.plot_timeseries()
    axes = fig.axes
    assert len(axes) == 2
    assert axes[0].get_ylabel() == "Resolution rate (share of problems arisen, 0-1)"  # shares on 0-1, as in JSON
    assert axes[1].get_ylabel() == "Mean satisfaction (0-1)"
    assert axes[1].get_xlabel() == "Day of simulation (days)"
    colours = scenario_colours(LABELS)
    for ax, metric in zip(axes, ("resolution_rate", "satisfaction_mean")):
        lines = ax.get_lines()
        assert [ln.get_label() for ln in lines] == LABELS
        assert len(ax.collections) == len(LABELS)  # one CI band per scenario
        for ln, label in zip(lines, LABELS):
            data = synthetic.series[label][metric]
            np.testing.assert_allclose(ln.get_ydata(), data.mean(axis=0), rtol=1e-12)
            assert ln.get_ydata()[-1] == pytest.approx(np.mean(data[:, -1]), rel=1e-12)
            assert to_hex(ln.get_color()) == colours[label]
        # the band at the last step is the t-interval across replicates
        band = ax.collections[LABELS.index("better")]
        last = synthetic.series["better"][metric][:, -1]
        lo, hi = stats.t.interval(0.95, R - 1, loc=last.mean(), scale=stats.sem(last))
        ys = band.get_paths()[0].vertices[:, 1]
        assert np.isclose(ys, lo).any() and np.isclose(ys, hi).any()
    assert [t.get_text() for t in fig.legends[0].get_texts()] == LABELS
    _texts_do_not_overlap(fig)


def test_compound_type_figure(synthetic: Comparison) -> None:
    fig = synthetic.plot_compound_types()
    colours = scenario_colours(LABELS)
    assert len(fig.axes) == 2
    for ax, prefix in zip(fig.axes, ("satisfaction", "resolution_rate")):
        assert ax.get_ylabel().endswith("(0-1)") and ax.get_xlabel() == "Compound type"
        bars = _bars(ax)
        assert [b.get_label() for b in bars] == LABELS
        assert [t.get_text() for t in ax.get_xticklabels()] == ["old (no property firm)", "mature", "new"]
        for cont, label in zip(bars, LABELS):
            assert len(cont.patches) == len(COMPOUND_TYPES)
            sub = synthetic.runs[synthetic.runs["scenario"] == label]
            for patch, ct in zip(cont.patches, COMPOUND_TYPES):
                x = sub[f"{prefix}_{ct}"].to_numpy()
                assert patch.get_height() == pytest.approx(x.mean(), rel=1e-12)
                assert to_hex(patch.get_facecolor()) == colours[label]
            # error bars: the scipy t-interval of each bar
            segs = cont.errorbar.lines[2][0].get_segments()
            for seg, ct in zip(segs, COMPOUND_TYPES):
                x = sub[f"{prefix}_{ct}"].to_numpy()
                lo, hi = stats.t.interval(0.95, R - 1, loc=x.mean(), scale=stats.sem(x))
                assert sorted(seg[:, 1]) == pytest.approx([lo, hi], rel=1e-9)
    _texts_do_not_overlap(fig)


def test_cost_effectiveness_figure(synthetic: Comparison) -> None:
    ce = synthetic.cost_effectiveness().set_index("scenario")
    assert ce.loc["better", "status"] == "ok"
    assert ce.loc["worse", "status"] == "dominated"  # lower satisfaction at a higher cost
    assert ce.loc["noisy", "status"] == "unbounded"
    fig = synthetic.plot_cost_effectiveness()
    (ax,) = fig.axes
    assert ax.get_ylabel() == "Extra cost per satisfaction point (yuan per pp)"
    colours = scenario_colours(LABELS)
    bars = {b.get_label(): b for b in _bars(ax)}
    assert set(bars) == {"better"}  # no bar where satisfaction does not rise or the gain is not significant
    base = synthetic.runs[synthetic.runs["scenario"] == "base"]
    sub = synthetic.runs[synthetic.runs["scenario"] == "better"]
    dc = sub["cost_yuan"].to_numpy() - base["cost_yuan"].to_numpy()
    ds = 100 * (sub["satisfaction_mean"].to_numpy() - base["satisfaction_mean"].to_numpy())
    (patch,) = bars["better"].patches
    assert patch.get_height() == pytest.approx(dc.mean() / ds.mean(), rel=1e-12)
    assert patch.get_x() + patch.get_width() / 2 == 0  # first slot
    assert to_hex(patch.get_facecolor()) == colours["better"]
    seg = bars["better"].errorbar.lines[2][0].get_segments()[0]
    assert sorted(seg[:, 1]) == pytest.approx([ce.loc["better", "ci_low"], ce.loc["better", "ci_high"]])
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert len(ticks) == 3
    assert ticks[0] == "better"
    assert ticks[1].startswith("worse\n") and "no satisfaction" in ticks[1] and "-1.00 pp" in ticks[1]
    assert ticks[2].startswith("noisy\n") and "not significant" in ticks[2].replace("\n", " ")
    notes = {round(t.get_position()[0]): t.get_text().replace("\n", " ") for t in ax.texts}
    assert set(notes) == {1, 2}
    assert "does not raise satisfaction" in notes[1]
    assert "not significant" in notes[2] and "CI unbounded" in notes[2]
    ds_noisy = 100 * (synthetic.values("noisy", "satisfaction_mean") - synthetic.values("base", "satisfaction_mean"))
    assert f"{ds_noisy.mean():+.2f} pp" in notes[2]
    _texts_do_not_overlap(fig)


def test_colours_consistent_across_figures(synthetic: Comparison) -> None:
    f1, f2, f3 = synthetic.plot_timeseries(), synthetic.plot_compound_types(), synthetic.plot_cost_effectiveness()
    seen: dict[str, set[str]] = {label: set() for label in LABELS}
    for ax in f1.axes:
        for ln in ax.get_lines():
            seen[ln.get_label()].add(to_hex(ln.get_color()))
    for ax in [*f2.axes, *f3.axes]:
        for cont in _bars(ax):
            seen[cont.get_label()].update(to_hex(p.get_facecolor()[:3]) for p in cont.patches)
    assert {label: s for label, s in seen.items()} == {label: {c} for label, c in synthetic.colours.items()}


def test_save_figure_png_and_svg_with_text(synthetic: Comparison, tmp_path: Path) -> None:
    paths = save_figure(synthetic.plot_compound_types(), tmp_path / "x_compound")
    assert [p.name for p in paths] == ["x_compound.png", "x_compound.svg"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = paths[1].read_text(encoding="utf-8")
    assert "Resolution rate by compound type" in svg and "Compound type" in svg


def test_real_comparison_plots_the_computed_means(tmp_path: Path) -> None:
    """On real runs the last plotted point of each curve is the mean over replicates of the summary."""
    base = Scenario().with_overrides({"world.n_communities_per_street": 1, "world.n_compounds_per_community": 3})
    variant = base.with_overrides({"name": "more_staff", "community.n_staff_per_10k": 40.0})
    comp = compare([base, variant], replicates=3, steps=20, seed=5, workers=1, progress=False)
    assert comp.labels == ["baseline", "more_staff"] and comp.files == [None, None]
    fig = comp.plot_timeseries()
    for ax, metric in zip(fig.axes, ("resolution_rate", "satisfaction_mean")):
        for ln, label in zip(ax.get_lines(), comp.labels):
            want = comp.runs.loc[comp.runs["scenario"] == label, metric].mean()
            assert ln.get_ydata()[-1] == pytest.approx(want, rel=1e-12)
            assert ln.get_xdata()[-1] == 19
    paths = comp.save_figures(tmp_path / "figs")
    assert len(paths) == 6 and all(p.stat().st_size > 1000 for p in paths)
    assert all(p.name.startswith(comp.comparison_id) for p in paths)
    assert not math.isnan(comp.cost_effectiveness().loc[0, "cost_diff"])
