"""Keyword levers of :class:`~sim.mesa.model.GovsimModel` and its DataCollector reporters.

Kept apart from the model so the mapping from Mesa-style keyword parameters to dotted
scenario keys (documented in :mod:`sim.mesa.model`) and the default small scenario can be
used and tested without building a model. Reporters are attribute names (strings), so the
model pickles and ``mesa.batch_run`` can use processes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sim.config.paths import SCENARIO_DIR
from sim.config.taxonomy import COMPOUND_TYPES
from sim.core.scenario import Scenario, load_scenario

#: What makes the default scenario a small community version of ``scenarios/baseline.toml``.
SMALL_OVERRIDES: dict[str, Any] = {
    "name": "baseline_small",
    "world.n_streets": 1,
    "world.n_communities_per_street": 2,
    "world.n_compounds_per_community": 6,
}

#: Model-level reporters: column name -> attribute of :class:`GovsimModel` (strings only, so
#: the model pickles and ``batch_run`` can use processes).
MODEL_REPORTERS: dict[str, str] = {
    "day": "day",
    "seed": "seed",
    "resolution_rate": "resolution_rate",
    "abandonment_rate": "abandonment_rate",
    "satisfaction_mean": "satisfaction_mean",
    "satisfaction_p10": "satisfaction_p10",
    "satisfaction_old": "satisfaction_old",
    "satisfaction_mature": "satisfaction_mature",
    "satisfaction_new": "satisfaction_new",
    "trust_mean": "trust_mean",
    "backlog": "backlog",
    "pending": "pending",
    "problems_arisen": "problems_arisen",
    "problems_resolved": "problems_resolved",
    "problems_abandoned": "problems_abandoned",
    "days_to_resolution_median": "days_to_resolution_median",
    "cost_yuan": "cost_yuan",
}


def default_scenario() -> Scenario:
    """``scenarios/baseline.toml`` shrunk to one street of two small communities (~7,000 residents).

    Falls back to the built-in defaults (which describe the same baseline) when the scenario
    directory is not next to the package (an installed wheel).
    """
    path = SCENARIO_DIR / "baseline.toml"
    if path.is_file():
        return load_scenario(path, SMALL_OVERRIDES)
    return Scenario().with_overrides(SMALL_OVERRIDES)


def scenario_overrides(
    base: Scenario,
    *,
    n_streets: int | None = None,
    n_communities: int | None = None,
    n_compounds_per_community: int | None = None,
    households_per_grid: int | None = None,
    households_per_grid_old: int | None = None,
    households_per_grid_mature: int | None = None,
    households_per_grid_new: int | None = None,
    grid_workers_per_grid: float | None = None,
    alliance_units: int | None = None,
) -> dict[str, Any]:
    """The dotted scenario keys the keyword levers set (see the :mod:`sim.mesa.model` docstring)."""
    out: dict[str, Any] = {}
    if n_streets is not None:
        out["world.n_streets"] = int(n_streets)
    if n_communities is not None:
        out["world.n_communities_per_street"] = int(n_communities)
    if n_compounds_per_community is not None:
        out["world.n_compounds_per_community"] = int(n_compounds_per_community)
    grid_on = base.policy("grid") is not None
    hpg_prefix = "policies.grid.households_per_grid" if grid_on else "community.households_per_grid"
    per_type = {"old": households_per_grid_old, "mature": households_per_grid_mature, "new": households_per_grid_new}
    for ct in COMPOUND_TYPES:
        value = per_type[ct] if per_type[ct] is not None else households_per_grid
        if value is not None:
            out[f"{hpg_prefix}.{ct}"] = int(value)
    if grid_workers_per_grid is not None:
        key = "policies.grid.n_workers_per_grid" if grid_on else "community.n_grid_workers_per_grid"
        out[key] = float(grid_workers_per_grid)
    if alliance_units is not None and int(alliance_units) > 0:
        out["policies.alliance.n_units"] = int(alliance_units)
    return out


#: the Mesa layer's levers act from the first step (see :func:`build_scenario`)
FROM_FIRST_STEP: dict[str, Any] = {"reform.start_day": 0, "reform.dur_warmup": 0}


def build_scenario(
    scenario: str | Path | Scenario | None = None,
    *,
    street_empowerment: bool | None = None,
    whistle: bool | None = None,
    alliance_units: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    **levers: Any,
) -> tuple[Scenario, dict[str, Any]]:
    """The scenario a :class:`GovsimModel` with these keywords runs, and the keys it changed.

    Policies switched off are removed from the scenario; switched on, they get their default
    parameters (or keep the scenario's, if it already has them). Levers act from the model's first
    step: a scenario's reform date and warm-up (the shipped files start reforms on day 365 after a
    year's warm-up) are set to 0 unless ``overrides`` gives ``reform.*`` keys.
    """
    if scenario is None:
        base = default_scenario()
    elif isinstance(scenario, Scenario):
        base = scenario
    elif isinstance(scenario, (str, Path)):
        base = load_scenario(scenario)
    else:
        raise TypeError(f"scenario must be a path, a sim.Scenario or None, got {type(scenario).__name__}")
    if (base.reform.start_day, base.reform.dur_warmup) != (0, 0):
        base = base.with_overrides(FROM_FIRST_STEP)
    changes: dict[str, Any] = {}
    switches = {"street_empowerment": street_empowerment, "whistle": whistle}
    if alliance_units is not None and int(alliance_units) <= 0:
        switches["alliance"] = False
    elif alliance_units is not None:
        switches["alliance"] = True
    data = base.to_dict()
    pol = data.setdefault("policies", {})
    for name, on in switches.items():
        if on is None:
            continue
        if on and name not in pol:
            pol[name] = {}
        elif not on:
            pol.pop(name, None)
        changes[f"policies.{name}"] = bool(on)
    if changes:
        base = Scenario.from_dict(data)
    keys = scenario_overrides(base, alliance_units=alliance_units, **levers)
    keys.update(dict(overrides or {}))
    if keys:
        base = base.with_overrides(keys)
    changes.update(keys)
    return base, changes


__all__ = ["MODEL_REPORTERS", "SMALL_OVERRIDES", "build_scenario", "default_scenario", "scenario_overrides"]
