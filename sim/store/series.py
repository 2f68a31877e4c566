"""A run's time series in the store (format 2): its steps once, then one row per metric, as little-endian arrays.

Why not one row per value (format 1, table ``timeseries``): a year of twenty daily series is 7,300
rows, and inserting them cost more than 2% of a small run (about 1 us a row on SQLite, with the
index); format 2 writes twenty-one. ``series_steps`` holds a run's recorded steps once (``t``,
int64, and their count ``n``); ``series`` one row per metric, its values at those steps
(``value``, float64, NaN and inf as they are) and their count. Outside govsim,
``numpy.frombuffer(row.value, "<f8")`` reads a row. Databases written before format 2 keep their
series in ``timeseries`` (one row per metric and step, NULL for NaN), which is read as before: a
run's series are the union of both. A database opened only for reading may lack either table.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import groupby
from typing import Any

import numpy as np
from sqlalchemy import func, inspect, select
from sqlalchemy.engine import Connection

from sim.errors import StoreError
from sim.store.schema import series, series_steps, timeseries

__all__ = ["STEP_DTYPE", "VALUE_DTYPE", "decode", "read_series", "series_rows", "tables_present", "values_per_run"]

#: how the arrays are stored: little-endian whatever the machine, so a database file moves between machines
STEP_DTYPE = np.dtype("<i8")
VALUE_DTYPE = np.dtype("<f8")


def series_rows(t: np.ndarray, arrays: Mapping[str, np.ndarray]) -> tuple[tuple[int, bytes] | None,
                                                                         list[tuple[str, int, bytes]]]:
    """A run's ``(n, t)`` steps row (None without series) and ``(metric, n, value)`` rows, from checked arrays."""
    if not arrays:
        return None, []
    n = int(t.shape[0])
    steps = (n, np.ascontiguousarray(t, dtype=STEP_DTYPE).tobytes())
    return steps, [(metric, n, np.ascontiguousarray(values, dtype=VALUE_DTYPE).tobytes())
                   for metric, values in arrays.items()]


def decode(data: bytes | memoryview, n: int, dtype: np.dtype[Any], what: str) -> np.ndarray:
    """One stored array of ``n`` values as a writable native array; StoreError naming ``what`` if its size is not that."""
    if len(data) != n * dtype.itemsize:
        raise StoreError(f"the stored {what} is damaged: {len(data)} bytes where {n} values take "
                         f"{n * dtype.itemsize}")
    return np.frombuffer(data, dtype=dtype).astype(dtype.newbyteorder("="))


def tables_present(conn: Connection) -> tuple[bool, bool]:
    """Whether the database has format 2's tables and format 1's (a database opened read-only may lack either)."""
    insp = inspect(conn)
    return insp.has_table(series.name), insp.has_table(timeseries.name)


def _format_2(conn: Connection, run_id: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """A run's format-2 series: (metric, steps, values)."""
    stored = conn.execute(select(series_steps.c.n, series_steps.c.t).where(series_steps.c.run_id == run_id)).first()
    rows = conn.execute(select(series.c.metric, series.c.n, series.c.value).where(series.c.run_id == run_id)).all()
    if not rows:
        return []
    if stored is None:
        raise StoreError(f"the stored series of run {run_id} are damaged: their steps are missing")
    t = decode(stored[1], int(stored[0]), STEP_DTYPE, f"steps of run {run_id}")
    out = []
    for metric, n, value in rows:
        if int(n) != t.size:
            raise StoreError(f"the stored series '{metric}' of run {run_id} is damaged: {n} values for {t.size} steps")
        out.append((metric, t, decode(value, t.size, VALUE_DTYPE, f"series '{metric}' of run {run_id}")))
    return out


def _format_1(conn: Connection, run_id: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
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
    new, old = tables_present(conn)
    parts = (_format_2(conn, run_id) if new else []) + (_format_1(conn, run_id) if old else [])
    t = np.unique(np.concatenate([p[1] for p in parts])) if parts else np.zeros(0, dtype=np.int64)
    out: dict[str, np.ndarray] = {}
    for metric, steps, values in sorted(parts, key=lambda p: p[0]):
        arr = out.setdefault(metric, np.full(t.shape[0], np.nan))
        arr[np.searchsorted(t, steps)] = values
    return t, out


def values_per_run(conn: Connection) -> dict[int, int]:
    """Run id -> number of stored time-series values (both formats)."""
    new, old = tables_present(conn)
    queries = [select(series.c.run_id, func.sum(series.c.n)).group_by(series.c.run_id)] if new else []
    if old:
        queries.append(select(timeseries.c.run_id, func.count()).group_by(timeseries.c.run_id))
    out: dict[int, int] = {}
    for query in queries:
        for run_id, n in conn.execute(query):
            out[int(run_id)] = out.get(int(run_id), 0) + int(n)
    return out
