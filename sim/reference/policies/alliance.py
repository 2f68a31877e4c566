"""Reference alliance policy (docs/model.md §8.2): the "1+N" party alliance of units, meetings and needs lists."""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING

from sim.config.taxonomy import (
    CITY,
    COMMUNITY,
    DEPARTMENT,
    FLAG_BIT,
    N_CATEGORIES,
    QUEUED,
    STREET,
)
from sim.reference.agents import UNIT_TYPES, Problem, Resident
from sim.reference.policies.base import DISPUTE, ReferencePolicy
from sim.reference.streams import bernoulli_count, poisson

if TYPE_CHECKING:
    from sim.reference.model import ReferenceModel


class AlliancePolicy(ReferencePolicy):
    """The "1+N" big-community party alliance: units, resources, meetings, needs lists, in-service members (000)."""

    name = "alliance"

    def setup(self, model: ReferenceModel) -> None:
        """Ally up to ``n_units`` units per community: resources, success boost, in-service members, events."""
        p = self.p
        mix = [getattr(p.unit_mix, name) for name in UNIT_TYPES]
        self.n_allied: dict[int, int] = {}
        self.cov: dict[int, list[float]] = {}
        self.in_service: dict[int, int] = {}
        self.extra_events: dict[int, float] = {}
        self.units_allied = 0
        for comm in model.communities:
            allied = 0
            res = [0.0] * N_CATEGORIES
            for rank, unit in enumerate(comm.units):
                if rank < p.n_units and mix[unit.utype] > 0:
                    unit.allied = True
                    unit.resources = [r * mix[unit.utype] for r in unit.resources]
                    allied += 1
                    for k in range(N_CATEGORIES):
                        res[k] += unit.resources[k]
            cov = [1.0 - math.exp(-r) for r in res]
            for k in range(N_CATEGORIES):
                comm.mult[k] *= 1.0 + p.success_boost * cov[k]
            self.n_allied[comm.index] = allied
            self.cov[comm.index] = cov
            self.in_service[comm.index] = round(allied * p.n_in_service_per_unit)
            self.extra_events[comm.index] = allied * p.events_per_unit_per_month / 30.0
            comm.event_rate += self.extra_events[comm.index]
            self.units_allied += allied
        self.count(model, "units_allied", self.units_allied)

    def cost_per_day(self, model: ReferenceModel) -> float:
        """Yuan a day: liaison and materials for every allied unit."""
        p = self.p
        return self.units_allied * (12 * p.cost_liaison_per_unit_per_month + p.cost_materials_per_unit_per_year) / 365

    def _close(self, model: ReferenceModel, probs: list[Problem], counter: str, t: int) -> None:
        if not probs:
            return
        done = []
        for pr in probs:  # only what the community has the effort for today (§7.10)
            flags = pr.flags
            pr.flags |= FLAG_BIT["alliance"]
            if model.resolve_at(pr, COMMUNITY, t):
                done.append(pr)
            else:
                pr.flags = flags
        self.count(model, counter, len(done))
        self.count(model, "matters_done", len(done))
        self.count(model, "disputes_mediated", sum(1 for pr in done if pr.cat == DISPUTE))

    def on_handle(self, model: ReferenceModel, t: int) -> None:
        """Quarterly joint meeting, then the monthly needs list with claiming."""
        p = self.p
        d = self.days(t)
        if d <= 0 or self.units_allied == 0:
            return
        rng = self.rng(model)
        if d % p.dur_meeting == 0:
            self.count(model, "meetings", sum(1 for n in self.n_allied.values() if n > 0))
            closed = []
            for pr in model.problems:
                if not pr.closed and pr.status == QUEUED and pr.level in (STREET, DEPARTMENT, CITY):
                    if rng.random() < p.p_meeting_resolve * self.cov[pr.res.community.index][pr.cat]:
                        closed.append(pr)
            self._close(model, closed, "meeting_resolved", t)
        if d % p.dur_needs_list == 0:
            cells: dict[tuple[int, int], list[Problem]] = {}
            for pr in model.problems:  # pool order is the order of arising
                if not pr.closed and pr.status == QUEUED:
                    cells.setdefault((pr.res.community.index, pr.cat), []).append(pr)
            claimed_cells = []
            for comm in model.communities:
                for k in range(N_CATEGORIES):
                    need = cells.get((comm.index, k), [])
                    u = rng.random()
                    if need and u < p.p_claim * self.cov[comm.index][k]:
                        claimed_cells.append(need)
            if claimed_cells:
                self.count(model, "projects_claimed", len(claimed_cells))
            closed = []
            for need in claimed_cells:
                need = sorted(need, key=lambda pr: (pr.t_arise, pr.uid))
                closed.extend(need[: min(p.n_problems_per_project, len(need))])
            self._close(model, closed, "project_resolved", t)

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
