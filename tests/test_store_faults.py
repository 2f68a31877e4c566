"""The store's fault paths: transient errors retried with backoff, a frozen PostgreSQL timed out
(SIGSTOP during a sweep, then SIGCONT and a rerun that loses nothing), a locked SQLite waited for,
an older database given the new tables, and one clear error naming the URL when it gives up."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import OperationalError, ProgrammingError
from test_store_postgres import _record, pg_schema
from test_sweep_support import cli_subprocess, popen_cli, write_sweep

from sim.errors import InputError, StoreError
from sim.store.database import ResultStore
from sim.store.faults import StoreTimeouts, retrying, transient

FAST = StoreTimeouts(connect_s=2, statement_s=1.0, retries=2, backoff_s=0.05)


# ------------------------------------------------------------------ units
def test_timeouts_from_the_environment_are_checked() -> None:
    got = StoreTimeouts.from_env({"GOVSIM_DB_TIMEOUT": "2.5", "GOVSIM_DB_RETRIES": "0"})
    assert (got.statement_s, got.retries, got.connect_s) == (2.5, 0, StoreTimeouts().connect_s)
    for var, bad in [("GOVSIM_DB_TIMEOUT", "0"), ("GOVSIM_DB_TIMEOUT", "abc"), ("GOVSIM_DB_RETRIES", "-1"),
                     ("GOVSIM_DB_CONNECT_TIMEOUT", "inf")]:
        with pytest.raises(InputError, match=f"{var}="):
            StoreTimeouts.from_env({var: bad})
    assert [StoreTimeouts(backoff_s=0.5, backoff_max_s=3).backoff(n) for n in (1, 2, 3, 4)] == [0.5, 1, 2, 3]


def _locked() -> OperationalError:
    return OperationalError("x", {}, sqlite3.OperationalError("database is locked"))  # transient


def _gone() -> OperationalError:
    return OperationalError("x", {}, sqlite3.OperationalError("disk I/O error"))  # not transient


@pytest.mark.parametrize(("script", "idempotent", "says"), [
    # each try: where it fails ("body": before the commit, "commit": at it), and the error
    ((("commit", _locked), ("body", _locked)), True, "may have been written"),  # an earlier try's commit counts
    ((("body", _locked), ("commit", _locked)), False, "may have been written"),  # the last try's commit counts
    ((("body", _locked), ("body", _gone)), True, "nothing was written"),
    ((("commit", _gone),), True, "may have been written"),
])
def test_a_write_given_up_says_whether_it_may_have_been_written(
        tmp_path: Path, script: tuple[tuple[str, object], ...], idempotent: bool, says: str) -> None:
    """``run_op``: "nothing was written" only if no try sent its commit; otherwise the write may have happened."""
    from sqlalchemy import event

    tries = iter(script)
    with ResultStore(f"sqlite:///{tmp_path / 'w.db'}", timeouts=StoreTimeouts(retries=1, backoff_s=0.01)) as store:
        at: dict[str, object] = {}

        def body(conn: object) -> None:
            at["where"], at["error"] = next(tries)
            if at["where"] == "body":
                raise at["error"]()  # type: ignore[operator]

        def commit(conn: object) -> None:
            if at.pop("where", None) == "commit":
                raise at["error"]()  # type: ignore[operator]

        event.listen(store.engine, "commit", commit)
        with pytest.raises(StoreError, match=says) as err:
            store.run_op("write", body, write=True, idempotent=idempotent)
        assert err.value.maybe_written is (says != "nothing was written")
        with pytest.raises(StoreError) as err:  # a read says nothing of writing
            store.run_op("read", lambda conn: (_ for _ in ()).throw(_gone()))
    assert "written" not in str(err.value) and not err.value.maybe_written


def test_transient_errors_are_retried_with_backoff_then_given_up() -> None:
    locked = OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
    constraint = OperationalError("INSERT", {}, sqlite3.OperationalError("no such table: x"))
    assert transient(locked) and not transient(constraint) and not transient(ValueError("x"))
    calls: list[float] = []

    def flaky() -> str:
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise locked
        return "ok"

    def give_up(exc, tries, seconds):
        raise StoreError(f"gave up after {tries}")

    assert retrying(flaky, FAST, give_up) == "ok" and len(calls) == 3
    assert calls[2] - calls[1] >= calls[1] - calls[0] >= 0.05  # exponential backoff

    def always(exc: Exception) -> str:
        calls.append(time.monotonic())
        raise exc

    calls.clear()
    with pytest.raises(StoreError, match="gave up after 3"):  # 1 + retries attempts
        retrying(lambda: always(locked), FAST, give_up)
    with pytest.raises(StoreError, match="gave up after 1"):  # a permanent error is not retried
        retrying(lambda: always(constraint), FAST, give_up)
    assert len(calls) == 4


def test_a_locked_sqlite_database_is_waited_for_then_written(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    with ResultStore(f"sqlite:///{db}", timeouts=StoreTimeouts(statement_s=0.2, retries=4, backoff_s=0.2)) as store:
        other = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN EXCLUSIVE")  # another process holds the write lock for ~0.6 s
        threading.Timer(0.6, other.execute, args=("COMMIT",)).start()
        t0 = time.monotonic()
        run_id = store.save_run(_record(1))
        assert time.monotonic() - t0 >= 0.5 and store.load_run(run_id).seed == 1
        other.close()


def test_a_sqlite_lock_never_released_gives_up_with_one_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    with ResultStore(f"sqlite:///{db}", timeouts=StoreTimeouts(statement_s=0.1, retries=2, backoff_s=0.05)) as store:
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(StoreError, match=r"l\.db': could not save the run.*locked; gave up after 3 attempts"):
                store.save_run(_record(1))
        finally:
            other.close()
        assert store.list_runs() == []  # nothing half-written


def test_an_older_database_gets_the_new_tables_and_keeps_its_data(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with ResultStore(f"sqlite:///{db}") as store:
        run_id = store.save_run(_record(4))
    with sqlite3.connect(db) as conn:  # as a database made before leases and failure records existed
        conn.execute("DROP TABLE sweep_leases")
        conn.execute("DROP TABLE sweep_failures")
    with ResultStore(f"sqlite:///{db}") as store:
        assert {"sweep_leases", "sweep_failures"} <= set(inspect(store.engine).get_table_names())
        assert store.load_run(run_id).seed == 4


# ------------------------------------------------------------------ a frozen PostgreSQL
@pytest.fixture
def pg_url() -> Iterator[str]:
    with pg_schema("govsim_freeze") as url:
        yield url


def _postmaster(url: str) -> psutil.Process:
    """The PostgreSQL server of ``url`` (its postmaster), or skip if it is not a process of this machine."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:  # asked for its parent while the backend lives (it ends with the connection)
            backend = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
            try:
                postmaster = psutil.Process(backend).parent()
            except psutil.Error:
                postmaster = None
    finally:
        engine.dispose()
    if postmaster is None:
        pytest.skip("the PostgreSQL server is not a process of this machine")
    if os.geteuid() != 0 and postmaster.uids().real != os.getuid():
        pytest.skip("cannot pause a PostgreSQL server of another user")
    return postmaster


def _signal_server(postmaster: psutil.Process, sig: signal.Signals) -> None:
    """``sig`` to the postmaster and every process it runs now (backends, writers...): the whole server."""
    for p in [postmaster, *postmaster.children(recursive=True)]:
        try:
            p.send_signal(sig)
        except psutil.NoSuchProcess:
            pass


def _count(url: str, table: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())
    except (OperationalError, ProgrammingError):  # not created yet
        return 0
    finally:
        engine.dispose()


def test_a_frozen_postgres_times_out_and_a_rerun_completes_with_nothing_lost(pg_url: str, tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # runs of ~0.5 s: the first is committed at once, the next ones (stored together 2 s later: sweep.run.STORE_EVERY_S)
    # meet the frozen server
    path = write_sweep(tmp_path, steps=150, record_every=50, replicates=2,
                       design={"method": "latin_hypercube", "n_samples": 8})
    n_runs = 16
    for var, value in [("GOVSIM_DB_TIMEOUT", "1.5"), ("GOVSIM_DB_CONNECT_TIMEOUT", "2"), ("GOVSIM_DB_RETRIES", "1")]:
        monkeypatch.setenv(var, value)
    args = ("sweep", str(path), "--db", pg_url, "--workers", "1", "--quiet")
    postmaster = _postmaster(pg_url)
    sweep = popen_cli(*args)
    stopped = False
    try:
        end = time.monotonic() + 120
        while _count(pg_url, "sweep_results") < 1:
            assert sweep.poll() is None and time.monotonic() < end, sweep.stderr.read() if sweep.stderr else ""
            time.sleep(0.05)
        stopped = True
        _signal_server(postmaster, signal.SIGSTOP)
        t0 = time.monotonic()
        _, err = sweep.communicate(timeout=60)
        waited = time.monotonic() - t0
    finally:
        if stopped:
            _signal_server(postmaster, signal.SIGCONT)
        if sweep.poll() is None:
            sweep.kill()
    assert sweep.returncode == 2, err
    last = err.strip().splitlines()[-1]
    assert "Traceback" not in err and last.startswith("govsim: error: results database 'postgresql+psycopg://")
    assert "no answer within 1.5 s (timed out" in last and "gave up after 2 attempts" in last, last
    assert waited < 30
    kept = _count(pg_url, "sweep_results")
    assert 1 <= kept < n_runs and _count(pg_url, "runs") == kept  # every stored run complete, none half-written
    rerun = cli_subprocess(*args, "--json")
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads(rerun.stdout)
    assert (report["n_before"], report["n_stored"], report["n_done"]) == (kept, n_runs - kept, n_runs)
    assert _count(pg_url, "sweep_results") == _count(pg_url, "runs") == n_runs  # nothing lost, nothing twice
