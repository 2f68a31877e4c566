"""Reference four_empowerments policy (docs/model.md §8.5): venues, lists, deliberation, trusteeship, care."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from sim.config.taxonomy import (
    COMMUNITY,
    FLAG_BIT,
    GRID,
    N_CATEGORIES,
    OLD,
    POLICY_FIND,
)
from sim.reference.agents import Compound, Problem, PropertyFirm
from sim.reference.policies.base import (
    CARE,
    MAJOR,
    SAFETY,
    SANITATION,
    ReferencePolicy,
    combine,
    latent_unfound,
    queued,
)
from sim.reference.streams import poisson

if TYPE_CHECKING:
    from sim.reference.model import ReferenceModel


def within(model: ReferenceModel, cell: list[Problem], budget: float) -> list[Problem]:
    """The leading problems of ``cell`` whose summed effort (the core's effort per problem) fits in ``budget``."""
    out: list[Problem] = []
    used = 0.0
    for pr in cell:
        used += model.effort[pr.cat][pr.sev]
        if used > budget + 1e-9:
            break
        out.append(pr)
    return out


class FourEmpowermentsPolicy(ReferencePolicy):
    """赋能、赋责、赋利: venues, platform, monitoring, lists, deliberation, trusteeship, elderly care (001)."""

    name = "four_empowerments"

    def setup(self, model: ReferenceModel) -> None:
        """Switch on the chosen empowerments: venues, platform, volunteer events, deliberation, trusteeship, care."""
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
                    firm.community_run = True  # the community does not leave (§7.13)
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
        """Yuan a day: platform, venues (on the reform day), trusteeship subsidy and elderly care."""
        p, c = self.p, model.sc.costs
        n_comm = len(model.communities)
        cost = 0.0
        if p.capability:
            cost += c.platform_cost_per_community_per_year * n_comm / 365
            if model.clock == self.t_start:  # the venues, on the reform day
                cost += c.venue_cost_per_community * n_comm
        if p.trusteeship:
            cost += c.trusteeship_subsidy_per_household_per_month * sum(len(h.households) for h in self.trustee) / 30
        if p.elderly_care:
            cost += c.elderly_care_cost_per_community_per_year * n_comm / 365
        return cost

    def on_find(self, model: ReferenceModel, t: int) -> None:
        """Monitoring finds safety problems; monthly lists collect suggestions."""
        p = self.p
        rng = self.rng(model)
        if p.capability and p.p_monitor_find > 0:
            found = [pr for pr in latent_unfound(model) if pr.cat == SAFETY and rng.random() < p.p_monitor_find]
            model.mark_found(found, POLICY_FIND, t)
            self.count(model, "monitor_found", len(found))
        if p.responsibility and self.days(t) > 0 and self.days(t) % p.dur_lists == 0 and p.p_suggest > 0:
            found = [pr for pr in latent_unfound(model) if rng.random() < p.p_suggest * pr.res.p_tell()]
            model.mark_found(found, POLICY_FIND, t)
            self.count(model, "suggestions", len(found))

    def on_handle(self, model: ReferenceModel, t: int) -> None:
        """Claimed projects on list days, then deliberation meetings."""
        p = self.p
        rng = self.rng(model)
        if p.responsibility and self.days(t) > 0 and self.days(t) % p.dur_lists == 0:
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
                    solved.extend(within(model, cell, projects * p.effort_per_project))
            self.count(model, "projects_claimed", assigned)
            for pr in solved:
                pr.flags |= FLAG_BIT["project"]
                model.resolve_at(pr, COMMUNITY, t, own=True)  # the claimants' own staff-days
        if p.deliberation and self.days(t) > 0 and self.days(t) % p.dur_deliberation == 0:
            self.count(model, "deliberations", len(model.compounds))
            settle = p.deliberation_settle.array().tolist()
            taken: dict[int, list[Problem]] = defaultdict(list)
            for pr in queued(model):
                if pr.sev < MAJOR and settle[pr.cat] > 0 and rng.random() < settle[pr.cat]:
                    taken[pr.res.compound.cid].append(pr)
            for idx in sorted(taken):
                cell = sorted(taken[idx], key=lambda pr: (pr.t_arise, pr.uid))
                for pr in within(model, cell, p.effort_per_deliberation):
                    pr.flags |= FLAG_BIT["deliberation"]
                    model.resolve_at(pr, COMMUNITY, t, own=True)  # the participants' own time
