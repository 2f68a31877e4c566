"""alliance — the "1+N" big-community party alliance (1+N 大社区党建联盟, 000, Sanya Jiyang).

The big community's party organisation is the axis (轴心, the "1"); the co-building units around it
(共建单位: police station, hospital, university, market regulator, fire brigade, enterprises,
social organisations, the "N") sign a co-building agreement and each names one liaison. A big
community (大社区, ``world.n_communities_per_big_community`` communities) shares its units and
runs one party-mass service centre (党群服务中心). Mechanism (docs/model.md §8.2):

* set-up: the first ``n_units`` units stationed in each big community join (000: 7), minus the
  types whose ``unit_mix`` weight is 0; the weight scales a unit's resource list (资源清单:
  categories it can help with, and ``hours_per_unit_per_month`` staff hours it can give);
* units decide: each unit has a willingness ``w`` in [0, 1]; it offers ``w`` times its hours
  each month and its weight in the support, events and meetings; ``w`` learns from what the
  unit experiences (Bush-Mosteller): claims answered or ignored, needs met by its hours, its
  hours' cost and burnout, recognition at the quarterly meetings. Below ``w_leave`` it leaves;
* three lists and two-way claiming (三张清单, 双向认领), every ``dur_needs_list`` days: the needs
  list is the big community's open problems by category; each unit's claim is answered by the
  big community with chance ``p_answer``; an answered unit spends its offered hours, split by
  its resource list, on the oldest needs of its categories, each problem taking the core's
  effort (``model.handlers.effort``) in hours; a unit's first work in a category is a project;
* joint meetings (联席会议, every ``dur_meeting`` days, on a needs-list day): stuck problems
  (street, departments, city) of the big community are put first on the needs list with chance
  ``p_meeting_resolve * coverage``; units that worked in the quarter are recognised with chance
  ``p_recognise``;
* support: community staff succeed more often, by ``success_boost * coverage``, the coverage
  ``1 - exp(-sum w * resources)`` of the big community's units (advice and venues);
* the service centre ("one-stop"): each day its staff's hours for residents' matters solve the
  big community's oldest administrative problems (social assistance, social security,
  registration: one window instead of running between departments) at the community level or
  above, each taking its effort in hours;
* in-service members (双报到) volunteer and serve residents; units hold events by willingness.

Counters: projects_claimed (000: 31), matters_done (545), disputes_mediated (25), units_allied,
units_left, claims, claims_ignored, hours_offered, unit_hours (the units' own cost, valued in
unit_hours_yuan, kept out of cost_yuan: the government does not pay it), meetings,
units_recognised, project_resolved, meeting_resolved, centre_matters, centre_hours, events,
in_service_turns. Cost items (block 000 of the cost table): liaison, materials, centre_staff,
centre_venue.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from sim.agents.cobuilding_unit import month_payoff, reinforce
from sim.agents.resident import participate
from sim.config import paramtools
from sim.config.params import DAYS_PER_MONTH
from sim.config.taxonomy import CATEGORIES, COMMUNITY, N_CATEGORIES, STREET
from sim.core.kernels import libm
from sim.core.phases import Policy
from sim.errors import ParameterError
from sim.policies import register
from sim.policies.alliance_params import AllianceParams, UnitMix

if TYPE_CHECKING:
    from sim.core.model import Model
    from sim.core.scenario import Scenario

_DISPUTE = CATEGORIES.index("dispute")
_ADMIN = CATEGORIES.index("admin")


@register
class Alliance(Policy):
    """Co-building units shared by a big community decide how much to give; a service centre; meetings."""

    name = "alliance"
    counters = ("units_allied", "units_left", "claims", "claims_ignored", "hours_offered", "unit_hours",
                "unit_hours_yuan", "projects_claimed", "meetings", "units_recognised", "project_resolved",
                "meeting_resolved", "matters_done", "disputes_mediated", "centre_matters", "centre_hours", "events",
                "in_service_turns")
    Params = AllianceParams
    params: AllianceParams

    @classmethod
    def check(cls, params: paramtools.Params, scenario: Scenario) -> None:
        """No more units join than a big community has; meetings fall on needs-list days."""
        assert isinstance(params, AllianceParams)
        w = scenario.world
        n_comm = w.n_streets * w.n_communities_per_street
        k = min(w.n_communities_per_big_community, n_comm)
        smallest = n_comm % k or k
        available = smallest * w.n_cobuilding_units_per_community
        if params.n_units > available:
            raise ParameterError("n_units", f"{params.n_units} units cannot join: the smallest big community has "
                                 f"{available} co-building units (world.n_cobuilding_units_per_community x its "
                                 f"communities); allowed: 0..{available}")
        if params.dur_meeting % params.dur_needs_list:
            raise ParameterError("dur_meeting", f"{params.dur_meeting} days: a joint meeting puts stuck problems on "
                                 f"a needs list, so it must fall on one (a multiple of dur_needs_list = "
                                 f"{params.dur_needs_list})")

    def setup(self, model: Model) -> None:
        """Ally the chosen units of each big community; open its service centre; register in-service members."""
        p, units, w = self.params, model.units, model.world
        big = w.community_big[units.community]
        order = np.argsort(big, kind="stable")
        rank = np.empty(units.n, dtype=np.int64)
        rank[order] = np.arange(units.n) - np.searchsorted(big[order], big[order])
        weight = p.unit_mix.array(np.float32)[units.unit_type]
        mine = (rank < p.n_units) & (weight > 0)
        units.allied |= mine
        units.resources[mine] *= weight[mine, None]
        self.ids = np.flatnonzero(mine)
        self.unit_big = big[self.ids]
        self.res = units.resources[self.ids].astype(np.float64)
        total = self.res.sum(axis=1, keepdims=True)
        self.share = np.divide(self.res, total, out=np.zeros_like(self.res), where=total > 0)
        self.w = np.full(self.ids.size, p.w_initial)
        self.active = np.ones(self.ids.size, dtype=bool)
        self.quarter_hours = np.zeros(self.ids.size)
        self.projects = np.zeros((self.ids.size, N_CATEGORIES), dtype=bool)
        n_big = w.n_big_communities
        big_size = np.bincount(w.community_big, weights=w.community_size, minlength=n_big)
        self.size_share = w.community_size / big_size[w.community_big]
        has_units = np.bincount(self.unit_big, minlength=n_big) > 0
        #: staff of each big community's service centre, and their daily hours for residents' matters
        self.centre_staff = np.where(has_units, p.n_centre_staff_per_10k * big_size / 1e4, 0.0)
        self.centre_hours = self.centre_staff * p.hours_per_staff_day * p.p_centre_time_on_matters
        #: hours the centre has put into the matter at the head of its queue (carried over from day to day)
        self.centre_carry = np.zeros(n_big)
        n_allied_big = np.bincount(self.unit_big, minlength=n_big).astype(np.float64)
        self.in_service = np.rint(n_allied_big[w.community_big] * self.size_share
                                  * p.n_in_service_per_unit).astype(np.int64)
        model.party.add_in_service(self.in_service)
        self.factor = np.ones((w.n_communities, N_CATEGORIES), dtype=np.float32)
        self.extra_events = np.zeros(w.n_communities)
        self._refresh(model)
        model.count(self.name, "units_allied", float(self.ids.size))

    def _refresh(self, model: Model) -> None:
        """Coverage, the community staff's support and the units' events from today's willingness."""
        p, w = self.params, model.world
        n_big = w.n_big_communities
        give = np.where(self.active, self.w, 0.0)
        strength = np.zeros((n_big, N_CATEGORIES))
        np.add.at(strength, self.unit_big, give[:, None] * self.res)
        #: share of each (big community, category) the units' willing resources cover
        self.coverage = 1.0 - libm.exp(-strength)  # the C library's exp, not numpy's CPU-dependent ufunc
        factor = (1.0 + p.success_boost * self.coverage[w.community_big]).astype(np.float32)
        model.handlers.mult[COMMUNITY] *= factor / self.factor
        self.factor = factor
        per_big = np.bincount(self.unit_big, weights=give, minlength=n_big) * p.events_per_unit_per_month
        extra = per_big[w.community_big] * self.size_share / DAYS_PER_MONTH
        # the rate moves by the change of the units' events; at zero the float32 sum's rounding could leave it a
        # hair below zero (no Poisson rate), so it is kept at or above zero
        rate = model.communities.event_rate + (extra - self.extra_events)
        model.communities.event_rate = np.maximum(rate, 0.0).astype(np.float32)
        self.extra_events = extra

    # ---- the service centre every day; joint meetings and needs lists on their schedules ---------------------
    def on_handle(self, model: Model, t: int) -> None:
        """The service centre's day; on schedule, the joint meeting, then the needs list and claiming."""
        d = self.days(t)
        if d == 0 or self.ids.size == 0:
            return
        self._centre(model, t)
        if d % self.params.dur_needs_list:
            return
        agenda = self._joint_meeting(model) if d % self.params.dur_meeting == 0 else np.empty(0, dtype=np.int64)
        self._claim(model, t, agenda)
        self._refresh(model)

    def _centre(self, model: Model, t: int) -> None:
        """One window: the centre's hours solve the oldest administrative problems of its big community.

        It serves in order of arrival while its hours last; the hours left when the next matter
        needs more are carried to the next day (work on a long matter goes on), lost when the
        queue is empty.
        """
        pool, w = model.problems, model.world
        q = model.open_rows(queued=True)
        q = q[(pool.cat[q] == _ADMIN) & (pool.level[q] >= COMMUNITY)]
        b = w.community_big[w.res_community[pool.res[q]]]
        order = np.lexsort((q, pool.t_arise[q], b))
        rows, b = q[order], b[order]
        hours = model.handlers.effort_of(pool.cat[rows], pool.sev[rows]).astype(np.float64) * self.params.hours_per_staff_day
        cum = np.cumsum(hours)
        first = np.searchsorted(b, b)
        available = self.centre_hours + self.centre_carry
        within = cum - (cum[first] - hours[first]) <= available[b] + 1e-9
        used = np.bincount(b[within], weights=hours[within], minlength=available.size)
        waiting = np.bincount(b[~within], minlength=available.size) > 0
        self.centre_carry = np.where(waiting, available - used, 0.0)
        closed = model.resolve_by(rows[within], "alliance", t, budget=math.inf)  # the centre's hours, above
        if closed.size:
            model.count(self.name, "centre_matters", closed.size)
            model.count(self.name, "centre_hours", float(used.sum()))

    def _joint_meeting(self, model: Model) -> np.ndarray:
        """Recognise units that worked this quarter; return the stuck problems put first on the needs list."""
        p, pool, w = self.params, model.problems, model.world
        model.count(self.name, "meetings", float(np.unique(self.unit_big[self.active]).size))
        worked = self.active & (self.quarter_hours > 0)
        recognised = worked & (self.rng.random(self.ids.size) < p.p_recognise)
        if recognised.any():
            model.count(self.name, "units_recognised", int(recognised.sum()))
            self.w[recognised] = reinforce(self.w[recognised], np.full(int(recognised.sum()), p.reward_recognition),
                                           p.rate_learn)
        self.quarter_hours[:] = 0.0
        q = model.open_rows(queued=True)
        q = q[pool.level[q] >= STREET]
        b = w.community_big[w.res_community[pool.res[q]]]
        chance = p.p_meeting_resolve * self.coverage[b, pool.cat[q]]
        return q[self.rng.random(q.size) < chance]

    def _claim(self, model: Model, t: int, agenda: np.ndarray) -> None:
        """Two-way claiming: answered units spend their offered hours on the oldest needs of their categories."""
        p, pool, w = self.params, model.problems, model.world
        q = model.open_rows(queued=True)
        key = w.community_big[w.res_community[pool.res[q]]].astype(np.int64) * N_CATEGORIES + pool.cat[q]
        later = ~np.isin(q, agenda)  # the meeting's agenda first, then the oldest
        order = np.lexsort((q, pool.t_arise[q], later, key))
        rows, key = q[order], key[order]
        self.hours = model.handlers.effort_of(pool.cat[rows], pool.sev[rows]).astype(np.float64) * p.hours_per_staff_day
        self.taken = np.zeros(rows.size, dtype=bool)
        cells = np.arange(w.n_big_communities * N_CATEGORIES)
        self.cell_lo, self.cell_hi = np.searchsorted(key, cells, side="left"), np.searchsorted(key, cells, side="right")
        offered = np.where(self.active, self.w * p.hours_per_unit_per_month, 0.0)
        answered = self.active & (self.rng.random(self.ids.size) < p.p_answer)
        used = np.zeros(self.ids.size)
        for u in self.rng.permutation(self.ids.size):
            if not answered[u]:
                continue
            cats = np.flatnonzero(self.share[u] > 0)
            cats = cats[np.argsort(-self.share[u, cats], kind="stable")]  # its strongest categories first
            # its hours by its resource list, then what is left to the same categories in that order
            for c in cats:
                used[u] += self._work(model, u, int(c), offered[u] * self.share[u, c])
            for c in cats:
                used[u] += self._work(model, u, int(c), offered[u] - used[u])
        self._book(model, answered, offered, used)
        done = rows[self.taken]
        on_agenda = np.isin(done, agenda)
        self._close(model, done[on_agenda], t, "meeting_resolved")
        self._close(model, done[~on_agenda], t, "project_resolved")

    def _work(self, model: Model, u: int, c: int, budget: float) -> float:
        """Unit ``u`` takes needs of category ``c`` in its big community, in list order, while its hours last.

        First fit: a problem that needs more hours than are left is passed over for later ones.
        Returns the hours spent; a unit's first work in a category is a project (项目清单).
        """
        cell = self.unit_big[u] * N_CATEGORIES + c
        free = self.cell_lo[cell] + np.flatnonzero(~self.taken[self.cell_lo[cell]:self.cell_hi[cell]])
        spent = 0.0
        while free.size and budget - spent > 0:
            free = free[self.hours[free] <= budget - spent + 1e-9]
            n = int(np.searchsorted(np.cumsum(self.hours[free]), budget - spent + 1e-9, side="right"))
            if n == 0:
                break
            self.taken[free[:n]] = True
            spent += float(self.hours[free[:n]].sum())
            free = free[n:]
        if spent > 0 and not self.projects[u, c]:
            self.projects[u, c] = True
            model.count(self.name, "projects_claimed")
        return spent

    def _book(self, model: Model, answered: np.ndarray, offered: np.ndarray, used: np.ndarray) -> None:
        """Count the month's claims and hours; the units learn from them; the unwilling leave."""
        p, act = self.params, self.active
        model.count(self.name, "claims", int(answered.sum()))
        model.count(self.name, "claims_ignored", int((act & ~answered).sum()))
        model.count(self.name, "hours_offered", float(offered.sum()))
        model.count(self.name, "unit_hours", float(used.sum()))
        model.count(self.name, "unit_hours_yuan", float(used.sum()) * model.scenario.costs.value_unit_hour)
        self.quarter_hours += used
        payoff = month_payoff(answered, used, offered, p.hours_per_unit_per_month, reward_answered=p.reward_answered,
                              penalty_ignored=p.penalty_ignored, penalty_cost=p.penalty_cost,
                              penalty_burnout=p.penalty_burnout, load_burnout=p.load_burnout)
        self.w[act] = reinforce(self.w[act], payoff[act], p.rate_learn)
        left = act & (self.w < p.w_leave)
        if left.any():
            self.active[left] = False
            model.units.allied[self.ids[left]] = False
            model.count(self.name, "units_left", int(left.sum()))

    def _close(self, model: Model, rows: np.ndarray, t: int, how: str) -> None:
        """Solve problems through the alliance: at the community, flagged ``alliance``."""
        if rows.size == 0:
            return
        pool = model.problems
        rows = model.resolve_by(rows, "alliance", t, budget=math.inf)  # the units' hours, spent in _work
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

    def cost_items(self, model: Model) -> dict[str, float]:
        """Today's government cost: liaisons and materials of the units still allied; the centres' staff and venues.

        The units' own hours are theirs, not the government's: counted apart (``unit_hours_yuan``).
        """
        c = model.scenario.costs
        n_active = float(self.active.sum())
        n_centres = float((self.centre_staff > 0).sum())
        items = {"liaison": n_active * c.cost_alliance_liaison / DAYS_PER_MONTH,
                 "materials": n_active * c.cost_alliance_materials / 365.0,
                 "centre_staff": float(self.centre_staff.sum()) * c.pay_centre_staff / DAYS_PER_MONTH,
                 "centre_venue": n_centres * c.cost_centre_venue / 365.0}
        return {k: v for k, v in items.items() if v}


__all__ = ["Alliance", "AllianceParams", "UnitMix"]
