"""grid — 赋形 "giving form" (001, Gaoxian): smaller grids and integrated grid workers.

Also monthly household visits, proxy service (代办) and a three-level grid with building heads.

Mechanism. At set-up the area is re-divided into grids of at most ``households_per_grid``
households by compound type (001: 150 in old, 300 in new compounds) and each grid gets
``n_workers_per_grid`` integrated workers (001: 48 posts for 32 grids, merging four former
roles) paid at least 1,650 yuan a month, each visiting ``n_visits_per_worker_per_month``
households (001: at least 200). Each day:

* find: building heads (楼栋长, the third grid level) notice latent problems of their
  building's residents with chance ``p_building_head_find`` times the chance the resident tells
  (``Model.p_tell``: trust and efficacy, §7.2) (counted as found by the grid);
* route: with ``proxy_service`` on, administrative matters found by a grid worker's visit are
  taken by the worker as proxy (代办): the worker brings them to the community's service window,
  which takes the application in one place and passes it to the departments' platform
  (网格员...反映到社区, 由社区人员在便民服务窗口综合采集、统一受理, 并上报, 001). The matter is
  still decided by the department, but the worker follows it up for the resident (the matter
  is represented: ``model.represented_flags``, so the resident seldom makes repeat trips, §7.6)
  and the complete, single application succeeds ``proxy_success_mult`` times as often (flag ``proxy``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sim.agents.community import Grids
from sim.config.paramtools import Params, param, vector_param
from sim.config.taxonomy import ADMIN_CATEGORY, FLAG_BIT, FLAGS, GRID_VISIT, QUEUED
from sim.config.vectors import ByCompoundType
from sim.core.phases import Policy
from sim.policies import register

if TYPE_CHECKING:
    from sim.core.model import Model


@dataclass(frozen=True)
class GridParams(Params):
    """Parameters of the grid reform (001)."""

    households_per_grid: ByCompoundType = vector_param(
        ByCompoundType, (150, 200, 300), lo=1, unit="households",
        source="001: at most 150 households in old and 300 in new compounds; mature: assumption")
    n_workers_per_grid: float = param(1.5, lo=0.0, hi=20.0, unit="workers",
                                      source="001: 48 integrated grid-worker posts for 32 grids")
    n_visits_per_worker_per_month: float = param(200.0, lo=0.0, hi=2000.0, unit="households/month",
                                                 source="001: each grid worker visits at least 200 households a month")
    pay_grid_worker: float = param(1650.0, lo=0.0, unit="yuan/month", source="001: pay at least 1,650 yuan a month")
    proxy_service: bool = param(True, source="001: 为民代办, grid workers act as proxies (600+ services)")
    proxy_success_mult: float = param(1.5, lo=1.0, hi=5.0, unit="success multiplier of proxied matters",
                                      plausible=(1.2, 2.0),
                                      source="assumption: one complete application through the window (001 统一受理)")
    p_building_head_find: float = param(0.01, lo=0.0, hi=1.0, unit="/day per latent problem, x the chance its resident tells",
                                        plausible=(0.005, 0.02),
                                        source="assumption: building heads of the three-level grid (001, 002 楼栋长)")


@register
class GridPolicy(Policy):
    """Smaller grids, more and better-paid integrated workers, proxy service, building heads."""

    name = "grid"
    counters = ("proxy_services",)
    Params = GridParams
    params: GridParams

    def setup(self, model: Model) -> None:
        """Re-divide the grids, staff them, and switch on the proxy service."""
        p = self.params
        model.grids = Grids.create(model.world, p.households_per_grid.array(), p.n_workers_per_grid)
        model.visits_per_worker_per_month = p.n_visits_per_worker_per_month
        model.pay_grid_worker = p.pay_grid_worker
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
        """Grid workers take administrative matters they found as proxy (flag ``proxy``)."""
        if not self.params.proxy_service:
            return
        pool = model.problems
        rows = np.flatnonzero((pool.t_level == t) & (pool.status == QUEUED) & (pool.t_found == t)
                              & (pool.cat == ADMIN_CATEGORY) & (pool.finder == GRID_VISIT))
        if rows.size == 0:
            return
        pool.flags[rows] |= FLAG_BIT["proxy"]
        model.count(self.name, "proxy_services", rows.size)
