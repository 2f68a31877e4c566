"""govsim viz without a browser: layout, drawing, the app's model class and sliders, the command, assets."""

from __future__ import annotations

import argparse
import inspect
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import Normalize, to_rgba

pytest.importorskip("solara", reason="the viz extra is not installed")
# importing Mesa's visualization directly (as a test here does) trips Solara's rules-of-hooks check on Mesa's own
# ComponentsView; `govsim viz` filters it (sim.mesa.viz.KNOWN_WARNINGS)
pytestmark = pytest.mark.filterwarnings("ignore:.*found despite early return:UserWarning")

from matplotlib import colormaps

from sim.cli.viz import add_viz_command, main
from sim.config.paths import SCENARIO_DIR
from sim.core.scenario import load_scenario
from sim.errors import ScenarioError
from sim.mesa.assets import ensure_assets, missing_packages, required_packages
from sim.mesa.levers import FROM_FIRST_STEP
from sim.mesa.model import GovsimModel, default_scenario
from sim.mesa.viz import (
    CMAP,
    MARKERS,
    MAX_COMPOUNDS_WITH_RESIDENTS,
    RATE_SERIES,
    RATE_YLABEL,
    SAMPLE_PER_COMPOUND,
    SAT_RANGE,
    compute_layout,
    draw_community_graph,
    draw_timeseries,
    lever_label,
    model_params,
    solara_argv,
    status_text,
    viz_model_class,
)
from sim.mesa.viz_page import build_page, header, session_model_class


def collections_by_gid(fig) -> dict:
    """The named collections of the graph, with their colours mapped (as drawing does)."""
    out = {c.get_gid(): c for c in fig.axes[0].collections if c.get_gid()}
    for c in out.values():
        c.update_scalarmappable()
    return out


def test_layout_is_fixed_and_keeps_residents_by_their_compound() -> None:
    m = GovsimModel(rng=2)
    w = m.world
    a, b = compute_layout(w), compute_layout(w)
    np.testing.assert_array_equal(a.sample_xy, b.sample_xy)
    assert a.compound_xy.shape == (w.n_compounds, 2) and a.unit_xy.shape == (w.unit_community.size, 2)
    assert a.sample.size == sum(min(SAMPLE_PER_COMPOUND, int(s)) for s in w.compound_size)
    assert np.unique(a.sample).size == a.sample.size
    cmp = w.res_compound[a.sample]
    own = np.linalg.norm(a.sample_xy - a.compound_xy[cmp], axis=1)
    assert own.max() < 0.45  # each sampled resident sits in its compound's disc ...
    dist = np.linalg.norm(a.sample_xy[:, None, :] - a.compound_xy[None, :, :], axis=2)
    assert np.all(dist.argmin(axis=1) == cmp)  # ... closer to it than to any other compound
    # drawing draws nothing from the model's streams
    before = m.core.streams.get("arrival").bit_generator.state
    draw_community_graph(m)
    assert m.core.streams.get("arrival").bit_generator.state == before


def test_graph_colours_satisfaction_and_shapes_compound_types() -> None:
    m = GovsimModel(rng=3, alliance_units=2)
    for _ in range(3):
        m.step()
    w = m.world
    first = slice(int(w.compound_start[0]), int(w.compound_start[0] + w.compound_size[0]))
    m.residents.satisfaction[first] = 0.0  # compound 0 deeply unhappy
    fig = draw_community_graph(m)
    coll = collections_by_gid(fig)
    present = {ct for i, ct in enumerate(("old", "mature", "new")) if (w.compound_type == i).any()}
    assert len(present) >= 2
    assert {g.split(":")[1] for g in coll if g.startswith("compounds:")} == present
    assert {g.split(":")[1] for g in coll if g.startswith("residents:")} == present
    # the type is the marker shape: the drawn paths differ between types
    shapes = {ct: coll[f"compounds:{ct}"].get_paths()[0].vertices.round(3).tobytes() for ct in present}
    assert len(set(shapes.values())) == len(present)
    # compound colour = its residents' mean satisfaction on the fixed scale
    cmap, norm = colormaps[CMAP], Normalize(*SAT_RANGE)
    ct0 = ("old", "mature", "new")[int(w.compound_type[0])]
    c = coll[f"compounds:{ct0}"]
    idx = int((np.flatnonzero(w.compound_type == w.compound_type[0]) == 0).nonzero()[0][0])
    np.testing.assert_allclose(c.get_facecolors()[idx], cmap(norm(0.0)), atol=1e-6)
    others = np.flatnonzero(w.compound_type == w.compound_type[0])
    means = w.compound_mean(m.residents.satisfaction)
    np.testing.assert_allclose(c.get_facecolors(), cmap(norm(means[others])), atol=1e-6)
    assert means[0] == 0.0 and c.get_sizes().size == others.size
    # residents get their own colour, communities theirs
    comm = coll["communities"].get_facecolors()
    np.testing.assert_allclose(comm, cmap(norm([a.satisfaction for a in m.community_agents])), atol=1e-6)
    # allied units are filled
    filled = (np.abs(coll["units"].get_facecolors() - to_rgba("tab:blue")).sum(axis=1) < 1e-6).sum()
    assert filled == 2 * w.n_communities
    assert "Day 3" in fig.axes[0].get_title()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:4] == b"\x89PNG"


def test_large_worlds_are_drawn_at_compound_level() -> None:
    n = MAX_COMPOUNDS_WITH_RESIDENTS // 20 + 1
    m = GovsimModel(n_communities=20, n_compounds_per_community=n,
                    overrides={"world.n_buildings_per_compound.old": 1, "world.n_buildings_per_compound.mature": 1,
                               "world.n_buildings_per_compound.new": 1}, rng=1)
    assert m.world.n_compounds > MAX_COMPOUNDS_WITH_RESIDENTS
    coll = collections_by_gid(draw_community_graph(m))
    assert not any(g.startswith("residents:") for g in coll)
    assert sum(coll[g].get_offsets().shape[0] for g in coll if g.startswith("compounds:")) == m.world.n_compounds


def test_status_text() -> None:
    m = GovsimModel(rng=1, whistle=True)
    assert status_text(m).startswith("govsim day 0 |") and "resolution rate n/a" in status_text(m)
    m.step()
    assert "govsim day 1 |" in status_text(m) and "whistle" in status_text(m)


def test_app_model_class_and_sliders() -> None:
    sc = load_scenario(SCENARIO_DIR / "bazhong_street_whistle.toml")
    cls = viz_model_class(SCENARIO_DIR / "bazhong_street_whistle.toml")
    params = model_params(sc)
    assert set(params) == {"households_per_grid", "grid_workers_per_grid", "alliance_units", "street_empowerment",
                           "whistle", "rng"}
    accepted = inspect.signature(GovsimModel.__init__).parameters
    assert all(name in accepted for name in params)
    assert params["whistle"]["value"] is True and params["street_empowerment"]["value"] is True
    assert params["alliance_units"]["value"] == 0 and params["rng"]["value"] == sc.run.seed
    # SolaraViz (re-)creates the model from the slider values alone: that is the scenario itself, its levers
    # acting from the first step (FROM_FIRST_STEP)
    m = cls(**{k: v["value"] for k, v in params.items()})
    assert m.govsim_scenario == sc.with_overrides({"community.n_grid_workers_per_grid":
                                                   sc.community.n_grid_workers_per_grid, **FROM_FIRST_STEP})
    assert m.seed == sc.run.seed
    smaller = cls(households_per_grid=100, whistle=False, rng=1)
    assert smaller.govsim_scenario.community.households_per_grid.new == 100
    assert smaller.govsim_scenario.policy("whistle") is None
    assert viz_model_class().default_scenario() == default_scenario()
    from mesa.visualization import solara_viz

    checker = getattr(solara_viz, "_check_model_params", None)
    if checker is not None:  # Mesa's own check of the sliders against the model's keywords
        checker(cls.__init__, params)


def test_build_page_makes_a_page_component() -> None:
    import reacton.core

    page = build_page()
    assert isinstance(page, reacton.core.Component)  # rendered once per browser session: a model each
    assert "baseline_small" in (page.__doc__ or "")


def test_session_model_class_builds_with_the_current_levers() -> None:
    sc = default_scenario()
    levers = {k: v["value"] for k, v in model_params(sc).items()}
    cls = session_model_class(viz_model_class(sc), lambda: levers)
    assert cls().govsim_scenario.policy("whistle") is None
    levers["whistle"] = True  # a lever changed on the page: Mesa's Reset (cls()) picks it up
    m = cls()
    assert m.govsim_scenario.policy("whistle") is not None and m.seed == levers["rng"]
    assert "policies: whistle" in header(sc.name, m) and "whistle" in status_text(m)
    assert cls(whistle=False).govsim_scenario.policy("whistle") is None  # explicit keywords win


def test_lever_labels_show_values() -> None:
    sc = default_scenario()
    assert lever_label("grid_workers_per_grid", 1.5, sc) == "Grid workers per grid: 1.5"
    assert lever_label("rng", 7, sc) == "Seed: 7"
    assert lever_label("households_per_grid", 100, sc) == "Households per grid: 100"
    hpg = sc.community.households_per_grid
    assert f"{hpg.old:g} old" in lever_label("households_per_grid", 0, sc)
    assert lever_label("alliance_units", 0, sc).endswith("(no alliance)")
    assert lever_label("whistle", True, sc) == "Whistle"


def test_timeseries_plot_has_days_units_and_readable_names() -> None:
    m = GovsimModel(rng=1)
    for _ in range(4):
        m.step()
    fig = draw_timeseries(m, RATE_SERIES, RATE_YLABEL, "t", unit_range=True)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "day" and "(0-1)" in ax.get_ylabel() and ax.get_ylim() == (0.0, 1.0)
    names = [t.get_text() for t in ax.get_legend().get_texts()]
    assert names == [label for label, _ in RATE_SERIES.values()] and all("_" not in n for n in names)
    line = {ln.get_gid(): ln for ln in ax.get_lines()}["resolution_rate"]
    df = m.datacollector.get_model_vars_dataframe()
    np.testing.assert_array_equal(line.get_xdata(), np.arange(5))
    np.testing.assert_allclose(line.get_ydata(), df["resolution_rate"].to_numpy(dtype=float))


def test_graph_legend_is_inside_the_figure() -> None:
    fig = draw_community_graph(GovsimModel(rng=1))
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    box = fig.axes[0].get_legend().get_window_extent(renderer)
    w, h = fig.bbox.width, fig.bbox.height
    assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= w and box.y1 <= h, (box, w, h)


def test_viz_command_line() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    add_viz_command(sub)
    args = parser.parse_args(["viz", "x.toml", "--port", "9001", "--host", "127.0.0.1"])
    assert (args.scenario, args.port, args.host) == ("x.toml", 9001, "127.0.0.1") and callable(args.func)
    args = parser.parse_args(["viz"])
    assert args.scenario is None and args.port == 8765
    argv = solara_argv("127.0.0.1", 9001)
    assert argv[1:4] == ["-m", "solara", "run"] and Path(argv[4]).name == "viz_app.py" and "9001" in argv
    with pytest.raises(ScenarioError):
        args.func(parser.parse_args(["viz", "no/such.toml"]))
    assert main(["no/such.toml"]) == 2


def test_govsim_cli_has_viz() -> None:
    """sim/cli/__init__.py registers the command with sim.cli.viz.add_viz_command."""
    from sim.cli import build_parser

    args = build_parser().parse_args(["viz", "--port", "9002"])
    assert args.func.__module__ == "sim.cli.viz" and args.port == 9002
    out = subprocess.run([sys.executable, "-m", "sim", "viz", "no/such.toml"], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 2 and "no such scenario file" in out.stderr


def test_required_assets_follow_the_installed_widgets() -> None:
    import ipyvue

    names = dict(required_packages())
    app = "@widgetti/solara-vuetify3-app" if str(ipyvue.__version__).startswith("3") else "@widgetti/solara-vuetify-app"
    assert app in names and "requirejs" in names and "@widgetti/vue-grid-layout" in names
    assert not ({"@widgetti/solara-vuetify3-app", "@widgetti/solara-vuetify-app"} - {app}) & names.keys()


def test_ensure_assets_unpacks_npm_tarballs(tmp_path: Path) -> None:
    """With a stand-in npm that packs a small tarball per package (no network)."""
    npm = tmp_path / "npm"
    npm.write_text(
        "#!" + sys.executable + "\n"
        "import sys, tarfile, io, pathlib\n"
        "spec, dest = sys.argv[2], pathlib.Path(sys.argv[4])\n"
        "name = spec.rsplit('@', 1)[0].lstrip('@').replace('/', '-') + '.tgz'\n"
        "with tarfile.open(dest / name, 'w:gz') as t:\n"
        "    for path, body in (('package/dist/app.js', b'ok'), ('package/../evil.js', b'x')):\n"
        "        info = tarfile.TarInfo(path); info.size = len(body); t.addfile(info, io.BytesIO(body))\n"
        "print(name)\n")
    npm.chmod(0o755)
    cache = tmp_path / "cdn"
    assert ensure_assets(cache, npm=str(npm)) == []
    assert missing_packages(cache) == []
    for name, ver in required_packages():
        assert (cache / f"{name}@{ver}" / "dist" / "app.js").read_bytes() == b"ok"
    assert not list(tmp_path.rglob("evil.js"))
    fresh = tmp_path / "other"
    assert ensure_assets(fresh, npm=str(tmp_path / "no-npm-here")) == [f"{n}@{v}" for n, v in required_packages()]


def test_app_module_serves_the_scenario_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    monkeypatch.setenv("GOVSIM_VIZ_SCENARIO", str(SCENARIO_DIR / "bazhong_street_whistle.toml"))
    sys.modules.pop("sim.mesa.viz_app", None)
    app = importlib.import_module("sim.mesa.viz_app")
    assert load_scenario(SCENARIO_DIR / "bazhong_street_whistle.toml").name in (app.Page.__doc__ or "")
    assert MARKERS.keys() == {"old", "mature", "new"}
