"""Reference implementations of the policies (docs/model.md §8), one rule at a time.

Each policy has ``setup(model)``, ``cost_per_day(model)`` and ``on_<phase>(model, t)`` hooks run
after the core submodel of that phase, in scenario order. Random numbers come from the
policy's own stream ``policy:<name>``.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING, Any

from sim.config.taxonomy import (
    ADMIN_CATEGORY,
    CATEGORIES,
    CITY,
    COMMUNITY,
    DEPARTMENT,
    FLAG_BIT,
    GRID,
    GRID_VISIT,
    LATENT,
    N_CATEGORIES,
    POLICY_FIND,
    QUEUED,
    STREET,
)
from sim.reference.agents import UNIT_TYPES, Problem, Resident
from sim.reference.policies_more import POLICIES
from sim.reference.policy_base import ReferencePolicy
from sim.reference.streams import bernoulli_count, poisson
from sim.reference.world import build_grids

if TYPE_CHECKING:
    from sim.reference.model import ReferenceModel

DISPUTE = CATEGORIES.index("dispute")
BIG = 2  # severity code of "big"; big and major are >= BIG


# ---- 8.1 grid ------------------------------------------------------------------------------------------------
class GridPolicy(ReferencePolicy):
    """赋形: smaller grids, more and better-paid workers visiting more, proxy service, building heads (001)."""

    name = "grid"

    def setup(self, model: ReferenceModel) -> None:
        p = self.p
        build_grids(model, p.households_per_grid.array().tolist(), p.n_workers_per_grid)
        model.visits_per_worker_per_month = p.n_visits_per_worker_per_month
        model.pay_grid_worker = p.pay_grid_worker
        if p.proxy_service:
            bit = FLAG_BIT["proxy"].bit_length() - 1
            model.flag_success[bit] *= p.proxy_success_mult
            model.no_recontact_flags |= FLAG_BIT["proxy"]

    def on_find(self, model: ReferenceModel, t: int) -> None:
        """Building heads find latent problems."""
        q = self.p.p_building_head_find
        if q <= 0:
            return
        rng = self.rng(model)
        found = [pr for pr in model.problems
                 if not pr.closed and pr.status == LATENT and rng.random() < q]
        model.mark_found(found, GRID_VISIT, t)

    def on_route(self, model: ReferenceModel, t: int) -> None:
        """Administrative matters found by grid workers today go by proxy."""
        if not self.p.proxy_service:
            return
        n = 0
        for pr in model.problems:
            if (not pr.closed and pr.status == QUEUED and pr.t_level == t and pr.t_found == t
                    and pr.cat == ADMIN_CATEGORY and pr.finder == GRID_VISIT):
                pr.flags |= FLAG_BIT["proxy"]
                n += 1
        if n > 0:
            self.count(model, "proxy_services", n)


# ---- 8.2 alliance --------------------------------------------------------------------------------------------
class AlliancePolicy(ReferencePolicy):
    """The "1+N" big-community party alliance: units, resources, meetings, needs lists, in-service members (000)."""

    name = "alliance"

    def setup(self, model: ReferenceModel) -> None:
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
        p = self.p
        return self.units_allied * (12 * p.cost_liaison_per_unit_per_month + p.cost_materials_per_unit_per_year) / 365

    def _close(self, model: ReferenceModel, probs: list[Problem], counter: str, t: int) -> None:
        if not probs:
            return
        for pr in probs:
            pr.flags |= FLAG_BIT["alliance"]
            model.resolve_at(pr, COMMUNITY, t)
        self.count(model, counter, len(probs))
        self.count(model, "matters_done", len(probs))
        self.count(model, "disputes_mediated", sum(1 for pr in probs if pr.cat == DISPUTE))

    def on_handle(self, model: ReferenceModel, t: int) -> None:
        """Quarterly joint meeting, then the monthly needs list with claiming."""
        p = self.p
        if t <= 0 or self.units_allied == 0:
            return
        rng = self.rng(model)
        if t % p.dur_meeting == 0:
            self.count(model, "meetings", sum(1 for n in self.n_allied.values() if n > 0))
            closed = []
            for pr in model.problems:
                if not pr.closed and pr.status == QUEUED and pr.level in (STREET, DEPARTMENT, CITY):
                    if rng.random() < p.p_meeting_resolve * self.cov[pr.res.community.index][pr.cat]:
                        closed.append(pr)
            self._close(model, closed, "meeting_resolved", t)
        if t % p.dur_needs_list == 0:
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


# ---- 8.3 street_empowerment ----------------------------------------------------------------------------------
class StreetEmpowermentPolicy(ReferencePolicy):
    """赋权: authority and capacity sink from departments to the street, one window, fewer tasks (002)."""

    name = "street_empowerment"

    def setup(self, model: ReferenceModel) -> None:
        p = self.p
        share = p.authority_share.array().tolist()
        auth = model.authority
        sunk = [False] * N_CATEGORIES
        for k in range(N_CATEGORIES):  # a category sinks when the street would gain authority
            target = share[k] * auth[DEPARTMENT][k]
            if target > auth[STREET][k]:
                auth[STREET][k] = min(target, 1.0)
                sunk[k] = True
        moved = 0.0  # capacity follows the task, for sunk categories only
        for k, dept in enumerate(model.departments):
            if sunk[k]:
                m = dept.cap * p.capacity_moved
                dept.cap -= m
                moved += m
        n = len(model.residents)
        for street in model.streets:
            street.cap += moved * len(street.residents) / n
        if p.admin_at_street:
            model.admin_entry_level = STREET
        for comm in model.communities:
            comm.admin_tasks *= 1.0 - p.admin_task_cut

    def cost_per_day(self, model: ReferenceModel) -> float:
        return self.p.cost_per_street_per_year * len(model.streets) / 365


# ---- 8.4 whistle ---------------------------------------------------------------------------------------------
class WhistlePolicy(ReferencePolicy):
    """吹哨报到: deadlines, the city level, departments report for duty, collection, follow-up (002)."""

    name = "whistle"

    def setup(self, model: ReferenceModel) -> None:
        p = self.p
        if p.city_level:
            model.top_level = CITY
        model.deadline[COMMUNITY] = p.deadline_community
        model.deadline[STREET] = p.deadline_street
        model.deadline[DEPARTMENT] = p.deadline_department
        model.add_capacity(DEPARTMENT, [d.cap * p.report_capacity_share for d in model.departments])
        model.flag_success[FLAG_BIT["whistle"].bit_length() - 1] *= p.report_boost  # whistled matters only
        model.rate_abandon *= 1.0 - p.abandon_cut
        model.no_recontact_flags |= FLAG_BIT["whistle"]

    def cost_per_day(self, model: ReferenceModel) -> float:
        return self.p.cost_per_community_per_year * len(model.communities) / 365

    def on_find(self, model: ReferenceModel, t: int) -> None:
        """Monthly collection of big and major latent problems from units and on the ground."""
        p = self.p
        if t <= 0 or t % p.dur_collect != 0:
            return
        rng = self.rng(model)
        collected = [pr for pr in model.problems
                     if not pr.closed and pr.status == LATENT and pr.t_found < 0 and pr.sev >= BIG
                     and rng.random() < p.p_collect]
        model.mark_found(collected, POLICY_FIND, t)
        n = 0
        for pr in collected:
            if not pr.flags & FLAG_BIT["whistle"]:
                pr.flags |= FLAG_BIT["whistle"]
                n += 1
        if n > 0:
            self.count(model, "entered", n)
            self.count(model, "entered_collected", n)

    def on_escalate(self, model: ReferenceModel, t: int) -> None:
        """Problems escalated today to the street or above enter the whistle process."""
        n = 0
        for pr in model.problems:
            if (not pr.closed and pr.status == QUEUED and pr.t_level == t and pr.t_found < t
                    and pr.level in (STREET, DEPARTMENT, CITY) and not pr.flags & FLAG_BIT["whistle"]):
                pr.flags |= FLAG_BIT["whistle"]
                n += 1
        if n > 0:
            self.count(model, "entered", n)
            self.count(model, "entered_escalated", n)


_ALL: tuple[type[ReferencePolicy], ...] = (GridPolicy, AlliancePolicy, StreetEmpowermentPolicy, WhistlePolicy,
                                           *POLICIES)
REGISTRY: dict[str, type[ReferencePolicy]] = {cls.name: cls for cls in _ALL}


def make_policy(name: str, params: Any) -> ReferencePolicy:
    """The reference policy ``name`` with its validated parameters."""
    if name not in REGISTRY:
        raise NotImplementedError(f"policy {name!r} has no reference implementation; have: {sorted(REGISTRY)}")
    return REGISTRY[name](params)


__all__ = ["GRID", "REGISTRY", "ReferencePolicy", "make_policy"]
