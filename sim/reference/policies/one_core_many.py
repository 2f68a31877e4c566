"""Reference one_core_many policy (docs/model.md §8.7): downward moves, teams, compound ratings, sensors.

004 is a proposal, not an evaluated reform (see the scenario file).
"""

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
        self.staff_days = 0.0
        self.staff = [0.0] * len(model.communities)
        if p.downward_moves:
            model.boost(COMMUNITY, p.first_secretary_boost)
            self.staff_days = p.n_street_staff_per_community * p.half_days_per_week * 0.5 / 7
            self.send_staff(model, [self.staff_days] * len(model.communities))
            for s in model.streets:
                lost = len(s.communities) * self.staff_days * p.share_street_handling
                s.cap = max(s.cap - lost * model.sc.community.capacity_per_staff, 0.0)
        if p.seven_teams:
            for r in model.residents:
                r.vm *= p.teams_volunteer_mult
                r.recognition = max(r.recognition, p.teams_recognition)
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
        self.complaints = {x.cid: 0 for x in model.compounds}
        self.red: list[Compound] = []

    def send_staff(self, model: ReferenceModel, staff: list[float]) -> None:
        """Sent-down staff-days a day per community, replacing the last allocation."""
        cap = model.sc.community.capacity_per_staff
        model.add_capacity(COMMUNITY, [(s - o) * cap for s, o in zip(staff, self.staff, strict=True)])
        self.staff = staff

    def cost_per_day(self, model: ReferenceModel) -> float:
        """Yuan a day: the sent-down staff's pay for their time, teams and sensors."""
        p, c = self.p, model.sc.costs
        cost = 0.0
        if p.downward_moves:
            cost += sum(self.staff) * c.pay_street_staff / 30.0
        if p.seven_teams:
            cost += c.teams_cost_per_community_per_year * len(model.communities) / 365
        if p.sensors:
            cost += c.sensor_cost_per_household_per_year * len(model.households) / 365
        return cost

    def on_plan(self, model: ReferenceModel, t: int) -> None:
        """Quarterly red-yellow-green rating of compounds from their outcomes; steer priority, success, staff."""
        p = self.p
        if not p.ratings or self.days(t) <= 0 or self.days(t) % p.dur_rating != 0:
            return
        rng = self.rng(model)
        parts = []
        for table in (self.backlog, self.complaints):
            parts.append({x.cid: table[x.cid] / max(len(x.residents), 1) for x in model.compounds})
        parts.append({x.cid: 1.0 - sum(r.S for r in x.residents) / max(len(x.residents), 1) for x in model.compounds})
        means = [max(sum(d.values()) / len(d), 1e-12) for d in parts]
        score = {x.cid: sum(d[x.cid] / mu for d, mu in zip(parts, means, strict=True)) for x in model.compounds}
        self.backlog = {x.cid: 0 for x in model.compounds}
        self.complaints = {x.cid: 0 for x in model.compounds}
        n_red = round(p.share_red * len(model.compounds))
        ties = {x.cid: rng.random() for x in model.compounds}
        red = sorted(model.compounds, key=lambda x: (-score[x.cid], ties[x.cid]))[:n_red]
        self.count(model, "red_ratings", n_red)
        self.count(model, "green_ratings", n_red)
        if p.downward_moves:
            n_comm = len(model.communities)
            per = [sum(1 for x in red if x.community is c) for c in model.communities]
            total = self.staff_days * n_comm
            share = [k / max(sum(per), 1) for k in per] if n_red else [1 / n_comm] * n_comm
            self.send_staff(model, [total * ((1 - p.share_staff_to_red) / n_comm + p.share_staff_to_red * s)
                                    for s in share])
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
        """Accumulate each compound's end-of-day backlog and overdue problems for the next rating."""
        if self.p.ratings:
            for pr in queued(model):
                self.backlog[pr.res.compound.cid] += 1
                if t - pr.t_found > model.dur_expected_wait[pr.sev]:
                    self.complaints[pr.res.compound.cid] += 1
