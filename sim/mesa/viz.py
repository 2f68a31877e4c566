"""``govsim viz``: an interactive Mesa SolaraViz app of :class:`~sim.mesa.model.GovsimModel`.

The page shows

* the community graph: street -> communities -> compounds, with a fixed sample of each
  compound's residents around it. Colour is satisfaction (residents their own, compounds and
  communities their residents' mean); the compound type is the marker shape (old: square,
  mature: circle, new: triangle) for compounds and their residents alike; co-building units sit
  around their community, filled when allied. Compounds are sized by residents, so the drawing
  costs the same at any scale (residents are sampled, at most :data:`SAMPLE_PER_COMPOUND` per
  compound, none beyond :data:`MAX_COMPOUNDS_WITH_RESIDENTS` compounds);
* time series of resolution rate and mean satisfaction, and of the backlog;
* sliders and switches for the levers: households per grid, grid workers per grid, alliance
  size, street empowerment, whistle, and the seed.

``govsim viz`` (:mod:`sim.cli.viz`) starts ``solara run`` on :mod:`sim.mesa.viz_app` with
:func:`serve`; the app calls :func:`build_page`. Without a scenario the app runs
:func:`sim.mesa.model.default_scenario`, a small community version of ``scenarios/baseline.toml``.
Solara and its dependencies are the ``viz`` extra (``pip install govsim[viz]``); this module
imports them only when a page is built, so the command line and the drawing work without.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from sim.config.taxonomy import COMPOUND_TYPES
from sim.core.world import World

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    from sim.core.scenario import Scenario
    from sim.mesa.model import GovsimModel
    from sim.policies.alliance import AllianceParams
    from sim.policies.grid import GridParams

#: environment variable through which ``govsim viz`` hands the scenario file to the app
SCENARIO_ENV = "GOVSIM_VIZ_SCENARIO"
#: residents drawn per compound (a fixed sample, the same every step)
SAMPLE_PER_COMPOUND = 40
#: above this many compounds only compounds, communities and streets are drawn
MAX_COMPOUNDS_WITH_RESIDENTS = 300
#: marker of each compound type, for compounds and their residents
MARKERS: dict[str, str] = {"old": "s", "mature": "o", "new": "^"}
#: colour scale of satisfaction (fixed, so colours compare across steps and runs)
SAT_RANGE = (0.4, 0.8)
CMAP = "RdYlGn"


# ---- layout -------------------------------------------------------------------------------------
@dataclass
class Layout:
    """Fixed positions of the drawn nodes of one world (computed once per model)."""

    street_xy: np.ndarray  # (streets, 2)
    community_xy: np.ndarray  # (communities, 2)
    compound_xy: np.ndarray  # (compounds, 2)
    unit_xy: np.ndarray  # (units, 2)
    sample: np.ndarray  # resident ids drawn
    sample_xy: np.ndarray  # (sample, 2)


def compute_layout(world: World, sample_per_compound: int = SAMPLE_PER_COMPOUND) -> Layout:
    """Fixed positions of everything drawn.

    Communities on a grid (grouped by street), compounds on a ring round their community, a
    sample of residents in a disc round their compound (area by residents). Deterministic and
    independent of the model's random streams (drawing never changes a run).
    """
    rng = np.random.default_rng(0)
    n_comm, n_cmp = world.n_communities, world.n_compounds
    cols = int(np.ceil(np.sqrt(n_comm)))
    order = np.argsort(world.community_street, kind="stable")  # communities of a street side by side
    community_xy = np.zeros((n_comm, 2))
    community_xy[order, 0] = (np.arange(n_comm) % cols) * 3.2
    community_xy[order, 1] = -(np.arange(n_comm) // cols) * 3.2
    street_xy = np.array([community_xy[world.community_street == s].mean(axis=0) + [0.0, 1.6]
                          for s in range(world.n_streets)])
    compound_xy = np.zeros((n_cmp, 2))
    for c in range(n_comm):
        ids = np.flatnonzero(world.compound_community == c)
        ang = 2 * np.pi * np.arange(ids.size) / max(ids.size, 1) + np.pi / 2
        radius = 1.0 if ids.size > 1 else 0.0
        compound_xy[ids] = community_xy[c] + radius * np.c_[np.cos(ang), np.sin(ang)]
    units = np.arange(world.unit_community.size)
    k = units - np.searchsorted(world.unit_community, world.unit_community)  # rank within community
    per = np.bincount(world.unit_community, minlength=n_comm)[world.unit_community].clip(min=1)
    ang = np.pi / 2 + 2 * np.pi * (k + 0.5) / per
    unit_xy = community_xy[world.unit_community] + 0.35 * np.c_[np.cos(ang), np.sin(ang)]
    if n_cmp > MAX_COMPOUNDS_WITH_RESIDENTS or sample_per_compound <= 0:
        sample = np.empty(0, dtype=np.int64)
    else:
        parts = [int(world.compound_start[i]) + np.sort(rng.choice(int(world.compound_size[i]),
                                                                   min(sample_per_compound, int(world.compound_size[i])),
                                                                   replace=False))
                 for i in range(n_cmp)]
        sample = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
    cmp = world.res_compound[sample]
    disc = 0.18 + 0.22 * np.sqrt(world.compound_size / max(int(world.compound_size.max()), 1))
    r = disc[cmp] * np.sqrt(rng.random(sample.size))
    phi = 2 * np.pi * rng.random(sample.size)
    sample_xy = compound_xy[cmp] + np.c_[r * np.cos(phi), r * np.sin(phi)]
    return Layout(street_xy, community_xy, compound_xy, unit_xy, sample, sample_xy)


def layout_of(model: GovsimModel) -> Layout:
    """The model's layout, computed on first use and kept on the model."""
    lay = getattr(model, "_viz_layout", None)
    if lay is None:
        lay = compute_layout(model.world)
        model._viz_layout = lay
    return lay


def compound_means(world: World, values: np.ndarray) -> np.ndarray:
    """Mean of a per-resident array over each compound (compounds are contiguous id ranges)."""
    sums = np.add.reduceat(values.astype(np.float64), world.compound_start)
    return sums / np.maximum(world.compound_size, 1)


# ---- drawing ------------------------------------------------------------------------------------
def draw_community_graph(model: GovsimModel, ax: Axes | None = None) -> Figure:
    """Draw the community graph of ``model`` as it is now; return the figure.

    Collections carry a ``gid`` (``compounds:old``, ``residents:new``, ``communities``,
    ``units``, ``streets``) so tests and post-processing can find them.
    """
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    if ax is None:
        fig = Figure(figsize=(7.0, 5.0), layout="constrained")
        ax = fig.subplots()
    elif (root := ax.get_figure(root=True)) is not None:
        fig = root
    else:
        raise ValueError("the axes belong to no figure")
    lay = layout_of(model)
    colour = _Colour(cmap=CMAP, norm=Normalize(*SAT_RANGE))
    _draw_edges(ax, model.world, lay)
    _draw_nodes(ax, model, lay, colour)
    sm = ax.scatter([], [], c=[], cmap=colour.cmap, norm=colour.norm)
    fig.colorbar(sm, ax=ax, shrink=0.7, label="satisfaction")
    _draw_legend(ax)
    ax.set_title(f"Day {model.day}: {model.n_residents:,} residents, mean satisfaction {model.satisfaction_mean:.3f}",
                 fontsize=10)
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.margins(0.08)
    ax.set_axis_off()
    return fig


@dataclass
class _Colour:
    """The fixed satisfaction colour scale every drawn node shares."""

    cmap: str
    norm: Normalize


def _draw_edges(ax: Axes, w: World, lay: Layout) -> None:
    """Grey lines street - community - compound, under everything else."""
    from matplotlib.collections import LineCollection

    segs = [(lay.street_xy[int(w.community_street[c])], lay.community_xy[c]) for c in range(w.n_communities)]
    segs += [(lay.community_xy[int(w.compound_community[k])], lay.compound_xy[k]) for k in range(w.n_compounds)]
    ax.add_collection(LineCollection(segs, colors="0.75", linewidths=0.8, zorder=0))


def _draw_nodes(ax: Axes, model: GovsimModel, lay: Layout, colour: _Colour) -> None:
    """Residents and compounds by type, communities, co-building units, street offices, backlog labels."""
    w = model.world
    sat = model.residents.satisfaction
    cmap, norm = colour.cmap, colour.norm
    cmp_sat = compound_means(w, sat)
    size = 60 + 340 * w.compound_size / max(int(w.compound_size.max()), 1)
    res_ct = w.res_ctype[lay.sample]
    for code, ct in enumerate(COMPOUND_TYPES):
        m = res_ct == code
        if m.any():
            xy = lay.sample_xy[m]
            ax.scatter(xy[:, 0], xy[:, 1], c=sat[lay.sample[m]], marker=MARKERS[ct], s=14, linewidths=0,
                       zorder=1, gid=f"residents:{ct}", cmap=cmap, norm=norm)
        m = w.compound_type == code
        if m.any():
            xy = lay.compound_xy[m]
            ax.scatter(xy[:, 0], xy[:, 1], c=cmp_sat[m], marker=MARKERS[ct], s=size[m], edgecolors="black",
                       linewidths=1.4, zorder=3, gid=f"compounds:{ct}", cmap=cmap, norm=norm)
    comm_sat = np.array([a.satisfaction for a in model.community_agents])
    ax.scatter(lay.community_xy[:, 0], lay.community_xy[:, 1], c=comm_sat, marker="D", s=260, edgecolors="black",
               linewidths=2.0, zorder=4, gid="communities", cmap=cmap, norm=norm)
    allied = model.core.units.allied
    if lay.unit_xy.size:
        ax.scatter(lay.unit_xy[:, 0], lay.unit_xy[:, 1], marker="P", s=55, c=np.where(allied, "tab:blue", "white"),
                   edgecolors="tab:blue", linewidths=0.8, zorder=5, gid="units")
    ax.scatter(lay.street_xy[:, 0], lay.street_xy[:, 1], marker="h", s=320, c="0.2", zorder=4, gid="streets")
    for c, a in enumerate(model.community_agents):
        x, y = lay.community_xy[c]
        ax.annotate(f"community {c}\nbacklog {a.backlog}", (x, y), xytext=(0, -24), textcoords="offset points",
                    ha="center", va="top", fontsize=7, zorder=6)


def _draw_legend(ax: Axes) -> None:
    """Marker shapes: compound types, community, street office, unit."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker=MARKERS[ct], ls="", mfc="0.85", mec="black", ms=8, label=f"{ct} compound")
               for ct in COMPOUND_TYPES]
    handles += [Line2D([], [], marker="D", ls="", mfc="0.85", mec="black", ms=8, label="community"),
                Line2D([], [], marker="h", ls="", mfc="0.2", mec="0.2", ms=9, label="street office"),
                Line2D([], [], marker="P", ls="", mfc="tab:blue", mec="tab:blue", ms=7, label="unit (filled: allied)")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 0.0), fontsize=7, frameon=False,
              borderaxespad=0.0)


def status_text(model: GovsimModel) -> str:
    """One line of the model's state (the page shows it; the browser test reads its day)."""
    rate = model.resolution_rate
    rate_s = "n/a" if math.isnan(rate) else f"{rate:.3f}"
    levers = model.govsim_scenario
    on = [p.name for p in levers.policies] or ["none"]
    return (f"govsim day {model.day} | {model.n_residents:,} residents | resolution rate {rate_s} | "
            f"satisfaction {model.satisfaction_mean:.3f} | backlog {model.backlog} | policies: {', '.join(on)}")


# ---- the app ------------------------------------------------------------------------------------
def viz_model_class(scenario: str | Path | Scenario | None = None) -> type[GovsimModel]:
    """A GovsimModel subclass whose default scenario is ``scenario``, for the app.

    SolaraViz re-creates the model from the sliders alone on Reset, so the scenario has to be
    the class's default; ``households_per_grid=0`` there means "the scenario's values".
    """
    from sim.mesa.model import GovsimModel, build_scenario, default_scenario

    base = build_scenario(scenario)[0] if scenario is not None else default_scenario()

    class GovsimVizModel(GovsimModel):
        @classmethod
        def default_scenario(cls) -> Scenario:
            return base

        def __init__(self, *, households_per_grid: int | None = None, **kwargs: Any) -> None:
            super().__init__(households_per_grid=households_per_grid or None, **kwargs)

    GovsimVizModel.__doc__ = f"GovsimModel running {base.name!r} by default."
    return GovsimVizModel


def model_params(base: Scenario) -> dict[str, dict[str, Any]]:
    """The app's sliders and switches, starting at the scenario's values."""
    alliance = cast("AllianceParams | None", base.policy("alliance"))
    grid = cast("GridParams | None", base.policy("grid"))
    workers = grid.n_workers_per_grid if grid is not None else base.community.n_grid_workers_per_grid
    hpg = (grid.households_per_grid if grid is not None else base.community.households_per_grid)
    return {
        "households_per_grid": {
            "type": "SliderInt", "value": 0, "min": 0, "max": 600, "step": 25,
            "label": f"Households per grid (0: {hpg.old:g}/{hpg.mature:g}/{hpg.new:g})"},
        "grid_workers_per_grid": {
            "type": "SliderFloat", "value": float(workers), "min": 0.0, "max": 5.0, "step": 0.5,
            "label": "Grid workers per grid"},
        "alliance_units": {
            "type": "SliderInt", "value": int(alliance.n_units) if alliance is not None else 0, "min": 0,
            "max": max(int(base.world.n_cobuilding_units_per_community), 1), "step": 1,
            "label": "Alliance units (0: off)"},
        "street_empowerment": {"type": "Checkbox", "value": base.policy("street_empowerment") is not None,
                               "label": "Street empowerment"},
        "whistle": {"type": "Checkbox", "value": base.policy("whistle") is not None, "label": "Whistle"},
        "rng": {"type": "SliderInt", "value": int(base.run.seed), "min": 0, "max": 100, "step": 1, "label": "Seed"},
    }


def build_page(scenario: str | Path | Scenario | None = None) -> Any:
    """The SolaraViz page element for ``scenario`` (default: the small baseline)."""
    import solara
    from mesa.visualization import SolaraViz, make_plot_component
    from mesa.visualization.utils import update_counter

    from sim.mesa.model import build_scenario, default_scenario

    base = build_scenario(scenario)[0] if scenario is not None else default_scenario()
    cls = viz_model_class(base)
    params = model_params(base)
    model = cls(**{k: v["value"] for k, v in params.items()})

    @solara.component
    def GraphView(model: GovsimModel) -> Any:
        update_counter.get()
        with solara.Column(gap="4px") as main:
            solara.Text(status_text(model), classes=["govsim-status"])
            solara.FigureMatplotlib(draw_community_graph(model), format="png", dependencies=[id(model), model.steps])
        return main

    components = [
        GraphView,
        make_plot_component({"resolution_rate": "tab:blue", "satisfaction_mean": "tab:green"}),
        make_plot_component({"backlog": "tab:red"}),
    ]
    return SolaraViz(model, components=components, model_params=params,
                     name=f"govsim: {base.name}", play_interval=150)


# ---- the server ----------------------------------------------------------------------------------
def solara_argv(host: str, port: int, *, production: bool = True) -> list[str]:
    """The ``solara run`` command that serves the app module."""
    app = str(Path(__file__).with_name("viz_app.py"))
    argv = [sys.executable, "-m", "solara", "run", app, "--host", host, "--port", str(port), "--no-open"]
    if production:
        argv.append("--production")
    return argv


def server_env(scenario: str | None) -> dict[str, str]:
    """Environment of the app server: the scenario, and no telemetry sent anywhere."""
    env = dict(os.environ)
    env.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "False")
    env.setdefault("MPLBACKEND", "Agg")
    if scenario:
        env[SCENARIO_ENV] = str(Path(scenario).resolve())
    else:
        env.pop(SCENARIO_ENV, None)
    return env


def viz_extra_missing() -> str | None:
    """The name of the first module of the ``viz`` extra that is not installed, or None."""
    try:
        import mesa.visualization  # noqa: F401 - imported to see whether it is installed
        import solara  # noqa: F401 - imported to see whether it is installed
    except ImportError as err:
        return err.name or str(err)
    return None


def widgets_warning() -> str | None:
    """Why the page would be empty under the installed widgets (Vue 3 ones), or None when they fit."""
    try:
        import ipyvue
    except ImportError:  # pragma: no cover - solara depends on it
        return None
    if str(ipyvue.__version__).startswith("1."):
        return None
    return (f"ipyvue {ipyvue.__version__} (Vue 3) is installed; Mesa's SolaraViz needs Vue 2 widgets (its page grid "
            "does not load under Vue 3, and Mesa 3.3 uses Vuetify 2 tabs): pip install 'ipyvue<2' 'ipyvuetify<2'")


def serve(argv: list[str], env: dict[str, str], *, replace_process: bool = True) -> int:
    """Run the app server ``argv`` until it stops; return its exit code.

    With ``replace_process`` (POSIX only) the server replaces this process, so there is one pid to
    stop and this function does not return.
    """
    if os.name == "posix" and replace_process:
        os.execve(argv[0], argv, env)
    return subprocess.call(argv, env=env)


__all__ = ["Layout", "build_page", "compute_layout", "draw_community_graph", "model_params", "serve", "server_env",
           "solara_argv", "status_text", "viz_extra_missing", "viz_model_class", "widgets_warning"]
