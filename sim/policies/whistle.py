"""whistle — 吹哨报到 "the community blows the whistle, departments report for duty" (002, Bazhong).

Mechanism (docs/model.md §8.4):

* three sources, compilation into matters and screening (三条路径 … 落实专人对收集发现的问题进行
  梳理汇总，经联席会议审定后，确认是否纳入吹哨范围): every ``dur_collect`` days the community
  collects big and major latent problems on the ground and from units (each with chance
  ``p_collect``); these, and the problems escalated from the community to the street since the
  last meeting, are the candidates. Candidates of one kind in one community are one *matter*
  (community x category; at most one open at a time, candidates of a kind whose matter is open
  wait); the dedicated staff compile ``n_compile`` matters per community (most residents, then
  gravest, first) and the joint meeting admits a matter iff its gravest problem is at least
  ``sev_admit`` grave, most of its problems exceed the community's power (its chance on them is
  below ``p_community_power``) and it affects at least ``n_affected_per_1k`` residents per 1,000
  of the community. An admitted matter's problems carry the ``whistle`` flag; the matter is
  resolved once half of its problems are, and closed when none is open;
* four response levels (四类响应): the community keeps what it can handle; the street, the
  district departments and the city each hold a meeting every ``dur_meeting_*`` days (within the
  level's deadline) that convenes the departments of the categories of the whistled problems
  waiting at that level. Each convened department attends (``effort_attend`` of its day) and
  works the convened problems with its authority, up to ``share_meeting`` of its day (times its
  responsiveness to the street, which the five powers move); the effort is taken from its
  capacity of that day;
* escalation deadlines (``deadline_*``) and supervision (函告督办): a problem unsolved at the
  deadline moves up for certain, and handlers work problems within ``dur_threat`` days of it
  with ``threat_effort`` times the effort (the threat acts before escalation);
* five follow-up measures (ledger, supervision, consultation, assessment, accountability):
  residents give up less (``abandon_cut``), and whistled problems are represented (their case is
  followed up for the resident, ``model.represented_flags``), so residents seldom chase them (§7.6).

002's figures: 950+ matters ("问题", 69 kinds) collected, 570 entered the whistle process, 360
resolved; the summary reports them as ``whistle_collected``, ``whistle_entered`` and
``whistle_resolved`` (matters), and ``flag_whistle_resolved`` (residents' problems).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sim.config import paramtools
from sim.config.paramtools import Params, param
from sim.config.taxonomy import CITY, COMMUNITY, DEPARTMENT, FLAG_BIT, LATENT, N_CATEGORIES, POLICY_FIND, QUEUED, STREET
from sim.core.phases import Policy
from sim.errors import ParameterError
from sim.policies import register

if TYPE_CHECKING:
    from sim.core.model import Model
    from sim.core.scenario import Scenario

_BIG = 2  # severity code of "big"
_WHISTLE = FLAG_BIT["whistle"]
_MEETING_LEVELS = (STREET, DEPARTMENT, CITY)


@dataclass(frozen=True)
class WhistleParams(Params):
    """Parameters of the whistle-blowing process (002)."""

    deadline_community: float = param(10.0, lo=1.0, unit="days", plausible=(5.0, 12.0),
                                      source="assumption (002: tiered response)")
    deadline_street: float = param(15.0, lo=1.0, unit="days", plausible=(12.0, 20.0),
                                   source="assumption (002: tiered response)")
    deadline_department: float = param(30.0, lo=1.0, unit="days", plausible=(20.0, 45.0),
                                       source="assumption; then the city for major or long-standing problems (002)")
    city_level: bool = param(True, source="002: the city convenes departments on major and long-standing problems")
    dur_collect: int = param(30, lo=1, unit="days", plausible=(14, 60),
                             source="002: problems collected regularly from units and on the ground, then reviewed "
                                    "by the joint meeting (interval an assumption)")
    p_collect: float = param(0.3, lo=0.0, hi=1.0, unit="probability per collection", plausible=(0.15, 0.5),
                             source="assumption (002: 950+ problems collected)")
    sev_admit: int = param(2, lo=0, hi=3, unit="severity code (0 trivial .. 3 major)", plausible=(2, 3),
                           source="assumption: the whistle is for big and major matters (002: 大事不出街道)")
    p_community_power: float = param(0.37, lo=0.0, hi=1.0, unit="chance of success at the community",
                                     plausible=(0.25, 0.45),
                                     source="assumption: a problem exceeds the community's power if the "
                                            "community's chance on it is below this (002: the joint meeting decides)")
    n_affected_per_1k: float = param(6.7, lo=0.0, unit="problems per 1,000 residents of the community",
                                     plausible=(3.0, 9.0),
                                     source="assumption: a matter is grave enough to whistle if it affects this many "
                                            "residents (002: the joint meeting decides what enters); calibrated to "
                                            "570 of 950+ admitted (scenarios/calibration/bazhong.toml)")
    n_compile: float = param(0.79, lo=0.0, hi=20.0, unit="matters per community per joint meeting",
                             plausible=(0.3, 1.5),
                             source="assumption: one dedicated person compiles the matters for the joint meeting "
                                    "(002: 落实专人对收集发现的问题进行梳理汇总); calibrated to 950+ matters "
                                    "city-wide (scenarios/calibration/bazhong.toml)")
    dur_meeting_street: int = param(7, lo=1, unit="days", plausible=(5, 10),
                                    source="assumption: the street's directed whistle (定向吹哨), within its deadline")
    dur_meeting_department: int = param(14, lo=1, unit="days", plausible=(7, 20),
                                        source="assumption: district organisation department's consultation (会商)")
    dur_meeting_city: int = param(30, lo=1, unit="days", plausible=(14, 60),
                                  source="assumption: the city convenes on major and long-standing problems")
    effort_attend: float = param(0.5, lo=0.0, unit="effort per department per meeting", plausible=(0.25, 1.0),
                                 source="assumption: half a staff-day to attend (报到)")
    share_meeting: float = param(0.5, lo=0.0, hi=1.0, unit="share of a department's day", plausible=(0.25, 0.75),
                                 source="assumption: most a department gives one meeting's problems")
    report_boost: float = param(1.3, lo=1.0, hi=3.0, unit="success multiplier at the meeting", plausible=(1.1, 1.6),
                                source="assumption: joint consultation on site (002: 协调会商)")
    dur_threat: float = param(3.0, lo=0.0, unit="days before the deadline", plausible=(1.0, 7.0),
                              source="assumption: supervision letters before the deadline (002: 函告督办)")
    threat_effort: float = param(1.5, lo=1.0, hi=5.0, unit="multiple of the effort of an attempt",
                                 plausible=(1.2, 2.5),
                                 source="assumption: handlers try harder on problems that are about to be "
                                        "escalated under supervision (002: 函告督办, 责任追究)")
    abandon_cut: float = param(0.3, lo=0.0, hi=1.0, unit="share of the abandonment hazard removed",
                               plausible=(0.1, 0.5),
                               source="assumption: ledger, supervision, assessment, accountability (002)")

    def meeting_days(self) -> dict[int, int]:
        """Days between meetings, by response level."""
        return {STREET: self.dur_meeting_street, DEPARTMENT: self.dur_meeting_department, CITY: self.dur_meeting_city}


@register
class Whistle(Policy):
    """Screening by the joint meeting, response levels that convene departments, deadlines that threaten."""

    name = "whistle"
    counters = ("collected", "entered", "screened_out", "resolved", "lapsed", "problems_candidate",
                "problems_entered", "problems_screened_out", "problems_not_compiled", "convened", "convened_solved",
                "convened_street", "convened_street_solved", "meetings")
    Params = WhistleParams
    params: WhistleParams

    @classmethod
    def check(cls, params: paramtools.Params, scenario: Scenario) -> None:
        """Each level's meeting must fall within its deadline (problems are convened before they move up)."""
        assert isinstance(params, WhistleParams)
        for key, dur, deadline in (("dur_meeting_street", params.dur_meeting_street, params.deadline_street),
                                   ("dur_meeting_department", params.dur_meeting_department,
                                    params.deadline_department)):
            if dur > deadline:
                raise ParameterError(key, f"{dur} days is longer than the level's deadline ({deadline} days): "
                                          "its problems would move up before they are convened")

    def setup(self, model: Model) -> None:
        """Open the city level, set the deadlines and their threat, follow-up on abandonment."""
        p = self.params
        if p.city_level:
            model.top_level = CITY
        for lvl, d in ((COMMUNITY, p.deadline_community), (STREET, p.deadline_street),
                       (DEPARTMENT, p.deadline_department)):
            model.deadline[lvl] = d
            model.threat_window[lvl] = p.dur_threat
            model.threat_effort[lvl] = p.threat_effort
        model.rate_abandon *= 1.0 - p.abandon_cut
        model.represented_flags |= _WHISTLE  # a case officer follows up
        self._t_screened = model.clock  # escalations since then are put before the next joint meeting
        self._held = np.zeros(N_CATEGORIES, dtype=np.float32)  # department effort taken by today's meetings
        n_cells = model.world.n_communities * N_CATEGORIES  # matters: one per (community, category) at a time
        self._open = np.zeros(n_cells, dtype=bool)  # the ledger (台账): matters in the whistle process
        self._joined = np.zeros(n_cells, dtype=np.int64)  # problems of each open matter
        self._solved = np.zeros(n_cells, dtype=np.int64)  # of them resolved so far
        self._done = np.zeros(n_cells, dtype=bool)  # open matters already counted resolved
        self.attended_today = 0  # department-meetings attended today (for the cost)
        self.meetings_today = 0  # joint meetings held today (one per community)

    # ---- screening -----------------------------------------------------------------------------
    def on_find(self, model: Model, t: int) -> None:
        """Collect big latent problems on schedule (they are routed today and screened after routing)."""
        if not self._collect_day(t):
            return
        pool = model.problems
        rows = np.flatnonzero((pool.status == LATENT) & (pool.t_found < 0) & (pool.sev >= _BIG))
        hit = rows[self.rng.random(rows.size) < self.params.p_collect]
        model.mark_found(hit, POLICY_FIND, t)

    def on_route(self, model: Model, t: int) -> None:
        """The joint meeting: the collected and escalated problems are compiled into matters and screened."""
        if not self._collect_day(t):
            return
        pool = model.problems
        open_ = (pool.status == QUEUED) & ((pool.flags & _WHISTLE) == 0)
        collected = open_ & (pool.finder == POLICY_FIND) & (pool.t_found == t)
        escalated = open_ & (pool.level >= STREET) & (pool.t_level > self._t_screened) & (pool.t_found < pool.t_level)
        self._t_screened = t
        self.meetings_today = model.world.n_communities
        self._screen(model, np.flatnonzero(collected | escalated))

    def _cells(self, model: Model, rows: np.ndarray) -> np.ndarray:
        """The matter (community x category) each problem row belongs to."""
        pool = model.problems
        return model.world.res_community[pool.res[rows]].astype(np.int64) * N_CATEGORIES + pool.cat[rows]

    def _screen(self, model: Model, rows: np.ndarray) -> None:
        """Compile ``n_compile`` matters per community from the candidates of kinds with no open matter; screen them."""
        p, pool, h = self.params, model.problems, model.handlers
        model.count(self.name, "problems_candidate", rows.size)
        cell = self._cells(model, rows)
        free = ~self._open[cell]  # a kind whose matter is open waits until it is closed
        rows, cell = rows[free], cell[free]
        n_cells = self._open.size
        n_res = np.bincount(cell, minlength=n_cells)
        worst = np.full(n_cells, -1, dtype=np.int64)
        np.maximum.at(worst, cell, pool.sev[rows].astype(np.int64))
        cand = np.flatnonzero(n_res > 0)
        comm = cand // N_CATEGORIES
        order = np.lexsort((-worst[cand], -n_res[cand], comm))  # per community: most residents, then gravest
        cand, comm = cand[order], comm[order]
        n_comm = model.world.n_communities
        k = np.floor(p.n_compile) + (self.rng.random(n_comm) < p.n_compile - np.floor(p.n_compile))
        compiled = cand[(np.arange(cand.size) - np.searchsorted(comm, comm)) < k[comm]]
        cat, sev = pool.cat[rows], pool.sev[rows]
        p_comm = h.authority[COMMUNITY, cat] * h.severity_mult[sev] * h.level_cat_mult[COMMUNITY, cat]
        beyond = np.bincount(cell, weights=p_comm < p.p_community_power, minlength=n_cells)[compiled] >= (
            0.5 * n_res[compiled])  # most of its problems exceed the community's power
        wide = n_res[compiled] * 1000.0 >= p.n_affected_per_1k * model.world.community_size[compiled // N_CATEGORIES]
        admit = compiled[(worst[compiled] >= p.sev_admit) & beyond & wide]
        model.count(self.name, "collected", compiled.size)
        model.count(self.name, "entered", admit.size)
        model.count(self.name, "screened_out", compiled.size - admit.size)
        model.count(self.name, "problems_not_compiled", int(free.size - free.sum() + n_res.sum()
                                                             - n_res[compiled].sum()))
        model.count(self.name, "problems_screened_out", int(n_res[compiled].sum() - n_res[admit].sum()))
        self._open[admit] = True
        self._joined[admit] = n_res[admit]
        self._solved[admit] = 0
        mine = rows[self._open[cell]]
        pool.flags[mine] |= _WHISTLE  # the matter's problems are whistled: represented, convened
        model.count(self.name, "problems_entered", mine.size)

    def on_handle(self, model: Model, t: int) -> None:
        """The ledger: a matter is resolved once most of its problems are; it closes when none is open."""
        if not self._open.any():
            return
        pool = model.problems
        rows = np.flatnonzero((pool.flags & _WHISTLE) != 0)
        cell = self._cells(model, rows)
        done = pool.status[rows] < 0  # resolved today (closed rows leave the pool in the escalate phase)
        self._solved += np.bincount(cell[done], minlength=self._open.size)
        solved = self._open & ~self._done & (2 * self._solved >= self._joined)  # most of its residents' problems
        if solved.any():
            model.count(self.name, "resolved", int(solved.sum()))
            self._done |= solved
        close = self._open & (np.bincount(cell[~done], minlength=self._open.size) == 0)
        if close.any():
            model.count(self.name, "lapsed", int((close & ~self._done).sum()))
            self._open[close] = False
            self._done[close] = False

    def _collect_day(self, t: int) -> bool:
        d = self.days(t)
        return d > 0 and d % self.params.dur_collect == 0

    # ---- response levels: meetings that convene departments -------------------------------------
    def on_plan(self, model: Model, t: int) -> None:
        """Give back yesterday's meeting time; hold today's meetings (before the queues are served)."""
        if self._held.any():
            model.handlers.add_capacity(DEPARTMENT, self._held)
            self._held = np.zeros(N_CATEGORIES, dtype=np.float32)
        self.attended_today = self.meetings_today = 0
        d = self.days(t)
        for lvl, dur in self.params.meeting_days().items():
            if d > 0 and d % dur == 0 and lvl <= model.top_level:
                self._meet(model, lvl, t)
        if self._held.any():
            model.handlers.add_capacity(DEPARTMENT, -self._held)

    def _meet(self, model: Model, lvl: int, t: int) -> None:
        """One level's meetings: each (handler, category) convenes its department, which works the problems."""
        p, pool, h = self.params, model.problems, model.handlers
        rows = np.flatnonzero((pool.status == QUEUED) & (pool.level == lvl) & ((pool.flags & _WHISTLE) != 0))
        if rows.size == 0:
            return
        cat = pool.cat[rows].astype(np.int64)
        street = model.world.res_street[pool.res[rows]]
        comm = model.world.res_community[pool.res[rows]]  # a department works one matter's problems together
        order = np.lexsort((pool.t_level[rows], comm, cat, pool.handler[rows]))
        rows, cat, street = rows[order], cat[order], street[order]
        group = np.unique(pool.handler[rows].astype(np.int64) * N_CATEGORIES + cat, return_inverse=True)[1]
        n_groups = int(group.max()) + 1
        g_cat = np.zeros(n_groups, dtype=np.int64)
        g_cat[group] = cat
        g_street = np.zeros(n_groups, dtype=np.int64)
        g_street[group] = street
        budget = self._budgets(model, lvl, g_cat, g_street)
        effort = h.effort_of(cat, pool.sev[rows]).astype(np.float64)
        cum = np.cumsum(effort)
        start = np.searchsorted(group, group)  # rows are sorted by group
        before = cum - effort - (cum[start] - effort[start])
        go = before < budget[group]
        sev = pool.sev[rows]
        p_ok = np.minimum(h.authority[DEPARTMENT, cat] * h.severity_mult[sev] * h.level_cat_mult[DEPARTMENT, cat]
                          * h.mult[DEPARTMENT][cat, cat] * p.report_boost, 1.0)
        ok = go & (self.rng.random(rows.size) < p_ok)
        self._held += np.bincount(g_cat, minlength=N_CATEGORIES).astype(np.float32) * np.float32(p.effort_attend)
        self._held += np.bincount(cat[go], weights=effort[go], minlength=N_CATEGORIES).astype(np.float32)
        if lvl == STREET:
            np.add.at(model.street_convened[0], (street, cat), 1.0)
            np.add.at(model.street_convened[1], (street[ok], cat[ok]), 1.0)
        self.attended_today += n_groups
        model.count(self.name, "meetings", n_groups)
        model.count(self.name, "convened", rows.size)
        model.count(self.name, "convened_solved", int(ok.sum()))
        if lvl == STREET:  # the street's own meetings, where the five powers act (street_empowerment)
            model.count(self.name, "convened_street", rows.size)
            model.count(self.name, "convened_street_solved", int(ok.sum()))
        model.resolve(rows[ok], t)

    def _budgets(self, model: Model, lvl: int, g_cat: np.ndarray, g_street: np.ndarray) -> np.ndarray:
        """Effort each meeting's department gives its convened problems.

        ``share_meeting`` of the department's day (times its responsiveness to the street at
        street meetings), scaled down so that attendance and all of today's meetings fit in
        what is left of its day.
        """
        p = self.params
        left = np.maximum(model.departments.capacity + _extra(model) - self._held, 0.0).astype(np.float64)
        resp = model.dept_response[g_street, g_cat] if lvl == STREET else np.ones(g_cat.size, dtype=np.float32)
        want = np.minimum(p.share_meeting * resp.astype(np.float64), 1.0) * left[g_cat]
        free = np.maximum(left - np.bincount(g_cat, minlength=N_CATEGORIES) * p.effort_attend, 0.0)
        total = np.bincount(g_cat, weights=want, minlength=N_CATEGORIES)
        scale = np.where(total > free, free / np.maximum(total, 1e-12), 1.0)
        return want * scale[g_cat]

    # ---- cost ------------------------------------------------------------------------------------
    def cost_items(self, model: Model) -> dict[str, float]:
        """Today's staff time of the joint meetings and of departments at meetings, and the supervision (yuan).

        Departments' meeting time (attendance and the convened problems worked) is taken from their
        day outside the handle phase, so it is costed here, at the departments' staff-day cost.
        """
        c = model.scenario.costs
        return {
            "screening": self.meetings_today * c.whistle_screening_staff_days * c.pay_official_per_day,
            "meeting_time": float(self._held.sum()) * c.cost_department_staff_day,
            "supervision": model.world.n_communities * c.whistle_supervision_days_per_community_per_year
                           * c.pay_official_per_day / 365.0,
        }


def _extra(model: Model) -> np.ndarray:
    """Effort per day policies add to each department (zeros if none)."""
    extra = model.handlers.extra_capacity[DEPARTMENT]
    return np.zeros(N_CATEGORIES, dtype=np.float32) if extra is None else extra


__all__ = ["Whistle", "WhistleParams"]
