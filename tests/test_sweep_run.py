"""Running sweeps: what is stored, provenance, downsampling, resuming, failures, progress output."""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_sweep_support import count, results_by_pair, sqlite_rows, strip_ids, write_sweep

import sim.experiments.sweep.work
from sim import run_scenario
from sim.cli.sweep import main
from sim.experiments.sweep.design import run_seed
from sim.experiments.sweep.spec import load_sweep
from sim.store.database import ResultStore


def _run(path: Path, db: Path, *extra: str) -> int:
    return main(["sweep", str(path), "--db", f"sqlite:///{db}", "--workers", "1", *extra])


def test_every_run_stored_once_with_provenance(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_sweep(tmp_path, steps=13, record_every=4, replicates=2,
                       outcomes=("resolution_rate", "satisfaction_mean", "problems_arisen", "cost_yuan"))
    db = tmp_path / "r.db"
    assert _run(path, db, "--quiet") == 0
    out = capsys.readouterr().out
    spec = load_sweep(path)
    assert f"sweep {spec.sweep_id}: 8/8 runs stored" in out
    assert count(db, "sweeps") == 1 and count(db, "experiments") == 4 and count(db, "sweep_results") == 8
    assert count(db, "runs") == 8
    (sid, n_exp, reps, root, design), = sqlite_rows(
        db, "SELECT id, n_experiments, replicates, root_seed, design FROM sweeps")
    assert (sid, n_exp, reps, root, design) == (spec.sweep_id, 4, 2, 11, "latin_hypercube")
    for idx, params, h in sqlite_rows(db, "SELECT idx, parameters, scenario_hash FROM experiments"):
        assert json.loads(params) == spec.parameters(idx)
        assert h == spec.scenario(idx).content_hash()
    stored = results_by_pair(db)
    assert sorted(stored) == [(e, r) for e in range(4) for r in range(2)]
    for (e, r), res in stored.items():
        assert res["seed"] == run_seed(11, e, r)
        assert set(res["summary"]) == set(spec.outcomes)
        # time series downsampled by record_every: days 0, 4, 8, 12 of 13 for the kept series
        metrics = sorted({m for m, _, _ in res["timeseries"]})
        assert metrics == sorted(set(spec.outcomes) & {"resolution_rate", "satisfaction_mean", "cost_yuan"})
        assert [t for m, t, _ in res["timeseries"] if m == "cost_yuan"] == [0, 4, 8, 12]
    # independent check: the stored outcomes are those of the model run with the documented seed
    for e, r in [(0, 0), (3, 1)]:
        direct = run_scenario(spec.scenario(e), seed=run_seed(11, e, r))
        for name in spec.outcomes:
            got, want = stored[(e, r)]["summary"][name], direct.summary[name]
            assert got == want or (got is None and math.isnan(want)), name  # NaN is stored as NULL
        full = direct.timeseries["cost_yuan"]
        assert [v for m, _, v in stored[(e, r)]["timeseries"] if m == "cost_yuan"] == full.tolist()
    label, text, n_steps = sqlite_rows(db, "SELECT label, scenario_text, n_steps FROM runs LIMIT 1")[0]
    assert label == f"sweep:{spec.sweep_id}" and "policies.alliance.n_units" in text and n_steps == 13


def test_summary_does_not_depend_on_record_every(tmp_path: Path) -> None:
    spec1 = load_sweep(write_sweep(tmp_path, "a.toml", steps=20, record_every=1), check_outcomes=False)
    spec7 = load_sweep(write_sweep(tmp_path, "b.toml", steps=20, record_every=7), check_outcomes=False)
    a = run_scenario(spec1.scenario(2), seed=5).summary
    b = run_scenario(spec7.scenario(2), seed=5).summary
    np.testing.assert_equal(a, b)  # NaN == NaN here


def test_rerun_runs_only_missing_pairs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_sweep(tmp_path, replicates=3)
    db = tmp_path / "r.db"
    assert _run(path, db, "--quiet") == 0
    before = results_by_pair(db)
    gone = [(0, 1), (2, 0), (3, 2)]
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("PRAGMA foreign_keys=ON")
        for e, r in gone:
            conn.execute("DELETE FROM runs WHERE id = ?", (before[(e, r)]["run_id"],))  # cascades to the link
    conn.close()
    assert count(db, "sweep_results") == 12 - 3
    capsys.readouterr()
    assert _run(path, db, "--quiet", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n_before"] == 9 and report["n_stored"] == 3 and report["complete"] and not report["created"]
    after = results_by_pair(db)
    assert strip_ids(after) == strip_ids(before)  # the same results again, bit for bit
    for pair in before:
        if pair not in gone:
            assert after[pair]["run_id"] == before[pair]["run_id"]  # untouched runs were not rerun
    assert count(db, "runs") == 12 and count(db, "sweep_results") == 12
    # a third time: nothing to do
    assert _run(path, db, "--quiet", "--json") == 0
    assert json.loads(capsys.readouterr().out)["n_stored"] == 0


def test_failed_runs_are_reported_and_retried(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    real = sim.experiments.sweep.work.execute

    def flaky(ctx, task):
        if task.experiment == 1:
            raise FloatingPointError("simulated model failure")
        return real(ctx, task)

    monkeypatch.setattr(sim.experiments.sweep.work, "execute", flaky)
    path = write_sweep(tmp_path)
    db = tmp_path / "r.db"
    assert _run(path, db, "--quiet") == 1
    err = capsys.readouterr().err
    assert "2 run(s)" in err and "experiment 1 replicate 0 failed: FloatingPointError: simulated model failure" in err
    assert count(db, "sweep_results") == 6
    failed = sqlite_rows(db, "SELECT e.idx, f.replicate, f.attempts, f.error FROM sweep_failures f "
                             "JOIN experiments e ON e.id = f.experiment_id ORDER BY f.replicate")
    assert [(e, r, a) for e, r, a, _ in failed] == [(1, 0, 1), (1, 1, 1)]  # recorded with their errors
    assert all("FloatingPointError: simulated model failure" in msg for *_, msg in failed)
    monkeypatch.setattr(sim.experiments.sweep.work, "execute", real)
    assert _run(path, db, "--quiet") == 0
    assert count(db, "sweep_results") == 8 and count(db, "sweep_failures") == 0


def test_policy_counter_outcome_is_zero_when_it_never_fires(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, outcomes=("resolution_rate", "alliance_projects_claimed", "flag_whistle_resolved"),
                       levers={"policies.alliance.n_units": {"choices": [0, 7]}},
                       design={"method": "full_factorial"}, replicates=1, steps=40)
    db = tmp_path / "r.db"
    assert _run(path, db, "--quiet") == 0
    with ResultStore(f"sqlite:///{db}") as store:
        frame = store.sweep_frame(load_sweep(path).sweep_id)
    none = frame[frame["policies.alliance.n_units"] == 0]
    assert (none["alliance_projects_claimed"] == 0.0).all() and (frame["flag_whistle_resolved"] == 0.0).all()
    seven = frame[frame["policies.alliance.n_units"] == 7]["alliance_projects_claimed"]
    assert seven.notna().all() and not math.isnan(float(seven.sum()))


def test_progress_bar_or_quiet_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_sweep(tmp_path)
    assert _run(path, tmp_path / "a.db") == 0
    err = capsys.readouterr().err
    assert "8/8" in err and ("run/s" in err or "s/run" in err)  # tqdm: runs done, rate
    assert "<" in err  # elapsed<remaining (ETA)
    assert _run(path, tmp_path / "b.db", "--quiet") == 0
    err = capsys.readouterr().err
    assert "|" not in err and "running 8 on this process" in err


def test_store_api_sweep_frame_and_find(tmp_path: Path) -> None:
    path = write_sweep(tmp_path)
    db = tmp_path / "r.db"
    assert _run(path, db, "--quiet") == 0
    spec = load_sweep(path)
    with ResultStore(f"sqlite:///{db}") as store:
        assert store.find_sweep("t")["id"] == spec.sweep_id  # a unique prefix (the name) is enough
        listed = store.list_sweeps()
        assert [(s["id"], s["n_done"]) for s in listed] == [(spec.sweep_id, 8)]
        frame = store.sweep_frame(spec.sweep_id, metrics=list(spec.outcomes))
    assert list(frame["experiment"]) == [0, 0, 1, 1, 2, 2, 3, 3] and list(frame["replicate"]) == [0, 1] * 4
    np.testing.assert_array_equal(frame["policies.alliance.n_units"],
                                  [spec.parameters(e)["policies.alliance.n_units"] for e in frame["experiment"]])


def test_quiet_progress_lines_for_batch_logs(tmp_path: Path) -> None:
    from sim.experiments.sweep.run import run_sweep

    spec = load_sweep(write_sweep(tmp_path))
    lines: list[str] = []
    with ResultStore(f"sqlite:///{tmp_path / 'q.db'}") as store:
        report = run_sweep(spec, store, workers=1, progress=False, log=lines.append, log_every_s=0.0)
    assert report.complete and lines[0].startswith(f"sweep {spec.sweep_id}: 4 experiments x 2 replicates = 8 runs")
    progress = [ln for ln in lines[1:] if "ETA" in ln]  # one a commit (log_every_s=0)
    done = [int(ln.split(": ")[1].split("/")[0]) for ln in progress]
    assert done == sorted(done) and done[-1] == 8 and "8/8 runs (100%)" in progress[-1] and "runs/min" in progress[-1]


def _batched_sweep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, after_run=None, **kw: Any):
    """Run an 8-run in-process sweep of short runs; return the report, the batch sizes committed and the db.

    ``after_run(k)`` is called in the worker after its ``k``-th run (1-based), before the result is handed back.
    """
    from sim.experiments.sweep import run as sweep_run

    spec = load_sweep(write_sweep(tmp_path, steps=20))  # 8 runs of a few ms
    if after_run is not None:
        real, done = sim.experiments.sweep.work.execute, []

        def execute(ctx: Any, task: Any) -> Any:
            out = real(ctx, task)
            done.append(task)
            after_run(len(done))
            return out

        monkeypatch.setattr(sim.experiments.sweep.work, "execute", execute)
    db, batches, seen = tmp_path / f"{name}.db", [], []
    with ResultStore(f"sqlite:///{db}") as store:
        save = store.save_sweep_runs
        monkeypatch.setattr(store, "save_sweep_runs",
                            lambda batch, save=save, sizes=batches: sizes.append(len(batch)) or save(batch))
        report = sweep_run.run_sweep(spec, store, workers=1, progress=False, log=kw.pop("log", lambda m: None),
                                     on_result=lambda rep, counts=seen: counts.append(rep.n_stored), **kw)
    assert seen == list(np.cumsum(batches)[: len(seen)])  # on_result after each commit, its runs counted
    return report, batches, db


def test_short_runs_finished_within_the_window_of_a_commit_are_stored_together(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Short runs arriving within ``commit_every_s`` of the last commit share the next one: fewer commits than runs,
    the same stored results as a commit per run (``commit_every_s=0``)."""
    from sim.experiments.sweep.run import STORE_EVERY_S

    assert STORE_EVERY_S == 2.0
    got = {every: _batched_sweep(tmp_path, monkeypatch, f"b{every}", commit_every_s=every) for every in (2.0, 3600.0, 0.0)}
    for report, batches, _ in got.values():
        assert report.complete and report.n_stored == 8 and sum(batches) == 8
    assert got[2.0][1][0] == 1 and len(got[2.0][1]) < 8  # the first run at once, later ones together
    assert got[3600.0][1] == [1, 7] and got[0.0][1] == [1] * 8  # the rest at the loop's end; each as it arrives
    stored = {every: strip_ids(results_by_pair(db)) for every, (_, _, db) in got.items()}
    assert len(stored[0.0]) == 8 and stored[2.0] == stored[0.0] == stored[3600.0]


def test_a_run_as_long_as_the_window_is_committed_as_it_arrives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the clock stopped (no commit is ever 'old'), runs longer than ``commit_every_s`` are still committed as
    they arrive, and shorter ones wait: waves of long runs never wait for the next wave."""
    from sim.experiments.sweep import run as sweep_run

    class StoppedClock:
        @staticmethod
        def perf_counter() -> float:
            return 100.0

    monkeypatch.setattr(sweep_run, "time", StoppedClock)
    assert _batched_sweep(tmp_path, monkeypatch, "long", commit_every_s=1e-6)[1] == [1] * 8  # every run is longer
    assert _batched_sweep(tmp_path, monkeypatch, "short", commit_every_s=3600.0)[1] == [1, 7]


@pytest.mark.parametrize("signals", [1, 2])
def test_runs_waiting_for_a_commit_are_stored_when_a_signal_stops_the_sweep(tmp_path: Path, signals: int,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C after the 4th run, runs 2-4 waiting: the first Ctrl-C lets run 4 finish and stores 2-4 with it; a second
    one drops run 4 (in flight) but still stores 2 and 3, which had finished."""
    def ctrl_c(k: int) -> None:
        if k == 4:
            for _ in range(signals):
                os.kill(os.getpid(), signal.SIGINT)

    report, batches, db = _batched_sweep(tmp_path, monkeypatch, f"sig{signals}", after_run=ctrl_c, commit_every_s=3600.0)
    assert report.interrupted and batches == ([1, 3] if signals == 1 else [1, 2])
    assert report.n_stored == len(results_by_pair(db)) == sum(batches)
    if signals == 1:
        assert report.in_flight_at_stop == report.stored_after_stop == 1


def test_an_error_ending_the_loop_stores_the_runs_waiting_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store error recording a failed run ends the sweep; the runs that finished before it are stored, not lost."""
    from sim.errors import StoreError
    from sim.experiments.sweep import run as sweep_run

    def fail_4th(k: int) -> None:
        if k == 4:
            raise RuntimeError("run 4 fails")

    def no_failures(*args: Any) -> None:
        raise StoreError("the database refused the failure record")

    monkeypatch.setattr(sweep_run, "record_failure", no_failures)
    lines: list[str] = []
    with pytest.raises(StoreError, match="refused the failure record"):
        _batched_sweep(tmp_path, monkeypatch, "err", after_run=fail_4th, commit_every_s=3600.0, log=lines.append)
    assert sorted(r for _, r in results_by_pair(tmp_path / "err.db")) == [0, 0, 1]  # runs 1-3: pairs (0,0) (0,1) (1,0)
    assert not [ln for ln in lines if "not stored" in ln]
    # and when storing them fails too, the loop's error is still the one raised, and the runs lost are said
    real_save = ResultStore.save_sweep_runs
    calls: list[int] = []

    def second_save_fails(self: ResultStore, batch: list) -> list:
        calls.append(len(batch))
        if len(calls) == 2:
            raise StoreError("the database is gone")
        return real_save(self, batch)

    monkeypatch.setattr(ResultStore, "save_sweep_runs", second_save_fails)
    lines.clear()
    with pytest.raises(StoreError, match="refused the failure record"):
        _batched_sweep(tmp_path, monkeypatch, "err2", after_run=fail_4th, commit_every_s=3600.0, log=lines.append)
    assert calls == [1, 2] and len(results_by_pair(tmp_path / "err2.db")) == 1
    assert [ln for ln in lines if "not stored" in ln] == ["govsim: 2 finished runs were not stored; running the same "
                                                          "sweep again makes them again"]


def _wait_for_file(path: Path, timeout: float) -> None:
    end = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < end:
        time.sleep(0.01)


def _released_by_commits(shared: tuple[Any, str, int], task: Any) -> Any:
    """A sweep run in a worker process, its result held back until the coordinator's commits release it.

    Experiment 0 returns at once; 1 once the first commit is stored (marker ``1``), so that it arrives just after it
    and waits; 2 is the long run: it returns once a second commit is stored (marker ``2``), or after 4 s. With a
    ``pid``, run 2 also sends it SIGTERM once run 1 has had time to arrive.
    """
    ctx, marker_dir, pid = shared
    out = sim.experiments.sweep.work.execute(ctx, task)
    here = Path(marker_dir)
    if task.experiment == 1:
        _wait_for_file(here / "1", 30)
    elif task.experiment == 2:
        if pid:
            _wait_for_file(here / "1", 30)
            time.sleep(0.3)  # run 1 has arrived and waits for a commit
            os.kill(pid, signal.SIGTERM)
        _wait_for_file(here / "2", 4)
    return out


@pytest.mark.parametrize("stop", [False, True], ids=["window", "sigterm"])
def test_runs_waiting_are_committed_while_only_a_long_run_is_in_flight(tmp_path: Path, stop: bool) -> None:
    """A short run that waits for a commit while only a long run is in flight is committed within ``commit_every_s``
    and a tick of the last commit (window), or within a tick of a SIGTERM (``commit_every_s`` an hour), not when the
    long run ends: that run ends only once the short one is stored (after 4 s otherwise)."""
    from sim.experiments.runner import ProcessExecutor
    from sim.experiments.sweep.run import run_context, run_sweep

    spec = load_sweep(write_sweep(tmp_path, steps=20, replicates=1, design={"method": "latin_hypercube",
                                                                          "n_samples": 3}))
    every = 3600.0 if stop else 0.5  # the tick: 0.5 s
    ex = ProcessExecutor(_released_by_commits, (run_context(spec), str(tmp_path), os.getpid() if stop else 0),
                         workers=2)
    commits: list[tuple[float, int]] = []
    stopped: list[float] = []

    def committed(report: Any) -> None:
        commits.append((time.monotonic(), report.n_stored))
        (tmp_path / str(len(commits))).touch()  # releases run 1 after the first commit, run 2 after the second

    try:
        ex.start()
        with ResultStore(f"sqlite:///{tmp_path / 'r.db'}") as store:
            report = run_sweep(spec, store, executor=ex, progress=False, commit_every_s=every, on_result=committed,
                               log=lambda msg: stopped.append(time.monotonic()) if "stopping" in msg else None)
    finally:
        ex.close(cancel=True)
    assert [n for _, n in commits] == [1, 2, 3] and report.n_stored == 3  # run 1 alone, before run 2 ended
    gap = commits[1][0] - (stopped[0] if stop else commits[0][0])
    assert (0.0 if stop else every - 0.05) <= gap < (0.5 if stop else every + 0.5) + 1.0, gap
    assert report.interrupted == stop and report.in_flight_at_stop == report.stored_after_stop == int(stop)


def test_run_sweep_api_with_a_user_policy_module_on_worker_processes(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers import the module that defines a user-registered policy; __main__ is refused early."""
    from helpers import user_policy_module

    from sim.experiments.sweep.run import run_sweep
    from sim.store.database import ResultStore

    with user_policy_module(tmp_path, monkeypatch) as module:
        path = write_sweep(tmp_path, steps=10, replicates=2,
                           levers={"policies.less_paperwork_test.share_cut": {"low": 0.0, "high": 1.0}},
                           outcomes=("resolution_rate", "staff_utilisation"))
        spec = load_sweep(path)
        by_workers = {}
        for n in (1, 2):
            db = tmp_path / f"w{n}.db"
            report = run_sweep(spec, ResultStore(f"sqlite:///{db}"), workers=n, progress=False)
            assert report.n_done == report.n_runs == 8 and not report.errors
            by_workers[n] = {pair: res["summary"] for pair, res in results_by_pair(db).items()}
        assert by_workers[1] == by_workers[2]
        monkeypatch.setattr(module.LessPaperwork, "__module__", "__main__")
        spec = load_sweep(path)
        with pytest.raises(ValueError, match="less_paperwork_test.*__main__.*workers=1"):
            run_sweep(spec, ResultStore(f"sqlite:///{tmp_path / 'main.db'}"), workers=2, progress=False)
        assert count(tmp_path / "main.db", "sweeps") == 0 and count(tmp_path / "main.db", "sweep_results") == 0
