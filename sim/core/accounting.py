"""What handling costs and how loaded each level is: the day's cost items and the load per level.

:func:`cost_items` is the model's cost ledger for one day (``Model.cost_items``): the core's posts
(grid workers, community staff, by the post), events, the staff-days streets, departments and
the city spent on residents' problems (effort booked by the handle phase and by policies'
``resolve_by``, times the pay of a staff-day), then every policy's items as ``<policy>_<item>``.
:class:`LevelLoad` sums each level's effort spent and capacity every recorded day and the days
problems waited at the level they were solved at, for the summary (``utilisation_<level>``,
``wait_days_<level>_median``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.config.params import DAYS_PER_MONTH
from sim.config.taxonomy import CITY, DEPARTMENT, LEVELS, N_LEVELS, STREET
from sim.core.kernels.pairwise import sum32

if TYPE_CHECKING:
    from sim.core.model import Model

#: waits of a day or longer than this are counted in the last bin
_MAX_WAIT = 4096


def cost_items(model: Model, by_level: np.ndarray | None = None) -> dict[str, float]:
    """Today's cost by item (yuan): the core's posts, events and staff-days, then each policy's items.

    Grid workers and community staff are paid by the post (monthly pay / 30 a day); streets,
    departments and the city by the staff-days they spent on residents' problems today;
    property firms are paid from residents' fees and are not a public cost. Policies' items are
    booked as ``<policy>_<item>`` (negative for released pay). ``by_level``: today's
    ``Handlers.spent_by_level`` if the caller has it.
    """
    c = model.scenario.costs
    # the pre-reform grid role holders are paid whatever the grids become (a reform that merges
    # their roles books their pay as released, §8.1); community staff by the post
    workers, staff = sum32(model.n_grid_roles, model.communities.n_staff)  # as ndarray.sum()
    spent = (model.handlers.spent_by_level() if by_level is None else by_level)[0]
    items = {"grid_workers": float(workers * c.pay_grid_worker / DAYS_PER_MONTH),
             "community_staff": float(staff * c.pay_community_staff / DAYS_PER_MONTH),
             "events": float(model.events_today * c.cost_event),
             "street_staff_days": float(spent[STREET] * c.cost_street_staff_day),
             "department_staff_days": float(spent[DEPARTMENT] * c.cost_department_staff_day),
             "city_staff_days": float(spent[CITY] * c.cost_city_staff_day)}
    for p in model.policies:
        items.update({f"{p.name}_{k}": float(v) for k, v in p.cost_items(model).items()})
    return items


def book_day(model: Model, by_level: np.ndarray | None = None) -> float:
    """Book today's cost items into ``model.cost_ledger``; return their sum (yuan).

    ``by_level``: as :func:`cost_items`.
    """
    items, ledger = cost_items(model, by_level), model.cost_ledger
    for k, v in items.items():
        ledger[k] = ledger.get(k, 0.0) + v
    return sum(items.values())


class LevelLoad:
    """Effort spent and capacity per level summed over the recorded days; waits at the level of resolution."""

    def __init__(self) -> None:
        self.spent = np.zeros(N_LEVELS)
        self.capacity = np.zeros(N_LEVELS)
        #: resolved problems by (level, whole days between reaching that level and resolution)
        self.waits = np.zeros((N_LEVELS, _MAX_WAIT), dtype=np.int64)

    def day(self, by_level: np.ndarray) -> None:
        """Add a day's effort spent and capacity by level (``Handlers.spent_by_level``)."""
        self.spent += by_level[0]
        self.capacity += by_level[1]

    def summary(self) -> dict[str, float]:
        """Per level: ``utilisation_<level>`` and ``wait_days_<level>_median``.

        Utilisation is effort spent / capacity over the recorded days (NaN without capacity); the
        median wait is over problems resolved at the level, absent if none were (as a policy
        counter never counted: comparisons see NaN, sweeps that keep it store 0).
        """
        out: dict[str, float] = {}
        for i, lvl in enumerate(LEVELS):
            out[f"utilisation_{lvl}"] = float(self.spent[i] / self.capacity[i]) if self.capacity[i] > 0 else float("nan")
            hist = self.waits[i]
            total = hist.sum()
            if total:  # absent, not NaN, where nothing was resolved (the city before the whistle)
                out[f"wait_days_{lvl}_median"] = float(np.searchsorted(np.cumsum(hist), 0.5 * total))
        return out


__all__ = ["LevelLoad", "book_day", "cost_items"]
