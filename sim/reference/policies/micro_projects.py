"""Reference micro_projects policy (docs/model.md §8.6): funded micro projects by compound type, time banks."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import TYPE_CHECKING

from sim.config.taxonomy import (
    COMMUNITY,
    FLAG_BIT,
    LATENT,
    MATURE,
    NEW,
    OLD,
    POLICY_FIND,
    QUEUED,
)
from sim.reference.agents import Compound, Resident
from sim.reference.policies.base import (
    CARE,
    DISPUTE,
    HEALTH,
    PARKING,
    PROPERTY_CAT,
    SANITATION,
    ReferencePolicy,
    combine,
    latent_unfound,
    queued,
)
from sim.reference.streams import bernoulli_count

if TYPE_CHECKING:
    from sim.reference.model import ReferenceModel


#: Categories solved at implementation and (categories, strength parameter) prevented, by compound type.
SOLVED = {OLD: (SANITATION, PROPERTY_CAT, PARKING), MATURE: (CARE, HEALTH), NEW: ()}
PREVENTED = {OLD: ((SANITATION, PROPERTY_CAT, PARKING), "prevent_engineering"),
             MATURE: ((CARE,), "prevent_service"), NEW: ((DISPUTE,), "prevent_neighbourly")}
PROJECT_KIND = {OLD: "projects_engineering", MATURE: "projects_service", NEW: "projects_neighbourly"}


class MicroProjectsPolicy(ReferencePolicy):
    """党建项目"微服务": funded micro projects by compound type, prevention, time banks (003)."""

    name = "micro_projects"

    def setup(self, model: ReferenceModel) -> None:
        """Empty budgets, project queue and time banks."""
        self.budget = {c.index: 0.0 for c in model.communities}
        self.due: list[tuple[Compound, int]] = []
        self.today: list[Compound] = []
        self.banks: dict[int, dict[Resident, int]] = {}  # community -> remembered volunteer turns
        self.v_previous = 0

    def cost_per_day(self, model: ReferenceModel) -> float:
        """Yuan a day: the micro-project fund."""
        return self.p.fund_per_community_per_year * len(model.communities) / 365

    def on_find(self, model: ReferenceModel, t: int) -> None:
        """Collection day: voice latent problems, propose and approve projects."""
        p = self.p
        d = self.days(t)
        if d < p.dur_collect or (d - p.dur_collect) % p.dur_cycle != 0:
            return
        rng = self.rng(model)
        voiced = [pr for pr in latent_unfound(model) if rng.random() < p.p_suggest_latent * pr.res.p_tell()]
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
