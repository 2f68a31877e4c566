"""The base class of the reference policies (hooks, cost, own random stream, counters) and what several share.

Shared: the category and severity codes the rules name, the combination of prevention chances,
and the two queries of the problem list most policies make.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.config.taxonomy import LATENT, N_CATEGORIES, QUEUED

if TYPE_CHECKING:
    from sim.reference.agents import Problem
    from sim.reference.model import ReferenceModel

SANITATION, PARKING, DISPUTE, CARE, SAFETY, PROPERTY_CAT, ADMIN, HEALTH = range(N_CATEGORIES)
BIG, MAJOR = 2, 3  # severity codes: big and major are >= BIG


class ReferencePolicy:
    """Base class: ``setup`` once, ``cost_per_day`` daily, any ``on_<phase>(model, t)`` hooks."""

    name = ""

    def __init__(self, params: Any) -> None:
        self.p = params
        self.t_start = 0  # the clock of the reform day, set by the model before setup (§7.12)

    def days(self, t: int) -> int:
        """Days since the policy was set up (its schedules count from its first day, §7.12)."""
        return t - self.t_start

    def setup(self, model: ReferenceModel) -> None:
        """Change the model once, at the start of the reform day (§5.6, §7.12)."""

    def cost_per_day(self, model: ReferenceModel) -> float:
        """Yuan a day."""
        return 0.0

    def rng(self, model: ReferenceModel) -> Any:
        """This policy's random stream."""
        return model.streams.get(f"policy:{self.name}")

    def count(self, model: ReferenceModel, counter: str, value: float) -> None:
        """``count(<policy>, counter, value)``."""
        model.count(self.name, counter, value)


def combine(p: float, e: float) -> float:
    """Prevention chances combine as ``1 − (1 − p)(1 − e)``."""
    return 1.0 - (1.0 - p) * (1.0 - e)


def latent_unfound(model: ReferenceModel) -> list[Problem]:
    """Open problems that are latent and not yet found."""
    return [pr for pr in model.problems if not pr.closed and pr.status == LATENT and pr.t_found < 0]


def queued(model: ReferenceModel) -> list[Problem]:
    """Open queued problems, in the order of arising."""
    return [pr for pr in model.problems if not pr.closed and pr.status == QUEUED]
