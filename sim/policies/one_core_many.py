"""one_core_many — 党建引领 一核多元 "party building leads, one core and many actors" (004, Luohu).

**A proposal, not an evaluated reform**: 004 is an essay by two street officials (探索构建…模式,
"exploring how to build…", 创新社区治理模式设想 "an envisaged model"); it reports no outcomes.
The scenario shows what the proposal would do if it worked as this model assumes.

The community party organisation is the core (一核); many actors (多元: compound party
branches, owners' committees, property firms, the police post, the market regulator, social
organisations, residents) take part. Each lever below has a switch so that scenarios can
compare them one by one.

Three downward moves (三个下沉, ``downward_moves``):

* a street leader is the community's first secretary (街道领导挂点兼任社区党委第一书记): the
  community is ``first_secretary_boost`` times as successful in every category;
* street staff go down to the communities at least two half-days a week (街道机关力量…每周不少于
  两个半天进驻社区): each community gains ``n_street_staff_per_community`` x
  ``half_days_per_week`` / 7 x 0.5 staff-days of handling effort a day (at the community staff's
  effort per day) and the street loses ``share_street_handling`` of that time from its own
  handling capacity (office staff spend only part of their day on residents' problems); their
  time is paid (``costs.pay_street_staff``, cost item ``street_staff``). With ratings on,
  ``share_staff_to_red`` of the time goes to communities in proportion to their red compounds;
* community committee members lead compound party branches (社区党委委员兼任小区党支部书记): each
  latent problem is found by the branch with daily chance ``p_branch_find`` (finder "party_link").

Seven teams (七支队伍: counselling, volunteers, fire, livelihood, environment, market
supervision, culture and sport; ``seven_teams``): volunteering rises ``teams_volunteer_mult``
times (``party.volunteer_mult``); grid workers and the community are ``1 + teams_gain[category]``
times as successful where a team helps (counselling: disputes; fire and market supervision:
safety; livelihood: care; environment: sanitation); the culture team makes community events
``teams_event_mult`` times as frequent.

Red, yellow and green ratings (红黄绿三级挂牌, ``ratings``) rate compounds' governance, not a
backlog: every ``dur_rating`` days the street and the police rate every compound from its
outcomes over the last period — unresolved problems per resident, complaints (overdue
problems) per resident and dissatisfaction (1 − mean satisfaction), each relative to the area's
mean, equal weights; the worst ``share_red`` are rated red and the best ``share_red`` green
(counters ``red_ratings``, ``green_ratings``). The rating steers the street's attention and
resources until the next one: red compounds' problems are served first (``red_priority_days``
of queue priority), their grid workers and property firm are ``red_boost`` times as
successful (a street department's party branch pairs with the compound, 机关支部与小区支部结对子),
and the street staff's time in communities follows the red compounds (above).

Smart sensors (智能监管预警平台 for power, gas and flooding, 用电、用气、水浸, ``sensors``): each
latent safety problem is found with daily chance ``p_sensor_find`` (finder "policy", flag
``sensor``), and a share ``p_prevent_major_safety`` of major safety problems is prevented
(隐患于未然). The core prevents by compound and category, not severity, so the share is spread
over all safety problems so as to prevent the same expected number. Cost per household.

Admission list (社区工作事项准入制度, ``admission_list``): departments may push at most
``admin_cap`` administrative tasks a day onto a community (``communities.admin_cap``, capping
``community.rate_admin_tasks``); the effort freed goes to residents' problems. Released tasks
are not a cost or a saving (the departments keep their statutory duties).

Costs (block 004 of :mod:`sim.config.costs`, :meth:`cost_items`): ``street_staff`` (the
sent-down staff's pay for the time they spend in communities), ``teams``, ``sensors``.

Outcome counters: ``red_ratings``, ``sensor_found``, ``branch_found``, and, sensors on or off,
``safety_found``, ``safety_found_early`` (within a day of arising) and ``safety_days_to_find``.

Not modelled here: the "six-in-one" party organisations (六位一体) beyond the compound branches;
entrusted property management of old compounds (委托授权物业管理机构: see ``four_empowerments``'
community-run property); the canteen, schools and other service projects of 004's last part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sim.config.params import DAYS_PER_MONTH
from sim.config.paramtools import Params, param, vector_param
from sim.config.taxonomy import (
    CATEGORIES,
    COMMUNITY,
    FLAG_BIT,
    GRID,
    LATENT,
    PARTY_LINK,
    POLICY_FIND,
    PROPERTY,
    QUEUED,
    SEVERITIES,
)
from sim.config.vectors import ByCategory
from sim.core.phases import Policy
from sim.policies import register

if TYPE_CHECKING:
    from sim.core.model import Model

_SAFETY = CATEGORIES.index("safety")
_MAJOR = SEVERITIES.index("major")


@dataclass(frozen=True)
class OneCoreManyParams(Params):
    """Parameters of the "one core, many actors" model (004)."""

    # three downward moves
    downward_moves: bool = param(True, source="004: 三个下沉")
    first_secretary_boost: float = param(1.1, lo=1.0, hi=3.0, unit="success multiplier of the community",
                                         plausible=(1.0, 1.25),
                                         source="assumption (004: a street leader is the community's first secretary)")
    n_street_staff_per_community: float = param(4.0, lo=0.0, hi=100.0, unit="street staff",
                                                plausible=(2.0, 8.0), source="assumption (004: 街道机关力量下沉)")
    half_days_per_week: float = param(2.0, lo=0.0, hi=14.0, unit="half-days a week",
                                      source="004: at least two half-days a week in the community")
    share_street_handling: float = param(0.25, lo=0.0, hi=1.0, unit="share of sent-down time taken from the "
                                         "street's handling", plausible=(0.1, 0.5),
                                         source="assumption: office (机关) staff spend part of their day on "
                                                "residents' problems")
    share_staff_to_red: float = param(0.5, lo=0.0, hi=1.0, unit="share of sent-down time steered to red compounds",
                                      plausible=(0.25, 0.75),
                                      source="assumption (004: ratings; 挂点小区 cadres posted to troubled compounds)")
    p_branch_find: float = param(0.02, lo=0.0, hi=1.0, unit="/day per latent problem",
                                 plausible=(0.01, 0.04),
                                 source="assumption (004: committee members lead compound party branches)")
    # seven teams
    seven_teams: bool = param(True, source="004: 七支队伍")
    teams_volunteer_mult: float = param(1.5, lo=1.0, hi=10.0, unit="multiplier of volunteering",
                                        plausible=(1.2, 2.0), source="assumption (004: 义工队 and retired party members)")
    teams_gain: ByCategory = vector_param(
        ByCategory, (0.1, 0.0, 0.1, 0.1, 0.1, 0.0, 0.0, 0.0), lo=0.0, hi=2.0,
        unit="added success multiplier at grid and community (0.1: x1.1)",
        plausible=(0.5, 2.0),
        source="assumption (004: counselling, fire, livelihood, environment, market supervision teams)")
    teams_event_mult: float = param(1.5, lo=1.0, hi=10.0, unit="multiplier of community events",
                                    plausible=(1.2, 2.0), source="assumption (004: culture and sport team, 文体服务队)")
    teams_recognition: float = param(0.5, lo=0.0, hi=1.0, unit="recognition of volunteers (0 none, 1 full)",
                                     plausible=(0.25, 1.0),
                                     source="assumption (004: organised teams name and honour volunteers)")
    # red / yellow / green ratings
    ratings: bool = param(True, source="004: 红、黄、绿三级挂牌警示机制")
    dur_rating: int = param(90, lo=1, unit="days", plausible=(60, 120), source="assumption: quarterly")
    share_red: float = param(1 / 3, lo=0.0, hi=0.5, unit="share of compounds rated red (and as many green)",
                             plausible=(0.25, 0.4), source="assumption (004: 好、中、差 three grades)")
    red_priority_days: int = param(14, lo=0, hi=3650, unit="days of queue priority", plausible=(7, 30),
                                   source="assumption")
    red_boost: float = param(1.2, lo=1.0, hi=3.0, unit="success multiplier of grid workers and firm",
                             plausible=(1.05, 1.4),
                             source="assumption (004: 机关支部与小区支部结对子, cadres posted to the compound)")
    # smart sensors
    sensors: bool = param(True, source="004: 智能监管预警平台 for power, gas and flooding")
    p_sensor_find: float = param(0.5, lo=0.0, hi=1.0, unit="/day per latent safety problem",
                                 plausible=(0.3, 0.8), source="assumption (004: 24-hour monitoring, warning and alarm)")
    p_prevent_major_safety: float = param(0.5, lo=0.0, hi=1.0, unit="share of major safety problems prevented",
                                          plausible=(0.25, 0.7), source="assumption (004: 隐患于未然)")
    # admission list
    admission_list: bool = param(True, source="004: 社区工作事项准入制度")
    admin_cap: float = param(4.0, lo=0.0, unit="administrative tasks admitted per community per day",
                             plausible=(2.0, 6.0),
                             source="assumption (004: departments may not push statutory duties onto communities)")


@register
class OneCoreMany(Policy):
    """Downward moves, seven teams, compound ratings, sensors and an admission list."""

    name = "one_core_many"
    counters = ("sensor_found", "branch_found", "safety_found", "safety_found_early", "safety_days_to_find",
                "red_ratings", "green_ratings")
    Params = OneCoreManyParams
    params: OneCoreManyParams

    def setup(self, model: Model) -> None:
        """Set up the switched-on parts: secretaries, staff from the street, teams, sensors, admission list."""
        p = self.params
        w, comm = model.world, model.communities
        self._red = np.zeros(w.n_compounds, dtype=bool)
        self._red_grids = np.empty(0, dtype=np.int64)
        self._red_firms = np.empty(0, dtype=np.int64)
        self._priority = np.zeros(w.n_compounds, dtype=np.int32)
        self._backlog = np.zeros(w.n_compounds, dtype=np.float64)
        self._complaints = np.zeros(w.n_compounds, dtype=np.float64)
        self._staff = np.zeros(w.n_communities, dtype=np.float32)  # sent-down staff-days a day per community
        self._staff_days = 0.0
        if p.downward_moves:
            model.handlers.boost(COMMUNITY, p.first_secretary_boost)
            self._staff_days = p.n_street_staff_per_community * p.half_days_per_week * 0.5 / 7.0
            self._send_staff(model, np.full(w.n_communities, self._staff_days, dtype=np.float32))
            taken = np.bincount(w.community_street, minlength=w.n_streets) * self._staff_days
            model.streets.n_staff_in_communities = model.streets.n_staff_in_communities + taken.astype(np.float32)
            lost = taken * p.share_street_handling * comm.capacity_per_staff
            model.streets.capacity = np.maximum(model.streets.capacity - lost, 0.0).astype(np.float32)
        if p.seven_teams:
            model.party.volunteer_mult = model.party.volunteer_mult * np.float32(p.teams_volunteer_mult)
            model.party.recognition = np.maximum(model.party.recognition, np.float32(p.teams_recognition))
            model.handlers.boost(COMMUNITY, 1 + p.teams_gain.array())
            model.handlers.boost(GRID, 1 + p.teams_gain.array())
            comm.event_rate = comm.event_rate * np.float32(p.teams_event_mult)
        if p.sensors and p.p_prevent_major_safety > 0:
            sev = model.scenario.problems.severity_weights.matrix()[_SAFETY]
            share_major = float(sev[_MAJOR] / sev.sum())
            extra_p = np.float32(p.p_prevent_major_safety * share_major)
            model.p_prevent[:, _SAFETY] = 1.0 - (1.0 - model.p_prevent[:, _SAFETY]) * (1.0 - extra_p)
        if p.admission_list:
            comm.admin_cap = np.minimum(comm.admin_cap, np.float32(p.admin_cap))

    # ---- daily hooks ------------------------------------------------------------------------
    def on_plan(self, model: Model, t: int) -> None:
        """Rate compounds on schedule."""
        p = self.params
        if p.ratings and self.days(t) > 0 and self.days(t) % p.dur_rating == 0:
            self._rate(model, t)

    def on_find(self, model: Model, t: int) -> None:
        """Sensors find safety problems."""
        p, pool = self.params, model.problems
        if p.sensors and p.p_sensor_find > 0:
            rows = np.flatnonzero((pool.status == LATENT) & (pool.t_found < 0) & (pool.cat == _SAFETY))
            hit = rows[self.rng.random(rows.size) < p.p_sensor_find]
            model.mark_found(hit, POLICY_FIND, t)
            pool.flags[hit] |= FLAG_BIT["sensor"]
            model.count(self.name, "sensor_found", hit.size)
        if p.downward_moves and p.p_branch_find > 0:
            rows = np.flatnonzero((pool.status == LATENT) & (pool.t_found < 0))
            hit = rows[self.rng.random(rows.size) < p.p_branch_find]
            model.mark_found(hit, PARTY_LINK, t)
            model.count(self.name, "branch_found", hit.size)

    def on_route(self, model: Model, t: int) -> None:
        # how early safety problems are found, sensors or not: days from arising to being found,
        # and how many within a day (early)
        """Count how early safety problems are found."""
        pool = model.problems
        rows = np.flatnonzero((pool.t_found == t) & (pool.status == QUEUED) & (pool.cat == _SAFETY))
        if rows.size:
            delay = t - pool.t_arise[rows]
            model.count(self.name, "safety_found", rows.size)
            model.count(self.name, "safety_found_early", int((delay <= 1).sum()))
            model.count(self.name, "safety_days_to_find", int(delay.sum()))

    def on_record(self, model: Model, t: int) -> None:
        """Accumulate each compound's unresolved and overdue (complained-of) problems for the next rating."""
        if not self.params.ratings:
            return
        pool, n = model.problems, self._backlog.size
        rows = np.flatnonzero(pool.status == QUEUED)
        comp = model.world.res_compound[pool.res[rows]]
        self._backlog += np.bincount(comp, minlength=n)
        overdue = (t - pool.t_found[rows]) > model.expected_wait[pool.sev[rows]]
        self._complaints += np.bincount(comp[overdue], minlength=n)

    def scores(self, model: Model) -> np.ndarray:
        """Each compound's governance score (higher is worse) from the period's outcomes.

        Unresolved problems per resident, complaints (overdue problems) per resident and
        dissatisfaction (1 − mean satisfaction), each over its mean across compounds, summed.
        """
        w = model.world
        size = np.maximum(w.compound_size, 1).astype(np.float64)
        sat = w.compound_mean(model.residents.satisfaction)
        parts = (self._backlog / size, self._complaints / size, 1.0 - sat)
        return np.sum([x / max(float(x.mean()), 1e-12) for x in parts], axis=0)

    def _send_staff(self, model: Model, staff: np.ndarray) -> None:
        """Put ``staff`` sent-down staff-days a day in each community (replacing this policy's last allocation)."""
        cap = np.float32(model.communities.capacity_per_staff)
        model.handlers.add_capacity(COMMUNITY, (staff - self._staff) * cap)
        self._staff = staff.astype(np.float32)

    def _rate(self, model: Model, t: int) -> None:
        """Rate compounds red / yellow / green from their outcomes; steer priority, success and staff."""
        p, w = self.params, model.world
        score = self.scores(model)
        self._backlog[:] = 0.0
        self._complaints[:] = 0.0
        n_red = int(round(p.share_red * w.n_compounds))
        order = np.lexsort((self.rng.random(w.n_compounds), -score))  # worst first, ties broken at random
        red = np.zeros(w.n_compounds, dtype=bool)
        red[order[:n_red]] = True
        model.count(self.name, "red_ratings", n_red)
        model.count(self.name, "green_ratings", n_red)
        if p.downward_moves:
            n_red_comm = np.bincount(w.compound_community[red], minlength=w.n_communities).astype(np.float64)
            share = n_red_comm / max(n_red_comm.sum(), 1.0) if n_red else np.full(w.n_communities, 1 / w.n_communities)
            total = self._staff_days * w.n_communities
            staff = total * ((1 - p.share_staff_to_red) / w.n_communities + p.share_staff_to_red * share)
            self._send_staff(model, staff.astype(np.float32))
        # queue priority: replace this policy's previous contribution
        new_prio = np.where(red, p.red_priority_days, 0).astype(np.int32)
        model.priority_days += new_prio - self._priority
        self._priority = new_prio
        # success boost of the red compounds' grid workers and firm: undo the last, apply the new
        boost = np.float32(p.red_boost)
        model.handlers.mult[GRID][self._red_grids] /= boost
        model.handlers.mult[PROPERTY][self._red_firms] /= boost
        self._red_grids = np.flatnonzero(red[model.grids.grid_compound])
        firms = model.compound_firm[red]
        self._red_firms = firms[firms >= 0].astype(np.int64)
        model.handlers.mult[GRID][self._red_grids] *= boost
        model.handlers.mult[PROPERTY][self._red_firms] *= boost
        self._red = red

    def cost_items(self, model: Model) -> dict[str, float]:
        """Yuan a day: the sent-down street staff's pay for their time in communities, teams, sensors.

        The admission list's released tasks are neither a cost nor a saving.
        """
        p, c, w = self.params, model.scenario.costs, model.world
        items: dict[str, float] = {}
        if p.downward_moves and self._staff_days > 0:
            items["street_staff"] = float(self._staff.sum()) * c.pay_street_staff / DAYS_PER_MONTH
        if p.seven_teams:
            items["teams"] = c.teams_cost_per_community_per_year * w.n_communities / 365.0
        if p.sensors:
            items["sensors"] = c.sensor_cost_per_household_per_year * w.n_households / 365.0
        return items


__all__ = ["OneCoreMany", "OneCoreManyParams"]
