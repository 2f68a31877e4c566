"""Street offices (街道): the level above communities.

Before reform a street has "unlimited responsibility, limited power" (002): little authority over the
departments' stationed agencies and little capacity. The street_empowerment policy changes both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.config.params import HandlingParams
from sim.config.taxonomy import N_CATEGORIES
from sim.core.world import World


@dataclass
class StreetOffices:
    """Capacity (effort per day) and per-category authority multiplier of each street."""

    capacity: np.ndarray  # float32 effort per day
    authority_mult: np.ndarray  # float32 (streets x categories), 1 before reform
    n_staff_in_communities: np.ndarray  # float32 street staff-days per day spent in communities (004)

    @classmethod
    def create(cls, world: World, params: HandlingParams) -> StreetOffices:
        """Streets' capacity by population, authority multipliers at 1."""
        cap = (params.capacity_street_per_10k * world.street_size / 1e4).astype(np.float32)
        return cls(
            capacity=cap,
            authority_mult=np.ones((world.n_streets, N_CATEGORIES), dtype=np.float32),
            n_staff_in_communities=np.zeros(world.n_streets, dtype=np.float32),
        )

    @property
    def n(self) -> int:
        """Number of streets."""
        return int(self.capacity.size)
