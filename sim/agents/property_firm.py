"""Property firms (物业): one per managed compound; old compounds have none (003).

A firm handles property maintenance inside its compound with a daily capacity that scales with
the households it serves and a quality that multiplies its chance of success. The community may
run property itself for unmanaged compounds (001 赋利) or entrust a firm (004): policies add
firms through :meth:`PropertyFirms.add`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.config.params import HandlingParams
from sim.core.world import World


@dataclass
class PropertyFirms:
    """Property firms: the compound each serves, quality in [0, 1], effort per day."""

    compound: np.ndarray  # int32
    quality: np.ndarray  # float32
    capacity: np.ndarray  # float32 effort per day
    community_run: np.ndarray  # bool: run by the community at low price (001)

    @classmethod
    def create(cls, world: World, params: HandlingParams, rng: np.random.Generator) -> PropertyFirms:
        """One firm per managed compound, quality drawn around its type's mean."""
        comp = world.firm_compound
        mean = params.property_quality.array()[world.compound_type[comp]]
        mean = np.clip(mean, 1e-3, 1 - 1e-3)
        conc = params.property_quality_concentration
        quality = rng.beta(mean * conc, (1 - mean) * conc).astype(np.float32)
        cap = (params.property_capacity_per_100_households * world.compound_n_households[comp] / 100).astype(np.float32)
        return cls(compound=comp, quality=quality, capacity=cap, community_run=np.zeros(comp.size, dtype=bool))

    @property
    def n(self) -> int:
        """Number of firms."""
        return int(self.compound.size)

    def add(self, compounds: np.ndarray, quality: float, capacity: np.ndarray, community_run: bool) -> np.ndarray:
        """Add firms for ``compounds``; return their new firm ids."""
        start = self.n
        self.compound = np.concatenate([self.compound, compounds.astype(np.int32)])
        self.quality = np.concatenate([self.quality, np.full(compounds.size, quality, dtype=np.float32)])
        self.capacity = np.concatenate([self.capacity, capacity.astype(np.float32)])
        self.community_run = np.concatenate([self.community_run, np.full(compounds.size, community_run)])
        return np.arange(start, self.n, dtype=np.int32)
