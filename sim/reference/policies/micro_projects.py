"""Reference micro_projects policy (docs/model.md §8.6): a yearly fund drawn down by projects residents suggest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sim.config.taxonomy import COMMUNITY, FLAG_BIT, MATURE, NEW, OLD, POLICY_FIND
from sim.reference.agents import Compound, Problem, Resident
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

#: A project's scope (suggested and worked on) and what it prevents on completion, by compound type.
SCOPE = {OLD: (SANITATION, PROPERTY_CAT, PARKING), MATURE: (CARE, HEALTH), NEW: (DISPUTE,)}
PREVENTED = {OLD: ((SANITATION, PROPERTY_CAT, PARKING), "prevent_engineering"),
             MATURE: ((CARE,), "prevent_service"), NEW: ((DISPUTE,), "prevent_neighbourly")}
PROJECT_KIND = {OLD: "projects_engineering", MATURE: "projects_service", NEW: "projects_neighbourly"}


@dataclass
class Project:
    """One funded project: its compound, cost, days of work and effort not yet spent."""

    compound: Compound
    cost: float
    t_start: int
    t_end: int
    credit: float = 0.0
    solved: int = 0
    score: float = float("nan")  # evaluation: solved / (solved + scope still open at completion)


def effort(model: ReferenceModel, pr: Problem) -> float:
    """Staff-days the problem needs: the effort table, by category and severity (§5.4)."""
    return float(model.effort[pr.cat][pr.sev])


class MicroProjectsPolicy(ReferencePolicy):
    """党建项目"微服务": five steps, a yearly fund, projects by compound type, time banks (003)."""

    name = "micro_projects"

    def setup(self, model: ReferenceModel) -> None:
        """No fund year, projects, suggestions or time banks yet."""
        self.year = -1
        self.remaining = {c.index: 0.0 for c in model.communities}
        self.support: dict[int, int] = {}
        self.projects: list[Project] = []
        self.done_today: list[Project] = []
        self.spend_today = 0.0
        self.banks: dict[int, dict[Resident, int]] = {}  # community -> remembered volunteer turns
        self.v_previous = 0

    def cost_per_day(self, model: ReferenceModel) -> float:
        """Yuan a day: what the running projects spend."""
        return self.spend_today

    def on_plan(self, model: ReferenceModel, t: int) -> None:
        """A new fund year: the rest lapses, each community gets the fund."""
        year = self.days(t) // 365
        if year != self.year:
            if self.year >= 0:
                self.count(model, "lapsed", sum(self.remaining.values()))
            self.year = year
            for c in self.remaining:
                self.remaining[c] = model.sc.costs.fund_micro_projects

    def on_find(self, model: ReferenceModel, t: int) -> None:
        """Collection window: residents voice latent problems; decision day: deliberate."""
        p = self.p
        day = self.days(t) % p.dur_cycle
        decide = p.dur_push + p.dur_collect + p.dur_deliberate
        if p.dur_push <= day < p.dur_push + p.dur_collect:
            if day == p.dur_push:
                self.support = {}
            rng = self.rng(model)
            voiced = [pr for pr in latent_unfound(model)
                      if rng.random() < 1 - (1 - p.p_suggest_latent * pr.res.p_tell()) ** (1 / p.dur_collect)]
            model.mark_found(voiced, POLICY_FIND, t)
            self.count(model, "suggestions_voiced", len(voiced))
            for pr in voiced:
                x = pr.res.compound
                if pr.cat in SCOPE[x.ctype]:
                    self.support[x.cid] = self.support.get(x.cid, 0) + 1
        elif day == decide:
            self.deliberate(model, t, decide)

    def deliberate(self, model: ReferenceModel, t: int, decide: int) -> None:
        """Rank supported compounds; fund them within the round's share of the year's rest."""
        p, costs = self.p, model.sc.costs.cost_micro_project.array().tolist()
        d = self.days(t)
        rounds_left = ((d // 365 + 1) * 365 - 1 - decide) // p.dur_cycle - (d - decide) // p.dur_cycle + 1
        busy = {pj.compound.cid for pj in self.projects if pj.t_start <= t < pj.t_end}
        rng = self.rng(model)
        proposed = rejected = 0
        chosen: list[Compound] = []
        for comm in model.communities:
            cands = [x for x in comm.compounds if self.support.get(x.cid, 0) >= p.min_support and x.cid not in busy]
            cands.sort(key=lambda x: (-self.support[x.cid], costs[x.ctype], x.cid))
            allot, committed = self.remaining[comm.index] / rounds_left, 0.0
            for x in cands:
                if committed >= allot or costs[x.ctype] > self.remaining[comm.index]:
                    continue
                proposed += 1
                if rng.random() >= p.p_approved:
                    rejected += 1
                    continue
                committed += costs[x.ctype]
                self.remaining[comm.index] -= costs[x.ctype]
                chosen.append(x)
        self.count(model, "proposals", proposed)
        self.count(model, "proposals_rejected", rejected)
        dur = p.dur_implement.array().tolist()
        for x in chosen:
            self.projects.append(Project(x, costs[x.ctype], t, t + round(dur[x.ctype])))
        for kind in (OLD, MATURE, NEW):
            self.count(model, PROJECT_KIND[kind], sum(1 for x in chosen if x.ctype == kind))
        self.count(model, "projects", len(chosen))
        self.open_banks(model, chosen)

    def open_banks(self, model: ReferenceModel, chosen: list[Compound]) -> None:
        """A community's time bank opens with its first project."""
        opened = 0
        for x in chosen:
            comm = x.community
            if comm.index not in self.banks:
                self.banks[comm.index] = {r: r.volunteer_turns for r in comm.residents}
                for r in comm.residents:
                    r.vm *= 1.0 + self.p.time_bank_boost
                opened += 1
        if opened:
            self.count(model, "time_banks", opened)

    def on_handle(self, model: ReferenceModel, t: int) -> None:
        """Complete the projects due today; the running ones spend and work on their scope."""
        p = self.p
        self.done_today = [pj for pj in self.projects if pj.t_end == t]
        for pj in self.done_today:
            x = pj.compound
            still_open = sum(1 for pr in queued(model) if pr.res.compound is x and pr.cat in SCOPE[x.ctype])
            pj.score = pj.solved / max(pj.solved + still_open, 1)
            cats, strength = PREVENTED[x.ctype]
            for k in cats:
                x.p_prevent[k] = combine(x.p_prevent[k], getattr(p, strength))
        if self.done_today:
            self.count(model, "projects_completed", len(self.done_today))
        running = [pj for pj in self.projects if pj.t_start <= t < pj.t_end]
        self.spend_today = sum(pj.cost / (pj.t_end - pj.t_start) for pj in running)
        if self.spend_today:
            self.count(model, "spent", self.spend_today)
        per_day = p.effort_per_day.array().tolist()
        solved: list[Problem] = []
        for pj in running:
            x = pj.compound
            pj.credit += per_day[x.ctype]
            scope = sorted((pr for pr in queued(model) if pr.res.compound is x and pr.cat in SCOPE[x.ctype]),
                           key=lambda pr: pr.t_found)
            for pr in scope:
                if effort(model, pr) > pj.credit + 1e-9:
                    break
                pj.credit -= effort(model, pr)
                pj.solved += 1
                solved.append(pr)
        for pr in solved:
            pr.flags |= FLAG_BIT["project"]
            model.resolve_at(pr, COMMUNITY, t, own=True)  # the project's effort, counted above
        if solved:
            self.count(model, "problems_solved", len(solved))

    def on_participate(self, model: ReferenceModel, t: int) -> None:
        """Residents take part in evaluating the projects completed today; count the talent pool."""
        if self.done_today:
            rng = self.rng(model)
            drawn: set[Resident] = set()
            share = self.p.p_take_part.array().tolist()
            for pj in self.done_today:
                pool = pj.compound.residents
                for _ in range(bernoulli_count(rng, len(pool), share[pj.compound.ctype])):
                    drawn.add(pool[int(rng.random() * len(pool))])
            for r in drawn:
                r.gain(1)
            self.count(model, "participants", len(drawn))
            self.done_today = []
        if self.banks:
            v = sum(1 for bank in self.banks.values() for r, turns in bank.items() if r.volunteer_turns > turns)
            self.count(model, "volunteers", v - self.v_previous)
            self.v_previous = v
