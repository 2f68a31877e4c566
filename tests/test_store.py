"""Tests for sim.store.database: round trips, bulk time series, atomic saves and clear open errors."""

from __future__ import annotations

import hashlib
import math
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, event, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import OperationalError
from sqlalchemy.schema import CreateIndex, CreateTable

from sim.errors import StoreError
from sim.store.catalog import list_runs
from sim.store.database import DEFAULT_DB_URL, ResultStore, RunRecord
from sim.store.schema import STORE_FORMAT, metadata, runs, series_steps, timeseries
from sim.store.writes import bulk_insert, chunks

SCENARIO = 'name = "baseline"\nn_agents = 50\n'


def make_record(
    n_rows: int = 12, n_metrics: int = 3, *, seed: int = 7, label: str = "", rng_seed: int = 0
) -> RunRecord:
    """A record with random series (one NaN and one inf planted) and a NaN summary value."""
    rng = np.random.default_rng(rng_seed)
    t = np.arange(0, 2 * n_rows, 2, dtype=np.int64)  # non-contiguous steps
    series = {f"metric_{i:02d}": rng.normal(size=n_rows) for i in range(n_metrics)}
    series["metric_00"][1] = np.nan
    series["metric_00"][2] = np.inf
    start = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)
    return RunRecord(
        scenario_name="baseline",
        scenario_hash=hashlib.sha256(SCENARIO.encode()).hexdigest(),
        scenario_text=SCENARIO,
        seed=seed,
        n_steps=2 * n_rows,
        package_version="0.1.0",
        started_at=start,
        finished_at=start + timedelta(seconds=3.5),
        summary={"gini": np.float64(0.25), "turnout": 0.5, "missing": float("nan"), "count": np.int64(3)},
        timeseries=series,
        t=t,
        label=label,
    )


def sqlite_counts(db: Path) -> dict[str, int]:
    """Row counts read with the plain sqlite3 module, independent of the code under test."""
    with sqlite3.connect(db) as conn:
        tables = ("runs", "summary", "series")
        return {tbl: conn.execute(f"SELECT COUNT(*) FROM {tbl}").fetchone()[0] for tbl in tables}


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    return tmp_path / "results.db"


@pytest.fixture()
def store(db: Path):
    with ResultStore(f"sqlite:///{db}") as s:
        yield s


def test_round_trip_every_field(store: ResultStore) -> None:
    rec = make_record(label="compare-A")
    loaded = store.load_run(store.save_run(rec))
    for name in ("scenario_name", "scenario_hash", "scenario_text", "seed", "n_steps", "package_version", "label"):
        assert getattr(loaded, name) == getattr(rec, name), name
    assert loaded.started_at == rec.started_at and loaded.finished_at == rec.finished_at
    assert loaded.started_at.tzinfo is not None and loaded.started_at.utcoffset() == timedelta(0)
    assert set(loaded.summary) == set(rec.summary)
    for metric, value in rec.summary.items():
        got = loaded.summary[metric]
        assert type(got) is float
        assert (math.isnan(got) and math.isnan(value)) or got == value, metric
    np.testing.assert_array_equal(loaded.t, rec.t)
    assert loaded.t.dtype.kind == "i"
    assert set(loaded.timeseries) == set(rec.timeseries)
    for metric, arr in rec.timeseries.items():
        np.testing.assert_array_equal(loaded.timeseries[metric], arr)  # NaN == NaN here, inf kept
    assert np.isnan(loaded.timeseries["metric_00"][1]) and np.isposinf(loaded.timeseries["metric_00"][2])


def test_non_utc_datetimes_come_back_as_same_instant_in_utc(store: ResultStore) -> None:
    plus2 = timezone(timedelta(hours=2))
    rec = make_record()
    rec = RunRecord(**{**rec.__dict__, "started_at": datetime(2024, 1, 1, 10, 0, tzinfo=plus2)})
    loaded = store.load_run(store.save_run(rec))
    assert loaded.started_at == datetime(2024, 1, 1, 8, 0, tzinfo=UTC)
    assert loaded.started_at.utcoffset() == timedelta(0)


def test_two_runs_distinct_ids_and_listed(store: ResultStore) -> None:
    a = store.save_run(make_record(seed=1, label="a"))
    b = store.save_run(make_record(seed=2, label="b"))
    assert a != b
    listing = store.list_runs()
    assert [r["id"] for r in listing] == [a, b]
    assert [(r["seed"], r["label"], r["n_steps"], r["scenario_name"]) for r in listing] == [
        (1, "a", 24, "baseline"),
        (2, "b", 24, "baseline"),
    ]
    assert isinstance(listing[0]["started_at"], datetime)


def test_summary_frame_tidy(store: ResultStore) -> None:
    a = store.save_run(make_record(seed=1))
    b = store.save_run(make_record(seed=2))
    frame = store.summary_frame()
    assert list(frame.columns) == ["run_id", "metric", "value"]
    assert frame.shape == (8, 3)
    assert sorted(set(frame["run_id"])) == [a, b]
    only_b = store.summary_frame([b])
    assert set(only_b["run_id"]) == {b} and len(only_b) == 4
    values = dict(zip(only_b["metric"], only_b["value"]))
    assert values["gini"] == 0.25 and values["count"] == 3.0 and math.isnan(values["missing"])
    with pytest.raises(StoreError, match="no run with id 999"):
        store.summary_frame([a, 999])


def test_timeseries_frame_shape_and_values(store: ResultStore) -> None:
    rec = make_record(n_rows=10, n_metrics=4)
    frame = store.timeseries_frame(store.save_run(rec))
    assert list(frame.columns) == ["t"] + sorted(rec.timeseries)
    assert frame.shape == (10, 5)
    np.testing.assert_array_equal(frame["t"].to_numpy(), rec.t)
    for metric, arr in rec.timeseries.items():
        np.testing.assert_array_equal(frame[metric].to_numpy(), arr)


def test_missing_run_raises(store: ResultStore) -> None:
    with pytest.raises(StoreError, match="no run with id 42"):
        store.load_run(42)
    with pytest.raises(StoreError, match="no run with id 42"):
        store.timeseries_frame(42)


def test_sqlite_wal_and_foreign_keys_on(store: ResultStore, db: Path) -> None:
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one().lower() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
    with sqlite3.connect(db) as raw:  # WAL is persistent in the file itself
        assert raw.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"


def test_wrong_length_timeseries_raises_and_writes_nothing(store: ResultStore, db: Path) -> None:
    rec = make_record(n_rows=5)
    bad = RunRecord(**{**rec.__dict__, "timeseries": {**rec.timeseries, "short": np.zeros(4)}})
    with pytest.raises(StoreError, match="timeseries 'short' has shape"):
        store.save_run(bad)
    assert sqlite_counts(db) == {"runs": 0, "summary": 0, "series": 0}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("started_at", datetime(2024, 1, 1), "timezone-aware"),
        ("t", np.array([0, 2, 1, 3, 4]), "strictly increasing"),
        ("seed", 2**64, "64-bit"),
        ("summary", {"x": "high"}, "real number"),
        ("timeseries", {"t": np.zeros(5)}, "reserved"),
        ("t", np.linspace(0, 1, 5), "integer step indices"),
    ],
)
def test_invalid_records_rejected_before_writing(
    store: ResultStore, db: Path, field: str, value: object, message: str
) -> None:
    rec = make_record(n_rows=5)
    with pytest.raises(StoreError, match=message):
        store.save_run(RunRecord(**{**rec.__dict__, field: value}))
    assert sqlite_counts(db) == {"runs": 0, "summary": 0, "series": 0}


def test_summary_nan_sent_as_null_and_series_as_little_endian_arrays(store: ResultStore, db: Path) -> None:
    sent: list[object] = []

    def capture(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO SUMMARY"):
            rows = params if executemany else [params]
            sent.extend(v for row in rows for v in (row.values() if isinstance(row, dict) else row))

    event.listen(store.engine, "before_cursor_execute", capture)
    rec = make_record(n_rows=6, n_metrics=2)
    run_id = store.save_run(rec)
    assert len(sent) == 3 * 4  # 4 summary rows of 3 values
    assert not any(isinstance(v, np.generic) for v in sent)
    assert not any(isinstance(v, float) and math.isnan(v) for v in sent)
    assert sent.count(None) == 1  # summary "missing"
    # the steps once, then one row per metric, read with plain sqlite3 and numpy: the bytes are the arrays
    with sqlite3.connect(db) as conn:
        (n, t), = conn.execute("SELECT n, t FROM series_steps WHERE run_id = ?", (run_id,)).fetchall()
        rows = conn.execute("SELECT run_id, metric, n, value FROM series ORDER BY metric").fetchall()
    assert n == 6
    np.testing.assert_array_equal(np.frombuffer(t, dtype="<i8"), rec.t)
    assert [(r[0], r[1], r[2]) for r in rows] == [(run_id, "metric_00", 6), (run_id, "metric_01", 6)]
    for _, metric, _, value in rows:  # NaN and inf as they are
        np.testing.assert_array_equal(np.frombuffer(value, dtype="<f8"), rec.timeseries[metric])


def _format_1_database(db: Path) -> tuple[int, int]:
    """A database as a version before format 2 left it: no ``series``, ``series_steps`` nor ``store_info``.

    Two runs: one saved by this version then moved to the long table, one with steps its metrics
    do not share and a NULL. Returns their ids.
    """
    with ResultStore(f"sqlite:///{db}") as store:
        run_id = store.save_run(make_record(n_rows=3, n_metrics=1))
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM series")
        conn.executemany("INSERT INTO timeseries (run_id, metric, t, value) VALUES (?, ?, ?, ?)",
                         [(run_id, "c", 0, 1.0), (run_id, "c", 2, 3.0), (run_id, "c", 4, -1.0)])
        conn.execute("INSERT INTO runs (scenario_name, scenario_hash, scenario_text, seed, n_steps, package_version, "
                     "started_at, finished_at, label) SELECT scenario_name, scenario_hash, scenario_text, 9, n_steps, "
                     "package_version, started_at, finished_at, 'old' FROM runs WHERE id = ?", (run_id,))
        old_id = conn.execute("SELECT MAX(id) FROM runs").fetchone()[0]
        conn.executemany("INSERT INTO timeseries (run_id, metric, t, value) VALUES (?, ?, ?, ?)",
                         [(old_id, "b", 0, 1.5), (old_id, "b", 2, None), (old_id, "a", 2, 4.0)])
        for table in ("series", "series_steps", "store_info"):
            conn.execute(f"DROP TABLE {table}")
    return run_id, old_id


@pytest.mark.parametrize("read_only", [True, False])
def test_series_of_older_databases_are_read(db: Path, read_only: bool) -> None:
    """Runs stored in format 1 (one row per metric and step, NULL for NaN) load as before, read-only too."""
    run_id, old_id = _format_1_database(db)
    with ResultStore(f"sqlite:///{db}", read_only=read_only) as store:
        loaded = store.load_run(old_id)
        np.testing.assert_array_equal(loaded.t, [0, 2])
        assert list(loaded.timeseries) == ["a", "b"]
        np.testing.assert_array_equal(loaded.timeseries["a"], [np.nan, 4.0])  # no value at step 0
        np.testing.assert_array_equal(loaded.timeseries["b"], [1.5, np.nan])  # NULL -> NaN
        assert list(store.timeseries_frame(old_id).columns) == ["t", "a", "b"]
        np.testing.assert_array_equal(store.load_run(run_id).timeseries["c"], [1.0, 3.0, -1.0])
        assert {r["id"]: r["size"] for r in list_runs(store)} == {run_id: 3, old_id: 3}
        if not read_only:  # opened for writing it gains format 2's tables: new runs go there, old ones stay
            new_id = store.save_run(make_record(n_rows=4, n_metrics=2))
            assert {r["id"]: r["size"] for r in list_runs(store)} == {run_id: 3, old_id: 3, new_id: 8}
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert ("series" in tables) is (not read_only)  # a read-only open created nothing


def test_a_database_of_a_newer_store_format_is_refused(db: Path) -> None:
    with ResultStore(f"sqlite:///{db}") as store:
        store.save_run(make_record())
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT value FROM store_info WHERE key = 'format'").fetchone() == (str(STORE_FORMAT),)
        conn.execute("UPDATE store_info SET value = ? WHERE key = 'format'", (str(STORE_FORMAT + 1),))
    for read_only in (True, False):
        with pytest.raises(StoreError, match=f"newer govsim \\(store format {STORE_FORMAT + 1}; this version reads "
                                             f"formats 1 to {STORE_FORMAT}\\)"):
            ResultStore(f"sqlite:///{db}", read_only=read_only)


def test_damaged_series_are_a_store_error_naming_the_run(store: ResultStore, db: Path) -> None:
    run_id = store.save_run(make_record(n_rows=3, n_metrics=1))
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE series SET value = substr(value, 1, 20)")
    with pytest.raises(StoreError, match=f"series 'metric_00' of run {run_id} is damaged: 20 bytes where 3 values"):
        store.load_run(run_id)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE series SET n = 4")
    with pytest.raises(StoreError, match=f"'metric_00' of run {run_id} is damaged: 4 values for 3 steps"):
        store.load_run(run_id)


def test_series_keep_special_values_byte_orders_and_empty_runs(store: ResultStore) -> None:
    """Big-endian and strided input, -0.0, NaN and inf, steps past 32 bits; no series; series of no steps."""
    t = np.array([0, 3, 7, 2**40], dtype=">i8")
    v = np.array([np.nan, np.inf, -np.inf, -0.0], dtype=">f8")
    rec = RunRecord(**{**make_record().__dict__, "t": t, "timeseries": {"z": v, "a": v[::-1], "i": np.arange(4)}})
    back = store.load_run(store.save_run(rec))
    assert back.t.dtype == np.int64 and back.t.tolist() == t.tolist() and list(back.timeseries) == ["a", "i", "z"]
    for k, arr in back.timeseries.items():
        assert arr.dtype == np.float64 and arr.flags.writeable
        assert arr.astype(np.float64).tobytes() == np.asarray(rec.timeseries[k], dtype=np.float64).tobytes()
    none = store.load_run(store.save_run(RunRecord(**{**rec.__dict__, "timeseries": {}})))
    assert none.t.shape == (0,) and none.timeseries == {}
    empty = RunRecord(**{**rec.__dict__, "t": np.zeros(0, np.int64), "timeseries": {"a": np.zeros(0)}})
    got = store.load_run(store.save_run(empty))
    assert got.t.shape == (0,) and got.timeseries["a"].shape == (0,)


def test_steps_beyond_signed_64_bits_are_refused(store: ResultStore, db: Path) -> None:
    rec = RunRecord(**{**make_record(n_rows=3, n_metrics=1).__dict__, "t": np.array([2**63], dtype=np.uint64),
                       "timeseries": {"a": np.zeros(1)}})
    with pytest.raises(StoreError, match="t must fit in a signed 64-bit integer"):
        store.save_run(rec)
    assert sqlite_counts(db) == {"runs": 0, "summary": 0, "series": 0}


def test_bulk_insert_with_named_paramstyle(tmp_path: Path) -> None:
    """The non-positional branch (psycopg's style) runs for real on SQLite's named style."""
    engine = create_engine(f"sqlite:///{tmp_path / 'named.db'}", paramstyle="named")
    try:
        with engine.begin() as conn:
            metadata.create_all(conn)
            now = datetime.now(UTC)
            run_id = conn.execute(
                runs.insert().values(
                    scenario_name="s", scenario_hash="h", scenario_text="", seed=1, n_steps=2,
                    package_version="0", started_at=now, finished_at=now,
                )
            ).inserted_primary_key[0]
            rows = [(run_id, "m", 0, 1.5), (run_id, "m", 1, None)]
            bulk_insert(conn, timeseries, ("run_id", "metric", "t", "value"), rows)
            got = conn.execute(select(timeseries.c.t, timeseries.c.value).order_by(timeseries.c.t)).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in got] == [(0, 1.5), (1, None)]


def test_bulk_insert_sends_binary_values_in_batches_of_64_kb(tmp_path: Path) -> None:
    """Binary values go in executemany batches of at most 64 kB (a lone bigger row alone), in order, all stored.

    Why: psycopg sends a whole batch before reading a result; a local PostgreSQL behind on it
    closed its TCP window and the client stalled ~200 ms (sim.store.writes._CHUNK_BYTES).
    """
    engine = create_engine(f"sqlite:///{tmp_path / 'chunks.db'}")
    batches: list[int] = []
    event.listen(engine, "before_cursor_execute",
                 lambda conn, cursor, sql, params, context, many: batches.append(len(params) if many else 1)
                 if sql.startswith("INSERT INTO series_steps") else None)
    sizes = [6_000] * 25 + [80_000] + [6_000] * 3  # 150 kB, one row over the budget, 18 kB
    try:
        with engine.begin() as conn:
            metadata.create_all(conn)
            rows = [(i, 1, bytes([i]) * n) for i, n in enumerate(sizes)]
            bulk_insert(conn, series_steps, ("run_id", "n", "t"), rows)
            got = conn.execute(select(series_steps.c.run_id, series_steps.c.t).order_by(series_steps.c.run_id)).all()
    finally:
        engine.dispose()
    assert batches == [10, 10, 5, 1, 3]  # 10 x 6 kB fit in 64 kB, 11 do not
    assert [(r, len(t), t[:1]) for r, t in got] == [(i, n, bytes([i])) for i, n in enumerate(sizes)]


def test_executemany_batches_are_bounded_by_bytes_and_by_rows() -> None:
    budget = 64 * 1024
    assert list(chunks([(1, b"x" * (budget // 2))] * 2 + [(1, b"y")])) == [(0, 2), (2, 3)]  # exactly at the budget
    assert list(chunks([(b"x" * budget, bytearray(1))] + [(memoryview(b"z" * budget),)])) == [(0, 1), (1, 2)]
    assert list(chunks([(1, 2.0)] * 25_000)) == [(0, 10_000), (10_000, 20_000), (20_000, 25_000)]
    assert list(chunks([(1, 2.0)] * 10_000)) == [(0, 10_000)]
    assert list(chunks([])) == []


def test_schema_compiles_for_postgresql() -> None:
    dialect = postgresql.psycopg.dialect()
    ddl = " ".join(str(CreateTable(tbl).compile(dialect=dialect)) for tbl in metadata.sorted_tables)
    indexes = [ix for tbl in metadata.sorted_tables for ix in tbl.indexes]
    ddl += " ".join(str(CreateIndex(ix).compile(dialect=dialect)) for ix in indexes)
    assert "TIMESTAMP WITH TIME ZONE" in ddl and "REFERENCES runs (id)" in ddl and "ix_timeseries_run_metric" in ddl
    assert "BYTEA" in ddl and "uq_series_run_metric" in ddl and "series_steps" in ddl
    bind = runs.c.started_at.type.process_bind_param(datetime(2024, 1, 1, 12, tzinfo=UTC), dialect)
    assert bind is not None and bind.utcoffset() == timedelta(0)  # Postgres gets an aware value


def test_missing_driver_package_gives_store_error() -> None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("psycopg is installed here")
    with pytest.raises(StoreError, match="driver package .* not installed") as info:
        ResultStore("postgresql+psycopg://alice:pw@localhost/govsim")
    assert "postgresql+psycopg://alice:***@localhost/govsim" in str(info.value)


def test_database_error_mid_save_rolls_back(store: ResultStore, db: Path) -> None:
    store.save_run(make_record(seed=1))  # a good run that must survive
    before = sqlite_counts(db)

    def fail_on_series(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO SERIES"):
            raise sqlite3.OperationalError("disk I/O error (simulated)")

    event.listen(store.engine, "before_cursor_execute", fail_on_series)
    try:
        with pytest.raises(StoreError, match="nothing was written.*simulated"):
            store.save_run(make_record(seed=2))
    finally:
        event.remove(store.engine, "before_cursor_execute", fail_on_series)
    assert sqlite_counts(db) == before
    assert [r["seed"] for r in store.list_runs()] == [1]


def test_a_save_whose_commit_fails_says_it_may_have_been_written(store: ResultStore, db: Path) -> None:
    """An error while committing leaves the client not knowing: the message must not claim nothing was written."""

    def fail_commit(conn) -> None:  # as SQLAlchemy wraps the driver's error of a failed COMMIT
        raise OperationalError("COMMIT", {}, sqlite3.OperationalError("disk I/O error while committing (simulated)"))

    event.listen(store.engine, "commit", fail_commit)
    try:
        with pytest.raises(StoreError, match=r"could not save the run, though it may have been written \(a commit "
                                             r"was sent, outcome unknown\): .*simulated") as err:
            store.save_run(make_record(seed=2))
    finally:
        event.remove(store.engine, "commit", fail_commit)
    assert "nothing was written" not in str(err.value)


def test_long_run_of_many_series_round_trips(store: ResultStore, db: Path) -> None:
    rec = make_record(n_rows=1095, n_metrics=40)
    run_id = store.save_run(rec)
    assert sqlite_counts(db)["series"] == 40
    loaded = store.load_run(run_id)
    for metric in ("metric_00", "metric_39"):
        np.testing.assert_array_equal(loaded.timeseries[metric], rec.timeseries[metric])
    np.testing.assert_array_equal(loaded.t, rec.t)


@pytest.mark.parametrize("url", ["not a url", "nosuchdb://x"])
def test_bad_url_gives_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreError) as info:
        ResultStore(url)
    message = str(info.value)
    assert f"cannot open results database '{url}'" in message
    assert "sqlite:///results/govsim.db" in message and "\n" not in message
    assert list(tmp_path.iterdir()) == []


def test_sqlite_in_missing_directory_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "nope" / "deeper" / "x.db"
    url = f"sqlite:///{target}"
    with pytest.raises(StoreError, match="does not exist") as info:
        ResultStore(url)
    assert url in str(info.value)
    assert not (tmp_path / "nope").exists()
    assert list(tmp_path.iterdir()) == []


def test_unopenable_file_leaves_nothing_behind(tmp_path: Path) -> None:
    (tmp_path / "a_dir.db").mkdir()  # a directory where the database file should be
    with pytest.raises(StoreError, match="cannot open results database"):
        ResultStore(f"sqlite:///{tmp_path / 'a_dir.db'}")
    assert [p.name for p in tmp_path.iterdir()] == ["a_dir.db"]
    assert list((tmp_path / "a_dir.db").iterdir()) == []


def test_password_is_masked() -> None:
    with pytest.raises(StoreError) as info:
        ResultStore("nosuchdb://alice:s3cret@db.example/govsim")
    assert "s3cret" not in str(info.value) and "alice:***@db.example" in str(info.value)


def test_default_url_creates_results_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert not (tmp_path / "results").exists()
    with ResultStore() as store:
        assert store.url == DEFAULT_DB_URL
        run_id = store.save_run(make_record())
    assert (tmp_path / "results" / "govsim.db").is_file()
    with ResultStore(DEFAULT_DB_URL) as again:  # reopening keeps the data
        assert [r["id"] for r in again.list_runs()] == [run_id]


def test_closed_store_refuses_use(db: Path) -> None:
    store = ResultStore(f"sqlite:///{db}")
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        store.list_runs()
