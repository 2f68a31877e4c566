"""The model's accounting identities and bounds, checked by tests and on demand."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.config.taxonomy import QUEUED

if TYPE_CHECKING:
    from sim.core.model import Model


def check_invariants(model: Model) -> None:
    """Raise AssertionError if an accounting identity or a bound is violated."""
    led, pool, r = model.ledger, model.problems, model.residents
    arisen, resolved, abandoned = int(led.arisen.sum()), int(led.resolved.sum()), int(led.abandoned.sum())
    assert arisen == resolved + abandoned + pool.n, (arisen, resolved, abandoned, pool.n)
    assert int(led.resolved_level.sum()) == resolved
    assert int(led.days_hist.sum()) == resolved
    assert led.found >= resolved and led.found <= arisen
    for name in ("satisfaction", "trust", "expectation", "performance", "efficacy", "grievance"):
        a = getattr(r, name)
        assert a.min() >= 0.0 and a.max() <= 1.0, name
    assert np.all(pool.status >= 0)
    assert np.all((pool.level >= 0) == (pool.status == QUEUED))
    assert np.all(pool.level <= model.top_level)


__all__ = ["check_invariants"]
