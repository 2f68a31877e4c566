"""grid — 赋形 "giving form" (001, Gaoxian): re-gridding and integrated posts that replace four roles.

Also monthly household visits and proxy service (代办) as a time budget, and a three-level grid
with building heads.

Mechanism. Before the reform (the core's grids, ``community.*``) larger grids are covered
part-time by the holders of four roles (综治网格员、党建网格员、民政协理员、食安监管员) who do grid work
beside their own jobs. At set-up the area is re-divided into grids of at most
``households_per_grid`` households by compound type (001: 150 in old, 300 in new compounds) and
the four roles are merged into integrated posts (综合网格员, 001: 48 posts for 32 grids,
``n_workers_per_grid``) who give ``capacity_per_post`` staff-days a day to grid work and visit
``n_visits_per_worker_per_month`` households (001: at least 200). The posts are not staff on top
of the old: their pay (``costs.pay_integrated_grid_worker``, 001: at least 1,650 yuan a month)
is booked as the item ``posts`` and the former roles' pay (``costs.pay_grid_worker`` x the
pre-reform holders) as the negative item ``released_roles``.

A grid's day is one budget (workers x staff-days each): the visits come first (core, find), then
the proxy errands, then problems (the handle phase gets what is left). Each day:

* find: building heads (楼栋长, the third grid level) notice latent problems of their
  building's residents with chance ``p_building_head_find`` times the chance the resident tells
  (``Model.p_tell``: trust and efficacy, §7.2) (counted as found by the grid);
* route: with ``proxy_service`` on, administrative matters found by a grid worker's visit are
  taken by the worker as proxy (代办) if the grid has ``effort_proxy_errand`` staff-days left
  for each: the worker brings them to the community's service window, which takes the
  application in one place and passes it to the departments' platform (网格员...反映到社区,
  由社区人员在便民服务窗口综合采集、统一受理, 并上报, 001). The matter is still decided by the
  department, but the worker follows it up for the resident (the matter is represented:
  ``model.represented_flags``, so the resident seldom makes repeat trips, §7.6) and the complete,
  single application succeeds ``proxy_success_mult`` times as often (flag ``proxy``). A matter the worker has no
  time for stays the resident's own (counter ``proxy_no_time``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from sim.agents.community import Grids
from sim.config.params import DAYS_PER_MONTH
from sim.config.paramtools import Params, param, vector_param
from sim.config.taxonomy import ADMIN_CATEGORY, FLAG_BIT, FLAGS, GRID_VISIT, QUEUED
from sim.config.vectors import ByCompoundType
from sim.core.phases import Policy
from sim.policies import register

if TYPE_CHECKING:
    from sim.core.model import Model


@dataclass(frozen=True)
class GridParams(Params):
    """Parameters of the grid reform (001); the posts' pay is in the cost table (``costs``)."""

    moved: ClassVar[Mapping[str, str]] = {"pay_grid_worker": "costs.pay_integrated_grid_worker"}

    households_per_grid: ByCompoundType = vector_param(
        ByCompoundType, (150, 200, 300), lo=1, unit="households",
        source="001: at most 150 households in old and 300 in new compounds; mature: assumption")
    n_workers_per_grid: float = param(1.5, lo=0.0, hi=20.0, unit="workers",
                                      source="001: 48 integrated grid-worker posts for 32 grids")
    capacity_per_post: float = param(0.7, lo=0.0, hi=1.0, unit="staff-days/day of grid work",
                                     plausible=(0.5, 0.9),
                                     source="assumption: a full-time post (001: 综合网格员); the merged roles' own "
                                            "duties (civil affairs, food safety) and meetings take the rest")
    n_visits_per_worker_per_month: float = param(200.0, lo=0.0, hi=2000.0, unit="households/month",
                                                 source="001: each grid worker visits at least 200 households a month")
    proxy_service: bool = param(True, source="001: 为民代办, grid workers act as proxies (600+ services)")
    proxy_success_mult: float = param(1.5, lo=1.0, hi=5.0, unit="success multiplier of proxied matters",
                                      plausible=(1.2, 2.0),
                                      source="assumption: one complete application through the window (001 统一受理)")
    effort_proxy_errand: float = param(0.125, lo=0.0, hi=1.0, unit="staff-days per proxied matter",
                                       plausible=(0.0625, 0.25),
                                       source="assumption: an hour of an 8-hour day (30 min - 2 h) to collect the "
                                              "papers and take them to the service window (001: 上门代办)")
    p_building_head_find: float = param(0.01, lo=0.0, hi=1.0, unit="/day per latent problem, x the chance its resident tells",
                                        plausible=(0.005, 0.02),
                                        source="assumption: building heads of the three-level grid (001, 002 楼栋长)")


@register
class GridPolicy(Policy):
    """Smaller grids, integrated posts replacing four part-time roles, proxy service, building heads."""

    name = "grid"
    counters = ("proxy_services", "proxy_no_time")
    Params = GridParams
    params: GridParams

    def setup(self, model: Model) -> None:
        """Re-divide the grids, staff them with the posts, and switch on the proxy service."""
        p = self.params
        #: holders of the merged roles (the pre-reform grids' workers), whose pay is released
        self.n_released = float(model.n_grid_roles.sum())
        model.grids = Grids.create(model.world, p.households_per_grid.array(), p.n_workers_per_grid)
        model.grid_worker_capacity = p.capacity_per_post
        model.visits_per_worker_per_month = p.n_visits_per_worker_per_month
        if p.proxy_service:
            model.flag_success[FLAGS.index("proxy")] *= p.proxy_success_mult
            model.represented_flags |= FLAG_BIT["proxy"]  # the proxy follows up

    def on_find(self, model: Model, t: int) -> None:
        """Building heads notice latent problems."""
        if self.params.p_building_head_find <= 0:
            return
        rows = model.open_rows(queued=False, latent=True)
        # a building head learns of a problem only if its resident tells (propensity, §7.2)
        hit = rows[self.rng.random(rows.size) < self.params.p_building_head_find * model.p_tell(rows)]
        model.mark_found(hit, GRID_VISIT, t)

    def on_route(self, model: Model, t: int) -> None:
        """Grid workers take administrative matters they found as proxy (flag ``proxy``), as time allows."""
        if not self.params.proxy_service:
            return
        pool = model.problems
        rows = np.flatnonzero((pool.t_level == t) & (pool.status == QUEUED) & (pool.t_found == t)
                              & (pool.cat == ADMIN_CATEGORY) & (pool.finder == GRID_VISIT))
        if rows.size == 0:
            return
        grids = model.grids
        g = grids.household_grid[model.world.res_household[pool.res[rows]]]
        take = _within_time(g, grids.free(model.grid_worker_capacity), self.params.effort_proxy_errand)
        pool.flags[rows[take]] |= FLAG_BIT["proxy"]
        grids.spent += (np.bincount(g[take], minlength=grids.n) * self.params.effort_proxy_errand).astype(np.float32)
        model.count(self.name, "proxy_services", int(take.sum()))
        model.count(self.name, "proxy_no_time", int(rows.size - take.sum()))

    def cost_items(self, model: Model) -> dict[str, float]:
        """The posts' pay (001's floor, cost table) and, negative, the merged roles' pay it releases."""
        c = model.scenario.costs
        posts = float(model.grids.n_workers.sum()) * c.pay_integrated_grid_worker
        return {"posts": posts / DAYS_PER_MONTH, "released_roles": -self.n_released * c.pay_grid_worker / DAYS_PER_MONTH}


def _within_time(grid: np.ndarray, free: np.ndarray, effort: float) -> np.ndarray:
    """Which errands (in row order, grid ``grid`` each) fit in their grid's ``free`` time, ``effort`` each.

    The k-th errand of a grid (k = 1, 2, ...) is taken iff ``k x effort <= free``: no overrun.
    """
    if effort <= 0:
        return np.ones(grid.size, dtype=bool)
    order = np.argsort(grid, kind="stable")
    gs = grid[order]
    start = np.ones(gs.size, dtype=bool)
    start[1:] = gs[1:] != gs[:-1]
    first = np.maximum.accumulate(np.where(start, np.arange(gs.size), 0))
    k = np.empty(grid.size, dtype=np.int64)
    k[order] = np.arange(gs.size) - first + 1
    return k * effort <= free[grid] * (1 + 1e-6)
