"""A run's time series in the store: one row per metric, its steps and values as little-endian arrays.

Why not one row per value: a year of twenty daily series is 7,300 rows, and inserting them cost
more than 2% of a small run (about 1 us a row on SQLite, with the index); one row per metric is
twenty. Each row holds its own steps (``t``, int64) and values (``value``, float64; NaN and inf
kept as they are) and their count ``n``, so a row is a whole series and can be read on its own:
``numpy.frombuffer(row.value, "<f8")``. Databases written by older versions keep their series in
the long table ``timeseries`` (one row per metric and step, NULL for NaN); they are read as
before, and a run's series are the union of both tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import groupby
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Select

from sim.store.schema import series, timeseries

__all__ = ["STEP_DTYPE", "VALUE_DTYPE", "decode", "read_series", "series_rows", "values_per_run"]

#: how the arrays are stored: little-endian whatever the machine, so a database file moves between machines
STEP_DTYPE = np.dtype("<i8")
VALUE_DTYPE = np.dtype("<f8")


def series_rows(t: np.ndarray, arrays: Mapping[str, np.ndarray]) -> list[tuple[str, int, bytes, bytes]]:
    """The ``(metric, n, t, value)`` rows of one run's checked series (same length as ``t``)."""
    steps = np.ascontiguousarray(t, dtype=STEP_DTYPE).tobytes()
    return [(metric, int(t.shape[0]), steps, np.ascontiguousarray(values, dtype=VALUE_DTYPE).tobytes())
            for metric, values in arrays.items()]


def decode(steps: bytes | memoryview, values: bytes | memoryview) -> tuple[np.ndarray, np.ndarray]:
    """One stored row's steps (int64) and values (float64), as writable arrays in native byte order."""
    return (np.frombuffer(steps, dtype=STEP_DTYPE).astype(np.int64),
            np.frombuffer(values, dtype=VALUE_DTYPE).astype(np.float64))


def _legacy(conn: Connection, run_id: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """A run's series from the long table of older databases: (metric, steps, values), NULL -> nan."""
    rows = conn.execute(select(timeseries.c.metric, timeseries.c.t, timeseries.c.value)
                        .where(timeseries.c.run_id == run_id)
                        .order_by(timeseries.c.metric, timeseries.c.t)).all()
    out = []
    start = 0
    for metric, group in groupby(r[0] for r in rows):  # rows arrive grouped by metric
        stop = start + sum(1 for _ in group)
        part = rows[start:stop]
        out.append((metric, np.array([r[1] for r in part], dtype=np.int64),
                    np.array([r[2] for r in part], dtype=np.float64)))  # None (NULL) -> nan
        start = stop
    return out


def read_series(conn: Connection, run_id: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A run's steps (the union of its series' steps) and one float array per metric, in name order.

    A metric without a value at some step has NaN there.
    """
    stored = conn.execute(select(series.c.metric, series.c.t, series.c.value)
                          .where(series.c.run_id == run_id)).all()
    parts = [(m, *decode(s, v)) for m, s, v in stored] + _legacy(conn, run_id)
    t = np.unique(np.concatenate([p[1] for p in parts])) if parts else np.zeros(0, dtype=np.int64)
    out: dict[str, np.ndarray] = {}
    for metric, steps, values in sorted(parts, key=lambda p: p[0]):
        arr = out.setdefault(metric, np.full(t.shape[0], np.nan))
        arr[np.searchsorted(t, steps)] = values
    return t, out


def values_per_run(conn: Connection, run_ids: Select[Any] | None = None) -> dict[int, int]:
    """Run id -> number of stored time-series values (both tables); only ``run_ids`` if given."""
    new = select(series.c.run_id, func.sum(series.c.n)).group_by(series.c.run_id)
    old = select(timeseries.c.run_id, func.count()).group_by(timeseries.c.run_id)
    if run_ids is not None:
        new, old = new.where(series.c.run_id.in_(run_ids)), old.where(timeseries.c.run_id.in_(run_ids))
    out: dict[int, int] = {}
    for query in (new, old):
        for run_id, n in conn.execute(query):
            out[int(run_id)] = out.get(int(run_id), 0) + int(n)
    return out
