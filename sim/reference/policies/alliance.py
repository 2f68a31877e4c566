"""Reference alliance policy (docs/model.md §8.2): the "1+N" big-community party alliance.

Units shared by a big community, their willingness learning from claims, cost and recognition,
hours spent on needs, quarterly meetings, the one-stop service centre, in-service members.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING, Any

from sim.config.taxonomy import COMMUNITY, FLAG_BIT, N_CATEGORIES, QUEUED, STREET
from sim.reference.agents import UNIT_TYPES, CoBuildingUnit, Problem, Resident
from sim.reference.policies.base import ADMIN, DISPUTE, ReferencePolicy
from sim.reference.streams import bernoulli_count, poisson

if TYPE_CHECKING:
    from sim.reference.model import ReferenceModel


def _payoff(p: Any, answered: bool, used: float, offered: float) -> float:
    """§8.2 payoff of a month of claiming, in [-1, 1]."""
    met = used / offered if offered > 0 else 0.0
    load = used / p.hours_per_unit_per_month if p.hours_per_unit_per_month > 0 else 0.0
    r = p.reward_answered * met - p.penalty_ignored * (1 - met) if answered else -p.penalty_ignored
    r -= p.penalty_cost * load
    if p.load_burnout < 1:
        r -= p.penalty_burnout * min(max((load - p.load_burnout) / (1 - p.load_burnout), 0.0), 1.0)
    return min(max(r, -1.0), 1.0)


def _reinforce(w: float, r: float, rate: float) -> float:
    """Bush-Mosteller step."""
    r = min(max(r, -1.0), 1.0)
    return w + rate * r * (1 - w) if r > 0 else w + rate * r * w


class AlliancePolicy(ReferencePolicy):
    """The "1+N" big-community party alliance (000)."""

    name = "alliance"

    def setup(self, model: ReferenceModel) -> None:
        """Ally up to ``n_units`` units per big community; centres; in-service members; support and events."""
        p = self.p
        mix = [getattr(p.unit_mix, name) for name in UNIT_TYPES]
        self.units: list[CoBuildingUnit] = []
        rank: Counter[int] = Counter()
        for comm in model.communities:
            for unit in comm.units:
                if rank[comm.big] < p.n_units and mix[unit.utype] > 0:
                    unit.allied = True
                    unit.resources = [r * mix[unit.utype] for r in unit.resources]
                    self.units.append(unit)
                rank[comm.big] += 1
        self.big_of = [u.community.big for u in self.units]
        self.share = []
        for u in self.units:
            tot = sum(u.resources)
            self.share.append([r / tot if tot > 0 else 0.0 for r in u.resources])
        self.w = [p.w_initial] * len(self.units)
        self.active = [True] * len(self.units)
        self.quarter = [0.0] * len(self.units)
        self.projects: set[tuple[int, int]] = set()
        bigs = sorted({c.big for c in model.communities})
        self.big_size = {b: sum(len(c.residents) for c in model.communities if c.big == b) for b in bigs}
        n_allied = Counter(self.big_of)
        self.centre_staff = {b: p.n_centre_staff_per_10k * self.big_size[b] / 1e4 if n_allied[b] else 0.0 for b in bigs}
        self.centre_hours = {b: s * p.hours_per_staff_day * p.p_centre_time_on_matters
                             for b, s in self.centre_staff.items()}
        self.centre_carry = {b: 0.0 for b in bigs}
        self.in_service = {c.index: round(n_allied[c.big] * len(c.residents) / self.big_size[c.big]
                                          * p.n_in_service_per_unit) for c in model.communities}
        self.factor = {c.index: [1.0] * N_CATEGORIES for c in model.communities}
        self.extra_events = {c.index: 0.0 for c in model.communities}
        self._refresh(model)
        self.count(model, "units_allied", len(self.units))

    def _refresh(self, model: ReferenceModel) -> None:
        p = self.p
        strength = {b: [0.0] * N_CATEGORIES for b in self.big_size}
        give = {b: 0.0 for b in self.big_size}
        for i, u in enumerate(self.units):
            if self.active[i]:
                give[self.big_of[i]] += self.w[i]
                for k in range(N_CATEGORIES):
                    strength[self.big_of[i]][k] += self.w[i] * u.resources[k]
        self.cov = {b: [1.0 - math.exp(-s) for s in strength[b]] for b in strength}
        for comm in model.communities:
            new = [1.0 + p.success_boost * c for c in self.cov[comm.big]]
            for k in range(N_CATEGORIES):
                comm.mult[k] *= new[k] / self.factor[comm.index][k]
            self.factor[comm.index] = new
            extra = give[comm.big] * p.events_per_unit_per_month * len(comm.residents) / self.big_size[comm.big] / 30.0
            comm.event_rate += extra - self.extra_events[comm.index]
            self.extra_events[comm.index] = extra

    def cost_per_day(self, model: ReferenceModel) -> float:
        """Yuan a day: liaisons and materials of the units still allied; centres' staff and venues."""
        c = model.sc.costs
        n = sum(self.active)
        staff = sum(self.centre_staff.values())
        centres = sum(1 for s in self.centre_staff.values() if s > 0)
        return (n * c.cost_alliance_liaison / 30 + n * c.cost_alliance_materials / 365
                + staff * c.pay_centre_staff / 30 + centres * c.cost_centre_venue / 365)

    def _hours(self, model: ReferenceModel, pr: Problem) -> float:
        return model.effort[pr.cat][pr.sev] * self.p.hours_per_staff_day

    def _resolve(self, model: ReferenceModel, probs: list[Problem], t: int) -> None:
        for pr in probs:
            pr.flags |= FLAG_BIT["alliance"]
            model.resolve_at(pr, COMMUNITY, t, own=True)  # the units' or centre's hours, counted above

    def on_handle(self, model: ReferenceModel, t: int) -> None:
        """The service centre's day; on schedule the joint meeting, then the needs list and claiming."""
        p = self.p
        d = self.days(t)
        if d <= 0 or not self.units:
            return
        rng = self.rng(model)
        self._centre(model, t)
        if d % p.dur_needs_list:
            return
        agenda: set[int] = set()
        if d % p.dur_meeting == 0:
            agenda = self._meeting(model, rng)
        self._claim(model, t, agenda, rng)
        self._refresh(model)

    def _centre(self, model: ReferenceModel, t: int) -> None:
        left = {b: h + self.centre_carry[b] for b, h in self.centre_hours.items()}
        done: list[Problem] = []
        full: set[int] = set()
        for pr in sorted((pr for pr in model.problems if not pr.closed and pr.status == QUEUED
                          and pr.cat == ADMIN and pr.level >= COMMUNITY), key=lambda pr: (pr.t_arise, pr.uid)):
            b = pr.res.community.big
            if b in full:
                continue
            h = self._hours(model, pr)
            if h <= left[b] + 1e-9:
                left[b] -= h
                done.append(pr)
            else:
                full.add(b)  # the window serves in order of arrival: the day ends for this centre
        # hours left over go on to the waiting matter tomorrow; with no one waiting they are lost
        self.centre_carry = {b: left[b] if b in full else 0.0 for b in left}
        if done:
            self.count(model, "centre_matters", len(done))
            self.count(model, "centre_hours", sum(self._hours(model, pr) for pr in done))
            self._resolve(model, done, t)

    def _meeting(self, model: ReferenceModel, rng: Any) -> set[int]:
        p = self.p
        self.count(model, "meetings", len({self.big_of[i] for i, a in enumerate(self.active) if a}))
        n_rec = 0
        for i in range(len(self.units)):
            u = rng.random()
            if self.active[i] and self.quarter[i] > 0 and u < p.p_recognise:
                self.w[i] = _reinforce(self.w[i], p.reward_recognition, p.rate_learn)
                n_rec += 1
        if n_rec:
            self.count(model, "units_recognised", n_rec)
        self.quarter = [0.0] * len(self.units)
        agenda: set[int] = set()
        for pr in model.problems:
            if not pr.closed and pr.status == QUEUED and pr.level >= STREET:
                if rng.random() < p.p_meeting_resolve * self.cov[pr.res.community.big][pr.cat]:
                    agenda.add(pr.uid)
        return agenda

    def _claim(self, model: ReferenceModel, t: int, agenda: set[int], rng: Any) -> None:
        p = self.p
        cells: dict[tuple[int, int], list[Problem]] = {}
        for pr in sorted((pr for pr in model.problems if not pr.closed and pr.status == QUEUED),
                         key=lambda pr: (pr.uid not in agenda, pr.t_arise, pr.uid)):
            cells.setdefault((pr.res.community.big, pr.cat), []).append(pr)
        taken: set[int] = set()
        done: list[Problem] = []
        n = len(self.units)
        offered = [self.w[i] * p.hours_per_unit_per_month if self.active[i] else 0.0 for i in range(n)]
        answered = [False] * n
        for i in range(n):
            u = rng.random()
            answered[i] = self.active[i] and u < p.p_answer
        used = [0.0] * n
        order = list(range(n))
        rng.shuffle(order)
        for i in order:
            if not answered[i]:
                continue
            cats = sorted((k for k in range(N_CATEGORIES) if self.share[i][k] > 0), key=lambda k: -self.share[i][k])
            for k, budget in [(k, offered[i] * self.share[i][k]) for k in cats] + [(k, -1.0) for k in cats]:
                left = budget if budget >= 0 else offered[i] - used[i]
                spent = 0.0
                for pr in cells.get((self.big_of[i], k), []):
                    if pr.uid in taken:
                        continue
                    h = self._hours(model, pr)
                    if h <= left - spent + 1e-9:
                        taken.add(pr.uid)
                        done.append(pr)
                        spent += h
                used[i] += spent
                if spent > 0 and (i, k) not in self.projects:
                    self.projects.add((i, k))
                    self.count(model, "projects_claimed", 1)
        self._book(model, answered, offered, used)
        meeting = [pr for pr in done if pr.uid in agenda]
        project = [pr for pr in done if pr.uid not in agenda]
        for probs, counter in ((meeting, "meeting_resolved"), (project, "project_resolved")):
            if probs:
                self._resolve(model, probs, t)
                self.count(model, counter, len(probs))
                self.count(model, "matters_done", len(probs))
                self.count(model, "disputes_mediated", sum(1 for pr in probs if pr.cat == DISPUTE))

    def _book(self, model: ReferenceModel, answered: list[bool], offered: list[float], used: list[float]) -> None:
        p = self.p
        self.count(model, "claims", sum(answered))
        self.count(model, "claims_ignored", sum(1 for i, a in enumerate(answered) if self.active[i] and not a))
        self.count(model, "hours_offered", sum(offered))
        self.count(model, "unit_hours", sum(used))
        self.count(model, "unit_hours_yuan", sum(used) * model.sc.costs.value_unit_hour)
        n_left = 0
        for i in range(len(self.units)):
            self.quarter[i] += used[i]
            if not self.active[i]:
                continue
            self.w[i] = _reinforce(self.w[i], _payoff(p, answered[i], used[i], offered[i]), p.rate_learn)
            if self.w[i] < p.w_leave:
                self.active[i] = False
                self.units[i].allied = False
                n_left += 1
        if n_left:
            self.count(model, "units_left", n_left)

    def on_participate(self, model: ReferenceModel, t: int) -> None:
        """Credit the alliance's events; in-service members volunteer and serve residents."""
        p = self.p
        total_rate = sum(c.event_rate for c in model.communities)
        if total_rate > 0 and model.events_today > 0:
            self.count(model, "events", model.events_today * sum(self.extra_events.values()) / total_rate)
        if p.rate_in_service_volunteer <= 0 or not any(n > 0 for n in self.in_service.values()):
            return
        rng = self.rng(model)
        turns = {c.index: bernoulli_count(rng, self.in_service[c.index], p.rate_in_service_volunteer)
                 for c in model.communities}
        n_turns = sum(turns.values())
        if n_turns == 0:
            return
        self.count(model, "in_service_turns", n_turns)
        model.volunteer_hours += n_turns * model.sc.residents.dur_volunteer_hours
        gains: Counter[Resident] = Counter()
        for comm in model.communities:
            pool = comm.residents
            for _ in range(poisson(rng, turns[comm.index] * p.n_residents_per_turn)):
                gains[pool[int(rng.random() * len(pool))]] += 1
        for res, n in gains.items():
            res.gain(n)
