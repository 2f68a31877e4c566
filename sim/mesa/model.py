"""govsim as a Mesa model: :class:`GovsimModel` wraps the vectorised core in a ``mesa.Model``.

The core (:class:`sim.core.model.Model`) keeps all state in numpy arrays; this module gives it the
shape Mesa users expect: keyword parameters, ``rng=``, ``step()``, ``running``, a
``datacollector`` with string reporters (so the model pickles and works with
``mesa.batch_run``), and the institutional stakeholders as ``mesa.Agent`` objects.

The agents live in :mod:`sim.mesa.agents` and the keyword levers, default scenario and
reporters in :mod:`sim.mesa.levers`; all their public names are re-exported here.

Keyword parameters and the scenario keys they set
-------------------------------------------------
Every keyword left at ``None`` keeps the scenario's value. The scenario itself comes from
``scenario`` (a TOML path or a :class:`~sim.core.scenario.Scenario`; default
:func:`default_scenario`, a small community version of ``scenarios/baseline.toml``).

=============================  =========================================================
keyword                        scenario key
=============================  =========================================================
``n_streets``                  ``world.n_streets``
``n_communities``              ``world.n_communities_per_street``
``n_compounds_per_community``  ``world.n_compounds_per_community``
``households_per_grid``        ``community.households_per_grid.{old,mature,new}`` (all three)
``households_per_grid_old``    ``community.households_per_grid.old`` (likewise ``_mature``, ``_new``;
                               a per-type keyword wins over ``households_per_grid``)
``grid_workers_per_grid``      ``community.n_grid_workers_per_grid``
``alliance_units``             ``policies.alliance.n_units``; ``0`` switches the alliance off
``street_empowerment``         ``[policies.street_empowerment]`` on (True) or off (False)
``whistle``                    ``[policies.whistle]`` on (True) or off (False)
``overrides``                  any ``{"dotted.key": value}``, applied last
=============================  =========================================================

When the scenario switches the ``grid`` policy on, that policy re-divides the grids at set-up,
so the grid keywords set the keys in force: ``policies.grid.households_per_grid.*`` and
``policies.grid.n_workers_per_grid`` instead. :attr:`GovsimModel.scenario_overrides` lists the
dotted keys a model was built with; :attr:`GovsimModel.govsim_scenario` is the result.

Seeding
-------
``rng`` goes to ``mesa.Model.__init__(rng=rng)`` unchanged. The core's seed is then

* ``rng`` itself when it is a non-negative int, so ``GovsimModel(rng=7)`` computes exactly
  what ``sim.Model(scenario, seed=7)`` (and ``govsim run --seed 7``) computes;
* otherwise one draw ``int(self.rng.integers(2**63 - 1))`` from Mesa's numpy generator, which
  is deterministic for any seed-like value (a SeedSequence, a list of ints, a seeded
  Generator) and fresh entropy for ``rng=None``.

So ``mesa.batch_run(..., rng=[1, 2, 3])`` (Mesa >= 3.4) or ``parameters={"rng": [1, 2, 3]}``
(Mesa 3.3) gives reproducible runs; :func:`batch_run` does either. The model deliberately has
no ``seed`` keyword: Mesa 3.4+'s ``batch_run`` passes seeds as ``seed=`` to models that have one,
and ``Model(seed=)`` is deprecated in favour of ``rng=``. The core's seed is :attr:`seed`.

Mesa 3.5 reserves ``model.scenario`` for its own ``mesa.experimental.scenarios.Scenario`` (and
SolaraViz passes one as ``scenario=`` on Reset), so the govsim scenario lives in
:attr:`govsim_scenario`, ``model.scenario`` is left to Mesa, and a Mesa Scenario passed as
``scenario`` is taken for its ``rng`` only.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mesa
import numpy as np

from sim.config.taxonomy import COMMUNITY, LATENT, LEVELS, PROPERTY, QUEUED, STREET
from sim.core.model import Model as CoreModel
from sim.core.results import mean_by_ctype, p10_binned, quantile_from_hist, ratio
from sim.core.scenario import Scenario
from sim.mesa.agents import CoBuildingUnitAgent, CommunityAgent, PropertyFirmAgent, ResidentView, StreetOfficeAgent
from sim.mesa.levers import (
    MODEL_REPORTERS,
    SMALL_OVERRIDES,
    build_scenario,
    default_scenario,
    scenario_overrides,
)

if TYPE_CHECKING:
    from sim.agents.resident import Residents
    from sim.core.world import World

_INT63 = 2**63 - 1


def _is_mesa_scenario(obj: Any) -> bool:
    """True for Mesa 3.5's ``mesa.experimental.scenarios.Scenario`` (absent in Mesa 3.3)."""
    try:
        from mesa.experimental.scenarios import Scenario as MesaScenario
    except ImportError:
        return False
    return isinstance(obj, MesaScenario)


# ---- the model ------------------------------------------------------------------------------------
class GovsimModel(mesa.Model):
    """The vectorised govsim core as a ``mesa.Model`` (see the module docstring for the keywords).

    >>> m = GovsimModel(rng=1, whistle=True, max_days=30)      # doctest: +SKIP
    >>> while m.running: m.step()                               # doctest: +SKIP
    >>> m.datacollector.get_model_vars_dataframe().tail(1)      # doctest: +SKIP
    """

    def __init__(
        self,
        scenario: str | Path | Scenario | None = None,
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
        street_empowerment: bool | None = None,
        whistle: bool | None = None,
        overrides: Mapping[str, Any] | None = None,
        max_days: int | None = None,
        rng: Any = None,
    ) -> None:
        if _is_mesa_scenario(scenario):  # Mesa 3.5's SolaraViz Reset passes one: keep its rng only
            if rng is None:
                rng = getattr(scenario, "rng", None)
            scenario = None
        super().__init__(rng=rng)
        if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
            core_seed = int(rng)
        else:
            core_seed = int(self.rng.integers(_INT63))
        sc, changes = build_scenario(
            scenario if scenario is not None else self.default_scenario(),
            street_empowerment=street_empowerment, whistle=whistle, alliance_units=alliance_units,
            overrides=overrides, n_streets=n_streets, n_communities=n_communities,
            n_compounds_per_community=n_compounds_per_community, households_per_grid=households_per_grid,
            households_per_grid_old=households_per_grid_old, households_per_grid_mature=households_per_grid_mature,
            households_per_grid_new=households_per_grid_new, grid_workers_per_grid=grid_workers_per_grid,
        )
        if max_days is not None and int(max_days) < 1:
            raise ValueError(f"max_days must be >= 1, got {max_days}")
        #: the govsim scenario this model runs (``model.scenario`` belongs to Mesa 3.5)
        self.govsim_scenario: Scenario = sc
        #: dotted scenario keys set by the keyword parameters
        self.scenario_overrides: dict[str, Any] = changes
        self.max_days = None if max_days is None else int(max_days)
        #: the vectorised core: all state lives in its arrays
        self.core = CoreModel(sc, seed=core_seed)
        self._backlog_cache: dict[int, tuple[int, np.ndarray]] = {}

        self.street_agents = [StreetOfficeAgent(self, i) for i in range(self.core.streets.n)]
        self.community_agents = [CommunityAgent(self, i) for i in range(self.core.world.n_communities)]
        self.unit_agents = [CoBuildingUnitAgent(self, i) for i in range(self.core.units.n)]
        self.firm_agents: list[PropertyFirmAgent] = []
        self._sync_firms()

        self.datacollector = mesa.DataCollector(model_reporters=dict(MODEL_REPORTERS))
        self.datacollector.collect(self)

    @classmethod
    def default_scenario(cls) -> str | Path | Scenario:
        """The scenario used when none is given (subclasses, e.g. the app's, override it)."""
        return default_scenario()

    def _sync_firms(self) -> None:
        """One agent per property firm; policies may add firms (community-run property)."""
        for i in range(len(self.firm_agents), self.core.firms.n):
            self.firm_agents.append(PropertyFirmAgent(self, i))

    def step(self) -> None:
        """Advance the core by one day, then collect the model reporters."""
        core = self.core
        core.step()  # the core grows its buffers when stepped past the scenario's run.n_steps
        self._sync_firms()
        self.datacollector.collect(self)
        if self.max_days is not None and core.t >= self.max_days:
            self.running = False

    # ---- views -------------------------------------------------------------------------------
    @property
    def seed(self) -> int:
        """The core's seed (see "Seeding" in the module docstring)."""
        return self.core.seed

    @property
    def day(self) -> int:
        """Days simulated so far (the core's ``t``)."""
        return self.core.t

    @property
    def world(self) -> World:
        """The core's world: hierarchy, sizes and resident attributes as arrays."""
        return self.core.world

    @property
    def residents(self) -> Residents:
        """Residents' state arrays (satisfaction, trust, expectation, volunteer_turns)."""
        return self.core.residents

    @property
    def n_residents(self) -> int:
        """Residents in the world."""
        return self.core.world.n_residents

    def resident(self, i: int) -> ResidentView:
        """A read-only view of resident ``i``."""
        return ResidentView(self, i)

    def summary(self) -> dict[str, float]:
        """The core's summary outcomes so far (as ``govsim run`` prints them)."""
        return self.core.summary()

    def backlog_by_handler(self, level: int) -> np.ndarray:
        """Queued problems per handler of ``level`` (grid, property, community, street ...) today."""
        hit = self._backlog_cache.get(level)
        if hit is not None and hit[0] == self.core.t:
            return hit[1]
        pool = self.core.problems
        m = (pool.status == QUEUED) & (pool.level == level)
        sizes = {PROPERTY: self.core.firms.n, COMMUNITY: self.core.world.n_communities, STREET: self.core.streets.n}
        counts = np.bincount(pool.handler[m], minlength=sizes.get(level, 0))
        self._backlog_cache[level] = (self.core.t, counts)
        return counts

    # ---- model reporters -----------------------------------------------------------------------
    @property
    def problems_arisen(self) -> int:
        """Problems that arose so far."""
        return int(self.core.ledger.arisen.sum())

    @property
    def problems_resolved(self) -> int:
        """Problems resolved so far."""
        return int(self.core.ledger.resolved.sum())

    @property
    def problems_abandoned(self) -> int:
        """Problems given up so far."""
        return int(self.core.ledger.abandoned.sum())

    @property
    def resolution_rate(self) -> float:
        """Resolved / arisen so far (nan before any problem arises)."""
        return ratio(self.problems_resolved, self.problems_arisen)

    @property
    def abandonment_rate(self) -> float:
        """Given up / arisen so far."""
        return ratio(self.problems_abandoned, self.problems_arisen)

    @property
    def satisfaction_mean(self) -> float:
        """Mean satisfaction of all residents."""
        return float(self.core.residents.satisfaction.mean(dtype=np.float64))

    @property
    def satisfaction_p10(self) -> float:
        """10th percentile of satisfaction (binned, as the core's summary)."""
        return p10_binned(self.core.residents.satisfaction)

    @property
    def satisfaction_old(self) -> float:
        """Mean satisfaction in old compounds."""
        return float(mean_by_ctype(self.core.world, self.core.residents.satisfaction)[0])

    @property
    def satisfaction_mature(self) -> float:
        """Mean satisfaction in mature compounds."""
        return float(mean_by_ctype(self.core.world, self.core.residents.satisfaction)[1])

    @property
    def satisfaction_new(self) -> float:
        """Mean satisfaction in new compounds."""
        return float(mean_by_ctype(self.core.world, self.core.residents.satisfaction)[2])

    @property
    def trust_mean(self) -> float:
        """Mean trust of all residents."""
        return float(self.core.residents.trust.mean(dtype=np.float64))

    @property
    def backlog(self) -> int:
        """Reported problems waiting at some level (queued)."""
        return int((self.core.problems.status == QUEUED).sum())

    @property
    def pending(self) -> int:
        """Open problems: queued plus latent (not yet found)."""
        return int(self.core.problems.n)

    @property
    def latent(self) -> int:
        """Problems not yet found (latent)."""
        return int((self.core.problems.status == LATENT).sum())

    @property
    def days_to_resolution_median(self) -> float:
        """Median days from arising to resolution so far."""
        return quantile_from_hist(self.core.ledger.days_hist.sum(axis=0), 0.5)

    @property
    def cost_yuan(self) -> float:
        """Yuan spent so far."""
        return float(self.core.cost_yuan)

    def backlog_by_level(self) -> dict[str, int]:
        """Queued problems at each handling level."""
        pool = self.core.problems
        counts = np.bincount(pool.level[pool.level >= 0], minlength=len(LEVELS))
        return {lvl: int(c) for lvl, c in zip(LEVELS, counts)}


# ---- batch runs across Mesa versions -----------------------------------------------------------
def batch_run_takes_rng() -> bool:
    """True when ``mesa.batch_run`` has the ``rng=`` keyword (Mesa >= 3.4; 3.3 has ``iterations=``)."""
    return "rng" in inspect.signature(mesa.batch_run).parameters


def batch_run(
    parameters: Mapping[str, Any | Iterable[Any]],
    rng: Sequence[Any],
    *,
    max_steps: int = 365,
    number_processes: int | None = 1,
    data_collection_period: int = -1,
    display_progress: bool = False,
    model_cls: type[GovsimModel] = GovsimModel,
) -> list[dict[str, Any]]:
    """``mesa.batch_run`` over ``parameters`` x ``rng`` seeds, the same way on Mesa 3.3 and 3.4+.

    Mesa >= 3.4 takes the seeds as ``batch_run(rng=[...])`` and passes each to the model's
    ``rng``; Mesa 3.3 has no ``rng`` keyword (only ``iterations``, which repeats the same
    kwargs), so the seeds go in as a swept ``rng`` parameter, placed first so that runs come in
    the same order (seed-major) and ``iteration`` is renumbered as the seed's index, as 3.4+
    does. Every row then carries ``rng``, ``iteration`` and the ``seed`` reporter.

    Bound the runs with ``max_steps`` rather than the model's ``max_days``: both versions then
    report the state after ``max_steps`` days (3.3 runs one step more than it reports, 3.4+
    exactly ``max_steps``), and a row's ``Step`` equals its ``day``. A run stopped early by
    ``max_days`` is reported at its last day by 3.4+, but at the day before by 3.3, whose
    ``batch_run`` reads ``model_vars[steps - 1]``.
    """
    seeds = list(rng)
    if not seeds:
        raise ValueError("rng: give at least one seed")
    params = dict(parameters)
    if "rng" in params:
        raise ValueError("give the seeds as rng=..., not as a parameter")
    common = {"max_steps": max_steps, "number_processes": number_processes,
              "data_collection_period": data_collection_period, "display_progress": display_progress}
    if batch_run_takes_rng():
        return mesa.batch_run(model_cls, parameters=params, rng=seeds, **common)
    rows = mesa.batch_run(model_cls, parameters={"rng": seeds, **params}, **common)
    index = {repr(s): i for i, s in enumerate(seeds)}
    for row in rows:
        row["iteration"] = index[repr(row["rng"])]
    return rows


__all__ = [
    "MODEL_REPORTERS", "SMALL_OVERRIDES", "CoBuildingUnitAgent", "CommunityAgent", "GovsimModel",
    "PropertyFirmAgent", "ResidentView", "StreetOfficeAgent", "batch_run", "batch_run_takes_rng", "build_scenario",
    "default_scenario", "scenario_overrides",
]
