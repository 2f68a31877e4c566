"""Reference implementations of four_empowerments, micro_projects and one_core_many (docs/model.md §8.5–8.7)."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import TYPE_CHECKING

from sim.config.taxonomy import (
    CATEGORIES,
    COMMUNITY,
    FLAG_BIT,
    GRID,
    LATENT,
    MATURE,
    N_CATEGORIES,
    NEW,
    OLD,
    PARTY_LINK,
    POLICY_FIND,
    QUEUED,
)
from sim.reference.agents import Compound, Problem, PropertyFirm, Resident
from sim.reference.policy_base import ReferencePolicy
from sim.reference.streams import bernoulli_count, poisson

if TYPE_CHECKING:
    from sim.reference.model import ReferenceModel

SANITATION, PARKING, DISPUTE, CARE, SAFETY, PROPERTY_CAT, ADMIN, HEALTH = range(N_CATEGORIES)
MAJOR = 3


def combine(p: float, e: float) -> float:
    """Prevention chances combine as ``1 − (1 − p)(1 − e)``."""
    return 1.0 - (1.0 - p) * (1.0 - e)


def latent_unfound(model: ReferenceModel) -> list[Problem]:
    """Open problems that are latent and not yet found."""
    return [pr for pr in model.problems if not pr.closed and pr.status == LATENT and pr.t_found < 0]


def queued(model: ReferenceModel) -> list[Problem]:
    """Open queued problems, in the order of arising."""
    return [pr for pr in model.problems if not pr.closed and pr.status == QUEUED]


# ---- 8.5 four_empowerments -----------------------------------------------------------------------------------
class FourEmpowermentsPolicy(ReferencePolicy):
    """赋能、赋责、赋利: venues, platform, monitoring, lists, deliberation, trusteeship, elderly care (001)."""

    name = "four_empowerments"

    def setup(self, model: ReferenceModel) -> None:
        p = self.p
        if p.capability:
            for c in model.communities:
                c.event_rate *= p.venue_event_mult
                c.report_mult *= p.platform_report_mult
        if p.responsibility:
            for c in model.communities:
                c.event_rate += p.n_volunteer_events_per_year / 365
        settle = p.deliberation_settle.array().tolist()
        if p.deliberation:
            f = [p.deliberation_boost if settle[k] > 0 else 1.0 for k in range(N_CATEGORIES)]
            model.boost(COMMUNITY, f)
            model.boost(GRID, f)
        self.trustee: list[Compound] = []
        if p.trusteeship:
            for comp in model.compounds:
                if comp.ctype == OLD and comp.firm is None:
                    cap = p.trusteeship_capacity_per_100_households * len(comp.households) / 100.0
                    firm = PropertyFirm(model, comp, p.trusteeship_quality, cap)
                    comp.firm = firm
                    model.firms.append(firm)
                    comp.p_prevent[SANITATION] = combine(comp.p_prevent[SANITATION],
                                                         p.trusteeship_p_prevent_sanitation)
                    self.trustee.append(comp)
            self.count(model, "trusteeship_compounds", len(self.trustee))
        if p.elderly_care:
            model.boost(COMMUNITY, [p.care_boost if k == CARE else 1.0 for k in range(N_CATEGORIES)])
            prev = p.p_prevent_care.array().tolist()
            for comp in model.compounds:
                comp.p_prevent[CARE] = combine(comp.p_prevent[CARE], prev[comp.ctype])

    def cost_per_day(self, model: ReferenceModel) -> float:
        p = self.p
        n_comm = len(model.communities)
        cost = 0.0
        if p.capability:
            cost += p.platform_cost_per_community_per_year * n_comm / 365
            if model.t == 0:
                cost += p.venue_cost_per_community * n_comm
        if p.trusteeship:
            cost += p.trusteeship_subsidy_per_household_per_month * sum(len(c.households) for c in self.trustee) / 30
        if p.elderly_care:
            cost += p.elderly_care_cost_per_community_per_year * n_comm / 365
        return cost

    def on_find(self, model: ReferenceModel, t: int) -> None:
        """Monitoring finds safety problems; monthly lists collect suggestions."""
        p = self.p
        rng = self.rng(model)
        if p.capability and p.p_monitor_find > 0:
            found = [pr for pr in latent_unfound(model) if pr.cat == SAFETY and rng.random() < p.p_monitor_find]
            model.mark_found(found, POLICY_FIND, t)
            self.count(model, "monitor_found", len(found))
        if p.responsibility and t > 0 and t % p.dur_lists == 0 and p.p_suggest > 0:
            found = [pr for pr in latent_unfound(model) if rng.random() < p.p_suggest]
            model.mark_found(found, POLICY_FIND, t)
            self.count(model, "suggestions", len(found))

    def on_handle(self, model: ReferenceModel, t: int) -> None:
        """Claimed projects on list days, then deliberation meetings."""
        p = self.p
        rng = self.rng(model)
        if p.responsibility and t > 0 and t % p.dur_lists == 0:
            claimable = p.claimable.array().tolist()
            need: dict[tuple[int, int], list[Problem]] = defaultdict(list)
            for pr in queued(model):
                if claimable[pr.cat] > 0:
                    need[(pr.res.community.index, pr.cat)].append(pr)
            assigned = 0
            solved: list[Problem] = []
            for comm in model.communities:
                n_proj = poisson(rng, p.n_projects_per_month * p.dur_lists / 30)
                ranked = sorted(range(N_CATEGORIES), key=lambda k: (-len(need[(comm.index, k)]), k))
                ranked = [k for k in ranked if need[(comm.index, k)]]
                m = len(ranked)
                if m == 0:
                    continue
                assigned += n_proj
                for r, k in enumerate(ranked):
                    projects = n_proj // m + (1 if r < n_proj % m else 0)
                    cell = sorted(need[(comm.index, k)], key=lambda pr: (pr.t_arise, pr.uid))
                    solved.extend(cell[: min(projects * p.problems_per_project, len(cell))])
            self.count(model, "projects_claimed", assigned)
            for pr in solved:
                pr.flags |= FLAG_BIT["project"]
                model.resolve_at(pr, COMMUNITY, t)
        if p.deliberation and t > 0 and t % p.dur_deliberation == 0:
            self.count(model, "deliberations", len(model.compounds))
            settle = p.deliberation_settle.array().tolist()
            for pr in queued(model):
                if pr.sev < MAJOR and settle[pr.cat] > 0 and rng.random() < settle[pr.cat]:
                    pr.flags |= FLAG_BIT["deliberation"]
                    model.resolve_at(pr, COMMUNITY, t)


# ---- 8.6 micro_projects --------------------------------------------------------------------------------------
#: Categories solved at implementation and (categories, strength parameter) prevented, by compound type.
SOLVED = {OLD: (SANITATION, PROPERTY_CAT, PARKING), MATURE: (CARE, HEALTH), NEW: ()}
PREVENTED = {OLD: ((SANITATION, PROPERTY_CAT, PARKING), "prevent_engineering"),
             MATURE: ((CARE,), "prevent_service"), NEW: ((DISPUTE,), "prevent_neighbourly")}
PROJECT_KIND = {OLD: "projects_engineering", MATURE: "projects_service", NEW: "projects_neighbourly"}


class MicroProjectsPolicy(ReferencePolicy):
    """党建项目"微服务": funded micro projects by compound type, prevention, time banks (003)."""

    name = "micro_projects"

    def setup(self, model: ReferenceModel) -> None:
        self.budget = {c.index: 0.0 for c in model.communities}
        self.due: list[tuple[Compound, int]] = []
        self.today: list[Compound] = []
        self.banks: dict[int, dict[Resident, int]] = {}  # community -> remembered volunteer turns
        self.v_previous = 0

    def cost_per_day(self, model: ReferenceModel) -> float:
        return self.p.fund_per_community_per_year * len(model.communities) / 365

    def on_find(self, model: ReferenceModel, t: int) -> None:
        """Collection day: voice latent problems, propose and approve projects."""
        p = self.p
        if t < p.dur_collect or (t - p.dur_collect) % p.dur_cycle != 0:
            return
        rng = self.rng(model)
        voiced = [pr for pr in latent_unfound(model) if rng.random() < p.p_suggest_latent]
        model.mark_found(voiced, POLICY_FIND, t)
        known = [pr for pr in model.problems if not pr.closed
                 and (pr.status == QUEUED or (pr.status == LATENT and pr.t_found >= 0))]
        self.count(model, "suggestions", len(known))
        self.count(model, "suggestions_voiced", len(voiced))
        n_known: dict[int, int] = defaultdict(int)
        for pr in known:
            n_known[pr.res.compound.cid] += 1
        proposals: list[Compound] = []
        for comm in model.communities:
            self.budget[comm.index] += p.fund_per_community_per_year * p.dur_cycle / 365
            n_afford = math.floor(self.budget[comm.index] / p.cost_per_project)
            needs = {x.cid: n_known[x.cid] / max(len(x.residents), 1) for x in comm.compounds}
            ranked = sorted(comm.compounds, key=lambda x: (-needs[x.cid], x.cid))
            proposals.extend([x for x in ranked if needs[x.cid] > 0][:n_afford])
        self.count(model, "proposals", len(proposals))
        rejected = 0
        for x in proposals:
            if rng.random() < p.p_approved:
                self.budget[x.community.index] -= p.cost_per_project
                self.due.append((x, t + p.dur_implement))
            else:
                rejected += 1
        self.count(model, "proposals_rejected", rejected)

    def on_handle(self, model: ReferenceModel, t: int) -> None:
        """Implement the projects due today: solve, prevent, open time banks."""
        p = self.p
        due_today = [x for x, d in self.due if d == t]
        if not due_today:
            self.today = []
            return
        self.due = [(x, d) for x, d in self.due if d != t]
        today = list({x.cid: x for x in due_today}.values())
        self.today = today
        for kind in (OLD, MATURE, NEW):
            self.count(model, PROJECT_KIND[kind], sum(1 for x in today if x.ctype == kind))
        self.count(model, "projects", len(today))
        ids = {x.cid for x in today}
        solved = [pr for pr in queued(model)
                  if pr.res.compound.cid in ids and pr.cat in SOLVED[pr.res.compound.ctype]]
        for pr in solved:
            pr.flags |= FLAG_BIT["project"]
            model.resolve_at(pr, COMMUNITY, t)
        if solved:
            self.count(model, "problems_solved", len(solved))
        for x in today:
            cats, strength = PREVENTED[x.ctype]
            for k in cats:
                x.p_prevent[k] = combine(x.p_prevent[k], getattr(p, strength))
        opened = 0
        for x in today:
            comm = x.community
            if comm.index not in self.banks:
                self.banks[comm.index] = {r: r.volunteer_turns for r in comm.residents}
                for r in comm.residents:
                    r.vm *= 1.0 + p.time_bank_boost
                opened += 1
        if opened:
            self.count(model, "time_banks", opened)

    def on_participate(self, model: ReferenceModel, t: int) -> None:
        """Residents take part in evaluating today's projects; count the talent pool."""
        p = self.p
        if self.today:
            rng = self.rng(model)
            drawn: set[Resident] = set()
            share = p.p_take_part.array().tolist()
            for x in self.today:
                pool = x.residents
                for _ in range(bernoulli_count(rng, len(pool), share[x.ctype])):
                    drawn.add(pool[int(rng.random() * len(pool))])
            for r in drawn:
                r.gain(1)
            self.count(model, "participants", len(drawn))
            self.today = []
        if self.banks:
            v = sum(1 for bank in self.banks.values() for r, turns in bank.items() if r.volunteer_turns > turns)
            self.count(model, "volunteers", v - self.v_previous)
            self.v_previous = v


# ---- 8.7 one_core_many ---------------------------------------------------------------------------------------
class OneCoreManyPolicy(ReferencePolicy):
    """一核多元: downward moves, seven teams, red ratings, sensors, admission list (004)."""

    name = "one_core_many"

    def setup(self, model: ReferenceModel) -> None:
        p = self.p
        if p.downward_moves:
            model.boost(COMMUNITY, p.first_secretary_boost)
            staff_days = p.n_street_staff_per_community * p.half_days_per_week * 0.5 / 7
            model.add_capacity(COMMUNITY, staff_days * model.sc.community.capacity_per_staff)
        if p.seven_teams:
            for r in model.residents:
                r.vm *= p.teams_volunteer_mult
            gain = [1.0 + g for g in p.teams_gain.array().tolist()]
            model.boost(COMMUNITY, gain)
            model.boost(GRID, gain)
            for c in model.communities:
                c.event_rate *= p.teams_event_mult
        if p.sensors and p.p_prevent_major_safety > 0:
            w = model.sc.problems.severity_weights.matrix().tolist()[SAFETY]
            e = p.p_prevent_major_safety * w[MAJOR] / sum(w)
            for x in model.compounds:
                x.p_prevent[SAFETY] = combine(x.p_prevent[SAFETY], e)
        if p.admission_list:
            for c in model.communities:
                c.admin_cap = min(c.admin_cap, p.admin_cap)
        self.backlog = {x.cid: 0 for x in model.compounds}
        self.red: list[Compound] = []

    def cost_per_day(self, model: ReferenceModel) -> float:
        p = self.p
        cost = 0.0
        if p.seven_teams:
            cost += p.teams_cost_per_community_per_year * len(model.communities) / 365
        if p.sensors:
            cost += p.sensor_cost_per_household_per_year * len(model.households) / 365
        return cost

    def on_plan(self, model: ReferenceModel, t: int) -> None:
        """Quarterly red-yellow-green rating of compounds by backlog."""
        p = self.p
        if not p.ratings or t <= 0 or t % p.dur_rating != 0:
            return
        rng = self.rng(model)
        score = {x.cid: self.backlog[x.cid] / max(len(x.residents), 1) for x in model.compounds}
        self.backlog = {x.cid: 0 for x in model.compounds}
        n_red = round(p.share_red * len(model.compounds))
        ties = {x.cid: rng.random() for x in model.compounds}
        red = sorted(model.compounds, key=lambda x: (-score[x.cid], ties[x.cid]))[:n_red]
        self.count(model, "red_ratings", n_red)
        for x in self.red:
            x.priority_days -= p.red_priority_days
            for h in [*x.grids, *([x.firm] if x.firm is not None else [])]:
                h.mult = [m / p.red_boost for m in h.mult]
        for x in red:
            x.priority_days += p.red_priority_days
            for h in [*x.grids, *([x.firm] if x.firm is not None else [])]:
                h.mult = [m * p.red_boost for m in h.mult]
        self.red = red

    def on_find(self, model: ReferenceModel, t: int) -> None:
        """Sensors find safety problems; compound branches find problems."""
        p = self.p
        rng = self.rng(model)
        if p.sensors and p.p_sensor_find > 0:
            found = [pr for pr in latent_unfound(model) if pr.cat == SAFETY and rng.random() < p.p_sensor_find]
            model.mark_found(found, POLICY_FIND, t)
            for pr in found:
                pr.flags |= FLAG_BIT["sensor"]
            self.count(model, "sensor_found", len(found))
        if p.downward_moves and p.p_branch_find > 0:
            found = [pr for pr in latent_unfound(model) if rng.random() < p.p_branch_find]
            model.mark_found(found, PARTY_LINK, t)
            self.count(model, "branch_found", len(found))

    def on_route(self, model: ReferenceModel, t: int) -> None:
        """Count the safety problems routed today and how long they took to be found."""
        routed = [pr for pr in model.problems if not pr.closed and pr.status == QUEUED and pr.cat == SAFETY
                  and pr.t_level == t and pr.t_found == t]
        for counter, value in (("safety_found", len(routed)),
                               ("safety_found_early", sum(1 for pr in routed if t - pr.t_arise <= 1)),
                               ("safety_days_to_find", sum(t - pr.t_arise for pr in routed))):
            if value > 0:
                self.count(model, counter, value)

    def on_record(self, model: ReferenceModel, t: int) -> None:
        """Accumulate each compound's end-of-day backlog for the next rating."""
        if self.p.ratings:
            for pr in queued(model):
                self.backlog[pr.res.compound.cid] += 1


POLICIES: tuple[type[ReferencePolicy], ...] = (FourEmpowermentsPolicy, MicroProjectsPolicy, OneCoreManyPolicy)
__all__ = ["CATEGORIES", "POLICIES"]
