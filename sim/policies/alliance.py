"""alliance — the "1+N" big-community party alliance (1+N 大社区党建联盟, 000, Sanya Jiyang).

The community party organisation is the axis (轴心, the "1"); the co-building units around it
(共建单位: police station, hospital, university, market regulator, fire brigade, enterprises,
social organisations, the "N") sign a co-building agreement (共建协议书) and each names one
liaison (联络员). Mechanism:

* set-up: the first ``n_units`` units of each community join (000: Jiyang convenes its 7
  co-building units), minus the types whose ``unit_mix`` weight is 0; the weight scales a
  unit's resource list (资源清单, ``model.units.resources``: the police station alone lists 10
  items, legal advice, anti-fraud talks, fire safety). Per community and category the allied
  resources ``R`` give a coverage ``1 - exp(-R)`` (one unit offering a category fully covers
  63% of it, three units 95%);
* support: community staff solve problems of covered categories more often, their success
  multiplier rising by ``success_boost * coverage`` (the units' expertise and venues back the
  community, instead of the community "singing a solo", 唱独角戏);
* in-service members (双报到): each unit registers ``n_in_service_per_unit`` working party
  members with the community; each volunteers with chance ``rate_in_service_volunteer`` a day
  and a turn serves ``n_residents_per_turn`` residents of the community (they take part);
* events (活动联办): each unit holds ``events_per_unit_per_month`` events, added to the
  community's event rate (the core draws and costs them; 000: 235 events reached 30,000+);
* three lists and two-way claiming (三张清单, 双向认领): every ``dur_needs_list`` days (000: at
  the start of every month) the needs list (需求清单) is the open reported problems of each
  community by category; for each (community, category) with needs a unit claims a project
  (项目清单) with chance ``p_claim * coverage``; a project solves up to
  ``n_problems_per_project`` of that community's oldest open problems of that category (solved
  at the community level, flag ``alliance``);
* joint meetings (联席会议): every ``dur_meeting`` days (000: quarterly) the community and its
  units take up the problems of its residents stuck at the street, departments or city
  ("共同解决堵点难点问题"); each is solved with chance ``p_meeting_resolve * coverage``.

Counters (000's figures to compare, for 5 big communities of 447,300 residents): projects_claimed
(31), disputes_mediated (dispute problems solved by projects or meetings, 25), matters_done (all
problems so solved, 545), events (235 in one big community), meeting_resolved, in_service_turns,
units_allied. Cost: the liaisons' time and the units' project materials per allied unit (both
assumptions); events are costed by the core through the event rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from sim.agents.resident import participate
from sim.config import paramtools
from sim.config.params import DAYS_PER_MONTH
from sim.config.paramtools import Params, Vector, param, vector_param
from sim.config.taxonomy import CATEGORIES, COMMUNITY, N_CATEGORIES, STREET
from sim.core.phases import Policy
from sim.core.world import UNIT_TYPES
from sim.errors import ParameterError
from sim.policies import register

if TYPE_CHECKING:
    from sim.core.model import Model
    from sim.core.scenario import Scenario

_DISPUTE = CATEGORIES.index("dispute")


@dataclass(frozen=True)
class UnitMix(Vector):
    """One weight per co-building unit type (0 keeps the type out of the alliance)."""

    names: ClassVar[tuple[str, ...]] = UNIT_TYPES
    police: float = 1.0
    hospital: float = 1.0
    university: float = 1.0
    market_regulator: float = 1.0
    fire_brigade: float = 1.0
    enterprise: float = 1.0
    social_org: float = 1.0


@dataclass(frozen=True)
class AllianceParams(Params):
    """Parameters of the 1+N big-community party alliance (000)."""

    n_units: int = param(7, lo=0, hi=100, unit="units per community",
                         source="000: the Jiyang big community convenes its 7 co-building units")
    unit_mix: UnitMix = vector_param(
        UnitMix, (1, 1, 1, 1, 1, 1, 1), lo=0.0, hi=10.0, unit="weight on the unit's resource list",
        plausible=(0.5, 1.5),
        source="000: police station, hospitals, university, market regulator, fire brigade, enterprises, "
               "social organisations; equal weights an assumption")
    success_boost: float = param(0.3, lo=0.0, hi=3.0, unit="relative rise of community success at full coverage",
                                 plausible=(0.1, 0.6),
                                 source="assumption: the units' resources back the community (000 资源清单)")
    n_in_service_per_unit: float = param(5.0, lo=0.0, hi=1000.0, unit="members per unit",
                                         plausible=(2.0, 10.0),
                                         source="assumption (000: 双报到, in-service members form volunteer teams)")
    rate_in_service_volunteer: float = param(0.02, lo=0.0, hi=1.0, unit="/day per member",
                                             plausible=(0.01, 0.04),
                                             source="assumption: as resident party members (party.rate_volunteer)")
    n_residents_per_turn: float = param(3.0, lo=0.0, hi=100.0, unit="residents served per turn",
                                        plausible=(1.0, 6.0), source="assumption (000: 尊老爱幼、文明引导)")
    events_per_unit_per_month: float = param(
        0.2, lo=0.0, hi=30.0, unit="events/month per unit",
        plausible=(0.1, 0.4),
        source="000: 235 events reached 30,000+ in one big community (~2.6 a year per 1,000 residents; "
               "per unit for a 5,000-resident community with 7 units an assumption)")
    dur_needs_list: int = param(30, lo=1, unit="days", source="000: needs collected at the start of every month")
    p_claim: float = param(0.3, lo=0.0, hi=1.0, unit="probability per needs list at full coverage",
                           plausible=(0.15, 0.5), source="assumption (000: 31 service projects claimed)")
    n_problems_per_project: int = param(15, lo=0, hi=10_000, unit="problems",
                                        plausible=(10, 20),
                                        source="000: 545 matters done for 31 projects (~17 each, some by meetings); "
                                               "assumption")
    dur_meeting: int = param(90, lo=1, unit="days", source="000: joint meeting of the 7 units every quarter")
    p_meeting_resolve: float = param(0.3, lo=0.0, hi=1.0, unit="probability per meeting at full coverage",
                                     plausible=(0.15, 0.5), source="assumption (000: 共同解决堵点难点问题)")
    cost_liaison_per_unit_per_month: float = param(
        500.0, lo=0.0, unit="yuan/month", plausible=(250.0, 1000.0),
        source="assumption: part of a cadre's time (000: one liaison per unit)")
    cost_materials_per_unit_per_year: float = param(10_000.0, lo=0.0, unit="yuan/year",
                                                    plausible=(5000.0, 20000.0),
                                                    source="assumption: materials of claimed projects")


@register
class Alliance(Policy):
    """Allied co-building units back the community: resources, volunteers, events, projects, meetings."""

    name = "alliance"
    counters = ("units_allied", "projects_claimed", "meetings", "project_resolved", "meeting_resolved",
                "matters_done", "disputes_mediated", "events", "in_service_turns")
    Params = AllianceParams
    params: AllianceParams

    @classmethod
    def check(cls, params: paramtools.Params, scenario: Scenario) -> None:
        """The first ``n_units`` of the world's units join: no more than it has can."""
        assert isinstance(params, AllianceParams)
        available = scenario.world.n_cobuilding_units_per_community
        n_units = params.n_units
        if n_units > available:
            raise ParameterError("n_units", f"{n_units} units cannot join: the world has {available} co-building "
                                 f"units per community (world.n_cobuilding_units_per_community); "
                                 f"allowed: 0..{available}")

    def setup(self, model: Model) -> None:
        """Ally the chosen units, turn their resources into capacity and success, register in-service members."""
        p, units, w = self.params, model.units, model.world
        n_comm = w.n_communities
        # position of each unit within its community (units of a community in model order)
        order = np.argsort(units.community, kind="stable")
        sorted_comm = units.community[order]
        rank = np.empty(units.n, dtype=np.int64)
        rank[order] = np.arange(units.n) - np.searchsorted(sorted_comm, sorted_comm)
        weight = p.unit_mix.array(np.float32)[units.unit_type]
        mine = (rank < p.n_units) & (weight > 0)
        self.allied = mine
        units.allied |= mine
        units.resources[mine] *= weight[mine, None]
        self.n_allied = np.bincount(units.community[mine], minlength=n_comm).astype(np.float64)
        #: share of each (community, category) the allied units' resources cover
        self.coverage = (1.0 - np.exp(-units.community_resources(n_comm).astype(np.float64)))
        model.handlers.mult[COMMUNITY] *= (1.0 + p.success_boost * self.coverage).astype(np.float32)
        self.in_service = np.rint(self.n_allied * p.n_in_service_per_unit).astype(np.int64)
        model.party.add_in_service(self.in_service)
        self.extra_events = self.n_allied * p.events_per_unit_per_month / DAYS_PER_MONTH
        model.communities.event_rate = (model.communities.event_rate + self.extra_events).astype(np.float32)
        model.count(self.name, "units_allied", float(mine.sum()))

    # ---- monthly needs list and two-way claiming; quarterly joint meeting -----------------------
    def on_handle(self, model: Model, t: int) -> None:
        """Joint meetings and project claims on their schedules."""
        d = self.days(t)
        if d == 0 or not self.allied.any():
            return
        if d % self.params.dur_meeting == 0:
            self._joint_meeting(model, t)
        if d % self.params.dur_needs_list == 0:
            self._claim_projects(model, t)

    def _claim_projects(self, model: Model, t: int) -> None:
        p, pool = self.params, model.problems
        q = model.open_rows(queued=True)
        key = model.world.res_community[pool.res[q]].astype(np.int64) * N_CATEGORIES + pool.cat[q]
        needs = np.bincount(key, minlength=self.coverage.size)
        draw = self.rng.random(self.coverage.size)  # one draw per (community, category) every list
        claimed = (needs > 0) & (draw < p.p_claim * self.coverage.ravel())
        n_claimed = int(claimed.sum())
        if n_claimed == 0:
            return
        model.count(self.name, "projects_claimed", n_claimed)
        hit = claimed[key]
        rows, k = q[hit], key[hit]
        order = np.lexsort((rows, pool.t_arise[rows], k))  # oldest first within each need
        rows, k = rows[order], k[order]
        rank = np.arange(k.size) - np.searchsorted(k, k)
        self._close(model, rows[rank < p.n_problems_per_project], t, "project_resolved")

    def _joint_meeting(self, model: Model, t: int) -> None:
        pool = model.problems
        q = model.open_rows(queued=True)
        q = q[pool.level[q] >= STREET]
        comm = model.world.res_community[pool.res[q]]
        p = self.params.p_meeting_resolve * self.coverage[comm, pool.cat[q]]
        model.count(self.name, "meetings", float(self.n_allied.astype(bool).sum()))
        self._close(model, q[self.rng.random(q.size) < p], t, "meeting_resolved")

    def _close(self, model: Model, rows: np.ndarray, t: int, how: str) -> None:
        """Solve problems through the alliance: at the community, flagged ``alliance``."""
        if rows.size == 0:
            return
        pool = model.problems
        rows = model.resolve_by(rows, "alliance", t)
        model.count(self.name, how, rows.size)
        model.count(self.name, "matters_done", rows.size)
        model.count(self.name, "disputes_mediated", int((pool.cat[rows] == _DISPUTE).sum()))

    # ---- in-service members volunteer; the alliance's share of today's events -------------------
    def on_participate(self, model: Model, t: int) -> None:
        """Count the alliance's extra events; in-service members volunteer."""
        p, w = self.params, model.world
        total_rate = float(model.communities.event_rate.sum())
        if total_rate > 0 and model.events_today:
            model.count(self.name, "events", model.events_today * float(self.extra_events.sum()) / total_rate)
        if p.rate_in_service_volunteer <= 0 or not self.in_service.any():
            return
        turns = self.rng.binomial(self.in_service, p.rate_in_service_volunteer)
        n_turns = int(turns.sum())
        if n_turns == 0:
            return
        model.count(self.name, "in_service_turns", n_turns)
        model.volunteer_hours += n_turns * model.scenario.residents.dur_volunteer_hours
        served = self.rng.poisson(turns * p.n_residents_per_turn)
        comm = np.repeat(np.arange(w.n_communities), served)
        ids = w.community_start[comm] + (self.rng.random(comm.size) * w.community_size[comm]).astype(np.int64)
        participate(model.residents, ids, model.scenario.residents)

    def cost_per_day(self, model: Model) -> float:
        """Liaisons and materials of the allied units."""
        p = self.params
        per_unit_year = 12.0 * p.cost_liaison_per_unit_per_month + p.cost_materials_per_unit_per_year
        return float(self.allied.sum()) * per_unit_year / 365.0


__all__ = ["Alliance", "AllianceParams", "UnitMix"]
