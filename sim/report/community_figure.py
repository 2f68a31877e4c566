"""The community figure: every compound a cluster of its residents.

Residents are coloured by compound type or by satisfaction.

Compounds are contiguous resident id ranges (:class:`sim.core.world.World`), so a compound's residents
are ``compound_start[k] ... compound_start[k] + compound_size[k] - 1``. Each compound gets a centre
(communities side by side, their compounds on a grid inside), and its residents are placed on a
sunflower (phyllotaxis) disc round that centre whose area grows with the compound's size. The
layout is deterministic and uses no random stream of the model, so drawing never changes a run.

>>> from sim import Model, load_scenario                                     # doctest: +SKIP
>>> model = Model(load_scenario("scenarios/baseline.toml"), seed=1); model.run(90)  # doctest: +SKIP
>>> plot_community(model, colour_by="satisfaction")                           # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.config.taxonomy import COMPOUND_TYPES
from sim.experiments.plots import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sim.core.model import Model
    from sim.core.world import World

__all__ = ["TYPE_COLOURS", "community_layout", "plot_community"]

#: Colour of each compound type (colour-blind safe, distinct from the scenario palette's first two).
TYPE_COLOURS: dict[str, str] = {"old": "#d95f02", "mature": "#7570b3", "new": "#1b9e77"}
TYPE_LABELS: dict[str, str] = {"old": "old (no property firm)", "mature": "mature", "new": "new"}
GOLDEN = np.pi * (3.0 - np.sqrt(5.0))


def community_layout(world: World, max_per_compound: int | None = 400) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(compound_xy, resident_ids, resident_xy)``: compound centres and the drawn residents' positions.

    At most ``max_per_compound`` residents per compound are drawn (evenly spaced ids; None: all).
    """
    n_cmp = world.n_compounds
    radius = 0.45 * np.sqrt(world.compound_size / max(int(world.compound_size.max()), 1))
    centres = np.zeros((n_cmp, 2))
    x0 = 0.0
    for c in range(world.n_communities):
        ids = np.flatnonzero(world.compound_community == c)
        cols = int(np.ceil(np.sqrt(ids.size))) if ids.size else 1
        centres[ids, 0] = x0 + (np.arange(ids.size) % cols) * 1.1
        centres[ids, 1] = -(np.arange(ids.size) // cols) * 1.1
        x0 += cols * 1.1 + 0.8
    parts_id, parts_xy = [], []
    for k in range(n_cmp):
        size = int(world.compound_size[k])
        m = size if max_per_compound is None else min(size, max_per_compound)
        rid = int(world.compound_start[k]) + np.linspace(0, size - 1, m).round().astype(np.int64)
        i = np.arange(m)
        r = radius[k] * np.sqrt((i + 0.5) / max(m, 1))
        parts_id.append(rid)
        parts_xy.append(centres[k] + np.c_[r * np.cos(i * GOLDEN), r * np.sin(i * GOLDEN)])
    ids = np.concatenate(parts_id) if parts_id else np.empty(0, dtype=np.int64)
    xy = np.vstack(parts_xy) if parts_xy else np.empty((0, 2))
    return centres, ids, xy


def _type_label(ct: str, n: int) -> str:
    """Legend entry of a compound type: ``new (5 compounds)``, ``old (1 compound)``."""
    return f"{TYPE_LABELS[ct]} ({n} compound{'' if n == 1 else 's'})"


def plot_community(model: Model, colour_by: str = "type", max_per_compound: int | None = 400,
                   sat_range: tuple[float, float] = (0.3, 0.9)) -> Figure:
    """Draw the model's community: one cluster of residents per compound.

    ``colour_by="type"`` colours residents by their compound's type (legend); ``"satisfaction"`` by
    each resident's current satisfaction (colour bar, fixed range ``sat_range`` so figures compare).
    Scatter collections carry a ``gid``: ``residents:<type>`` or ``residents``. Compound labels give
    the compound's number and type; community labels sit above their compounds.
    """
    if colour_by not in ("type", "satisfaction"):
        raise ValueError(f"colour_by must be 'type' or 'satisfaction', got {colour_by!r}")
    w = model.world
    centres, ids, xy = community_layout(w, max_per_compound)
    lo, hi = centres.min(axis=0) - 0.6, centres.max(axis=0) + [0.6, 1.0]  # room for the community labels
    aspect = float((hi[0] - lo[0]) / (hi[1] - lo[1]))
    # at least 8 inches wide: the three-column legend of compound types (or the colour bar) and a readable
    # drawing fit beside each other even for one community, which is otherwise too narrow for the layout
    fig = new_figure(figsize=(float(np.clip(5.0 * aspect, 8.0, 16.0)) + (1.2 if colour_by != "type" else 0.0), 6.0))
    ax = fig.add_subplot()
    ctype = w.res_ctype[ids]
    dot = float(np.clip(12000.0 / max(ids.size, 1), 2.0, 25.0))
    if colour_by == "type":
        for code, ct in enumerate(COMPOUND_TYPES):
            m = ctype == code
            if m.any():
                ax.scatter(xy[m, 0], xy[m, 1], s=dot, c=TYPE_COLOURS[ct], linewidths=0, gid=f"residents:{ct}",
                           label=_type_label(ct, int((w.compound_type == code).sum())))
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.02), ncols=3,
                  title="Compound type", markerscale=max(1.0, 20.0 / dot) ** 0.5, frameon=False)
    else:
        sat = np.asarray(model.residents.satisfaction)[ids]
        sc = ax.scatter(xy[:, 0], xy[:, 1], s=dot, c=sat, cmap="RdYlGn", vmin=sat_range[0], vmax=sat_range[1],
                        linewidths=0, gid="residents")
        fig.colorbar(sc, ax=ax, shrink=0.8, label="Resident satisfaction (0-1)")
    for k in range(w.n_compounds):
        ax.annotate(f"{k}", centres[k], ha="center", va="center", fontsize=7, color="black", alpha=0.8)
    for c in range(w.n_communities):
        sel = w.compound_community == c
        if sel.any():
            top = centres[sel, 1].max() + 0.5
            ax.text(centres[sel, 0].mean(), top, f"community {c}", ha="center", va="bottom", fontsize=9)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal")
    ax.set_axis_off()
    shown = "all residents" if max_per_compound is None or ids.size == w.n_residents else \
        f"{ids.size:,} of {w.n_residents:,} residents"
    what = "compound type" if colour_by == "type" else "satisfaction"
    ax.set_title(f"{model.scenario.name}, day {model.t}: {w.n_compounds} compounds ({shown}), coloured by {what}")
    return fig
