"""Reference whistle policy (docs/model.md §8.4): matters compiled and screened, meetings that convene departments, deadlines."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sim.config.taxonomy import (
    CITY,
    COMMUNITY,
    DEPARTMENT,
    FLAG_BIT,
    LATENT,
    N_CATEGORIES,
    POLICY_FIND,
    QUEUED,
    STREET,
)
from sim.reference.policies.base import BIG, ReferencePolicy

if TYPE_CHECKING:
    from sim.reference.agents import Problem
    from sim.reference.model import ReferenceModel

WHISTLE = FLAG_BIT["whistle"]


class WhistlePolicy(ReferencePolicy):
    """吹哨报到: the joint meeting screens, response levels convene departments, deadlines threaten (002)."""

    name = "whistle"

    def setup(self, model: ReferenceModel) -> None:
        """The city level, deadlines and their threat, the abandonment cut, no repeat trips."""
        p = self.p
        if p.city_level:
            model.top_level = CITY
        for lvl, d in ((COMMUNITY, p.deadline_community), (STREET, p.deadline_street),
                       (DEPARTMENT, p.deadline_department)):
            model.deadline[lvl] = d
            model.threat_window[lvl] = p.dur_threat
            model.threat_effort[lvl] = p.threat_effort
        model.rate_abandon *= 1.0 - p.abandon_cut
        model.represented_flags |= WHISTLE
        self.t_screened = model.clock
        self.held = [0.0] * N_CATEGORIES
        self.attended = 0
        self.meetings = 0
        self.matters: dict[tuple[int, int], list[int]] = {}  # the ledger: (community, category) -> counts

    def cost_per_day(self, model: ReferenceModel) -> float:
        """Yuan a day: joint meetings' screening, departments' meeting time, supervision (staff-days at pay)."""
        c = model.sc.costs
        return (c.pay_official_per_day * (self.meetings * c.whistle_screening_staff_days
                                          + len(model.communities) * c.whistle_supervision_days_per_community_per_year
                                          / 365)
                + sum(self.held) * c.cost_department_staff_day)  # departments' meeting time: attendance and work

    def collect_day(self, t: int) -> bool:
        """Collection and joint meeting every ``dur_collect`` days after the reform day."""
        return self.days(t) > 0 and self.days(t) % self.p.dur_collect == 0

    def on_find(self, model: ReferenceModel, t: int) -> None:
        """Collection of big and major latent problems from units and on the ground."""
        if not self.collect_day(t):
            return
        rng = self.rng(model)
        collected = [pr for pr in model.problems
                     if not pr.closed and pr.status == LATENT and pr.t_found < 0 and pr.sev >= BIG
                     and rng.random() < self.p.p_collect]
        model.mark_found(collected, POLICY_FIND, t)

    def on_route(self, model: ReferenceModel, t: int) -> None:
        """The joint meeting: candidates are compiled into matters (community x category) and screened."""
        if not self.collect_day(t):
            return
        cands = [pr for pr in model.problems if not pr.closed and pr.status == QUEUED and not pr.flags & WHISTLE
                 and ((pr.finder == POLICY_FIND and pr.t_found == t)
                      or (pr.level >= STREET and pr.t_level > self.t_screened and pr.t_found < pr.t_level))]
        self.t_screened = t
        self.meetings = len(model.communities)
        self.count(model, "problems_candidate", len(cands))
        cells: dict[tuple[int, int], list[Problem]] = {}
        waiting = 0
        for pr in cands:
            key = (pr.res.community.index, pr.cat)
            if key in self.matters:
                waiting += 1  # its kind's matter is open: it waits until that is closed
            else:
                cells.setdefault(key, []).append(pr)
        self.screen(model, cells, waiting)

    def screen(self, model: ReferenceModel, cells: dict[tuple[int, int], list[Problem]], waiting: int) -> None:
        """Compile ``n_compile`` matters per community (most residents, then gravest); admit by the rule."""
        p = self.p
        n = p.n_compile
        rng = self.rng(model)
        k = [math.floor(n) + (rng.random() < n - math.floor(n)) for _ in model.communities]
        by_comm: dict[int, list[tuple[int, int]]] = {}
        for key in sorted(cells, key=lambda kc: (kc[0], -len(cells[kc]), -max(pr.sev for pr in cells[kc]), kc[1])):
            by_comm.setdefault(key[0], []).append(key)
        compiled = [key for comm, keys in by_comm.items() for key in keys[:k[comm]]]
        n_in = n_flagged = n_out = 0
        for key in compiled:
            probs = cells[key]
            beyond = sum(model.authority[COMMUNITY][pr.cat] * model.severity_mult[pr.sev]
                         * model.level_cat_mult[COMMUNITY][pr.cat] < p.p_community_power for pr in probs)
            wide = len(probs) * 1000.0 >= p.n_affected_per_1k * len(model.communities[key[0]].residents)
            if max(pr.sev for pr in probs) >= p.sev_admit and beyond >= 0.5 * len(probs) and wide:
                n_in += 1
                n_flagged += len(probs)
                self.matters[key] = [len(probs), 0, 0]  # problems, of them resolved, counted resolved
                for pr in probs:
                    pr.flags |= WHISTLE
            else:
                n_out += len(probs)
        self.count(model, "collected", len(compiled))
        self.count(model, "entered", n_in)
        self.count(model, "screened_out", len(compiled) - n_in)
        self.count(model, "problems_not_compiled", waiting + sum(len(v) for v in cells.values())
                   - sum(len(cells[key]) for key in compiled))
        self.count(model, "problems_entered", n_flagged)
        self.count(model, "problems_screened_out", n_out)

    def on_handle(self, model: ReferenceModel, t: int) -> None:
        """The ledger: a matter is resolved once half its problems are (closed by now today), closed when none is open."""
        if not self.matters:
            return
        left = dict.fromkeys(self.matters, 0)
        for pr in model.problems:
            if pr.flags & WHISTLE:
                key = (pr.res.community.index, pr.cat)
                if pr.closed:
                    self.matters[key][1] += 1
                else:
                    left[key] += 1
        for key, n_left in left.items():
            ledger = self.matters[key]
            if not ledger[2] and 2 * ledger[1] >= ledger[0]:  # most of its residents' problems resolved
                ledger[2] = 1
                self.count(model, "resolved", 1)
            if n_left == 0:
                self.count(model, "lapsed", 1 - self.matters.pop(key)[2])

    def on_plan(self, model: ReferenceModel, t: int) -> None:
        """Yesterday's meeting time goes back to the departments; today's meetings are held before the queues."""
        for k, dept in enumerate(model.departments):
            dept.extra += self.held[k]
        self.held = [0.0] * N_CATEGORIES
        self.attended = self.meetings = 0
        d = self.days(t)
        p = self.p
        for lvl, dur in ((STREET, p.dur_meeting_street), (DEPARTMENT, p.dur_meeting_department),
                         (CITY, p.dur_meeting_city)):
            if d > 0 and d % dur == 0 and lvl <= model.top_level:
                self.meet(model, lvl, t)
        for k, dept in enumerate(model.departments):
            dept.extra -= self.held[k]

    def meet(self, model: ReferenceModel, lvl: int, t: int) -> None:
        """Each (handler, category) with whistled problems at ``lvl`` convenes its department, which works them."""
        p = self.p
        groups: dict[tuple[int, int], list[Problem]] = {}
        for pr in model.problems:
            if not pr.closed and pr.status == QUEUED and pr.level == lvl and pr.flags & WHISTLE:
                groups.setdefault((_handler_index(pr, lvl), pr.cat), []).append(pr)
        if not groups:
            return
        depts = model.departments
        left = [max(d.capacity() - self.held[k], 0.0) for k, d in enumerate(depts)]
        n_meet = [0] * N_CATEGORIES
        want: dict[tuple[int, int], float] = {}
        for (h, c), probs in groups.items():
            n_meet[c] += 1
            resp = model.dept_response[probs[0].res.community.street.index][c] if lvl == STREET else 1.0
            want[(h, c)] = min(p.share_meeting * resp, 1.0) * left[c]
        total = [0.0] * N_CATEGORIES
        for (_, c), w in want.items():
            total[c] += w
        free = [max(left[c] - n_meet[c] * p.effort_attend, 0.0) for c in range(N_CATEGORIES)]
        rng = self.rng(model)
        solved: list[Problem] = []
        n_convened = 0
        for (h, c), probs in sorted(groups.items()):
            budget = want[(h, c)] * (free[c] / total[c] if total[c] > free[c] else 1.0)
            self.held[c] += p.effort_attend
            used = 0.0
            for pr in sorted(probs, key=lambda pr: (pr.res.community.index, pr.t_level, pr.t_arise, pr.tiebreak)):
                n_convened += 1
                s = pr.res.community.street.index
                if lvl == STREET:
                    model.street_convened[0][s][c] += 1
                if used >= budget:
                    continue
                used += model.effort[pr.cat][pr.sev]
                chance = min(depts[c].p_success(c, pr.sev) * p.report_boost, 1.0)
                if rng.random() < chance:
                    solved.append(pr)
                    if lvl == STREET:
                        model.street_convened[1][s][c] += 1
            self.held[c] += used
        self.attended += len(groups)
        self.count(model, "meetings", len(groups))
        self.count(model, "convened", n_convened)
        self.count(model, "convened_solved", len(solved))
        if lvl == STREET:
            self.count(model, "convened_street", n_convened)
            self.count(model, "convened_street_solved", len(solved))
        model.resolve(solved, t)


def _handler_index(pr: Problem, lvl: int) -> int:
    """The problem's handler at a meeting level: its street, its department (category) or the city."""
    if lvl == STREET:
        return pr.res.community.street.index
    return pr.cat if lvl == DEPARTMENT else 0
