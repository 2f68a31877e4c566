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
:func:`serve`; the app's page is :func:`sim.mesa.viz_page.build_page`. Without a scenario the app runs
:func:`sim.mesa.model.default_scenario`, a small community version of ``scenarios/baseline.toml``.
Solara and its dependencies are the ``viz`` extra (``pip install govsim[viz]``); this module
imports them only when a page is built, so the command line and the drawing work without.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import warnings
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
#: warnings that are not the user's to act on: Solara's rules-of-hooks check flags Mesa 3.3's own
#: ComponentsView (a hook after an early return; govsim's page does not use it) when Mesa's
#: visualization is imported, and Solara's server warns on every page served over plain http
#: (``govsim viz`` serves localhost) that it falls back to ``samesite=lax`` cookies
KNOWN_WARNINGS = (r"(?s).*found despite early return", r"(?s)Cookies with samesite=none require https")


def quiet_known_warnings() -> None:
    """Ignore :data:`KNOWN_WARNINGS` in this process (the app server, ``govsim viz``)."""
    for message in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=UserWarning)


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
    fig.colorbar(sm, ax=ax, shrink=0.7, label="satisfaction (0-1)")
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
    cmp_sat = w.compound_mean(sat)
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
    """Marker shapes (compound types, community, street office, unit) in two rows under the graph.

    Placed inside the figure (the constrained layout makes room for it), so nothing is cut off
    when the figure is rendered without ``bbox_inches="tight"`` (as the app does).
    """
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker=MARKERS[ct], ls="", mfc="0.85", mec="black", ms=8, label=f"{ct} compound")
               for ct in COMPOUND_TYPES]
    handles += [Line2D([], [], marker="D", ls="", mfc="0.85", mec="black", ms=8, label="community"),
                Line2D([], [], marker="h", ls="", mfc="0.2", mec="0.2", ms=9, label="street office"),
                Line2D([], [], marker="P", ls="", mfc="tab:blue", mec="tab:blue", ms=7, label="unit (filled: allied)")]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncols=3, fontsize=8, frameon=False,
              borderaxespad=0.2)


def active_policies(model: GovsimModel) -> str:
    """The policies the model runs, readable (``street empowerment, whistle``), or ``none``."""
    return ", ".join(p.name.replace("_", " ") for p in model.govsim_scenario.policies) or "none"


def status_text(model: GovsimModel) -> str:
    """One line of the model's state with units (the page shows it; the browser test reads it)."""
    rate = model.resolution_rate
    rate_s = "n/a" if math.isnan(rate) else f"{rate:.3f}"
    return (f"govsim day {model.day} | {model.n_residents:,} residents | resolution rate {rate_s} (share) | "
            f"mean satisfaction {model.satisfaction_mean:.3f} (0-1) | backlog {model.backlog} problems | "
            f"policies: {active_policies(model)}")


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
    """The app's sliders and switches, starting at the scenario's values (labels without values)."""
    alliance = cast("AllianceParams | None", base.policy("alliance"))
    grid = cast("GridParams | None", base.policy("grid"))
    workers = grid.n_workers_per_grid if grid is not None else base.community.n_grid_workers_per_grid
    return {
        "households_per_grid": {
            "type": "SliderInt", "value": 0, "min": 0, "max": 600, "step": 25, "label": "Households per grid"},
        "grid_workers_per_grid": {
            "type": "SliderFloat", "value": float(workers), "min": 0.0, "max": 5.0, "step": 0.5,
            "label": "Grid workers per grid"},
        "alliance_units": {
            "type": "SliderInt", "value": int(alliance.n_units) if alliance is not None else 0, "min": 0,
            "max": max(int(base.world.n_cobuilding_units_per_community), 1), "step": 1,
            "label": "Alliance units per community"},
        "street_empowerment": {"type": "Checkbox", "value": base.policy("street_empowerment") is not None,
                               "label": "Street empowerment"},
        "whistle": {"type": "Checkbox", "value": base.policy("whistle") is not None, "label": "Whistle"},
        "rng": {"type": "SliderInt", "value": int(base.run.seed), "min": 0, "max": 100, "step": 1, "label": "Seed"},
    }


def lever_label(name: str, value: Any, base: Scenario) -> str:
    """A slider's label with its current value (``Grid workers per grid: 1.5``); switches keep their name."""
    spec = model_params(base)[name]
    if spec["type"] == "Checkbox":
        return str(spec["label"])
    if name == "households_per_grid" and not value:
        grid = cast("GridParams | None", base.policy("grid"))
        hpg = grid.households_per_grid if grid is not None else base.community.households_per_grid
        return f"Households per grid: the scenario's ({hpg.old:g} old / {hpg.mature:g} mature / {hpg.new:g} new)"
    if name == "alliance_units" and not value:
        return "Alliance units per community: 0 (no alliance)"
    shown = f"{value:g}" if isinstance(value, float) else str(value)
    return f"{spec['label']}: {shown}"


#: the time series the app plots: column -> (legend name, colour)
RATE_SERIES: dict[str, tuple[str, str]] = {
    "resolution_rate": ("resolution rate (share of problems resolved)", "tab:blue"),
    "satisfaction_mean": ("mean satisfaction of residents", "tab:green"),
}
BACKLOG_SERIES: dict[str, tuple[str, str]] = {
    "backlog": ("backlog (reported problems waiting)", "tab:red"),
}
#: y-axis label (with units) of each plot
RATE_YLABEL = "share / score (0-1)"
BACKLOG_YLABEL = "problems (count)"


def draw_timeseries(model: GovsimModel, series: dict[str, tuple[str, str]], ylabel: str, title: str,
                    *, unit_range: bool = False) -> Figure:
    """One plot of the model's collected ``series`` against the day, with readable names and units.

    ``unit_range``: a y axis from 0 to 1 (shares and scores); otherwise from 0 with whole-number
    ticks (counts). The lines carry the column name as ``gid`` (tests find them by it).
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    df = model.datacollector.get_model_vars_dataframe()
    fig = Figure(figsize=(6.0, 3.0), layout="constrained")
    ax = fig.subplots()
    for col, (label, colour) in series.items():
        ax.plot(df["day"].to_numpy(), df[col].to_numpy(dtype=float), color=colour, label=label, gid=col)
    ax.set_xlabel("day")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.set_xlim(left=0, right=max(int(df["day"].max()), 1))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if unit_range:
        ax.set_ylim(0.0, 1.0)
    else:
        ax.set_ylim(bottom=0.0, top=max(float(np.nanmax(df[list(series)].to_numpy(dtype=float), initial=0.0)), 1.0) * 1.1)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


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
    with warnings.catch_warnings():
        quiet_known_warnings()
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


__all__ = ["Layout", "active_policies", "compute_layout", "draw_community_graph", "draw_timeseries", "lever_label",
           "model_params", "quiet_known_warnings", "serve", "server_env", "solara_argv", "status_text", "viz_extra_missing", "viz_model_class",
           "widgets_warning"]
