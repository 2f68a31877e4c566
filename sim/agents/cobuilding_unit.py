"""Co-building units (共建单位, 000), attached to a community.

Police station, hospital, university, market regulator, fire brigade, enterprise, social
organisation. Before reform they exist but are not engaged ("the community sings a solo", 000, 004). Each
has a resource list: the categories of problems it can help with and how much. The alliance
policy engages them (``allied``) and turns resources into capacity and success.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.core.world import World

#: Resource list by unit type: relative help per category (sanitation, parking, dispute, care,
#: safety, property, admin, health). After 000: the police station lists legal advice,
#: anti-fraud talks, fire safety (10 items); hospitals free clinics and health education; the
#: university lectures, volunteers and venues; the market regulator food and trade safety.
UNIT_RESOURCES: np.ndarray = np.array(
    [  # san  park  disp  care  safe  prop  admin health
        [0.0, 0.6, 0.8, 0.0, 1.0, 0.0, 0.4, 0.0],  # police
        [0.0, 0.0, 0.0, 0.6, 0.0, 0.0, 0.0, 1.0],  # hospital
        [0.3, 0.0, 0.2, 0.6, 0.0, 0.0, 0.2, 0.2],  # university
        [0.4, 0.0, 0.2, 0.0, 0.6, 0.2, 0.0, 0.3],  # market_regulator
        [0.0, 0.2, 0.0, 0.0, 1.0, 0.2, 0.0, 0.0],  # fire_brigade
        [0.5, 0.4, 0.0, 0.2, 0.0, 0.5, 0.0, 0.0],  # enterprise
        [0.3, 0.0, 0.6, 0.8, 0.0, 0.0, 0.3, 0.2],  # social_org
    ],
    dtype=np.float32,
)


@dataclass
class CoBuildingUnits:
    """All co-building units: community, type, resource list, engagement."""

    community: np.ndarray  # int32
    unit_type: np.ndarray  # int8, UNIT_TYPES code
    resources: np.ndarray  # float32 (units x categories)
    allied: np.ndarray  # bool: signed a co-building agreement and named a liaison

    @classmethod
    def create(cls, world: World) -> CoBuildingUnits:
        """Every unit of the world, none engaged yet."""
        return cls(
            community=world.unit_community,
            unit_type=world.unit_type,
            resources=UNIT_RESOURCES[world.unit_type].copy(),
            allied=np.zeros(world.unit_community.size, dtype=bool),
        )

    @property
    def n(self) -> int:
        """Number of units."""
        return int(self.community.size)


def month_payoff(answered: np.ndarray, used: np.ndarray, offered: np.ndarray, hours: float, *,
                 reward_answered: float, penalty_ignored: float, penalty_cost: float, penalty_burnout: float,
                 load_burnout: float) -> np.ndarray:
    """What a month of two-way claiming was worth to each unit, in [-1, 1].

    A claim the big community answered pays ``reward_answered`` for the share of the offered hours
    that met needs and costs ``penalty_ignored`` for the share left unused; an unanswered claim
    costs ``penalty_ignored``. The hours spent cost ``penalty_cost`` per share of the unit's
    monthly hours, and a load above ``load_burnout`` of them burns out (linear to the full
    ``penalty_burnout`` at a full load).
    """
    met = np.divide(used, offered, out=np.zeros_like(used), where=offered > 0)
    load = used / hours if hours > 0 else np.zeros_like(used)
    r = np.where(answered, reward_answered * met - penalty_ignored * (1.0 - met), -penalty_ignored)
    r = r - penalty_cost * load
    if load_burnout < 1.0:
        r = r - penalty_burnout * np.clip((load - load_burnout) / (1.0 - load_burnout), 0.0, 1.0)
    return np.clip(r, -1.0, 1.0)


def reinforce(willingness: np.ndarray, payoff: np.ndarray, rate: float) -> np.ndarray:
    """Bush-Mosteller learning: a good experience moves willingness toward 1, a bad one toward 0.

    ``w + rate * r * (1 - w)`` for ``r > 0``, ``w + rate * r * w`` for ``r <= 0`` (Bush & Mosteller
    1955; Macy & Flache 2002): the step is proportional to the room left, so ``w`` stays in [0, 1].
    """
    r = np.clip(payoff, -1.0, 1.0)
    return np.where(r > 0, willingness + rate * r * (1.0 - willingness), willingness + rate * r * willingness)
