"""District departments and the city: the levels above the street.

Departments are one per problem category (civil affairs, social security, housing, urban
management, ...); before reform they face communities directly, do not share information and
do not know local conditions (000), so their capacity for a community's matters is small and
the resident "runs many times". The city takes major or long-standing problems when the
whistle policy opens that level (002).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.config.params import HandlingParams
from sim.config.taxonomy import N_CATEGORIES
from sim.core.world import World


@dataclass
class Departments:
    """Capacity (effort per day) of each category's department, and of the city."""

    capacity: np.ndarray  # float32 per category
    city_capacity: np.ndarray  # float32, one element

    @classmethod
    def create(cls, world: World, params: HandlingParams) -> Departments:
        """Departments' and the city's capacity, by population."""
        pop = world.n_residents / 1e4
        return cls(
            capacity=np.full(N_CATEGORIES, params.capacity_department_per_10k * pop, dtype=np.float32),
            city_capacity=np.array([params.capacity_city_per_10k * pop], dtype=np.float32),
        )
