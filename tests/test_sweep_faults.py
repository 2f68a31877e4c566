"""A sweep's faults: a second coordinator refused at once (the lease), a killed worker's run retried
elsewhere, a run that always fails recorded as failed while the sweep goes on."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, update
from test_sweep_support import count, popen_cli, sqlite_rows, write_sweep

import sim.core.kernels.jit as jit
from sim.cli.sweep import main
from sim.errors import StoreError
from sim.experiments.runner import ProcessExecutor
from sim.experiments.sweep.run import _ExperimentRows, run_context, run_sweep, sweep_row
from sim.experiments.sweep.spec import load_sweep
from sim.experiments.sweep.work import RunContext, Task, execute
from sim.store.database import ResultStore
from sim.store.lease import LeaseKeeper, list_failures
from sim.store.schema import sweep_leases


# ------------------------------------------------------------------ the lease
def test_a_second_coordinator_stops_at_once_naming_the_holder_and_redoes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    # as if no kernel were compiled yet: the refusal still comes alone, before any compile notice
    monkeypatch.setattr(jit, "cache_is_cold", lambda: True)
    # long enough (60 runs) that the first coordinator is still running when the second starts
    path = write_sweep(tmp_path, steps=150, record_every=10, replicates=2,
                       design={"method": "latin_hypercube", "n_samples": 30})
    db = tmp_path / "two.db"
    args = ("sweep", str(path), "--db", f"sqlite:///{db}", "--workers", "1", "--quiet")
    first = popen_cli(*args, "--json")
    try:
        end = time.monotonic() + 120
        while not (db.exists() and _stored(db) >= 2):
            assert first.poll() is None and time.monotonic() < end, first.stderr.read() if first.stderr else ""
            time.sleep(0.05)
        t0 = time.monotonic()
        second = main([*args, "--json"])  # in this process: it starts while the first one runs
        second_s = time.monotonic() - t0
        second_out, second_err = capsys.readouterr()
        out, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    assert second == 2 and second_out == "" and second_s < 5, second_err
    line = second_err.strip()
    assert "\n" not in line and "Traceback" not in line
    assert f"is being run by {socket.gethostname()}:{first.pid} since 20" in line and "nothing was run" in line
    assert first.returncode == 0, err
    report = json.loads(out)
    assert report["n_stored"] == report["n_runs"] == 60  # the first coordinator did all of it
    assert count(db, "runs") == count(db, "sweep_results") == 60  # no run computed twice
    assert count(db, "sweep_leases") == 0  # released at the end


def _stored(db: Path) -> int:
    try:
        return count(db, "sweep_results")
    except Exception:  # not created yet
        return 0


def _opened(tmp_path: Path) -> tuple[ResultStore, str]:
    spec = load_sweep(write_sweep(tmp_path, steps=5), check_outcomes=False)
    store = ResultStore(f"sqlite:///{tmp_path / 'lease.db'}")
    store.open_sweep(sweep_row(spec), _ExperimentRows(spec))
    return store, spec.sweep_id


def _hold(store: ResultStore, sweep_id: str, holder: str, age_s: float) -> None:
    now = datetime.now(UTC)
    with store.engine.begin() as conn:
        conn.execute(insert(sweep_leases), {"sweep_id": sweep_id, "holder": holder, "since": now - timedelta(hours=1),
                                            "heartbeat": now - timedelta(seconds=age_s)})


def _holder(store: ResultStore, sweep_id: str) -> Any:
    with store.engine.connect() as conn:
        return conn.execute(select(sweep_leases.c.holder).where(sweep_leases.c.sweep_id == sweep_id)).scalar()


def test_a_live_lease_is_refused_an_abandoned_one_taken_over(tmp_path: Path) -> None:
    store, sid = _opened(tmp_path)
    with store:
        _hold(store, sid, "elsewhere:123", age_s=5)
        with pytest.raises(StoreError, match=r"is being run by elsewhere:123 since \d{4}-\d\d-\d\d .* UTC \(last "
                                             r"heartbeat 5 s ago\); nothing was run"):
            LeaseKeeper(store, sid, ttl_s=60).acquire()
        keeper = LeaseKeeper(store, sid, ttl_s=2)  # 5 s without heartbeat: abandoned under a 2 s lease
        with keeper:
            assert _holder(store, sid) == keeper.holder
            assert keeper.beat()
            with store.engine.begin() as conn:  # another coordinator takes it over
                conn.execute(update(sweep_leases).values(holder="elsewhere:9"))
            assert not keeper.beat() and keeper.lost
        assert _holder(store, sid) == "elsewhere:9"  # release deletes only its own lease


def test_a_lease_of_a_dead_process_of_this_host_is_taken_over_at_once(tmp_path: Path) -> None:
    store, sid = _opened(tmp_path)
    gone = os.fork()
    if gone == 0:
        os._exit(0)
    os.waitpid(gone, 0)
    with store:
        _hold(store, sid, f"{socket.gethostname()}:{gone}", age_s=0)  # a coordinator killed by SIGKILL
        with LeaseKeeper(store, sid, ttl_s=600) as keeper:
            assert _holder(store, sid) == keeper.holder
        assert _holder(store, sid) is None


# ------------------------------------------------------------------ dead workers and failing runs
def _dying(shared: tuple[RunContext, str], task: Task) -> Any:
    """Experiment 1 replicate 0 kills its worker every time; experiment 2 replicate 1 only the first time."""
    ctx, marker_dir = shared
    marker = Path(marker_dir) / f"{task.experiment}-{task.replicate}"
    if (task.experiment, task.replicate) == (1, 0) or ((task.experiment, task.replicate) == (2, 1)
                                                        and not marker.exists()):
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer would
    return execute(ctx, task)


def test_a_killed_workers_run_is_retried_and_one_that_always_dies_is_recorded_failed(tmp_path: Path) -> None:
    spec = load_sweep(write_sweep(tmp_path, steps=8, replicates=2, design={"method": "latin_hypercube",
                                                                           "n_samples": 4}))
    (tmp_path / "m").mkdir()
    db = tmp_path / "w.db"
    ex = ProcessExecutor(_dying, (run_context(spec), str(tmp_path / "m")), workers=2, max_attempts=2)
    try:
        with ResultStore(f"sqlite:///{db}") as store:
            report = run_sweep(spec, store, executor=ex, progress=False, log=lambda msg: None)
            failures = list_failures(store, spec.sweep_id)
    finally:
        ex.close(cancel=True)
    assert not report.interrupted and report.worker_restarts >= 2  # the sweep went on after every death
    assert (report.n_stored, report.n_failed) == (spec.n_runs - 1, 1)
    stored = set(sqlite_rows(db, "SELECT e.idx, r.replicate FROM sweep_results r JOIN experiments e "
                                 "ON e.id = r.experiment_id"))
    assert (2, 1) in stored and (1, 0) not in stored  # killed once: retried and stored
    assert [(f["experiment"], f["replicate"], f["attempts"]) for f in failures] == [(1, 0, 2)]
    assert "WorkerError: a worker process died unexpectedly" in failures[0]["error"]
    assert report.errors == [failures[0]["error"]]
    with ResultStore(f"sqlite:///{db}") as store:  # a rerun with a healthy executor stores it, clears the failure
        again = run_sweep(spec, store, workers=1, progress=False, log=lambda msg: None)
        assert again.n_stored == 1 and again.complete and list_failures(store, spec.sweep_id) == []


def _kill_first(marker_dir: str, task: int) -> int:
    marker = Path(marker_dir) / str(task)
    if task == 3 and not marker.exists():
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.02)
    return task * task


def test_the_process_executor_reruns_the_tasks_a_dead_worker_took_down(tmp_path: Path) -> None:
    ex = ProcessExecutor(_kill_first, str(tmp_path), workers=2, max_attempts=2)
    try:
        got = dict(ex.run(range(8)))
    finally:
        ex.close()
    assert got == {t: t * t for t in range(8)} and ex.restarts == 1


# ------------------------------------------------------------------ a commit whose answer was lost
def _lose_answers(store: ResultStore, monkeypatch: pytest.MonkeyPatch, batches: set[int]) -> list[int]:
    """Make the commits of the sweep's ``batches`` (counted from 1) happen and then fail, as if their answer were lost.

    Returns the sizes of the batches saved, one entry per try.
    """
    import sqlite3

    from sqlalchemy import event
    from sqlalchemy.exc import OperationalError

    import sim.store.database as database

    real, sizes = database.save_sweep_batch, []

    def counted(conn: Any, prepared: list[Any]) -> list[int | None]:
        sizes.append(len(prepared))
        return real(conn, prepared)

    def commit(conn: Any) -> None:
        if len(sizes) in batches:
            batches.discard(len(sizes))
            conn.connection.dbapi_connection.commit()  # the commit happens ...
            raise OperationalError("COMMIT", {}, sqlite3.OperationalError("database is locked"))  # ... its answer not

    monkeypatch.setattr(database, "save_sweep_batch", counted)
    event.listen(store.engine, "commit", commit)
    return sizes


def test_runs_whose_commit_happened_but_whose_answer_was_lost_count_as_done(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store retries a batch whose commit may have happened; the retry finds its runs: done, stored once.

    Before, they were not counted: a complete sweep reported itself incomplete (``n_done < n_runs``).
    """
    spec = load_sweep(write_sweep(tmp_path, steps=5, replicates=2), check_outcomes=False)
    with ResultStore(f"sqlite:///{tmp_path / 'lost.db'}") as store:
        sizes = _lose_answers(store, monkeypatch, {2})
        report = run_sweep(spec, store, workers=1, progress=False, log=lambda m: None, commit_every_s=60)
    n = spec.n_runs
    assert sizes == [1, n - 1, n - 1]  # the first run at once, the rest together (tried twice)
    assert (report.n_found, report.n_stored, report.n_done) == (n - 1, 1, n)
    assert report.complete and report.to_json()["n_found"] == n - 1
    assert count(tmp_path / "lost.db", "sweep_results") == n


def test_a_sweep_whose_store_gave_up_on_a_commit_that_may_have_happened_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not "not stored": the runs may be there (they are, here), and a rerun makes only those missing."""
    spec = load_sweep(write_sweep(tmp_path, steps=5, replicates=2), check_outcomes=False)
    said: list[str] = []
    from sim.store.faults import StoreTimeouts

    with ResultStore(f"sqlite:///{tmp_path / 'gave_up.db'}", timeouts=StoreTimeouts(retries=0)) as store:
        _lose_answers(store, monkeypatch, {2})
        with pytest.raises(StoreError, match="may have been written") as err:
            run_sweep(spec, store, workers=1, progress=False, log=said.append, commit_every_s=60)
    n = spec.n_runs
    assert err.value.maybe_written and count(tmp_path / "gave_up.db", "sweep_results") == n
    assert f"govsim: {n - 1} finished runs may not have been stored; running the same sweep again makes any that " \
           f"are missing" in said, said
