"""Crash safety with real processes: SIGKILL then rerun; Ctrl-C (SIGINT) and SIGTERM finish and store the runs
in flight, a second Ctrl-C drops them."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from test_sweep_support import cli_subprocess, count, popen_cli, results_by_pair, sqlite_rows, write_sweep

from sim import run_scenario
from sim.experiments.sweep.spec import load_sweep

N_EXP, REPS = 16, 2


def _sweep(tmp_path: Path) -> Path:
    # 32 runs of ~0.1-0.2 s each on 2 workers: a few seconds, long enough to be hit part way
    return write_sweep(tmp_path, steps=40, record_every=10, replicates=REPS,
                       design={"method": "latin_hypercube", "n_samples": N_EXP})


def _stored(db: Path) -> int:
    try:
        return count(db, "sweep_results")
    except sqlite3.OperationalError:  # not created yet
        return 0


def _wait_for(proc: subprocess.Popen[str], db: Path, n: int, timeout: float = 120) -> int:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        done = _stored(db) if db.exists() else 0
        if done >= n:
            return done
        if proc.poll() is not None:
            pytest.fail(f"the sweep ended before {n} runs were stored:\n{proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"fewer than {n} runs stored after {timeout} s")


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _assert_all_gone(procs: list[psutil.Process], timeout: float = 15) -> None:
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for p in alive:  # clean up before failing
        p.kill()
    assert not alive, f"worker processes left behind: {[p.pid for p in alive]}"


def _check_consistent(db: Path, spec_path: Path) -> dict:
    """Exactly one result per pair, every run linked and complete (its summary rows all there)."""
    spec = load_sweep(spec_path, check_outcomes=False)
    pairs = sqlite_rows(db, "SELECT e.idx, r.replicate FROM sweep_results r "
                            "JOIN experiments e ON e.id = r.experiment_id")
    assert len(pairs) == len(set(pairs))
    assert count(db, "runs") == len(pairs)  # no run without its link (and none twice)
    per_run = sqlite_rows(db, "SELECT run_id, COUNT(*) FROM summary GROUP BY run_id")
    assert {n for _, n in per_run} <= {len(spec.outcomes)} and len(per_run) == len(pairs)
    return results_by_pair(db)


def test_sigkill_mid_sweep_then_rerun_gives_exactly_one_result_per_pair(tmp_path: Path) -> None:
    path = _sweep(tmp_path)
    db = tmp_path / "k.db"
    # runs of 0.1-0.2 s are committed together; every 0.2 s (not 2) so that the kill comes mid-sweep
    args = ("sweep", str(path), "--db", f"sqlite:///{db}", "--workers", "2", "--quiet", "--commit-every", "0.2")
    proc = popen_cli(*args)
    try:
        _wait_for(proc, db, 4)
        workers = _descendants(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)  # the coordinator only, as the OOM killer would
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert workers, "expected worker processes"
    _assert_all_gone(workers)  # orphaned workers notice and exit
    partial = _check_consistent(db, path)
    assert 4 <= len(partial) < N_EXP * REPS
    rerun = cli_subprocess(*args)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(partial)} already stored" in rerun.stderr
    final = _check_consistent(db, path)
    assert sorted(final) == [(e, r) for e in range(N_EXP) for r in range(REPS)]
    for pair, res in partial.items():  # what was stored before the kill was kept, not run again
        assert final[pair]["run_id"] == res["run_id"] and final[pair]["summary"] == res["summary"]
    spec = load_sweep(path)
    for e, r in [(0, 0), (N_EXP - 1, REPS - 1)]:  # and the results are the model's, kill or not
        direct = run_scenario(spec.scenario(e), seed=spec.seed_of(e, r)).summary
        assert final[(e, r)]["summary"]["problems_arisen"] == direct["problems_arisen"]


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_interrupt_finishes_and_stores_the_runs_in_flight(tmp_path: Path, sig: str) -> None:
    path = _sweep(tmp_path)
    db = tmp_path / "i.db"
    args = ("sweep", str(path), "--db", f"sqlite:///{db}", "--workers", "2", "--commit-every", "0.2")  # as above
    proc = popen_cli(*args, "--json")
    try:
        _wait_for(proc, db, 3)
        workers = _descendants(proc.pid)
        t0 = time.monotonic()
        if sig == "SIGINT":  # Ctrl-C in a terminal: the whole foreground process group gets it
            os.killpg(proc.pid, signal.SIGINT)
        else:  # a batch scheduler's SIGTERM to the job's main process
            os.kill(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        stop_s = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "stopping: finishing the" in err and "interrupted; the" in err and "run the same command to resume" in err
    assert stop_s < 10
    _assert_all_gone(workers)
    kept = _check_consistent(db, path)
    assert 3 <= len(kept) < N_EXP * REPS
    report = json.loads(out)  # every run handed out before the signal was finished and stored, none dropped
    assert report["in_flight_at_stop"] >= 1 and report["stored_after_stop"] == report["in_flight_at_stop"]
    assert report["n_done"] == len(kept) and report["interrupted"]
    rerun = cli_subprocess(*args, "--quiet")
    assert rerun.returncode == 0, rerun.stderr
    assert len(_check_consistent(db, path)) == N_EXP * REPS


def test_a_second_ctrl_c_drops_the_runs_in_flight(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, steps=300, record_every=50, replicates=2,
                       design={"method": "latin_hypercube", "n_samples": 8})  # runs of ~1 s: still in flight
    db = tmp_path / "d.db"
    proc = popen_cli("sweep", str(path), "--db", f"sqlite:///{db}", "--workers", "2", "--json")
    try:
        _wait_for(proc, db, 1)
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "Traceback" not in err, err
    report = json.loads(out)
    assert report["in_flight_at_stop"] >= 2 and report["stored_after_stop"] < report["in_flight_at_stop"]
    assert report["n_done"] == len(_check_consistent(db, path))
