"""four_empowerments — 赋能、赋责、赋利 (001, Gaoxian): capability, responsibility and benefit.

The fourth empowerment of 001, 赋形 "giving form" (smaller grids, integrated grid workers,
proxy service), is the separate ``grid`` policy; switch both on for the whole of 001.
Each lever below has a switch so that scenarios can compare them one by one.

赋能 capability (``capability``):

* venue upgrade (党建阵地提档升级, 亲民化改造): ``costs.venue_cost_per_community`` yuan (001: 1,000,000)
  charged once, on the reform day; "a place to learn, to work, to meet" (学习有去处、办公有场所、活动有场地):
  community events become ``venue_event_mult`` times as frequent;
* online platform (互联网+ 智慧社区 WeChat platform for consultation and reporting): residents
  report latent problems ``platform_report_mult`` times as readily (``communities.report_mult``);
* 24-hour monitoring (24小时联网监控、安全通报、治安巡逻): each latent safety problem is found with
  daily chance ``p_monitor_find`` (finder "policy").

赋责 responsibility (``responsibility``): resource, needs and service lists (资源、需求、服务三张清单)
matched by "community coordinates + society claims" (社区协调+社会认领). Every ``dur_lists``
days the community collects suggestions (意见建议: each latent problem is raised with chance
``p_suggest`` times its resident's chance to tell (§7.2) and found, finder "policy"; counter ``suggestions``, 001: 80+), then units,
merchants and mass organisations claim ``n_projects_per_month`` projects (counter
``projects_claimed``, 001: 50+). Each project goes to one of the community's most-needed
claimable categories (most open known problems, ``claimable``) and brings ``effort_per_project``
staff-days of the claimant's own people: it resolves that category's oldest open problems while
their effort (the core's effort per problem) fits in that credit (flag ``project``). The claimants'
time is theirs, not the government's: counted apart (``project_staff_days``,
``project_yuan`` at ``costs.value_claimant_staff_day``), kept out of ``cost_yuan``. Volunteer service events
(志愿服务, 001: 20+) add ``n_volunteer_events_per_year`` events per community.

"1+2+N" deliberation (``deliberation``): the compound party branch (1), the owners' committee or
self-management group and the property firm (2) and residents (N) meet every
``dur_deliberation`` days in every compound (counter ``deliberations``) and settle clutter in
stairwells, parking and falling objects (楼道乱堆、车辆乱放、高空抛物): each open problem below
"major" of the compound is taken up with chance ``deliberation_settle[category]`` and resolved,
oldest first, while its effort fits in the ``effort_per_deliberation`` staff-days the participants
(branch members, owners' committee, firm, residents) put into carrying out what they agreed (flag
``deliberation``); their time is counted apart (``deliberation_staff_days``,
``deliberation_yuan`` at ``costs.value_resident_staff_day``), not in ``cost_yuan``. The self-governance groups it founds (停车自管协会、宠物小组) make grid workers
and the community ``deliberation_boost`` times as successful in those categories.

赋利 benefit:

* community-run property (物业托管, ``trusteeship``): every old compound without a firm gets a
  firm run by the community at a "low price, paid" (低价有偿、订单服务) with quality
  ``trusteeship_quality`` and capacity ``trusteeship_capacity_per_100_households``; property
  matters there go to it instead of to the community. Its cleaning (清扫保洁) prevents a share
  ``trusteeship_p_prevent_sanitation`` of sanitation problems in those compounds. Residents pay
  the low fee; the government's cost is ``costs.trusteeship_subsidy_per_household_per_month``;
* embedded elderly care (嵌入式养老: 老人日托、自助餐, ``elderly_care``): the community is
  ``care_boost`` times as successful with care problems, and a share ``p_prevent_care`` of care
  problems never arises (by compound type: elderly-heavy mature and old compounds);
  government subsidy ``costs.elderly_care_cost_per_community_per_year`` (政府兜底补贴).

Projects and deliberation resolve problems after the day's handling (``on_handle``), so that
residents judge those outcomes the same day.

Labour dispatch (劳务派遣: training residents as guides, cleaners and guards for the memorial
park) creates jobs; it is outside the model's problem categories and is not modelled.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from sim.config.paramtools import Params, param, vector_param
from sim.config.taxonomy import (
    CATEGORIES,
    COMMUNITY,
    GRID,
    LATENT,
    N_CATEGORIES,
    OLD,
    POLICY_FIND,
    QUEUED,
    SEVERITIES,
)
from sim.config.vectors import ByCategory, ByCompoundType
from sim.core.phases import Policy
from sim.policies import register

if TYPE_CHECKING:
    from sim.core.model import Model

_SAFETY = CATEGORIES.index("safety")
_SANITATION = CATEGORIES.index("sanitation")
_CARE = CATEGORIES.index("care")
_MAJOR = SEVERITIES.index("major")
_DAYS_PER_MONTH = 30.0


@dataclass(frozen=True)
class FourEmpowermentsParams(Params):
    """Parameters of 赋能, 赋责 and 赋利 (001); their costs are in the cost table (``costs``)."""

    moved: ClassVar[Mapping[str, str]] = {k: f"costs.{k}" for k in (
        "venue_cost_per_community", "platform_cost_per_community_per_year",
        "trusteeship_subsidy_per_household_per_month", "elderly_care_cost_per_community_per_year")}

    # 赋能 capability
    capability: bool = param(True, source="001: 赋能 (venue, platform, monitoring)")
    venue_event_mult: float = param(1.5, lo=1.0, hi=10.0, unit="multiplier of community events",
                                    plausible=(1.2, 2.0), source="assumption (001: 学习有去处、办公有场所、活动有场地)")
    platform_report_mult: float = param(1.3, lo=1.0, hi=5.0, unit="multiplier of self-reporting",
                                        plausible=(1.1, 1.6),
                                        source="assumption (001: 互联网+ platform for consultation and reporting)")
    p_monitor_find: float = param(0.05, lo=0.0, hi=1.0, unit="/day per latent safety problem",
                                  plausible=(0.02, 0.1),
                                  source="assumption (001: 24-hour networked monitoring, safety alerts, patrols)")
    # 赋责 responsibility: lists, claiming, volunteer events
    responsibility: bool = param(True, source="001: 赋责 (three lists, 社区协调+社会认领)")
    dur_lists: int = param(30, lo=1, unit="days", plausible=(15, 45), source="assumption: monthly, as 000's needs list")
    p_suggest: float = param(0.03, lo=0.0, hi=1.0, unit="probability per collection per latent problem, x the chance to tell",
                             plausible=(0.01, 0.045),
                             source="assumption; 001's calibration fits ~0.015 (80+ in half a year, docs/validation.md §2)")
    n_projects_per_month: float = param(4.0, lo=0.0, hi=1000.0, unit="projects per community per month",
                                        plausible=(4.0, 9.0),
                                        source="001: 50+ projects claimed (taken as a year; the period is unstated, "
                                               "half a year gives ~8.3, the Gaoxian calibration, docs/validation.md §2)")
    effort_per_project: float = param(2.0, lo=0.0, hi=1000.0, unit="staff-days of the claimant's people per project",
                                      plausible=(1.0, 4.0),
                                      source="assumption: a unit's or merchant's service day of a few people (001: "
                                             "主动认领项目; no size given)")
    claimable: ByCategory = vector_param(
        ByCategory, (1, 1, 1, 1, 1, 0, 0, 1), lo=0.0, hi=1.0, unit="1 if units can claim the category",
        source="assumption: units and merchants offer services (000's resource list); property is the firm's "
               "and administrative services the departments' statutory duty")
    n_volunteer_events_per_year: float = param(20.0, lo=0.0, hi=10_000.0, unit="events per community per year",
                                               plausible=(20.0, 30.0), source="001: 20+ volunteer service events")
    # 赋责 responsibility: "1+2+N" deliberation
    deliberation: bool = param(True, source="001: 1+2+N 多方议事机制")
    dur_deliberation: int = param(30, lo=1, unit="days", plausible=(15, 60), source="assumption (001: 定期研究小区有关事项)")
    deliberation_settle: ByCategory = vector_param(
        ByCategory, (0.3, 0.3, 0.3, 0, 0, 0, 0, 0), lo=0.0, hi=1.0, unit="probability per meeting per open problem",
        plausible=(0.5, 1.5), source="001: settles stairwell clutter, parking, falling objects (楼道乱堆、车辆乱放、高空抛物); "
               "chances an assumption")
    effort_per_deliberation: float = param(
        1.0, lo=0.0, hi=100.0, unit="staff-days per compound meeting", plausible=(0.5, 3.0),
        source="assumption: the 1+2+N participants (~6-10 people) give a few hours each to carry out what they agreed")
    deliberation_boost: float = param(1.15, lo=1.0, hi=3.0, unit="success multiplier at grid and community",
                                      plausible=(1.05, 1.3),
                                      source="assumption (001: 停车自管协会、宠物小组 and other resident groups)")
    # 赋利 benefit: community-run property for unmanaged old compounds
    trusteeship: bool = param(True, source="001: 物业托管 of old compounds without a firm")
    trusteeship_quality: float = param(0.6, lo=0.0, hi=1.0, unit="quality",
                                       plausible=(0.4, 0.8),
                                       source="assumption: low price (低价有偿), basic cleaning and repairs")
    trusteeship_capacity_per_100_households: float = param(
        0.4, lo=0.0, unit="effort/day",
        plausible=(0.2, 0.8), source="assumption: as the core's firms (handling.property_capacity_per_100_households)")
    trusteeship_p_prevent_sanitation: float = param(0.2, lo=0.0, hi=1.0, unit="share of sanitation problems prevented",
                                                    plausible=(0.1, 0.35),
                                                    source="assumption (001: 清扫保洁 by the trustee)")
    # 赋利 benefit: embedded elderly care
    elderly_care: bool = param(True, source="001: 嵌入式养老 (day care, meal service)")
    care_boost: float = param(1.3, lo=1.0, hi=3.0, unit="success multiplier of the community on care",
                              plausible=(1.1, 1.6), source="assumption (001: 老人日托、自助餐)")
    p_prevent_care: ByCompoundType = vector_param(
        ByCompoundType, (0.15, 0.15, 0.0), lo=0.0, hi=1.0, unit="share of care problems prevented",
        plausible=(0.5, 2.0),
        source="assumption: day care and meals reach the elderly of old and mature compounds (001, 003)")


def _combine_prevent(current: np.ndarray, extra: np.ndarray | float) -> np.ndarray:
    """Chance a problem is prevented by either of two independent measures."""
    return (1.0 - (1.0 - current) * (1.0 - np.asarray(extra, dtype=np.float32))).astype(np.float32)


def _within_budget(rows: np.ndarray, group: np.ndarray, effort: np.ndarray, budget: np.ndarray) -> np.ndarray:
    """The leading rows of each group ``g`` (in the order given) whose summed effort fits in ``budget[g]``."""
    if rows.size == 0:
        return rows
    order = np.argsort(group, kind="stable")
    g, e = group[order], effort[order].astype(np.float64)
    csum = np.cumsum(e)
    start = np.ones(g.size, dtype=bool)
    start[1:] = g[1:] != g[:-1]
    first = np.maximum.accumulate(np.where(start, np.arange(g.size), 0))
    used = csum - (csum[first] - e[first])  # effort of the group's rows up to and including this one
    return rows[order[used <= budget[g] + 1e-9]]


@register
class FourEmpowerments(Policy):
    """Venues, platform and monitoring; lists, claimed projects and deliberation; trusteeship, elderly care."""

    name = "four_empowerments"
    counters = ("trusteeship_compounds", "monitor_found", "suggestions", "projects_claimed", "deliberations",
                "project_staff_days", "project_yuan", "deliberation_staff_days", "deliberation_yuan")
    Params = FourEmpowermentsParams
    params: FourEmpowermentsParams

    def setup(self, model: Model) -> None:
        """Apply the switched-on empowerments: venues and platforms, trustee firms, care and boosts."""
        p = self.params
        w, comm = model.world, model.communities
        self._n_trustee_households = 0
        if p.capability:
            comm.event_rate = comm.event_rate * np.float32(p.venue_event_mult)
            comm.report_mult = comm.report_mult * np.float32(p.platform_report_mult)
        if p.responsibility:
            comm.event_rate = comm.event_rate + np.float32(p.n_volunteer_events_per_year / 365.0)
        if p.deliberation:
            factor = np.where(p.deliberation_settle.array() > 0, p.deliberation_boost, 1.0)
            model.handlers.boost(COMMUNITY, factor)
            model.handlers.boost(GRID, factor)
        if p.trusteeship:
            unmanaged = np.flatnonzero((w.compound_type == OLD) & (model.compound_firm < 0))
            if unmanaged.size:
                cap = p.trusteeship_capacity_per_100_households * w.compound_n_households[unmanaged] / 100.0
                ids = model.firms.add(unmanaged, p.trusteeship_quality, cap, community_run=True)
                model.compound_firm[unmanaged] = ids
                model.handlers.rebuild()
                model.p_prevent[unmanaged, _SANITATION] = _combine_prevent(
                    model.p_prevent[unmanaged, _SANITATION], p.trusteeship_p_prevent_sanitation)
                self._n_trustee_households = int(w.compound_n_households[unmanaged].sum())
            model.count(self.name, "trusteeship_compounds", unmanaged.size)
        if p.elderly_care:
            care = np.ones(N_CATEGORIES)
            care[_CARE] = p.care_boost
            model.handlers.boost(COMMUNITY, care)
            share = p.p_prevent_care.array(np.float32)[w.compound_type]
            model.p_prevent[:, _CARE] = _combine_prevent(model.p_prevent[:, _CARE], share)

    # ---- daily hooks ------------------------------------------------------------------------
    def on_find(self, model: Model, t: int) -> None:
        """Monitoring finds safety problems; residents' suggestions surface latent ones."""
        p, pool = self.params, model.problems
        if p.capability and p.p_monitor_find > 0:
            rows = np.flatnonzero((pool.status == LATENT) & (pool.t_found < 0) & (pool.cat == _SAFETY))
            hit = rows[self.rng.random(rows.size) < p.p_monitor_find]
            model.mark_found(hit, POLICY_FIND, t)
            model.count(self.name, "monitor_found", hit.size)
        d = self.days(t)
        if p.responsibility and d > 0 and d % p.dur_lists == 0 and p.p_suggest > 0:
            rows = np.flatnonzero((pool.status == LATENT) & (pool.t_found < 0))
            # a suggestion is raised only by a resident who would tell (propensity, §7.2)
            hit = rows[self.rng.random(rows.size) < p.p_suggest * model.p_tell(rows)]
            model.mark_found(hit, POLICY_FIND, t)
            model.count(self.name, "suggestions", hit.size)

    def on_handle(self, model: Model, t: int) -> None:
        # after the day's handling, so residents judge these outcomes today
        """Claim projects from the lists and hold deliberations, on their schedules."""
        p, d = self.params, self.days(t)
        if p.responsibility and d > 0 and d % p.dur_lists == 0:
            self._claim_projects(model, t)
        if p.deliberation and d > 0 and d % p.dur_deliberation == 0:
            self._deliberate(model, t)

    def _claim_projects(self, model: Model, t: int) -> None:
        """Units claim projects on each community's most-needed categories (社区协调+社会认领)."""
        p, pool, w = self.params, model.problems, model.world
        n_comm = w.n_communities
        claimable = p.claimable.array() > 0
        rows = np.flatnonzero(pool.status == QUEUED)
        rows = rows[claimable[pool.cat[rows]]]
        comm = w.res_community[pool.res[rows]].astype(np.int64)
        cell = comm * N_CATEGORIES + pool.cat[rows]
        need = np.bincount(cell, minlength=n_comm * N_CATEGORIES).reshape(n_comm, N_CATEGORIES)
        n_proj = self.rng.poisson(p.n_projects_per_month * p.dur_lists / _DAYS_PER_MONTH, size=n_comm)
        # project j of a community goes to its (j mod k)-th most needed category, k = categories in need
        k = (need > 0).sum(axis=1)
        order = np.argsort(-need, axis=1, kind="stable")
        rank = np.arange(N_CATEGORIES)[None, :]
        k_safe = np.maximum(k, 1)[:, None]
        per_rank = np.where(rank < k[:, None],
                            n_proj[:, None] // k_safe + (rank < (n_proj[:, None] % k_safe)), 0)
        projects = np.zeros_like(need)
        np.put_along_axis(projects, order, per_rank, axis=1)
        model.count(self.name, "projects_claimed", int(projects.sum()))
        order = np.lexsort((pool.t_arise[rows], cell))  # oldest first in each community and category
        oldest = rows[order]
        credit = (projects * p.effort_per_project).ravel()  # the claimants' staff-days per cell
        chosen = _within_budget(oldest, cell[order], model.handlers.effort_of(pool.cat[oldest], pool.sev[oldest]),
                                credit)
        done = model.resolve_by(chosen, "project", t, budget=math.inf)  # the claimants' credit, above
        self._book_effort(model, "project", done, model.scenario.costs.value_claimant_staff_day)

    def _deliberate(self, model: Model, t: int) -> None:
        """"1+2+N" meetings in every compound settle clutter, parking and falling objects."""
        p, pool = self.params, model.problems
        settle = p.deliberation_settle.array()
        model.count(self.name, "deliberations", model.world.n_compounds)
        rows = np.flatnonzero((pool.status == QUEUED) & (pool.sev < _MAJOR))
        rows = rows[settle[pool.cat[rows]] > 0]
        hit = rows[self.rng.random(rows.size) < settle[pool.cat[rows]]]
        compound = model.world.res_compound[pool.res[hit]].astype(np.int64)
        order = np.lexsort((pool.t_arise[hit], compound))
        hit, compound = hit[order], compound[order]
        budget = np.full(model.world.n_compounds, p.effort_per_deliberation)
        chosen = _within_budget(hit, compound, model.handlers.effort_of(pool.cat[hit], pool.sev[hit]), budget)
        done = model.resolve_by(chosen, "deliberation", t, budget=math.inf)  # the participants' time, above
        self._book_effort(model, "deliberation", done, model.scenario.costs.value_resident_staff_day)

    def _book_effort(self, model: Model, what: str, rows: np.ndarray, yuan_per_day: float) -> None:
        """Count the staff-days the policy's own people spent on ``rows`` and their value (not government cost)."""
        pool = model.problems
        days = float(model.handlers.effort_of(pool.cat[rows], pool.sev[rows]).sum())
        model.count(self.name, f"{what}_staff_days", days)
        model.count(self.name, f"{what}_yuan", days * yuan_per_day)

    def cost_items(self, model: Model) -> dict[str, float]:
        """Venues (once, on the reform day), platform, trustee subsidies and elderly care, from the cost table."""
        p, c = self.params, model.scenario.costs
        n_comm = model.world.n_communities
        items: dict[str, float] = {}
        if p.capability:
            items["platform"] = c.platform_cost_per_community_per_year * n_comm / 365.0
            if model.clock == self.t_start:  # the venues, once, on the reform day
                items["venues"] = c.venue_cost_per_community * n_comm
        if p.trusteeship:
            items["trusteeship"] = c.trusteeship_subsidy_per_household_per_month * self._n_trustee_households / _DAYS_PER_MONTH
        if p.elderly_care:
            items["elderly_care"] = c.elderly_care_cost_per_community_per_year * n_comm / 365.0
        return items


__all__ = ["FourEmpowerments", "FourEmpowermentsParams"]
