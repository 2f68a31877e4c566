"""micro_projects — project-based micro services (党建服务项目化 "微服务", 003, Zhengzhou Huiji).

Each community gets a service fund (服务群众经费, 003: 300,000 yuan a year) and spends it on
small projects run in cycles of ``dur_cycle`` days through the five steps (五步工作法: 推项目,
征项目, 议项目, 落项目, 评项目):

* push and collect (推、征): ``dur_collect`` days into each cycle the community collects
  suggestions (意见建议; "社区金点子征集", "对话晚七点半", "小板凳议事会"): every open problem it
  already knows of, plus a share ``p_suggest_latent`` of the latent problems residents voice
  now (times each resident's chance to tell, §7.2; these become found, finder "policy"). Counter ``suggestions`` (003: 1,000+ from
  277,000 residents in 285 compounds);
* deliberate (议; 群众参议、社区评议、镇(街道)审议、区级联议: residents, community, street and
  district each review): the fund accumulated since the last cycle buys ``budget //
  cost_per_project`` projects; they go to the community's compounds with the most suggestions
  per resident, and each passes the four reviews with chance ``p_approved`` (a rejected
  proposal's money stays in the community's budget);
* implement (落) after ``dur_implement`` days. The project type follows the compound type (003):
  - engineering (工程类) in old unmanaged compounds (无主管樓院: garbage removal, paving, parking
    spaces): the compound's open sanitation, property and parking problems are solved and new
    ones are prevented with chance ``prevent_engineering`` more (``model.p_prevent``);
  - service (服务类) in mature compounds ("一老一小": elderly and child care): open care and
    health problems are solved and care problems prevented (``prevent_service``);
  - neighbourliness (睦鄰類) in new compounds: neighbour disputes prevented
    (``prevent_neighbourly``) and more residents take part;
  problems solved by a project are closed at the community level with flag ``project``;
* evaluate (评): a share ``p_take_part`` of the compound's residents (by compound type) take part
  and judge the project: participation raises their satisfaction and trust.

A volunteer time bank ("邻"储银行 points, 时间银行) opens in a community with its first project:
its residents' volunteering multiplier (``model.party.volunteer_mult``) rises by
``time_bank_boost``; counter ``volunteers``: residents of those communities who volunteered
since (the talent pool, 社区达人库; 003: 400+). Counter ``projects`` (003: 235 service brands in
39 communities). The cost is the fund, whatever is spent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sim.agents.resident import participate
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
    QUEUED,
)
from sim.config.vectors import ByCompoundType
from sim.core.phases import Policy
from sim.policies import register

if TYPE_CHECKING:
    from sim.core.model import Model

#: Project type by compound type (003): engineering (old), service (mature), neighbourliness (new).
PROJECT_TYPES: tuple[str, ...] = ("engineering", "service", "neighbourly")


def _cats(*names: str) -> np.ndarray:
    row = np.zeros(N_CATEGORIES, dtype=bool)
    row[[CATEGORIES.index(n) for n in names]] = True
    return row


#: Categories whose open problems a project of each compound type solves (rows: compound type).
RESOLVES: np.ndarray = np.zeros((N_COMPOUND_TYPES, N_CATEGORIES), dtype=bool)
RESOLVES[OLD] = _cats("sanitation", "property", "parking")
RESOLVES[MATURE] = _cats("care", "health")
#: Categories a project of each compound type prevents (rows: compound type).
PREVENTS: np.ndarray = np.zeros((N_COMPOUND_TYPES, N_CATEGORIES), dtype=bool)
PREVENTS[OLD] = _cats("sanitation", "property", "parking")
PREVENTS[MATURE] = _cats("care")
PREVENTS[NEW] = _cats("dispute")


@dataclass(frozen=True)
class MicroProjectsParams(Params):
    """Parameters of project-based micro services (003)."""

    fund_per_community_per_year: float = param(300_000.0, lo=0.0, unit="yuan/year",
                                               source="003: 30万元 service fund for every community")
    cost_per_project: float = param(50_000.0, lo=1.0, unit="yuan",
                                    plausible=(30_000.0, 80_000.0),
                                    source="assumption (003: 235 service brands in 39 communities, ~6 each)")
    dur_cycle: int = param(90, lo=1, hi=3650, unit="days", plausible=(60, 180),
                           source="assumption: a project round each quarter")
    dur_collect: int = param(30, lo=0, hi=3650, unit="days from the start of a cycle",
                             plausible=(14, 45), source="assumption: push, then collect suggestions (003 五步工作法)")
    dur_implement: int = param(30, lo=0, hi=3650, unit="days", plausible=(14, 60), source="assumption")
    p_suggest_latent: float = param(0.1, lo=0.0, hi=1.0, unit="share of latent problems per collection, x the chance to tell",
                                    plausible=(0.005, 0.2),
                                    source="assumption; 003's calibration fits about 0.01 (1,000+ suggestions a year, "
                                           "docs/validation.md §2)")
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


@register
class MicroProjects(Policy):
    """A community fund spent on small projects chosen with residents, typed by compound."""

    name = "micro_projects"
    counters = ("suggestions", "suggestions_voiced", "proposals", "proposals_rejected", "projects_engineering",
                "projects_service", "projects_neighbourly", "projects", "problems_solved", "time_banks",
                "participants", "volunteers")
    Params = MicroProjectsParams
    params: MicroProjectsParams

    def setup(self, model: Model) -> None:
        """Empty budgets, no pending projects, no time banks yet."""
        w = model.world
        self.budget = np.zeros(w.n_communities)  # yuan available for projects
        self.pending_compound = np.empty(0, dtype=np.int64)  # approved projects awaiting implementation
        self.pending_due = np.empty(0, dtype=np.int64)
        self.today = np.empty(0, dtype=np.int64)  # compounds whose project is implemented today
        self.bank = np.zeros(w.n_communities, dtype=bool)  # communities with a time bank
        self.bank_res = np.zeros(0, dtype=bool)  # residents of those communities (built when one opens)
        self.turns0 = np.zeros(0, dtype=np.int32)  # volunteer turns when the bank opened
        self.n_volunteers = 0

    # ---- collect and deliberate ------------------------------------------------------------------
    def on_find(self, model: Model, t: int) -> None:
        """Collect residents' suggestions at the start of each cycle."""
        p = self.params
        d = self.days(t)
        if d < p.dur_collect or (d - p.dur_collect) % p.dur_cycle != 0:
            return
        pool, w = model.problems, model.world
        latent = np.flatnonzero((pool.status == LATENT) & (pool.t_found < 0))
        # a resident voices a problem only if they would tell (propensity, §7.2)
        voiced = latent[self.rng.random(latent.size) < p.p_suggest_latent * model.p_tell(latent)]
        model.mark_found(voiced, POLICY_FIND, t)
        known = np.flatnonzero((pool.status == QUEUED) | ((pool.status == LATENT) & (pool.t_found >= 0)))
        model.count(self.name, "suggestions", known.size)
        model.count(self.name, "suggestions_voiced", voiced.size)
        needs = np.bincount(w.res_compound[pool.res[known]], minlength=w.n_compounds) / np.maximum(w.compound_size, 1)
        self.budget += p.fund_per_community_per_year * p.dur_cycle / 365.0
        n_afford = np.floor(self.budget / p.cost_per_project).astype(np.int64)
        # deliberate: within each community, compounds with the most suggestions per resident first
        order = np.lexsort((-needs, w.compound_community))
        comm = w.compound_community[order]
        rank = np.arange(order.size) - np.searchsorted(comm, comm)
        chosen = order[(rank < n_afford[comm]) & (needs[order] > 0)]
        approved = chosen[self.rng.random(chosen.size) < p.p_approved]
        model.count(self.name, "proposals", chosen.size)
        model.count(self.name, "proposals_rejected", chosen.size - approved.size)
        np.subtract.at(self.budget, w.compound_community[approved], p.cost_per_project)
        self.pending_compound = np.concatenate([self.pending_compound, approved])
        self.pending_due = np.concatenate([self.pending_due, np.full(approved.size, t + p.dur_implement)])

    # ---- implement -----------------------------------------------------------------------------------
    def on_handle(self, model: Model, t: int) -> None:
        """Implement the projects due today: prevention and resolved problems."""
        due = self.pending_due == t
        if not due.any():
            self.today = np.empty(0, dtype=np.int64)
            return
        cmp = np.unique(self.pending_compound[due])
        self.pending_compound, self.pending_due = self.pending_compound[~due], self.pending_due[~due]
        self.today = cmp
        w, pool, p = model.world, model.problems, self.params
        ctype = w.compound_type[cmp]
        for i, pt in enumerate(PROJECT_TYPES):
            model.count(self.name, f"projects_{pt}", int((ctype == i).sum()))
        model.count(self.name, "projects", cmp.size)
        # solve the compound's open problems of the project's categories, at the community
        project_of = np.full(w.n_compounds, -1, dtype=np.int64)
        project_of[cmp] = ctype
        q = model.open_rows(queued=True)
        pt = project_of[w.res_compound[pool.res[q]]]
        rows = q[(pt >= 0) & RESOLVES[np.maximum(pt, 0), pool.cat[q]]]
        if rows.size:
            rows = model.resolve_by(rows, "project", t)
            model.count(self.name, "problems_solved", rows.size)
        # prevent new ones: each project compounds the chance a new problem never arises
        effect = PREVENTS[ctype] * p.prevent[ctype][:, None]
        model.p_prevent[cmp] = (1.0 - (1.0 - model.p_prevent[cmp]) * (1.0 - effect)).astype(np.float32)
        self._open_time_bank(model, np.unique(w.compound_community[cmp]))

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
        """Residents take part in today's projects; time banks."""
        w = model.world
        if self.today.size:
            share = self.params.p_take_part.array()[w.compound_type[self.today]]
            n = self.rng.binomial(w.compound_size[self.today], share)
            cmp = np.repeat(self.today, n)
            ids = w.compound_start[cmp] + (self.rng.random(cmp.size) * w.compound_size[cmp]).astype(np.int64)
            ids = np.unique(ids)
            participate(model.residents, ids, model.scenario.residents)
            model.count(self.name, "participants", ids.size)
            self.today = np.empty(0, dtype=np.int64)
        if self.bank_res.size:
            n_vol = int(np.count_nonzero(self.bank_res & (model.residents.volunteer_turns > self.turns0)))
            model.count(self.name, "volunteers", n_vol - self.n_volunteers)
            self.n_volunteers = n_vol

    def cost_per_day(self, model: Model) -> float:
        """The project fund."""
        return self.params.fund_per_community_per_year * model.world.n_communities / 365.0


__all__ = ["PREVENTS", "PROJECT_TYPES", "RESOLVES", "MicroProjects", "MicroProjectsParams"]
