"""The results store on SQLite and on a real PostgreSQL (``GOVSIM_TEST_POSTGRES_URL``, set by .ci/run).

Without that variable the PostgreSQL cases skip locally but FAIL in CI (``CI=true``): a CI run
that silently tested only SQLite would not show that PostgreSQL works. Each PostgreSQL test gets
a schema of its own (dropped afterwards) through libpq's ``options=-csearch_path=...``.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, event, func, inspect, make_url, select, text
from sqlalchemy.engine import Connection
from test_sweep_support import write_sweep

from sim.cli.sweep import main
from sim.errors import StoreError
from sim.experiments.sweep.spec import load_sweep
from sim.store.database import ResultStore, RunRecord
from sim.store.schema import runs, series, summary, sweep_results
from sim.store.storage import UNCOMPRESSED

PG_ENV = "GOVSIM_TEST_POSTGRES_URL"


def _pg_base_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{PG_ENV} is not set in CI: .ci/run must start PostgreSQL for the store tests")
        pytest.skip(f"{PG_ENV} not set (PostgreSQL store tests run in CI)")
    pytest.importorskip("psycopg")
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    with pg_schema("govsim_test") as url:
        yield url


@contextmanager
def pg_schema(prefix: str) -> Iterator[str]:
    """A URL of the test PostgreSQL whose search path is a fresh schema ``<prefix>_<hex>``, dropped afterwards."""
    base = _pg_base_url()
    schema = f"{prefix}_{secrets.token_hex(4)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in base else "?"
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def _record(seed: int = 3, n: int = 6) -> RunRecord:
    t0 = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    rng = np.random.default_rng(seed)
    series = {"a": rng.normal(size=n), "b": np.arange(n, dtype=float)}
    series["a"][2] = np.nan
    return RunRecord(scenario_name="s", scenario_hash="h" * 64, scenario_text="x = 1\n", seed=seed, n_steps=2 * n,
                     package_version="0.1.0", started_at=t0, finished_at=t0 + timedelta(seconds=1),
                     summary={"x": 0.1 + 0.2, "nan": float("nan"), "big": 1e300}, timeseries=series,
                     t=np.arange(0, 2 * n, 2, dtype=np.int64))


def test_run_round_trip_is_exact(db_url: str) -> None:
    rec = _record()
    with ResultStore(db_url) as store:
        got = store.load_run(store.save_run(rec))
    assert got.summary["x"] == 0.1 + 0.2 and got.summary["big"] == 1e300 and np.isnan(got.summary["nan"])
    np.testing.assert_array_equal(got.timeseries["a"], rec.timeseries["a"])  # NaN where NaN
    assert got.started_at == rec.started_at and got.t.tolist() == rec.t.tolist()


def test_sweep_tables_indexes_and_constraints_exist(db_url: str) -> None:
    with ResultStore(db_url) as store:
        insp = inspect(store.engine)
        tables = set(insp.get_table_names())
        assert {"runs", "summary", "series", "series_steps", "store_info", "timeseries", "sweeps", "experiments",
                "sweep_results"} <= tables
        uniques = {tuple(u["column_names"]) for u in insp.get_unique_constraints("sweep_results")}
        uniques |= {tuple(i["column_names"]) for i in insp.get_indexes("sweep_results") if i["unique"]}
        assert ("experiment_id", "replicate") in uniques and ("run_id",) in uniques
        exp_idx = {tuple(i["column_names"]) for i in insp.get_indexes("experiments")}
        exp_idx |= {tuple(u["column_names"]) for u in insp.get_unique_constraints("experiments")}
        assert ("sweep_id", "idx") in exp_idx and ("scenario_hash",) in exp_idx
        assert ("run_id", "metric") in {tuple(i["column_names"]) for i in insp.get_indexes("timeseries")}
        series_keys = {tuple(u["column_names"]) for u in insp.get_unique_constraints("series")}
        series_keys |= {tuple(i["column_names"]) for i in insp.get_indexes("series") if i["unique"]}
        assert ("run_id", "metric") in series_keys


def _storage(url: str) -> dict[str, str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {f"{table}.{column}": conn.execute(text(
                "SELECT attstorage FROM pg_attribute WHERE attrelid = CAST(:t AS regclass) AND attname = :c"),
                {"t": table, "c": column}).scalar() for table, column in UNCOMPRESSED}
    finally:
        engine.dispose()


def test_postgresql_stores_steps_and_series_uncompressed_also_in_an_older_database(tmp_path: Path) -> None:
    """New tables, and those of a database made before (compressed: 'x'), store the arrays uncompressed ('e').

    A read-only open changes nothing; values round-trip either way (sim.store.storage.UNCOMPRESSED).
    """
    with pg_schema("govsim_test") as url:
        with ResultStore(url) as store:
            first = store.save_run(_record())
        assert _storage(url) == {"series_steps.t": "e", "series.value": "e"}
        engine = create_engine(url)
        with engine.begin() as conn:  # as a database made by an older version
            _compressed(conn)
        engine.dispose()
        with ResultStore(url, read_only=True) as store:
            np.testing.assert_array_equal(store.load_run(first).timeseries["b"], _record().timeseries["b"])
        assert set(_storage(url).values()) == {"x"}
        with ResultStore(url) as store:
            got = store.load_run(store.save_run(_record(seed=4)))
        assert _storage(url) == {"series_steps.t": "e", "series.value": "e"}
        np.testing.assert_array_equal(got.timeseries["a"], _record(seed=4).timeseries["a"])


def _compressed(conn: Connection) -> None:
    for table, column in UNCOMPRESSED:  # as in a database made by an older version
        conn.execute(text(f"ALTER TABLE {table} ALTER COLUMN {column} SET STORAGE EXTENDED"))


def test_an_open_that_may_not_or_cannot_change_the_storage_still_opens_and_stores() -> None:
    """Storing uncompressed is a saving: a role that does not own the tables, or a table in use, leaves it for later.

    Before, such an open worked; it must still (sim.store.storage.store_uncompressed).
    """
    role = f"govsim_user_{secrets.token_hex(4)}"
    with pg_schema("govsim_test") as url:
        with ResultStore(url) as store:  # made by its owner
            store.save_run(_record())
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                _compressed(conn)
                schema = conn.execute(text("SELECT current_schema()")).scalar()
                conn.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD 'pw'"))
                conn.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO {role}'))
                conn.execute(text(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO {role}'))
                conn.execute(text(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "{schema}" TO {role}'))
            as_user = make_url(url).set(username=role, password="pw").render_as_string(hide_password=False)
            with ResultStore(as_user) as store:  # may write rows, may not alter the tables
                got = store.load_run(store.save_run(_record(seed=5)))
            np.testing.assert_array_equal(got.timeseries["a"], _record(seed=5).timeseries["a"])
            assert set(_storage(url).values()) == {"x"}
            other = create_engine(url)
            with other.begin() as busy:  # another session reading the series table
                busy.execute(text("LOCK TABLE series IN ACCESS SHARE MODE"))
                t0 = time.perf_counter()
                with ResultStore(url) as store:
                    store.save_run(_record(seed=6))
                waited = time.perf_counter() - t0
            other.dispose()
            assert _storage(url) == {"series_steps.t": "e", "series.value": "x"} and waited < 5
            with ResultStore(url):
                pass
            assert _storage(url) == {"series_steps.t": "e", "series.value": "e"}  # a later open does it
        finally:
            with admin.connect() as conn:
                if conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar():
                    conn.execute(text(f"DROP OWNED BY {role}"))  # its grants
                    conn.execute(text(f"DROP ROLE {role}"))
            admin.dispose()


def _open_tiny_sweep(store: ResultStore, tmp_path: Path):
    from sim.experiments.sweep.run import experiment_rows, sweep_row

    spec = load_sweep(write_sweep(tmp_path, steps=5), check_outcomes=False)
    assert store.open_sweep(sweep_row(spec), experiment_rows(spec)) is True
    assert store.open_sweep(sweep_row(spec), experiment_rows(spec)) is False  # idempotent
    return spec, store.sweep_experiment_ids(spec.sweep_id)


def test_saving_a_pair_twice_stores_it_once(db_url: str, tmp_path: Path) -> None:
    with ResultStore(db_url) as store:
        spec, ids = _open_tiny_sweep(store, tmp_path)
        first = store.save_sweep_run(_record(1), ids[0], 0)
        again = store.save_sweep_run(_record(2), ids[0], 0)
        other = store.save_sweep_run(_record(3), ids[0], 1)
        assert first is not None and again is None and other is not None
        with store.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(sweep_results)).scalar() == 2
            assert conn.execute(select(func.count()).select_from(runs)).scalar() == 2  # no orphan run
        assert store.sweep_done(spec.sweep_id) == {(0, 0), (0, 1)}


def test_a_batch_stores_its_new_pairs_and_leaves_the_stored_ones(db_url: str, tmp_path: Path) -> None:
    """``save_sweep_runs``: one transaction for many runs; a pair already stored is left as it was (None)."""
    from sim.store.database import SweepRun

    with ResultStore(db_url) as store:
        spec, ids = _open_tiny_sweep(store, tmp_path)
        first = store.save_sweep_run(_record(1), ids[0], 0)
        got = store.save_sweep_runs([SweepRun(_record(2), ids[0], 0), SweepRun(_record(3), ids[0], 1, "w:1", 0.5),
                                     SweepRun(_record(4), ids[1], 0)])
        assert got[0] is None and None not in got[1:] and len({first, *got[1:]}) == 3
        assert store.sweep_done(spec.sweep_id) == {(0, 0), (0, 1), (1, 0)}
        assert store.load_run(first).seed == 1 and [store.load_run(i).seed for i in got[1:]] == [3, 4]
        with store.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(runs)).scalar() == 3  # no orphan run
            link = conn.execute(select(sweep_results.c.worker, sweep_results.c.run_s)
                                .where(sweep_results.c.run_id == got[1])).one()
        assert tuple(link) == ("w:1", 0.5)


@pytest.mark.parametrize("returning", [True, False])
def test_a_batch_gets_its_run_ids_in_order_with_or_without_insert_returning(db_url: str, tmp_path: Path, returning: bool,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch's run ids come back in its runs' order, by one INSERT ... RETURNING where the database sorts it
    (PostgreSQL) and by one INSERT a run where it does not (SQLite; before 3.35 it has no RETURNING at all)."""
    from sim.store.database import SweepRun

    with ResultStore(db_url) as store:
        spec, ids = _open_tiny_sweep(store, tmp_path)
        dialect = store.engine.dialect
        sorted_returning = dialect.insert_executemany_returning_sort_by_parameter_order
        if not returning:  # as SQLAlchemy sets them for SQLite < 3.35
            for flag in ("insert_returning", "insert_executemany_returning",
                         "insert_executemany_returning_sort_by_parameter_order"):
                monkeypatch.setattr(dialect, flag, False)
        inserts: list[str] = []  # the statements inserting runs
        event.listen(store.engine, "before_cursor_execute",
                     lambda conn, cursor, statement, *_: inserts.append(statement)
                     if statement.lstrip().upper().startswith("INSERT INTO RUNS") else None)
        batch = [SweepRun(_record(10 + k), ids[k % 2], k // 2) for k in range(6)]
        got = store.save_sweep_runs(batch)
        assert [store.load_run(i).seed for i in got] == [10 + k for k in range(6)] and len(set(got)) == 6
    # PostgreSQL: one statement for the batch; SQLite: one a run (SQLAlchemy's own fallback, or ours without RETURNING)
    assert len(inserts) == (1 if returning and db_url.startswith("postgresql") else 6), inserts
    assert sorted_returning  # SQLite >= 3.35 (here) and PostgreSQL declare it


def test_a_batch_that_meets_a_pair_stored_meanwhile_is_stored_run_by_run(db_url: str, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """If another coordinator stored a pair between the batch's check and its insert (the unique
    constraint fails), nothing of the batch stays and its runs are stored one by one."""
    from sim.store import writes
    from sim.store.database import SweepRun

    with ResultStore(db_url) as store:
        spec, ids = _open_tiny_sweep(store, tmp_path)
        stored = store.save_sweep_run(_record(1), ids[0], 0)
        real, calls = writes.stored_pairs, []

        def missed_by_the_batch(conn: object, pairs: object) -> set:  # the batch checks before the other's commit
            calls.append(sorted(pairs := list(pairs)))
            return set() if len(calls) == 1 else real(conn, pairs)

        monkeypatch.setattr(writes, "stored_pairs", missed_by_the_batch)
        got = store.save_sweep_runs([SweepRun(_record(2), ids[0], 1), SweepRun(_record(3), ids[0], 0)])
        e = ids[0]
        assert calls == [[(e, 0), (e, 1)], [(e, 1)], [(e, 0)]]  # the batch's check, then each run's
        assert got[1] is None and got[0] is not None
        with store.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(runs)).scalar() == 2  # the batch's run 0 rolled back
        assert store.sweep_done(spec.sweep_id) == {(0, 0), (0, 1)} and store.load_run(stored).seed == 1


def test_a_failing_save_writes_nothing(db_url: str, tmp_path: Path) -> None:
    with ResultStore(db_url) as store:
        _, ids = _open_tiny_sweep(store, tmp_path)
        store.save_sweep_run(_record(1), ids[0], 0)

        def fail(conn, cursor, statement, params, context, executemany):
            if statement.lstrip().upper().startswith("INSERT INTO SERIES"):
                raise RuntimeError("simulated failure")

        event.listen(store.engine, "before_cursor_execute", fail)
        try:
            with pytest.raises((StoreError, RuntimeError)):
                store.save_sweep_run(_record(2), ids[1], 0)
        finally:
            event.remove(store.engine, "before_cursor_execute", fail)
        with store.engine.connect() as conn:
            counts = [conn.execute(select(func.count()).select_from(t)).scalar()
                      for t in (runs, summary, series, sweep_results)]
        assert counts == [1, 3, 2, 1]  # one series row a metric


def test_sweep_end_to_end_and_identical_to_sqlite(db_url: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = write_sweep(tmp_path, steps=8, record_every=2, design={"method": "sobol", "n_samples": 2})
    assert main(["sweep", str(path), "--db", db_url, "--workers", "1", "--quiet", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    spec = load_sweep(path)
    assert report["complete"] and report["n_stored"] == spec.n_runs
    assert main(["sweep", str(path), "--db", db_url, "--workers", "1", "--quiet", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_stored"] == 0  # resumed: nothing left to run
    with ResultStore(db_url) as store:
        frame = store.sweep_frame(spec.sweep_id)
    ref_db = tmp_path / "ref.db"
    assert main(["sweep", str(path), "--db", f"sqlite:///{ref_db}", "--workers", "1", "--quiet"]) == 0
    with ResultStore(f"sqlite:///{ref_db}") as ref:
        expected = ref.sweep_frame(spec.sweep_id)
    cols = ["experiment", "replicate", "seed", *[f.name for f in spec.factors], *spec.outcomes]
    assert frame[cols].equals(expected[cols])  # exact, float for float
    out = tmp_path / "x.csv"
    assert main(["export", spec.name, "--db", db_url, "--out", str(out)]) == 0
    assert out.read_text().count("\n") == spec.n_runs + 1


def test_unreachable_postgres_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("psycopg")
    monkeypatch.setenv("GOVSIM_DB_RETRIES", "1")  # a refused connection is retried (the server may be restarting)
    with pytest.raises(StoreError, match=r"cannot open results database 'postgresql\+psycopg://u:\*\*\*@127.0.0.1:1/x'"
                                         r".*Connection refused \(gave up after 2 attempts"):
        ResultStore("postgresql+psycopg://u:secret@127.0.0.1:1/x")


def test_sqlite_reader_sees_committed_results_only(tmp_path: Path) -> None:
    # WAL: a reader (e.g. `govsim export` while a sweep runs) never sees a half-stored run
    url = f"sqlite:///{tmp_path / 'w.db'}"
    with ResultStore(url) as store:
        _, ids = _open_tiny_sweep(store, tmp_path)
        seen = []

        def peek(conn, cursor, statement, params, context, executemany):
            if statement.lstrip().upper().startswith("INSERT INTO SWEEP_RESULTS"):
                with sqlite3.connect(tmp_path / "w.db") as other:
                    seen.append(other.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

        event.listen(store.engine, "before_cursor_execute", peek)
        store.save_sweep_run(_record(1), ids[0], 0)
        event.remove(store.engine, "before_cursor_execute", peek)
    assert seen == [0]


def test_the_bench_measures_a_sweeps_overhead_on_postgresql_twice_in_one_database(tmp_path: Path) -> None:
    """``govsim bench --postgres URL``: the overhead sweep also stored in PostgreSQL, under fresh names each time,
    so a second bench in the same database runs (and stores) every run again."""
    from sim.bench.sweep import measure_overhead

    with pg_schema("govsim_bench") as url:
        figures = [measure_overhead(n_runs=2, steps=5, postgres_url=url) for _ in range(2)]
        with ResultStore(url) as store:
            sweeps = sorted(s["name"] for s in store.list_sweeps())
    assert [n.split("_")[1] for n in sweeps] == ["overhead", "overhead", "warm", "warm"]  # bench_<what>_<token>
    for fig in figures:
        pg = fig["in_process_postgresql"]
        assert pg["run_s"] > 0 and pg["overhead_ms"] >= pg["store_ms"] > 0 and pg["overhead_pct"] > 0
