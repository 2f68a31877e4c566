"""Inserting rows fast: driver-level executemany, a run's series, and a batch of sweep runs in a few statements.

The writing half of :class:`sim.store.database.ResultStore` below its validation: plain rows in,
run ids out. Importing this module makes no engine or connection.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table, bindparam, delete, insert, select, tuple_
from sqlalchemy.engine import Connection, Dialect

from sim.errors import StoreError
from sim.store.schema import runs, series, series_steps, summary, sweep_failures, sweep_results

__all__ = ["SeriesRows", "bulk_insert", "insert_series", "new_run_id", "save_sweep_batch", "stored_pairs"]

_CHUNK_ROWS = 10_000  # rows per executemany batch: bounds memory, keeps inserts fast
#: a run's steps row (None without series) and its ``(metric, n, value)`` rows (:func:`sim.store.series.series_rows`)
SeriesRows = tuple[tuple[int, bytes] | None, list[tuple[str, int, bytes]]]


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
    for start in range(0, len(params), _CHUNK_ROWS):
        conn.exec_driver_sql(sql, params[start : start + _CHUNK_ROWS])


_INSERT_SQL: dict[tuple[Any, ...], tuple[str, list[int] | None]] = {}


def insert_series(conn: Connection, run_id: int, rows: SeriesRows) -> None:
    """Insert a run's steps and its series rows (:func:`sim.store.series.series_rows`)."""
    steps, values = rows
    if steps is not None:
        conn.execute(insert(series_steps), {"run_id": run_id, "n": steps[0], "t": steps[1]})
        bulk_insert(conn, series, ("run_id", "metric", "n", "value"), [(run_id, *r) for r in values])


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
_LINK_COLUMNS = ("experiment_id", "replicate", "seed", "worker", "run_s", "run_id")


def save_sweep_batch(conn: Connection, prepared: list[tuple[tuple[dict[str, Any], list[dict[str, Any]], SeriesRows],
                                                              dict[str, Any]]]) -> list[int | None]:
    """Insert validated sweep runs and their links; each one's run id, None (nothing written) if its pair has one.

    A few statements for the whole batch (its pairs' check, each run's row for its id, then every
    summary, step, series and link row at once, and the pairs' failures cleared): per statement
    SQLAlchemy costs more than a run's rows.
    """
    taken = stored_pairs(conn, ((link["experiment_id"], link["replicate"]) for _, link in prepared))
    new = []  # positions of the runs whose pairs have no result (a pair twice in the batch: its first)
    for i, (_, link) in enumerate(prepared):
        pair = (link["experiment_id"], link["replicate"])
        if pair not in taken:
            taken.add(pair)
            new.append(i)
    ids: list[int | None] = [None] * len(prepared)
    run_rows = [prepared[i][0][0] for i in new]
    if len(new) > 1 and conn.dialect.insert_executemany_returning_sort_by_parameter_order:
        got = conn.execute(_INSERT_RUNS, run_rows).scalars().all()  # one INSERT ... RETURNING, ids in order
    else:  # one INSERT a run (SQLite before 3.35 has no RETURNING; SQLAlchemy would send one a run anyway)
        got = [new_run_id(conn, row) for row in run_rows]
    for i, run_id in zip(new, got, strict=True):
        ids[i] = int(run_id)
    rows: dict[Table, list[tuple[Any, ...]]] = {summary: [], series_steps: [], series: [], sweep_results: []}
    for i in new:
        (_, summary_rows, (steps, values)), link = prepared[i]
        run_id = ids[i]
        rows[summary] += [(run_id, r["metric"], r["value"]) for r in summary_rows]
        if steps is not None:
            rows[series_steps].append((run_id, *steps))
            rows[series] += [(run_id, *v) for v in values]
        rows[sweep_results].append(tuple({**link, "run_id": run_id}[c] for c in _LINK_COLUMNS))
    columns = {summary: ("run_id", "metric", "value"), series_steps: ("run_id", "n", "t"),
               series: ("run_id", "metric", "n", "value"), sweep_results: _LINK_COLUMNS}
    for table, table_rows in rows.items():
        if table_rows:
            bulk_insert(conn, table, columns[table], table_rows)
    if rows[sweep_results]:
        conn.execute(_CLEAR_FAILURE, [{"e": row[0], "r": row[1]} for row in rows[sweep_results]])
    return ids
