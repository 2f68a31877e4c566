"""The community: its staff and its grids with grid workers.

The staff handle small matters and carry administrative tasks pushed down from above (004);
grid workers visit households and handle trivia (001). The community party organisation is the
"1" of the "1+N" alliance (000).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.config.params import DAYS_PER_MONTH, CommunityParams
from sim.core.kernels.arising import book_visits
from sim.core.kernels.state import Fields
from sim.core.world import World


@dataclass
class Grids:
    """Grids of households and their workers. Grids never cross a compound's boundary."""

    household_grid: np.ndarray  # int32 per household
    household_pos: np.ndarray  # int32 per household: position within its grid (visit order)
    grid_size: np.ndarray  # int32 households per grid
    grid_community: np.ndarray  # int32
    grid_compound: np.ndarray  # int32
    n_workers: np.ndarray  # float32 workers per grid
    visit_ptr: np.ndarray  # float64 per grid: where today's round of visits starts
    spent: np.ndarray  # float32 per grid: staff-days spent today on visits and proxy errands

    @property
    def n(self) -> int:
        """Number of grids."""
        return int(self.grid_size.size)

    @classmethod
    def create(cls, world: World, households_per_grid: np.ndarray, workers_per_grid: float) -> Grids:
        """Split each compound's households into grids of at most ``households_per_grid[type]``."""
        hpg = np.asarray(households_per_grid, dtype=np.int64)[world.compound_type]
        n_grids = -(-world.compound_n_households // hpg)  # ceil
        grid_start = np.cumsum(n_grids) - n_grids
        pos_in_compound = np.arange(world.n_households) - world.compound_hh_start[world.household_compound]
        hh_hpg = hpg[world.household_compound]
        household_grid = (grid_start[world.household_compound] + pos_in_compound // hh_hpg).astype(np.int32)
        household_pos = (pos_in_compound % hh_hpg).astype(np.int32)
        grid_compound = np.repeat(np.arange(world.n_compounds, dtype=np.int32), n_grids)
        size = np.bincount(household_grid, minlength=grid_compound.size).astype(np.int32)
        return cls(
            household_grid=household_grid, household_pos=household_pos, grid_size=size,
            grid_community=world.compound_community[grid_compound], grid_compound=grid_compound,
            n_workers=np.full(grid_compound.size, workers_per_grid, dtype=np.float32),
            visit_ptr=np.zeros(grid_compound.size, dtype=np.float64),
            spent=np.zeros(grid_compound.size, dtype=np.float32),
        )

    def budget(self, capacity_per_worker: float) -> np.ndarray:
        """Staff-days of grid work per grid a day: visits, proxy errands and problems share them."""
        return self.n_workers * np.float32(capacity_per_worker)

    def free(self, capacity_per_worker: float) -> np.ndarray:
        """What is left of today's budget after the visits and errands so far."""
        return np.maximum(self.budget(capacity_per_worker) - self.spent, np.float32(0))

    def start_day(self, capacity_per_worker: float, visits_per_month: float, effort_visit: float) -> np.ndarray:
        """Book today's visits on the time budget; return the visiting workers (workers' worth of visits).

        Each worker plans ``visits_per_month / 30`` visits a day; the visits take ``effort_visit``
        staff-days each and come first, so a grid whose budget cannot cover them visits only as
        many as its time allows. ``spent`` restarts at the visits' time
        (:func:`~sim.core.kernels.arising.book_visits`).
        """
        visits_per_worker = np.float32(visits_per_month / DAYS_PER_MONTH)  # as the find kernel's rule
        visiting, self.spent = book_visits(self.n_workers, np.float32(capacity_per_worker), visits_per_worker,
                                           np.float32(effort_visit))
        return visiting

    def rounds(self, visiting: np.ndarray | None = None) -> Fields:
        """The grids' rounds of visits as the find kernel reads and moves them (``GridRounds``).

        ``visiting``: today's visiting workers per grid (``start_day``; default all workers), in the
        kernel's ``n_workers`` field.
        """
        return (self.household_grid, self.household_pos, self.visit_ptr, self.grid_size,
                self.n_workers if visiting is None else visiting)


@dataclass
class Communities:
    """Community staff capacity and the administrative load pushed onto it."""

    n_staff: np.ndarray  # float32 staff per community
    admin_tasks: np.ndarray  # float32 administrative tasks pushed down per day
    admin_cap: np.ndarray  # float32 cap on admitted tasks per day (inf = no admission list, 004)
    effort_per_task: float
    capacity_per_staff: float
    event_rate: np.ndarray  # float32 events per day
    report_mult: np.ndarray  # float32 reporting multiplier (platforms, venues raise it)

    @classmethod
    def create(cls, world: World, params: CommunityParams) -> Communities:
        """Staff by population, administrative load and event rate from the parameters."""
        n = world.n_communities
        staff = (params.n_staff_per_10k * world.community_size / 1e4).astype(np.float32)
        return cls(
            n_staff=staff,
            admin_tasks=np.full(n, params.rate_admin_tasks, dtype=np.float32),
            admin_cap=np.full(n, np.inf, dtype=np.float32),
            effort_per_task=params.effort_admin_task,
            capacity_per_staff=params.capacity_per_staff,
            event_rate=np.full(n, params.rate_events, dtype=np.float32),
            report_mult=np.ones(n, dtype=np.float32),
        )

    def staff_effort(self) -> np.ndarray:
        """Effort per day all staff can give."""
        return self.n_staff * np.float32(self.capacity_per_staff)

    def admin_effort(self) -> np.ndarray:
        """Effort per day consumed by admitted administrative tasks (capped by staff effort)."""
        tasks = np.minimum(self.admin_tasks, self.admin_cap)
        return np.minimum(tasks * np.float32(self.effort_per_task), self.staff_effort())

    def problem_capacity(self) -> np.ndarray:
        """Effort per day left for residents' problems after administrative tasks."""
        return self.staff_effort() - self.admin_effort()
