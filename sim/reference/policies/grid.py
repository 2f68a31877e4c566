"""Reference grid policy (docs/model.md §8.1): smaller grids, more workers, proxy service, building heads."""

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
        """Redraw the grids, set visits and pay; proxy service raises the success of proxied matters."""
        p = self.p
        build_grids(model, p.households_per_grid.array().tolist(), p.n_workers_per_grid)
        model.visits_per_worker_per_month = p.n_visits_per_worker_per_month
        model.pay_grid_worker = p.pay_grid_worker
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

    def on_route(self, model: ReferenceModel, t: int) -> None:
        """Administrative matters found by grid workers today go by proxy."""
        if not self.p.proxy_service:
            return
        n = 0
        for pr in model.problems:
            if (not pr.closed and pr.status == QUEUED and pr.t_level == t and pr.t_found == t
                    and pr.cat == ADMIN_CATEGORY and pr.finder == GRID_VISIT):
                pr.flags |= FLAG_BIT["proxy"]
                n += 1
        if n > 0:
            self.count(model, "proxy_services", n)
