"""Coarser stored series: keep every n-th recorded day of a run's time series in the store (``compare --series-every``).

Why: the time series are the bulk of a results store (8 bytes per metric and recorded day); a
comparison's report and figures read well from weekly points. The summary is always the run's own,
computed from every day, and the comparison returned in memory keeps every recorded day.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from sim.errors import InputError

if TYPE_CHECKING:
    from sim.store.database import RunRecord

__all__ = ["check_series_every", "thin_series"]


def check_series_every(every: int) -> None:
    """:class:`~sim.errors.InputError` unless ``every`` (store every n-th recorded day) is an integer of at least 1."""
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise InputError(f"series_every must be an integer of at least 1 (1 keeps every recorded day), got {every!r}")


def thin_series(record: RunRecord, every: int) -> RunRecord:
    """``record`` with only the recorded days ``t`` that are multiples of ``every``, and the last one."""
    if every <= 1 or len(record.t) == 0:
        return record
    t = np.asarray(record.t)
    keep = t % every == 0
    keep[-1] = True
    return dataclasses.replace(record, t=t[keep],
                               timeseries={k: np.asarray(v)[keep] for k, v in record.timeseries.items()})
