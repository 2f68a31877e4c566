"""govsim report: rebuilt from the store alone; figure contents match the stored values; bad ids exit 2."""

from __future__ import annotations

import re

import numpy as np
import pytest
from helpers import BASELINE, REPO, SMALL
from matplotlib.container import BarContainer

from sim import Model, Scenario, load_scenario
from sim.cli import main as govsim
from sim.config.taxonomy import LEVELS
from sim.errors import StoreError
from sim.experiments.compare import compare
from sim.experiments.plots import scenario_colours
from sim.report.data import ComparisonTarget, RunTarget, comparison_from_store, resolve
from sim.report.figures import heatmap_grid, plot_levels, plot_sweep_heatmap
from sim.report.html import COMPARISON_SECTIONS
from sim.store.database import ResultStore

SCENARIOS = [BASELINE, REPO / "scenarios" / "bazhong_street_whistle.toml"]


def main(argv: list[str]) -> int:
    """``govsim report ARGV``."""
    return govsim(["report", *argv])


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A comparison made here: 2 scenarios x 3 replicates x 30 days, small worlds, in a fresh database."""
    d = tmp_path_factory.mktemp("report")
    url = f"sqlite:///{d / 'r.db'}"
    store = ResultStore(url)
    scs = [load_scenario(p, SMALL) for p in SCENARIOS]
    comp = compare(scs, replicates=3, steps=30, workers=1, progress=False, store=store)
    yield url, store, comp, d
    store.close()


def test_rebuilt_comparison_equals_the_one_run(stored):
    _, store, comp, _ = stored
    rebuilt = comparison_from_store(store, comp.comparison_id)
    assert rebuilt.labels == comp.labels
    assert rebuilt.seeds == comp.seeds and rebuilt.root_seed == 1
    for label in comp.labels:
        for metric in ("resolution_rate", "satisfaction_mean", "cost_yuan", "share_resolved_grid"):
            np.testing.assert_allclose(rebuilt.values(label, metric), comp.values(label, metric), equal_nan=True)
        np.testing.assert_allclose(rebuilt.series[label]["resolution_rate"], comp.series[label]["resolution_rate"],
                                   equal_nan=True)
    assert rebuilt.table().equals(comp.table()) or np.allclose(
        rebuilt.table().to_numpy(float), comp.table().to_numpy(float), equal_nan=True)


def test_resolve_accepts_label_bare_id_prefix_and_run_id(stored):
    _, store, comp, _ = stored
    cid = comp.comparison_id
    for ref in (f"compare:{cid}", cid, cid[:10]):
        assert resolve(store, ref) == ComparisonTarget(cid)
    assert resolve(store, "1") == RunTarget(1)
    with pytest.raises(StoreError):
        resolve(store, "no-such-thing")


def test_report_on_comparison_has_every_section_and_image(stored, capsys):
    url, _, comp, d = stored
    out = d / "out"
    assert main([f"compare:{comp.comparison_id}", "--out", str(out), "--db", url]) == 0
    page = (out / f"{comp.comparison_id}_report.html").read_text(encoding="utf-8")
    for sid, heading in [("table", "Scenario table"), *COMPARISON_SECTIONS]:
        assert f'<section id="{sid}">' in page and heading in page
    for name, _ in COMPARISON_SECTIONS:
        assert re.search(rf'<figure id="fig-{name}"><img alt="[^"]*" src="data:image/png;base64,[A-Za-z0-9+/=]{{1000,}}"',
                         page), name
        for ext in ("png", "svg"):
            assert (out / f"{comp.comparison_id}_{name}.{ext}").stat().st_size > 1000
    # self-contained: no external stylesheet, script or image
    assert "<link" not in page and "<script" not in page and not re.search(r'src="(?!data:)', page)
    # the table shows the stored means with CIs for both scenarios
    mean = comp.stats(["satisfaction_mean"]).set_index("scenario")["mean"]
    for label in comp.labels:
        assert label in page
        assert f"{mean[label]:.4f}"[:5] in page
    assert "report:" in capsys.readouterr().out


def test_run_report(stored):
    url, _store, _, d = stored
    out = d / "run"
    assert main(["2", "--out", str(out), "--db", url]) == 0
    page = (out / "run2_report.html").read_text(encoding="utf-8")
    assert '<section id="timeseries">' in page and '<section id="levels">' in page
    assert '<section id="cost_effectiveness">' not in page


def test_single_run_report_shows_values_without_intervals(stored):
    from matplotlib.collections import PolyCollection

    from sim.report.data import run_as_comparison

    url, store, comp, d = stored
    out = d / "single"
    assert main(["2", "--out", str(out), "--db", url]) == 0
    page = (out / "run2_report.html").read_text(encoding="utf-8")
    assert "[n/a]" not in page and "95% CI" not in page and "replicates" not in page
    one = run_as_comparison(store, 2)
    value = one.values(one.baseline, "satisfaction_mean")[0]
    assert f"{value:.3f}"[:4] in page  # the run's own value
    # figures: the run's line without a band, bars without error bars, titles saying "one run"
    ts = one.plot_timeseries()
    assert not [c for c in ts.axes[0].collections if isinstance(c, PolyCollection)]
    assert ts._suptitle.get_text() == "Outcomes over time: one run"
    for fig in (one.plot_compound_types(), plot_levels(one)):
        bars = [c for ax in fig.axes for c in ax.containers if isinstance(c, BarContainer)]
        assert bars and all(b.errorbar is None for b in bars)
        assert fig._suptitle.get_text().endswith("one run")
    # a comparison of several replicates keeps its bands and error bars
    many = comparison_from_store(store, comp.comparison_id)
    assert [c for c in many.plot_timeseries().axes[0].collections if isinstance(c, PolyCollection)]
    assert all(b.errorbar is not None for ax in plot_levels(many).axes for b in ax.containers
               if isinstance(b, BarContainer))


@pytest.mark.parametrize("ref", ["nope", "compare:nope", "99999"])
def test_bad_id_is_one_line_exit_2(stored, ref, capsys, tmp_path):
    url = stored[0]
    assert main([ref, "--out", str(tmp_path / "o"), "--db", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith("govsim: error:") and err.count("\n") == 1


def test_levels_figure_values_match_the_store(stored):
    _, store, comp, _ = stored
    rebuilt = comparison_from_store(store, comp.comparison_id)
    fig = plot_levels(rebuilt)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Level that resolved the problem"
    assert ax.get_ylabel() == "Share of resolved problems (0-1)"  # shares on 0-1, as in the table and JSON
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert len(bars) == len(comp.labels)
    colours = scenario_colours(comp.labels)
    summ = store.summary_frame()
    runs = {r["id"]: r for r in store.list_runs()}
    for bar, label in zip(bars, comp.labels):
        assert bar.get_label() == label
        from matplotlib.colors import to_hex

        assert to_hex(bar.patches[0].get_facecolor()) == colours[label]
        for lvl, patch in zip(LEVELS, bar.patches):
            ids = [i for i, r in runs.items() if r["label"] == f"compare:{comp.comparison_id}"
                   and r["scenario_name"] == label]
            vals = summ[(summ.run_id.isin(ids)) & (summ.metric == f"share_resolved_{lvl}")]["value"]
            assert patch.get_height() == pytest.approx(np.nan_to_num(vals.mean()))


def test_timeseries_figure_from_store_plots_stored_means(stored):
    _, store, comp, _ = stored
    rebuilt = comparison_from_store(store, comp.comparison_id)
    fig = rebuilt.plot_timeseries()
    ax = fig.axes[0]
    lines = [ln for ln in ax.get_lines()]
    assert len(lines) == len(comp.labels)
    assert ax.get_ylabel().endswith("(share of problems arisen, 0-1)")
    assert fig.axes[1].get_xlabel() == "Day of simulation (days)"
    ids = rebuilt.timing.set_index(["scenario", "replicate"])["run_id"]
    for line, label in zip(lines, comp.labels):
        stack = np.vstack([store.timeseries_frame(int(ids[(label, r)]))["resolution_rate"] for r in range(3)])
        np.testing.assert_allclose(line.get_ydata(), stack.mean(axis=0))


def test_heatmap_grid_means_are_cell_means():
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.integers(0, 3, 60), "b": rng.uniform(0, 1, 60), "y": rng.normal(size=60)})
    mean, count, xl, yl = heatmap_grid(frame, "a", "b", "y", max_bins=4)
    assert xl == ["0", "1", "2"] and len(yl) == 4 and count.sum() == 60
    bins = np.clip(np.floor((frame.b - frame.b.min()) / (frame.b.max() - frame.b.min()) * 4), 0, 3).astype(int)
    expect = frame.groupby([bins, frame.a])["y"].mean()
    for (i, j), v in expect.items():
        assert mean[i, j] == pytest.approx(v)
    fig = plot_sweep_heatmap(frame.rename(columns={"y": "resolution_rate"}), "a", "b", ["resolution_rate"])
    ax = fig.axes[0]
    assert ax.get_xlabel() == "a" and ax.get_ylabel() == "b"
    np.testing.assert_allclose(ax.images[0].get_array().filled(np.nan),
                               heatmap_grid(frame.rename(columns={"y": "resolution_rate"}), "a", "b",
                                            "resolution_rate", 5)[0])


SMALL_SWEEP = """
name = "tiny_sweep"
scenario = "{base}"
steps = 20
record_every = 5
replicates = 1
seed = 7
outcomes = ["resolution_rate", "satisfaction_mean"]
[design]
method = "sobol"
n_samples = 4
[constants]
"world.n_communities_per_street" = 1
"world.n_compounds_per_community" = 3
"world.n_cobuilding_units_per_community" = 14
[levers]
"policies.grid.households_per_grid" = {{ low = 0.5, high = 2.0, scale = true }}
"policies.alliance.n_units" = {{ low = 0, high = 14 }}
"""


def test_sweep_report_has_heatmap_and_sobol(tmp_path):
    from sim.experiments.sweep.run import run_sweep
    from sim.experiments.sweep.spec import load_sweep

    path = tmp_path / "tiny.toml"
    path.write_text(SMALL_SWEEP.format(base=BASELINE.as_posix()), encoding="utf-8")
    url = f"sqlite:///{tmp_path / 's.db'}"
    with ResultStore(url) as store:
        report = run_sweep(load_sweep(path), store, workers=1, progress=False)
    assert report.n_failed == 0
    out = tmp_path / "out"
    assert main(["tiny_sweep", "--out", str(out), "--db", url]) == 0
    html_file = next(out.glob("*_report.html"))
    page = html_file.read_text(encoding="utf-8")
    for sid in ("design", "heatmaps", "sensitivity"):
        assert f'<section id="{sid}">' in page
    assert 'id="fig-heatmap"' in page and 'id="fig-sensitivity"' in page and "S1" in page
    assert list(out.glob("*_heatmap.svg")) and list(out.glob("*_sensitivity.png"))


def test_community_figure_draws_every_compound_as_a_cluster():
    from sim.report.community_figure import community_layout, plot_community

    model = Model(Scenario().with_overrides({**SMALL, "run.n_steps": 5}), seed=3)
    model.run(progress=False)
    w = model.world
    centres, ids, xy = community_layout(w, None)
    assert ids.size == w.n_residents and centres.shape == (w.n_compounds, 2)
    # each resident is nearer its own compound's centre than any other
    d = np.linalg.norm(xy[:, None, :] - centres[None, :, :], axis=2)
    assert np.array_equal(d.argmin(axis=1), w.res_compound[ids])
    fig = plot_community(model, "type", max_per_compound=None)
    ax = fig.axes[0]
    drawn = {c.get_gid(): c for c in ax.collections}
    n = sum(len(c.get_offsets()) for g, c in drawn.items() if g and g.startswith("residents:"))
    assert n == w.n_residents
    assert ax.get_legend() is not None
    fig = plot_community(model, "satisfaction")
    res = next(c for c in fig.axes[0].collections if c.get_gid() == "residents")
    _, ids, _ = community_layout(w, 400)
    np.testing.assert_allclose(res.get_array(), model.residents.satisfaction[ids])
    assert any("satisfaction" in a.get_ylabel() for a in fig.axes[1:])
