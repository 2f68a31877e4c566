"""The store's row of one finished run: :func:`run_record` of any :class:`RunOutcome`.

Re-exported by :mod:`sim.experiments.runner`, where the coordinators find it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from sim.store.database import RunRecord

__all__ = ["RunOutcome", "run_record"]


class RunOutcome(Protocol):
    """What any finished run offers the store: :class:`sim.core.results.Results`, a sweep's ``RunOutput``..."""

    @property
    def summary(self) -> Mapping[str, float]:
        """Metric -> value."""

    @property
    def timeseries(self) -> Mapping[str, np.ndarray]:
        """Metric -> recorded values."""

    @property
    def t(self) -> np.ndarray:
        """Recorded steps."""

    @property
    def started_at(self) -> datetime:
        """When the run started (UTC)."""

    @property
    def finished_at(self) -> datetime:
        """When the run finished (UTC)."""


def run_record(outcome: RunOutcome, *, scenario_name: str, scenario_hash: str, scenario_text: str, seed: int,
               n_steps: int, label: str = "") -> RunRecord:
    """The store's row of one run: its outcome, the scenario's provenance and this package's version."""
    from sim.config.version import __version__
    from sim.store.database import RunRecord

    return RunRecord(
        scenario_name=scenario_name, scenario_hash=scenario_hash, scenario_text=scenario_text, seed=seed,
        n_steps=n_steps, package_version=__version__, started_at=outcome.started_at,
        finished_at=outcome.finished_at, summary=outcome.summary, timeseries=outcome.timeseries, t=outcome.t,
        label=label,
    )
