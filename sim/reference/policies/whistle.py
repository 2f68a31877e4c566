"""Reference whistle policy (docs/model.md §8.4): deadlines, the city level, reporting for duty, collection."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.config.taxonomy import (
    CITY,
    COMMUNITY,
    DEPARTMENT,
    FLAG_BIT,
    LATENT,
    POLICY_FIND,
    QUEUED,
    STREET,
)
from sim.reference.policies.base import BIG, ReferencePolicy

if TYPE_CHECKING:
    from sim.reference.model import ReferenceModel


class WhistlePolicy(ReferencePolicy):
    """吹哨报到: deadlines, the city level, departments report for duty, collection, follow-up (002)."""

    name = "whistle"

    def setup(self, model: ReferenceModel) -> None:
        """The city level, deadlines, report-for-duty capacity, the whistle's success boost and abandonment cut."""
        p = self.p
        if p.city_level:
            model.top_level = CITY
        model.deadline[COMMUNITY] = p.deadline_community
        model.deadline[STREET] = p.deadline_street
        model.deadline[DEPARTMENT] = p.deadline_department
        model.add_capacity(DEPARTMENT, [d.cap * p.report_capacity_share for d in model.departments])
        model.flag_success[FLAG_BIT["whistle"].bit_length() - 1] *= p.report_boost  # whistled matters only
        model.rate_abandon *= 1.0 - p.abandon_cut
        model.represented_flags |= FLAG_BIT["whistle"]

    def cost_per_day(self, model: ReferenceModel) -> float:
        """Yuan a day: the whistle process per community."""
        return self.p.cost_per_community_per_year * len(model.communities) / 365

    def on_find(self, model: ReferenceModel, t: int) -> None:
        """Monthly collection of big and major latent problems from units and on the ground."""
        p = self.p
        if self.days(t) <= 0 or self.days(t) % p.dur_collect != 0:
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
