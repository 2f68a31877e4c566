"""micro_projects — project-based micro services (党建服务项目化 "微服务", 003, Zhengzhou Huiji).

Each community has a yearly service fund (服务群众经费, 003: 300,000 yuan, cost table
``costs.fund_micro_projects``) that projects draw down; what is left at the end of a fund year
lapses and is never a cost. Rounds of ``dur_cycle`` days follow the five steps (五步工作法:
推项目, 征项目, 议项目, 落项目, 评项目):

* push (推, ``dur_push`` days): the round and the district's project reserve (项目储备) are
  announced;
* collect (征, ``dur_collect`` days: "社区金点子征集", "对话晚七点半", "小板凳议事会"): each day
  residents voice latent problems as suggestions (a share ``p_suggest_latent`` over the window,
  times each resident's chance to tell, §7.2; voiced problems become found, finder "policy");
* deliberate (议, ``dur_deliberate`` days; 群众参议、社区评议、镇(街道)审议、区级联议): every compound
  without a running project is a candidate for the project type of its compound type (003:
  engineering in unmanaged old compounds, services for "the old and the young" in mature ones,
  neighbourliness in new ones) if residents made at least ``min_support`` suggestions of that
  type's categories; candidates are ranked by support (then cheaper first) and funded in that
  order within the round's share of the year's remaining fund, each passing the four reviews
  with chance ``p_approved``;
* implement (落, ``dur_implement`` days by type): the project works ``effort_per_day`` staff-days
  a day on the queued problems of its scope (its compound, its type's categories), oldest found
  first, each needing the core's effort for its severity (``model.handlers.effort``); its cost
  is spent evenly over these days;
* evaluate (评, on completion): prevention in its compound for its type's categories starts, and a
  share ``p_take_part`` of the compound's residents take part and judge it (participation raises
  their satisfaction and trust, and with trust their chance to voice at the next collection).

A volunteer time bank ("邻"储银行 points) opens in a community with its first project; counter
``volunteers``: residents of those communities who volunteered since (社区达人库; 003: 400+).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sim.agents.resident import participate
from sim.config import paramtools
from sim.config.paramtools import Params, param, vector_param
from sim.config.taxonomy import (
    CATEGORIES,
    LATENT,
    MATURE,
    N_CATEGORIES,
    N_COMPOUND_TYPES,
    NEW,
    OLD,
    POLICY_FIND,
)
from sim.config.vectors import ByCompoundType
from sim.core.kernels import libm
from sim.core.phases import Policy
from sim.errors import ParameterError
from sim.policies import register

if TYPE_CHECKING:
    from sim.core.model import Model
    from sim.core.scenario import Scenario

#: Project type by compound type (003): engineering (old), service (mature), neighbourliness (new).
PROJECT_TYPES: tuple[str, ...] = ("engineering", "service", "neighbourly")
DAYS_PER_YEAR = 365


def _cats(*names: str) -> np.ndarray:
    row = np.zeros(N_CATEGORIES, dtype=bool)
    row[[CATEGORIES.index(n) for n in names]] = True
    return row


#: A project's scope by compound type: the categories residents' suggestions support and its
#: work addresses (rows: compound type).
SCOPE: np.ndarray = np.zeros((N_COMPOUND_TYPES, N_CATEGORIES), dtype=bool)
SCOPE[OLD] = _cats("sanitation", "property", "parking")
SCOPE[MATURE] = _cats("care", "health")
SCOPE[NEW] = _cats("dispute")
#: Categories a completed project prevents in its compound (rows: compound type).
PREVENTS: np.ndarray = np.zeros((N_COMPOUND_TYPES, N_CATEGORIES), dtype=bool)
PREVENTS[OLD] = _cats("sanitation", "property", "parking")
PREVENTS[MATURE] = _cats("care")
PREVENTS[NEW] = _cats("dispute")


@dataclass(frozen=True)
class MicroProjectsParams(Params):
    """Parameters of project-based micro services (003); the fund and project costs are in ``costs``."""

    dur_cycle: int = param(90, lo=1, hi=3650, unit="days", plausible=(60, 180),
                           source="assumption: a project round each quarter")
    dur_push: int = param(7, lo=0, hi=3650, unit="days", plausible=(3, 14),
                          source="assumption (003: 多措并举推项目, a project reserve 项目储备)")
    dur_collect: int = param(21, lo=1, hi=3650, unit="days", plausible=(7, 30),
                             source="assumption (003: 多级联动征项目; 金点子征集, 对话晚七点半, 小板凳议事会)")
    dur_deliberate: int = param(14, lo=0, hi=3650, unit="days", plausible=(7, 30),
                                source="assumption (003: 群众参议、社区评议、镇(街道)审议、区级联议, four reviews)")
    dur_implement: ByCompoundType = vector_param(
        ByCompoundType, (60.0, 90.0, 60.0), lo=1.0, hi=3650.0, unit="days, by compound type (project type)",
        plausible=(0.5, 2.0),
        source="assumption (003: renovation works; 常青 20+ activities; 暑期 summer classes; 18 classes)")
    effort_per_day: ByCompoundType = vector_param(
        ByCompoundType, (2.0, 0.5, 0.3), lo=0.0, hi=100.0, unit="staff-days/day, by compound type (project type)",
        plausible=(0.5, 2.0),
        source="assumption (003: a works crew and student volunteers in 鸣翠苑; 80+ volunteer turns in 常青; "
               "classes of 邻出发)")
    p_suggest_latent: float = param(0.1, lo=0.0, hi=1.0,
                                    unit="share of latent problems voiced per collection, x the chance to tell",
                                    plausible=(0.005, 0.2),
                                    source="assumption; 003's calibration fits it to 1,000+ suggestions a year "
                                           "(docs/validation.md §2)")
    min_support: int = param(1, lo=1, hi=10_000, unit="suggestions of the project's categories from its compound",
                             plausible=(1, 3), source="assumption (003: 问需于民, projects start from suggestions)")
    p_approved: float = param(0.8, lo=0.0, hi=1.0, unit="probability",
                              plausible=(0.6, 0.95),
                              source="assumption (003: residents, community, street and district review)")
    prevent_engineering: float = param(0.3, lo=0.0, hi=1.0, unit="chance a new problem is prevented",
                                       plausible=(0.15, 0.5),
                                       source="assumption (003: garbage removal, paving, parking spaces)")
    prevent_service: float = param(0.15, lo=0.0, hi=1.0, unit="chance a new care problem is prevented",
                                   plausible=(0.05, 0.3), source="assumption (003: 常青 elderly volunteer help)")
    prevent_neighbourly: float = param(0.2, lo=0.0, hi=1.0, unit="chance a new dispute is prevented",
                                       plausible=(0.1, 0.35), source="assumption (003: neighbourliness projects)")
    p_take_part: ByCompoundType = vector_param(
        ByCompoundType, (0.2, 0.2, 0.4), lo=0.0, hi=1.0, unit="share of the compound's residents",
        plausible=(0.5, 1.5),
        source="003: ~200 elderly helped by 80+ volunteer turns; 350+ resident-times at 18 neighbourliness "
               "classes; shares an assumption")
    time_bank_boost: float = param(0.5, lo=0.0, hi=10.0, unit="relative rise of volunteering",
                                   plausible=(0.2, 1.0),
                                   source="assumption (003: 邻储银行 points; 400+ volunteers in a talent pool)")

    @property
    def prevent(self) -> np.ndarray:
        """Prevention strength by compound type (the project type's own)."""
        return np.array([self.prevent_engineering, self.prevent_service, self.prevent_neighbourly])

    @property
    def dur_decide(self) -> int:
        """Days from a round's start to its deliberation's decision (push, collect, deliberate)."""
        return self.dur_push + self.dur_collect + self.dur_deliberate


class Projects:
    """The projects funded so far, one row each (a structure of small arrays; rows only grow)."""

    def __init__(self) -> None:
        self.compound = np.empty(0, dtype=np.int64)
        self.community = np.empty(0, dtype=np.int64)
        self.kind = np.empty(0, dtype=np.int64)  # project type = compound type
        self.t_start = np.empty(0, dtype=np.int64)  # deliberation's decision and first day of work
        self.t_end = np.empty(0, dtype=np.int64)  # completion and evaluation (no work that day)
        self.cost = np.empty(0)  # yuan
        self.credit = np.empty(0)  # staff-days of effort not yet spent on a problem
        self.solved = np.empty(0, dtype=np.int64)  # problems closed
        self.score = np.full(0, np.nan)  # evaluation: solved / (solved + scope still open at completion)

    @property
    def n(self) -> int:
        """Number of projects funded."""
        return int(self.compound.size)

    def add(self, compound: np.ndarray, community: np.ndarray, kind: np.ndarray, t: int, dur: np.ndarray,
            cost: np.ndarray) -> None:
        """Append funded projects that start work on day ``t``."""
        k = compound.size
        self.compound = np.concatenate([self.compound, compound])
        self.community = np.concatenate([self.community, community])
        self.kind = np.concatenate([self.kind, kind])
        self.t_start = np.concatenate([self.t_start, np.full(k, t)])
        self.t_end = np.concatenate([self.t_end, t + dur])
        self.cost = np.concatenate([self.cost, cost])
        self.credit = np.concatenate([self.credit, np.zeros(k)])
        self.solved = np.concatenate([self.solved, np.zeros(k, dtype=np.int64)])
        self.score = np.concatenate([self.score, np.full(k, np.nan)])

    def running(self, t: int) -> np.ndarray:
        """Ids of projects at work on day ``t``."""
        return np.flatnonzero((self.t_start <= t) & (t < self.t_end))


@register
class MicroProjects(Policy):
    """A yearly community fund drawn down by projects residents suggest, typed by compound."""

    name = "micro_projects"
    counters = ("suggestions_voiced", "proposals", "proposals_rejected", "projects_engineering", "projects_service",
                "projects_neighbourly", "projects", "projects_completed", "problems_solved", "spent", "lapsed",
                "time_banks", "participants", "volunteers")
    Params = MicroProjectsParams
    params: MicroProjectsParams

    @classmethod
    def check(cls, params: paramtools.Params, scenario: Scenario) -> None:
        """Push, collection and deliberation must fit in a round (the next round's push starts after)."""
        assert isinstance(params, MicroProjectsParams)
        if params.dur_decide >= params.dur_cycle:
            raise ParameterError("dur_cycle", f"a round of {params.dur_cycle} days cannot hold push, collection and "
                                 f"deliberation ({params.dur_decide} days); allowed: more than {params.dur_decide}")

    def setup(self, model: Model) -> None:
        """No fund year yet, no projects, no suggestions, no time banks."""
        w = model.world
        self.year = -1
        self.remaining = np.zeros(w.n_communities)  # yuan left in this fund year
        self.support = np.zeros(w.n_compounds, dtype=np.int64)  # this round's suggestions in the compound's scope
        self.projects = Projects()
        self.done_today = np.empty(0, dtype=np.int64)  # projects completed today (evaluated in participate)
        self.spend_today = 0.0
        self.bank = np.zeros(w.n_communities, dtype=bool)  # communities with a time bank
        self.bank_res = np.zeros(0, dtype=bool)  # residents of those communities (built when one opens)
        self.turns0 = np.zeros(0, dtype=np.int32)  # volunteer turns when the bank opened
        self.n_volunteers = 0

    # ---- the fund year; push and collect ---------------------------------------------------------
    def on_plan(self, model: Model, t: int) -> None:
        """A new fund year: what is left lapses, every community gets the year's fund."""
        year = self.days(t) // DAYS_PER_YEAR
        if year != self.year:
            if self.year >= 0:
                model.count(self.name, "lapsed", float(self.remaining.sum()))
            self.year = year
            self.remaining[:] = model.scenario.costs.fund_micro_projects

    def on_find(self, model: Model, t: int) -> None:
        """Collect suggestions during the window; deliberate on its decision day."""
        p = self.params
        day = self.days(t) % p.dur_cycle
        if p.dur_push <= day < p.dur_push + p.dur_collect:
            if day == p.dur_push:
                self.support[:] = 0
            self._collect(model, t)
        elif day == p.dur_decide:
            self._deliberate(model, t)

    def _collect(self, model: Model, t: int) -> None:
        """Residents who would tell voice latent problems; each is a suggestion for its compound."""
        p, pool, w = self.params, model.problems, model.world
        latent = np.flatnonzero((pool.status == LATENT) & (pool.t_found < 0))
        # a daily chance that gives p_suggest_latent x tell over the whole window
        p_day = 1.0 - libm.power(1.0 - p.p_suggest_latent * model.p_tell(latent), 1.0 / p.dur_collect)  # C's pow
        voiced = latent[self.rng.random(latent.size) < p_day]
        model.mark_found(voiced, POLICY_FIND, t)
        model.count(self.name, "suggestions_voiced", voiced.size)
        cmp = w.res_compound[pool.res[voiced]]
        in_scope = SCOPE[w.compound_type[cmp], pool.cat[voiced]]
        self.support += np.bincount(cmp[in_scope], minlength=w.n_compounds)

    # ---- deliberate --------------------------------------------------------------------------------
    def _rounds_left(self, t: int) -> int:
        """Decision days left in this fund year, today's included."""
        p, d = self.params, self.days(t)
        year_end = (d // DAYS_PER_YEAR + 1) * DAYS_PER_YEAR
        return (year_end - 1 - p.dur_decide) // p.dur_cycle - (d - p.dur_decide) // p.dur_cycle + 1

    def _deliberate(self, model: Model, t: int) -> None:
        """Rank supported candidates in each community; fund them within the round's share of the fund."""
        p, w = self.params, model.world
        costs = model.scenario.costs.cost_micro_project.array()
        busy = np.zeros(w.n_compounds, dtype=bool)
        busy[self.projects.compound[self.projects.running(t)]] = True
        cand = np.flatnonzero((self.support >= p.min_support) & ~busy)
        cost = costs[w.compound_type[cand]]
        # by community, then most support, then cheaper, then compound id
        cand = cand[np.lexsort((cand, cost, -self.support[cand], w.compound_community[cand]))]
        allot = self.remaining / self._rounds_left(t)
        chosen: list[int] = []
        n_proposed = n_rejected = 0
        committed = np.zeros(w.n_communities)
        for x in cand.tolist():
            c, price = int(w.compound_community[x]), float(costs[w.compound_type[x]])
            if committed[c] >= allot[c] or price > self.remaining[c]:
                continue
            n_proposed += 1
            if self.rng.random() >= p.p_approved:
                n_rejected += 1
                continue
            committed[c] += price
            self.remaining[c] -= price
            chosen.append(x)
        model.count(self.name, "proposals", n_proposed)
        model.count(self.name, "proposals_rejected", n_rejected)
        self._start(model, np.array(chosen, dtype=np.int64), t)

    def _start(self, model: Model, cmp: np.ndarray, t: int) -> None:
        """Funded projects start work today; the community's time bank opens with its first one."""
        if cmp.size == 0:
            return
        w, p = model.world, self.params
        kind = w.compound_type[cmp].astype(np.int64)
        dur = np.rint(p.dur_implement.array()[kind]).astype(np.int64)
        self.projects.add(cmp, w.compound_community[cmp].astype(np.int64), kind, t, dur,
                          model.scenario.costs.cost_micro_project.array()[kind])
        for i, pt in enumerate(PROJECT_TYPES):
            model.count(self.name, f"projects_{pt}", int((kind == i).sum()))
        model.count(self.name, "projects", cmp.size)
        self._open_time_bank(model, np.unique(w.compound_community[cmp]))

    # ---- implement and complete ------------------------------------------------------------------------
    def on_handle(self, model: Model, t: int) -> None:
        """Complete the projects due today; the others work on their scope and spend their money."""
        pr = self.projects
        self.done_today = np.flatnonzero(pr.t_end == t)
        if self.done_today.size:
            self._complete(model, self.done_today)
        run = pr.running(t)
        self.spend_today = float((pr.cost[run] / (pr.t_end[run] - pr.t_start[run])).sum())
        if self.spend_today:
            model.count(self.name, "spent", self.spend_today)
        if run.size:
            self._work(model, run, t)

    def _scope_rows(self, model: Model, compounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Queued problems in the scope of projects in ``compounds`` (one project per compound), and their compounds.

        By compound, then oldest found first.
        """
        pool, w = model.problems, model.world
        q = model.open_rows(queued=True)
        cmp = w.res_compound[pool.res[q]]
        mine = np.zeros(w.n_compounds, dtype=bool)
        mine[compounds] = True
        keep = mine[cmp] & SCOPE[w.compound_type[cmp], pool.cat[q]]
        q, cmp = q[keep], cmp[keep]
        order = np.lexsort((q, pool.t_found[q], cmp))
        return q[order], cmp[order]

    def _work(self, model: Model, run: np.ndarray, t: int) -> None:
        """Each running project adds a day's effort and closes problems of its scope while the effort lasts."""
        pr = self.projects
        pr.credit[run] += self.params.effort_per_day.array()[pr.kind[run]]
        rows, cmp = self._scope_rows(model, pr.compound[run])
        if rows.size == 0:
            return
        pool = model.problems
        need = model.handlers.effort_of(pool.cat[rows], pool.sev[rows]).astype(np.float64)
        lo = np.searchsorted(cmp, pr.compound[run], side="left")
        hi = np.searchsorted(cmp, pr.compound[run], side="right")
        closed: list[np.ndarray] = []
        for j, a in enumerate(run.tolist()):
            cum = np.cumsum(need[lo[j]:hi[j]])
            k = int(np.searchsorted(cum, pr.credit[a] + 1e-9, side="right"))
            if k:
                closed.append(rows[lo[j]:lo[j] + k])
                pr.credit[a] -= cum[k - 1]
                pr.solved[a] += k
        if closed:
            done = model.resolve_by(np.concatenate(closed), "project", t, budget=math.inf)  # its own effort credit
            model.count(self.name, "problems_solved", done.size)

    def _complete(self, model: Model, ids: np.ndarray) -> None:
        """Evaluation scores; prevention in the compound for the type's categories starts."""
        pr, p = self.projects, self.params
        rows, cmp = self._scope_rows(model, pr.compound[ids])
        still_open = np.bincount(cmp, minlength=model.world.n_compounds)[pr.compound[ids]]
        pr.score[ids] = pr.solved[ids] / np.maximum(pr.solved[ids] + still_open, 1)
        model.count(self.name, "projects_completed", ids.size)
        x, kind = pr.compound[ids], pr.kind[ids]
        effect = PREVENTS[kind] * p.prevent[kind][:, None]
        model.p_prevent[x] = (1.0 - (1.0 - model.p_prevent[x]) * (1.0 - effect)).astype(np.float32)

    def _open_time_bank(self, model: Model, communities: np.ndarray) -> None:
        new = communities[~self.bank[communities]]
        if new.size == 0:
            return
        w, party = model.world, model.party
        if self.bank_res.size == 0:
            self.bank_res = np.zeros(w.n_residents, dtype=bool)
            self.turns0 = np.zeros(w.n_residents, dtype=np.int32)
        self.bank[new] = True
        opened = self.bank[w.res_community] & ~self.bank_res
        self.bank_res |= opened
        self.turns0[opened] = model.residents.volunteer_turns[opened]
        if self.params.time_bank_boost > 0:
            party.volunteer_mult[opened] *= np.float32(1.0 + self.params.time_bank_boost)
        model.count(self.name, "time_banks", new.size)

    # ---- evaluate; the talent pool ---------------------------------------------------------------------
    def on_participate(self, model: Model, t: int) -> None:
        """Residents take part in evaluating the projects completed today; time banks."""
        w = model.world
        if self.done_today.size:
            x = self.projects.compound[self.done_today]
            n = self.rng.binomial(w.compound_size[x], self.params.p_take_part.array()[w.compound_type[x]])
            cmp = np.repeat(x, n)
            ids = np.unique(w.compound_start[cmp] + (self.rng.random(cmp.size) * w.compound_size[cmp]).astype(np.int64))
            participate(model.residents, ids, model.scenario.residents)
            model.count(self.name, "participants", ids.size)
            self.done_today = np.empty(0, dtype=np.int64)
        if self.bank_res.size:
            n_vol = int(np.count_nonzero(self.bank_res & (model.residents.volunteer_turns > self.turns0)))
            model.count(self.name, "volunteers", n_vol - self.n_volunteers)
            self.n_volunteers = n_vol

    def cost_items(self, model: Model) -> dict[str, float]:
        """What projects spend today (each project's cost spread over its implementation days)."""
        return {"projects": self.spend_today} if self.spend_today else {}


__all__ = ["PREVENTS", "PROJECT_TYPES", "SCOPE", "MicroProjects", "MicroProjectsParams", "Projects"]
