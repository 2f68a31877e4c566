"""The handlers of every level as one table: ids, capacities and chances of success.

Handlers are numbered within their level (grid, property firm, community, street office,
department by category, the city); ``level_offset`` places each level's handlers in one array
of all handlers, the order of :meth:`Handlers.capacity`. The model holds one :class:`Handlers`
(``model.handlers``); policies change the tables it owns (``mult``, ``authority``,
``level_cat_mult``, through ``boost`` and ``add_capacity``) and the agents it reads from the
model (grids, firms, staff). The tuples it builds for the kernels are the groups of
:mod:`sim.core.kernels.state`, fields in order.
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING

import numpy as np

from sim.config.params import HandlingParams
from sim.config.taxonomy import CITY, COMMUNITY, DEPARTMENT, GRID, N_CATEGORIES, N_LEVELS, PROPERTY, STREET
from sim.core.kernels.handling import capacity
from sim.core.kernels.handling import take as take_effort
from sim.core.kernels.recording import level_sums
from sim.core.kernels.state import Fields

if TYPE_CHECKING:
    from sim.core.model import Model

#: "no extra capacity at this level", for the kernel
_NO_EXTRA = np.empty(0, dtype=np.float32)


class Handlers:
    """Handler ids, capacities and success chances over the model's agents.

    ``authority`` (levels x categories), ``severity_mult`` and ``effort`` (staff-days one attempt
    takes, categories x severities) come from the scenario; ``level_cat_mult`` (levels x
    categories) and ``mult`` (per level, handlers x categories) are success multipliers policies
    raise; ``extra_capacity`` is the effort per handler per day policies add at each level.
    Today's effort is kept per handler (``spent``, of ``capacity_today``), with the work in
    progress carried over days (``work``, see :func:`sim.core.kernels.handling.serve`).
    """

    def __init__(self, model: Model, handling: HandlingParams) -> None:
        self.model = model
        self.authority = handling.authority.matrix().astype(np.float32)
        self.severity_mult = handling.severity_mult.array(np.float32)
        #: staff-days one attempt takes, by category and severity (float64, so sums are exact enough)
        self.effort = handling.effort_category_mult.array()[:, None] * handling.effort.array()[None, :]
        #: success multipliers per (level, category), set by policies through ``boost``; they
        #: survive re-gridding, unlike the per-handler multipliers in ``mult``
        self.level_cat_mult = np.ones((N_LEVELS, N_CATEGORIES), dtype=np.float32)
        self.mult: dict[int, np.ndarray] = {}
        #: effort per handler per day added by policies (see ``add_capacity``)
        self.extra_capacity: dict[int, np.ndarray | None] = {lvl: None for lvl in range(N_LEVELS)}
        self.level_offset = np.zeros(N_LEVELS, dtype=np.int64)
        self.n_handlers = 0
        self._tables: tuple[Fields, Fields] = ((), ())  # success tables: their sources and the kernels' arrays
        #: the level of every handler; today's capacity and effort spent per handler, and their day
        self.handler_level = np.empty(0, dtype=np.int64)
        self.capacity_today = np.empty(0)
        self.spent = np.empty(0)
        self.t_today = -(2**62)
        #: work in progress per handler: effort put into its head problem on earlier days, and that problem's id
        self.work: tuple[np.ndarray, np.ndarray] = (np.empty(0), np.empty(0, dtype=np.int64))
        self.rebuild()

    def rebuild(self) -> None:
        """Recompute handler offsets and success multipliers after grids or firms change."""
        m = self.model
        counts = [m.grids.n, m.firms.n, m.world.n_communities, m.world.n_streets, N_CATEGORIES, 1]
        self.level_offset = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        self.n_handlers = int(sum(counts))
        keep = {lvl: arr for lvl, arr in self.mult.items() if arr.shape[0] == counts[lvl]}
        ones = {lvl: np.ones((counts[lvl], N_CATEGORIES), dtype=np.float32) for lvl in range(N_LEVELS)}
        self.mult = {**ones, **keep}
        self.mult[PROPERTY] = np.repeat(m.firms.quality[:, None], N_CATEGORIES, axis=1)
        self.mult[STREET] = m.streets.authority_mult
        self.handler_level = np.repeat(np.arange(N_LEVELS), counts)
        if self.work[0].size != self.n_handlers:  # re-gridding: work in progress is dropped
            self.work = (np.zeros(self.n_handlers), np.full(self.n_handlers, -1, dtype=np.int64))
            self.capacity_today, self.spent = np.zeros(self.n_handlers), np.zeros(self.n_handlers)
            self.t_today = -(2**62)

    def level_handlers(self, res: np.ndarray, cat: np.ndarray) -> np.ndarray:
        """Handler id at every level, shape (levels, k), for problems of residents ``res``.

        The property row is -1 where the resident's compound has no firm.
        """
        m, w = self.model, self.model.world
        out = np.empty((N_LEVELS, res.size), dtype=np.int32)
        out[GRID] = m.grids.household_grid[w.res_household[res]]
        out[PROPERTY] = m.compound_firm[w.res_compound[res]]
        out[COMMUNITY] = w.res_community[res]
        out[STREET] = w.res_street[res]
        out[DEPARTMENT] = cat
        out[CITY] = 0
        return out

    def handler_of(self, level: np.ndarray, res: np.ndarray, cat: np.ndarray) -> np.ndarray:
        """Handler id within its level for problems of residents ``res`` at ``level``."""
        return self.level_handlers(res, cat)[level, np.arange(res.size)]

    def residence(self) -> Fields:
        """Where each resident's handlers are, as the kernels read it (``Residence``)."""
        m, w = self.model, self.model.world
        return (w.res_household, m.grids.household_grid, m.grids.n_workers, w.res_compound, m.compound_firm,
                w.res_community, w.res_street)

    def success_tables(self) -> Fields:
        """What the kernels read to compute chances of success (``SuccessTables``).

        Authority, severity and level multipliers, then each level's handler multipliers
        (float32, C order). The tables themselves when they are float32 in C order (as they are built), so the
        kernels see what policies change in place; converted copies otherwise. Kept while the
        same arrays are in place (a lookup, not nine conversions, three times a day).
        """
        m = self.mult
        sources = (self.authority, self.severity_mult, self.level_cat_mult, m[0], m[1], m[2], m[3], m[4], m[5])
        cached_sources, tables = self._tables
        if len(cached_sources) == len(sources) and all(map(operator.is_, sources, cached_sources)):
            return tables
        tables = tuple([np.ascontiguousarray(a, dtype=np.float32) for a in sources])
        if all(map(operator.is_, sources, tables)):  # no copies: safe to keep
            self._tables = (sources, tables)
        return tables

    def community_staff(self) -> Fields:
        """The communities' staff and administrative load, as the kernels read them (``CommunityStaff``)."""
        c = self.model.communities
        return (c.n_staff, np.float32(c.capacity_per_staff), c.admin_tasks, c.admin_cap, np.float32(c.effort_per_task))

    def capacity(self) -> np.ndarray:
        """Today's effort per handler, all levels concatenated (see ``level_offset``).

        Grid workers' effort less what today's visits and proxy errands took (``grids.spent``),
        firms', the community staff's left after administrative tasks, streets', departments' and
        the city's, each plus what policies add.
        """
        m = self.model
        d = m.departments
        effort = (m.grids.n_workers, np.float32(m.grid_worker_capacity), m.firms.capacity, m.streets.capacity,
                  d.capacity, d.city_capacity)  # HandlerEffort
        extra = [_NO_EXTRA if e is None else e for e in self.extra_capacity.values()]
        extra[GRID] = -m.grids.spent if extra[GRID].size == 0 else extra[GRID] - m.grids.spent
        return capacity(effort, self.community_staff(), tuple(extra))

    def spare(self, t: int) -> np.ndarray:
        """Effort each handler has left today (clock ``t``): today's capacity less what it spent."""
        if t != self.t_today:
            self.capacity_today = self.capacity()
            self.spent = np.zeros(self.n_handlers)
            self.t_today = t
        return self.capacity_today - self.spent

    def spent_by_level(self) -> np.ndarray:
        """Effort spent today (staff-days) and today's capacity, summed by level: shape (2, levels)."""
        return level_sums(self.handler_level, self.spent, self.capacity_today, N_LEVELS)

    def effort_of(self, cat: np.ndarray, sev: np.ndarray) -> np.ndarray:
        """Staff-days one attempt at each problem takes (category, severity)."""
        return self.effort[cat, sev]

    def take(self, level: np.ndarray, handler: np.ndarray, effort: np.ndarray, t: int,
             budget: float | None = None) -> np.ndarray:
        """Which of these problems (in the order given) can be worked today; spends the effort.

        Without ``budget`` the effort comes from each problem's handler (``level``, ``handler``):
        a problem is taken if its effort fits in what its handler has left today (:meth:`spare`,
        less what the problems taken before it took) and booked as spent there; one that does
        not fit is skipped. With ``budget`` (staff-days a policy's own people bring today) the
        same rule applies to that one budget and nothing is booked to the handlers. Returns a mask.
        """
        if budget is not None:
            return take_effort(np.zeros(effort.size, dtype=np.int64), effort, np.array([budget]), np.zeros(1))
        spare = self.spare(t)
        key = np.where(handler >= 0, self.level_offset[level] + handler, -1).astype(np.int64)
        room = np.zeros(spare.size)
        taken = take_effort(key, effort.astype(np.float64), spare, room)
        self.spent += room
        return taken

    def take_rows(self, rows: np.ndarray, level: int, t: int,
                  budget: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`take` for queued pool rows credited to ``level``: the rows taken and their handlers there."""
        pool = self.model.problems
        lvl = np.full(rows.size, level, dtype=np.int8)
        handler = self.handler_of(lvl, pool.res[rows], pool.cat[rows])
        taken = self.take(lvl, handler, self.effort_of(pool.cat[rows], pool.sev[rows]), t, budget)
        return rows[taken], handler[taken]

    def boost(self, level: int, factor: float | np.ndarray) -> None:
        """Multiply the chance of success at ``level`` by ``factor`` (scalar or per category)."""
        self.level_cat_mult[level] *= np.asarray(factor, dtype=np.float32)

    def add_capacity(self, level: int, effort: np.ndarray | float) -> None:
        """Add effort per day to every handler of ``level`` (array per handler, or a scalar)."""
        n = int(np.diff(np.append(self.level_offset, self.n_handlers))[level])
        extra = np.broadcast_to(np.asarray(effort, dtype=np.float32), (n,)).copy()
        prev = self.extra_capacity[level]
        self.extra_capacity[level] = extra if prev is None else prev + extra


__all__ = ["Handlers"]
