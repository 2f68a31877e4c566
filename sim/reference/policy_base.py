"""The base class of the reference policies: hooks, cost, the policy's own random stream and counters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.reference.model import ReferenceModel


class ReferencePolicy:
    """Base class: ``setup`` once, ``cost_per_day`` daily, any ``on_<phase>(model, t)`` hooks."""

    name = ""

    def __init__(self, params: Any) -> None:
        self.p = params

    def setup(self, model: ReferenceModel) -> None:
        """Change the model once, after the core is built (§5.6)."""

    def cost_per_day(self, model: ReferenceModel) -> float:
        """Yuan a day."""
        return 0.0

    def rng(self, model: ReferenceModel) -> Any:
        """This policy's random stream."""
        return model.streams.get(f"policy:{self.name}")

    def count(self, model: ReferenceModel, counter: str, value: float) -> None:
        """``count(<policy>, counter, value)``."""
        model.count(self.name, counter, value)
