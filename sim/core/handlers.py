"""The handlers of every level as one table: ids, capacities and chances of success.

Handlers are numbered within their level (grid, property firm, community, street office,
department by category, the city); ``level_offset`` places each level's handlers in one array
of all handlers, the order of :meth:`HandlerTables.capacity`. :class:`~sim.core.model.Model` mixes
this in; policies change the arrays it reads (``mult``, ``authority``, ``level_cat_mult``, ...).
"""

from __future__ import annotations

import numpy as np

from sim.agents.community import Communities, Grids
from sim.agents.department import Departments
from sim.agents.property_firm import PropertyFirms
from sim.agents.street_office import StreetOffices
from sim.config.taxonomy import CITY, COMMUNITY, DEPARTMENT, GRID, N_CATEGORIES, N_LEVELS, PROPERTY, STREET
from sim.core import kernels
from sim.core.world import World

#: "no extra capacity at this level", for the kernel
_NO_EXTRA = np.empty(0, dtype=np.float32)


class HandlerTables:
    """Handler ids, capacities and success chances over the model's state (a mixin of Model)."""

    world: World
    grids: Grids
    firms: PropertyFirms
    communities: Communities
    streets: StreetOffices
    departments: Departments
    compound_firm: np.ndarray
    grid_worker_capacity: float
    authority: np.ndarray
    severity_mult: np.ndarray
    level_cat_mult: np.ndarray
    mult: dict[int, np.ndarray]
    extra_capacity: dict[int, np.ndarray | None]
    level_offset: np.ndarray
    n_handlers: int
    grid_used: np.ndarray

    def rebuild_handlers(self) -> None:
        """Recompute handler offsets and success multipliers after grids or firms change."""
        counts = [self.grids.n, self.firms.n, self.world.n_communities, self.world.n_streets, N_CATEGORIES, 1]
        self.level_offset = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        self.n_handlers = int(sum(counts))
        keep = {lvl: arr for lvl, arr in self.mult.items() if arr.shape[0] == counts[lvl]}
        ones = {lvl: np.ones((counts[lvl], N_CATEGORIES), dtype=np.float32) for lvl in range(N_LEVELS)}
        self.mult = {**ones, **keep}
        self.mult[PROPERTY] = np.repeat(self.firms.quality[:, None], N_CATEGORIES, axis=1)
        self.mult[STREET] = self.streets.authority_mult
        self.grid_used = np.zeros(self.grids.n)

    def level_handlers(self, res: np.ndarray, cat: np.ndarray) -> np.ndarray:
        """Handler id at every level, shape (levels, k), for problems of residents ``res``.

        The property row is -1 where the resident's compound has no firm.
        """
        w = self.world
        out = np.empty((N_LEVELS, res.size), dtype=np.int32)
        out[GRID] = self.grids.household_grid[w.res_household[res]]
        out[PROPERTY] = self.compound_firm[w.res_compound[res]]
        out[COMMUNITY] = w.res_community[res]
        out[STREET] = w.res_street[res]
        out[DEPARTMENT] = cat
        out[CITY] = 0
        return out

    def handler_of(self, level: np.ndarray, res: np.ndarray, cat: np.ndarray) -> np.ndarray:
        """Handler id within its level for problems of residents ``res`` at ``level``."""
        return self.level_handlers(res, cat)[level, np.arange(res.size)]

    def _mult_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every level's handler multipliers stacked, then a row of ones for unrouted problems
        (level -1); with each level's first row and number of rows."""
        mults = [self.mult[lvl] for lvl in range(N_LEVELS)]
        n_rows = np.array([a.shape[0] for a in mults] + [1])
        flat = np.concatenate([*mults, np.ones((1, N_CATEGORIES), dtype=np.float32)], dtype=np.float32)
        return flat, np.cumsum(n_rows) - n_rows, n_rows

    def p_success(self, level: np.ndarray, handler: np.ndarray, cat: np.ndarray, sev: np.ndarray) -> np.ndarray:
        """Chance one attempt solves each problem: authority x severity x the handler's multiplier."""
        base = self.authority[level, cat] * self.severity_mult[sev] * self.level_cat_mult[level, cat]
        flat, start, n_rows = self._mult_table()
        row = start[level] + handler % n_rows[level]  # handler -1: the level's last row
        return np.clip(base * flat[row, cat], 0.0, 1.0)

    def _success_tables(self) -> tuple[np.ndarray, ...]:
        """What the kernels read to compute chances of success: authority, severity and level
        multipliers, then each level's handler multipliers (float32, as ``p_success`` computes)."""
        f32, c, m = np.float32, np.ascontiguousarray, self.mult
        return (c(self.authority, dtype=f32), c(self.severity_mult, dtype=f32), c(self.level_cat_mult, dtype=f32),
                c(m[0], dtype=f32), c(m[1], dtype=f32), c(m[2], dtype=f32), c(m[3], dtype=f32), c(m[4], dtype=f32),
                c(m[5], dtype=f32))

    def capacity(self) -> np.ndarray:
        """Today's effort per handler, all levels concatenated (see ``level_offset``): grid workers'
        effort, firms', the community staff's left after administrative tasks, streets',
        departments' and the city's, each plus what policies add (``capacity_vectorised`` in one pass)."""
        g, c, d = self.grids, self.communities, self.departments
        none = _NO_EXTRA
        extra = [none if e is None else e for e in self.extra_capacity.values()]
        return kernels.capacity(
            g.n_workers, np.float32(self.grid_worker_capacity), self.firms.capacity, c.n_staff,
            np.float32(c.capacity_per_staff), c.admin_tasks, c.admin_cap, np.float32(c.effort_per_task),
            self.streets.capacity, d.capacity, d.city_capacity, *extra,
        )

    def capacity_vectorised(self) -> np.ndarray:
        """The definition of :meth:`capacity` in numpy (kept for the tests)."""
        parts = [
            self.grids.n_workers * np.float32(self.grid_worker_capacity),
            self.firms.capacity,
            self.communities.problem_capacity(),
            self.streets.capacity,
            self.departments.capacity,
            self.departments.city_capacity,
        ]
        for lvl, extra in self.extra_capacity.items():
            if extra is not None:
                parts[lvl] = parts[lvl] + extra
        return np.concatenate(parts).astype(np.float64)

    def boost(self, level: int, factor: float | np.ndarray) -> None:
        """Multiply the chance of success at ``level`` by ``factor`` (scalar or per category)."""
        self.level_cat_mult[level] *= np.asarray(factor, dtype=np.float32)

    def add_capacity(self, level: int, effort: np.ndarray | float) -> None:
        """Add effort per day to every handler of ``level`` (array per handler, or a scalar)."""
        n = int(np.diff(np.append(self.level_offset, self.n_handlers))[level])
        extra = np.broadcast_to(np.asarray(effort, dtype=np.float32), (n,)).copy()
        prev = self.extra_capacity[level]
        self.extra_capacity[level] = extra if prev is None else prev + extra


__all__ = ["HandlerTables"]
