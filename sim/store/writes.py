"""Inserting rows fast: driver-level executemany, a run's series, and a batch of sweep runs in a few statements.

The writing half of :class:`sim.store.database.ResultStore` below its validation: plain rows in,
run ids out. Importing this module makes no engine or connection.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Table, bindparam, delete, insert, select, tuple_
from sqlalchemy.engine import Connection, Dialect

from sim.errors import StoreError
from sim.store.schema import runs, series, series_steps, summary, sweep_failures, sweep_results

__all__ = ["RunRows", "SeriesRows", "bulk_insert", "chunks", "insert_run_rows", "new_run_id", "save_sweep_batch",
           "stored_pairs"]

_CHUNK_ROWS = 10_000  # rows per executemany batch: bounds memory, keeps inserts fast
#: bytes of binary values (a run's steps and series) per executemany batch. psycopg pipelines a batch: it
#: sends every row before reading a result. A local PostgreSQL over TCP (loopback, 64 kB segments) that
#: falls behind then advertises a zero receive window (the kernel's TCPToZeroWindowAdv), and the client waited
#: ~200 ms for it to reopen: in 1 to 3 of 6 sweeps of the bench's overhead case; in none of 18 with batches of
#: 32 or 64 kB. The price is a round trip a batch: on a server 2 ms away, ~2 ms a run keeping 20 daily series
#: of a year (61 kB)
_CHUNK_BYTES = 64 * 1024
#: a run's steps row (None without series) and its ``(metric, n, value)`` rows (:func:`sim.store.series.series_rows`)
SeriesRows = tuple[tuple[int, bytes] | None, list[tuple[str, int, bytes]]]
#: a validated run's rows: its ``runs`` row, its summary rows, its series rows (``ResultStore._validate``)
RunRows = tuple[dict[str, Any], list[dict[str, Any]], SeriesRows]


def bulk_insert(conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """Driver-level executemany of plain-Python tuples, in chunks.

    Why: for tens of thousands of rows SQLAlchemy's per-row parameter processing costs
    several times the insert itself. The statement is still compiled for the connection's
    dialect (``?`` for SQLite, ``%(name)s`` for psycopg), so this stays portable; the
    values are int/str/float/bytes/None, which need no type processing.
    """
    sql, order = _insert_sql(conn.dialect, table, tuple(columns))
    params: list[Any]
    if order is not None:
        params = rows if order == list(range(len(columns))) else [tuple(r[i] for i in order) for r in rows]
    else:
        params = [dict(zip(columns, r)) for r in rows]
    for start, stop in chunks(rows):
        conn.exec_driver_sql(sql, params[start:stop])


def chunks(rows: Sequence[tuple[Any, ...]]) -> Iterator[tuple[int, int]]:
    """``rows`` cut into executemany batches, as (start, stop) pairs, in order.

    A batch has at most :data:`_CHUNK_ROWS` rows, and at most :data:`_CHUNK_BYTES` bytes of binary
    values (``bytes``, ``bytearray``, ``memoryview``) unless it is one row.
    """
    start = size = 0
    for i, row in enumerate(rows):
        n = sum(memoryview(v).nbytes for v in row if isinstance(v, (bytes, bytearray, memoryview)))
        if i > start and (i - start >= _CHUNK_ROWS or size + n > _CHUNK_BYTES):
            yield start, i
            start, size = i, 0
        size += n
    if start < len(rows):
        yield start, len(rows)


_INSERT_SQL: dict[tuple[Any, ...], tuple[str, list[int] | None]] = {}


def new_run_id(conn: Connection, run_row: dict[str, Any]) -> int:
    """Insert one row into ``runs`` and return its id (every supported database reports it)."""
    key = conn.execute(insert(runs), run_row).inserted_primary_key
    if key is None:  # pragma: no cover - SQLite and PostgreSQL always return the new key
        raise StoreError("the results database did not return the id of the new run")
    return int(key[0])


def _insert_sql(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> tuple[str, list[int] | None]:
    """The INSERT statement for ``columns`` compiled for ``dialect``, and the order of its columns.

    Cached: compiling costs more than inserting a few rows. The order is given for positional
    paramstyles only (None otherwise).
    """
    key = (type(dialect), dialect.paramstyle, table.name, columns)
    hit = _INSERT_SQL.get(key)
    if hit is None:
        compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
        order = [list(columns).index(k) for k in compiled.positiontup or ()] if compiled.positional else None
        hit = _INSERT_SQL[key] = (compiled.string, order)
    return hit


def stored_pairs(conn: Connection, pairs: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    """Those of the (experiment, replicate) pairs that have a result (one indexed lookup each)."""
    wanted = sorted(set(pairs))
    if not wanted:
        return set()
    rows = conn.execute(_STORED_PAIRS, {"pairs": wanted})
    return {(int(e), int(r)) for e, r in rows}


_STORED_PAIRS = (select(sweep_results.c.experiment_id, sweep_results.c.replicate)
                 .where(tuple_(sweep_results.c.experiment_id, sweep_results.c.replicate)
                        .in_(bindparam("pairs", expanding=True))))
_CLEAR_FAILURE = (delete(sweep_failures).where(sweep_failures.c.experiment_id == bindparam("e"))
                  .where(sweep_failures.c.replicate == bindparam("r")))
_INSERT_RUNS = insert(runs).returning(runs.c.id, sort_by_parameter_order=True)
#: a sweep run's ``sweep_results`` row without its run id, then with it (last)
_LINK_COLUMNS = ("experiment_id", "replicate", "seed", "worker", "run_s", "run_id")
_COLUMNS = {summary: ("run_id", "metric", "value"), series_steps: ("run_id", "n", "t"),
            series: ("run_id", "metric", "n", "value"), sweep_results: _LINK_COLUMNS}


def insert_run_rows(conn: Connection, saved: Iterable[tuple[int, RunRows]],
                    links: Sequence[tuple[Any, ...]] = ()) -> None:
    """Insert the summary, step and series rows of runs already in ``runs`` (their ids given), and sweep links.

    One driver-level executemany a table for all the runs: per statement SQLAlchemy costs more than a
    run's rows. ``links``: full ``sweep_results`` rows (:data:`_LINK_COLUMNS`).
    """
    rows: dict[Table, list[tuple[Any, ...]]] = {summary: [], series_steps: [], series: [], sweep_results: [*links]}
    for run_id, (_, summary_rows, (steps, values)) in saved:
        rows[summary] += [(run_id, r["metric"], r["value"]) for r in summary_rows]
        if steps is not None:
            rows[series_steps].append((run_id, *steps))
            rows[series] += [(run_id, *v) for v in values]
    for table, table_rows in rows.items():
        if table_rows:
            bulk_insert(conn, table, _COLUMNS[table], table_rows)


def save_sweep_batch(conn: Connection, prepared: list[tuple[RunRows, tuple[Any, ...]]]) -> list[int | None]:
    """Insert validated sweep runs and their links; each one's run id, None (nothing written) if its pair has one.

    ``prepared``: each run's rows and its link row without the run id (its pair first). A few statements
    for the whole batch: the pairs' check, the runs' rows for their ids, every other row at once
    (:func:`insert_run_rows`), and the pairs' failures cleared.
    """
    taken = stored_pairs(conn, (link[:2] for _, link in prepared))
    new = []  # positions of the runs whose pairs have no result (a pair twice in the batch: its first)
    for i, (_, link) in enumerate(prepared):
        if link[:2] not in taken:
            taken.add(link[:2])
            new.append(i)
    run_rows = [prepared[i][0][0] for i in new]
    if len(new) > 1 and conn.dialect.insert_executemany_returning_sort_by_parameter_order:
        got = conn.execute(_INSERT_RUNS, run_rows).scalars().all()  # one INSERT ... RETURNING, ids in order
    else:  # one INSERT a run (SQLite before 3.35 has no RETURNING; SQLAlchemy would send one a run anyway)
        got = [new_run_id(conn, row) for row in run_rows]
    saved = {i: int(run_id) for i, run_id in zip(new, got, strict=True)}
    links = [(*prepared[i][1], run_id) for i, run_id in saved.items()]
    insert_run_rows(conn, ((run_id, prepared[i][0]) for i, run_id in saved.items()), links)
    if links:
        conn.execute(_CLEAR_FAILURE, [{"e": link[0], "r": link[1]} for link in links])
    return [saved.get(i) for i in range(len(prepared))]
