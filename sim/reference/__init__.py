"""Reference implementation of govsim in plain Mesa, for docking against the numpy core.

Written from docs/model.md only, one Python object per agent and problem, so that the fast
vectorised core can be shown to compute the same model (Axtell et al. 1996).
"""

from __future__ import annotations

from sim.core.scenario import Scenario
from sim.reference.ledger import summary
from sim.reference.model import ReferenceModel


def run_reference(scenario: Scenario, seed: int, n_steps: int) -> dict[str, float]:
    """Run the reference model ``n_steps`` days and return the end-of-run summary (§9.2)."""
    # the series only when the summary needs them (the pre/post windows of a reform date)
    model = ReferenceModel(scenario, seed, record_series=scenario.reform.start_day > 0)
    for _ in range(n_steps):
        model.step()
    return summary(model)


__all__ = ["ReferenceModel", "run_reference", "summary"]
