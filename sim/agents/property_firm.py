"""Property firms (物业): one per managed compound; old compounds have none (003).

A firm handles property maintenance inside its compound with a daily capacity that scales with
the households it serves and its service effort, and a quality that multiplies its chance of
success. The community may run property itself for unmanaged compounds (001 赋利) or entrust a
firm (004): policies add firms through :meth:`PropertyFirms.add`.

Firms decide each month (:func:`decide_month`) from what they experience: the fees they collect
(fewer when residents are dissatisfied, none from households with an overdue property complaint)
against their cost. A firm losing money cuts its effort (and so its capacity); one that has lost
money ``property_n_months_exit`` months running leaves its compound, which then has no firm
until a new one is found. Firms run by the community do not leave.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.config.params import HandlingParams
from sim.config.taxonomy import OLD
from sim.core.world import World


@dataclass
class PropertyFirms:
    """Property firms: the compound each serves, quality in [0, 1], effort per day, and their business."""

    compound: np.ndarray  # int32
    quality: np.ndarray  # float32
    capacity: np.ndarray  # float32 effort per day (capacity_full x effort; 0 once the firm has left)
    community_run: np.ndarray  # bool: run by the community at low price (001)
    capacity_full: np.ndarray  # float32 effort per day at full service effort
    effort: np.ndarray  # float32 service effort in [property_effort_min, 1]
    margin: np.ndarray  # float32 last month's fees over cost, minus 1
    n_months_loss: np.ndarray  # int16 consecutive months of loss
    active: np.ndarray  # bool: the firm serves its compound
    n_exits: int = 0  # firms that have left their compound so far
    n_entries: int = 0  # firms found for compounds left without one

    @classmethod
    def create(cls, world: World, params: HandlingParams, rng: np.random.Generator) -> PropertyFirms:
        """One firm per managed compound, quality drawn around its type's mean."""
        comp = world.firm_compound
        quality = draw_quality(world.compound_type[comp], params, rng)
        cap = (params.property_capacity_per_100_households * world.compound_n_households[comp] / 100).astype(np.float32)
        n = comp.size
        return cls(compound=comp, quality=quality, capacity=cap.copy(), community_run=np.zeros(n, dtype=bool),
                   capacity_full=cap, effort=np.ones(n, dtype=np.float32), margin=np.zeros(n, dtype=np.float32),
                   n_months_loss=np.zeros(n, dtype=np.int16), active=np.ones(n, dtype=bool))

    @property
    def n(self) -> int:
        """Number of firms."""
        return int(self.compound.size)

    def add(self, compounds: np.ndarray, quality: float, capacity: np.ndarray, community_run: bool) -> np.ndarray:
        """Add firms for ``compounds``; return their new firm ids."""
        start, k = self.n, compounds.size
        cap = capacity.astype(np.float32)
        self.compound = np.concatenate([self.compound, compounds.astype(np.int32)])
        self.quality = np.concatenate([self.quality, np.full(k, quality, dtype=np.float32)])
        self.capacity = np.concatenate([self.capacity, cap])
        self.community_run = np.concatenate([self.community_run, np.full(k, community_run)])
        self.capacity_full = np.concatenate([self.capacity_full, cap])
        self.effort = np.concatenate([self.effort, np.ones(k, dtype=np.float32)])
        self.margin = np.concatenate([self.margin, np.zeros(k, dtype=np.float32)])
        self.n_months_loss = np.concatenate([self.n_months_loss, np.zeros(k, dtype=np.int16)])
        self.active = np.concatenate([self.active, np.ones(k, dtype=bool)])
        return np.arange(start, self.n, dtype=np.int32)


def draw_quality(ctype: np.ndarray, params: HandlingParams, rng: np.random.Generator) -> np.ndarray:
    """Quality of new firms of compounds of types ``ctype``: Beta around the type's mean."""
    mean = np.clip(params.property_quality.array()[ctype], 1e-3, 1 - 1e-3)
    conc = params.property_quality_concentration
    return rng.beta(mean * conc, (1 - mean) * conc).astype(np.float32)


def decide_month(firms: PropertyFirms, satisfaction: np.ndarray, complaining: np.ndarray, households: np.ndarray,
                 params: HandlingParams) -> np.ndarray:
    """Each active firm's month: fees against cost, effort, and exit; returns the firms that leave.

    ``satisfaction``, ``complaining`` (households with an overdue property problem at the firm)
    and ``households`` are per firm. Collection ``c = clip(p_collect + slope (S - 0.5), 0, 1)``
    of the households not complaining; ``margin = fee_over_cost c (1 - complaining / households)
    / (fixed + (1 - fixed) effort) - 1``; ``effort += rate_effort margin`` within
    ``[effort_min, 1]``; a firm with ``n_months_exit`` months of negative margin running leaves.
    """
    p = params
    live = firms.active & ~firms.community_run
    collect = np.clip(p.property_p_collect + p.property_collect_slope * (satisfaction - 0.5), 0.0, 1.0)
    paying = 1.0 - np.minimum(complaining / np.maximum(households, 1.0), 1.0)
    cost = p.property_fixed_cost_share + (1.0 - p.property_fixed_cost_share) * firms.effort
    margin = p.property_fee_over_cost * collect * paying / np.maximum(cost, 1e-9) - 1.0
    firms.margin = np.where(live, margin, 0.0).astype(np.float32)
    effort = np.clip(firms.effort + p.property_rate_effort * margin, p.property_effort_min, 1.0)
    firms.effort = np.where(live, effort, firms.effort).astype(np.float32)
    firms.n_months_loss = np.where(live & (margin < 0), firms.n_months_loss + 1, 0).astype(np.int16)
    leave = np.flatnonzero(live & (firms.n_months_loss >= p.property_n_months_exit))
    firms.active[leave] = False
    firms.n_exits += leave.size
    firms.capacity = np.where(firms.active, firms.capacity_full * firms.effort, 0.0).astype(np.float32)
    return leave


def find_new_firms(firms: PropertyFirms, compound_type: np.ndarray, params: HandlingParams,
                   rng: np.random.Generator) -> np.ndarray:
    """Firms that left are replaced, each with chance ``property_p_new_firm`` a month; returns the firms renewed.

    A new firm takes the old one's place (same id and compound) with a fresh quality and full effort.
    """
    gone = np.flatnonzero(~firms.active)
    new = gone[rng.random(gone.size) < params.property_p_new_firm]
    ctype = compound_type[firms.compound[new]]
    firms.quality[new] = draw_quality(np.where(ctype == OLD, ctype + 1, ctype), params, rng)  # old: as mature
    firms.effort[new] = 1.0
    firms.n_months_loss[new] = 0
    firms.active[new] = True
    firms.capacity[new] = firms.capacity_full[new]
    firms.n_entries += new.size
    return new
