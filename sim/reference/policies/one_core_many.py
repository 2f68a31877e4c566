"""Reference one_core_many policy (docs/model.md §8.7): downward moves, teams, red ratings, sensors."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.config.taxonomy import (
    COMMUNITY,
    FLAG_BIT,
    GRID,
    PARTY_LINK,
    POLICY_FIND,
    QUEUED,
)
from sim.reference.agents import Compound
from sim.reference.policies.base import MAJOR, SAFETY, ReferencePolicy, combine, latent_unfound, queued

if TYPE_CHECKING:
    from sim.reference.model import ReferenceModel


class OneCoreManyPolicy(ReferencePolicy):
    """一核多元: downward moves, seven teams, red ratings, sensors, admission list (004)."""

    name = "one_core_many"

    def setup(self, model: ReferenceModel) -> None:
        """Downward moves, seven teams, sensors' prevention, the admission list; empty backlogs."""
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
        """Yuan a day: teams and sensors."""
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
        if not p.ratings or self.days(t) <= 0 or self.days(t) % p.dur_rating != 0:
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
