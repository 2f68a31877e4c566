"""Reference grid policy (docs/model.md §8.1): re-gridding, integrated posts, proxy errands on the time budget, building heads."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.config.taxonomy import (
    ADMIN_CATEGORY,
    FLAG_BIT,
    GRID_VISIT,
    LATENT,
    QUEUED,
)
from sim.reference.policies.base import ReferencePolicy
from sim.reference.world import build_grids

if TYPE_CHECKING:
    from sim.reference.model import ReferenceModel


class GridPolicy(ReferencePolicy):
    """赋形: smaller grids, more and better-paid workers visiting more, proxy service, building heads (001)."""

    name = "grid"

    def setup(self, model: ReferenceModel) -> None:
        """Redraw the grids with the posts, set their time and visits; proxy service raises proxied matters' success."""
        p = self.p
        self.n_released = sum(g.n_workers for g in model.grids)  # holders of the merged roles
        build_grids(model, p.households_per_grid.array().tolist(), p.n_workers_per_grid)
        model.grid_worker_capacity = p.capacity_per_post
        model.visits_per_worker_per_month = p.n_visits_per_worker_per_month
        if p.proxy_service:
            bit = FLAG_BIT["proxy"].bit_length() - 1
            model.flag_success[bit] *= p.proxy_success_mult
            model.represented_flags |= FLAG_BIT["proxy"]

    def on_find(self, model: ReferenceModel, t: int) -> None:
        """Building heads find latent problems."""
        q = self.p.p_building_head_find
        if q <= 0:
            return
        rng = self.rng(model)
        found = [pr for pr in model.problems
                 if not pr.closed and pr.status == LATENT and rng.random() < q * pr.res.p_tell()]
        model.mark_found(found, GRID_VISIT, t)

    def cost_per_day(self, model: ReferenceModel) -> float:
        """Yuan a day: the posts' pay less the merged roles' pay (§8.1 Cost)."""
        c = model.sc.costs
        posts = sum(g.n_workers for g in model.grids) * c.pay_integrated_grid_worker
        return posts / 30.0 - self.n_released * c.pay_grid_worker / 30.0

    def on_route(self, model: ReferenceModel, t: int) -> None:
        """Administrative matters found by grid workers today go by proxy, while the grid has time for the errand."""
        if not self.p.proxy_service:
            return
        effort = self.p.effort_proxy_errand
        free = {id(g): g.free() for g in model.grids}
        taken: dict[int, int] = {}
        n = n_no_time = 0
        for pr in model.problems:
            if (not pr.closed and pr.status == QUEUED and pr.t_level == t and pr.t_found == t
                    and pr.cat == ADMIN_CATEGORY and pr.finder == GRID_VISIT):
                grid = pr.res.household.grid
                assert grid is not None  # found on a grid visit
                k = taken.get(id(grid), 0) + 1
                if effort > 0 and k * effort > free[id(grid)] * (1 + 1e-6):
                    n_no_time += 1
                    continue
                taken[id(grid)] = k
                grid.spent += effort
                pr.flags |= FLAG_BIT["proxy"]
                n += 1
        if n + n_no_time > 0:
            self.count(model, "proxy_services", n)
            self.count(model, "proxy_no_time", n_no_time)
