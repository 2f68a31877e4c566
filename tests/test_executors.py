"""Executors: identical stored results in-process, with 2 worker processes and on a real Dask cluster."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from test_sweep_support import count, results_by_pair, strip_ids, write_sweep

from sim.cli.sweep import main
from sim.experiments.runner import ProcessExecutor, SerialExecutor
from sim.experiments.sweep.run import run_context, run_sweep
from sim.experiments.sweep.spec import load_sweep
from sim.experiments.sweep.work import Task, execute
from sim.store.database import ResultStore

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes, one thread each, on loopback."""
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                                  dashboard_address="127.0.0.1:0", silence_logs=40) as c:
        yield c


def _zero_after_go(marker_dir: str, task: int) -> int:
    """Task 0 finishes once a ``go`` marker is written (or after 30 s), the others at once."""
    end = time.monotonic() + 30
    while task == 0 and not (Path(marker_dir) / "go").exists() and time.monotonic() < end:
        time.sleep(0.01)
    return task * task


@pytest.fixture(scope="module")
def sweep_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("sweep")
    return write_sweep(d, steps=20, record_every=5, replicates=2, design={"method": "sobol", "n_samples": 2},
                       outcomes=("resolution_rate", "satisfaction_mean", "trust_mean", "cost_yuan",
                                 "days_to_resolution_median", "alliance_projects_claimed"),
                       levers={"policies.alliance.n_units": {"low": 0, "high": 10},
                               "handling.top_level": {"choices": ["department", "city"]}})


def test_results_identical_with_1_worker_2_workers_and_dask(tmp_path: Path, sweep_file: Path, cluster,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    dbs = {name: tmp_path / f"{name}.db" for name in ("serial", "processes", "dask")}
    assert main(["sweep", str(sweep_file), "--db", f"sqlite:///{dbs['serial']}", "--workers", "1", "--quiet"]) == 0
    assert main(["sweep", str(sweep_file), "--db", f"sqlite:///{dbs['processes']}", "--workers", "2", "--quiet"]) == 0
    assert main(["sweep", str(sweep_file), "--db", f"sqlite:///{dbs['dask']}", "--scheduler", cluster.scheduler_address,
                 "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "on this process" in err and "on 2 local worker processes" in err and "on Dask scheduler" in err
    results = {name: results_by_pair(db) for name, db in dbs.items()}
    n = load_sweep(sweep_file).n_runs
    assert all(len(r) == n for r in results.values())
    assert strip_ids(results["serial"]) == strip_ids(results["processes"]) == strip_ids(results["dask"])
    # the runs really happened elsewhere: worker host:pid differs from this process for 2 workers and Dask
    import os
    import sqlite3

    for name in ("processes", "dask"):
        workers = {w for (w,) in sqlite3.connect(dbs[name]).execute("SELECT DISTINCT worker FROM sweep_results")}
        assert all(not w.endswith(f":{os.getpid()}") for w in workers) and len(workers) >= 2, (name, workers)


def test_dask_scheduler_from_environment(tmp_path: Path, sweep_file: Path, cluster, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", cluster.scheduler_address)
    db = tmp_path / "env.db"
    assert main(["sweep", str(sweep_file), "--db", f"sqlite:///{db}", "--quiet"]) == 0
    assert "Dask scheduler" in capsys.readouterr().err and count(db, "sweep_results") == load_sweep(sweep_file).n_runs


def test_unreachable_scheduler_one_line_exit_2_nothing_written(tmp_path: Path, sweep_file: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    db = tmp_path / "u.db"
    t0 = time.monotonic()
    rc = main(["sweep", str(sweep_file), "--db", f"sqlite:///{db}", "--scheduler", f"tcp://127.0.0.1:{port}"])
    assert rc == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("govsim: error: cannot reach the Dask scheduler"), err
    assert f"127.0.0.1:{port}" in lines[0]
    assert time.monotonic() - t0 < 60 and not db.exists()


def test_workers_and_scheduler_exclude_each_other(sweep_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", str(sweep_file), "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "exclude each other" in capsys.readouterr().err
    assert main(["sweep", str(sweep_file), "--workers", "0"]) == 2


def test_process_executor_keeps_a_bounded_window_and_matches_serial(sweep_file: Path) -> None:
    spec = load_sweep(sweep_file)
    ctx = run_context(spec)
    tasks = [Task(e, r, spec.seed_of(e, r), spec.overrides(e)) for e, r in spec.pairs()]
    ex = ProcessExecutor(execute, ctx, workers=2, window=3)
    consumed = []

    def lazily():
        for t in tasks:
            consumed.append(t)
            yield t

    got = {}
    try:
        for i, (task, out) in enumerate(ex.run(lazily())):
            assert not isinstance(out, Exception), out
            assert len(consumed) <= i + 1 + 3  # never more than the window ahead of what is done
            got[(task.experiment, task.replicate)] = out.summary
    finally:
        ex.close()
    assert ex.max_in_flight == 3 and len(got) == len(tasks)
    serial = {(t.experiment, t.replicate): o.summary for t, o in SerialExecutor(execute, ctx).run(tasks[:3])}
    for key, summ in serial.items():
        assert str(summ) == str(got[key])  # str: NaN-safe exact comparison
    assert execute(ctx, tasks[0]).summary.keys() == set(spec.outcomes)


def test_run_sweep_api_with_an_executor(tmp_path: Path, sweep_file: Path, cluster) -> None:
    from sim.experiments.runner import DaskExecutor

    spec = load_sweep(sweep_file)
    ex = DaskExecutor(execute, run_context(spec), cluster.scheduler_address)
    try:
        with ResultStore(f"sqlite:///{tmp_path / 'api.db'}") as store:
            report = run_sweep(spec, store, executor=ex, progress=False, log=lambda m: None)
    finally:
        ex.close()
    assert report.complete and report.n_stored == spec.n_runs and report.compute_s > 0
    assert report.executor.startswith("Dask scheduler") and ex.max_in_flight <= ex.window


def test_dask_executor_ticks_while_only_a_long_task_is_in_flight(tmp_path: Path, cluster) -> None:
    """Task 1 finishes at once, task 0 once three ticks came: ticks about ``tick_s`` apart between the results."""
    from sim.experiments.runner import TICK, DaskExecutor

    ex = DaskExecutor(_zero_after_go, str(tmp_path), cluster.scheduler_address)
    got: list[tuple[object, float]] = []
    try:
        for item in ex.run([0, 1], tick_s=0.2):
            got.append((item, time.monotonic()))
            if sum(i is TICK for i, _ in got) == 3:
                (tmp_path / "go").touch()
        assert TICK not in list(ex.run([0, 1]))  # no tick_s: no tick
    finally:
        ex.close()
    items = [i for i, _ in got]
    assert [i for i in items if i is not TICK] == [(1, 1), (0, 0)]
    assert items.count(TICK) >= 3 and items[-1] is not TICK, items  # the ticks came before task 0's result
    ticks = [t for i, t in got if i is TICK]
    assert all(0.19 <= b - a < 2.0 for a, b in zip(ticks, ticks[1:], strict=False)), ticks


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate (its own CA) and its key, made by openssl for this test."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=govsim-test"], check=True, capture_output=True)
    return cert, key


def test_a_tls_scheduler_needs_the_certificates_and_runs_the_sweep_with_them(
        tmp_path: Path, sweep_file: Path, tls_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    from distributed.security import Security

    cert, key = (str(p) for p in tls_files)
    sec = Security(tls_ca_file=cert, tls_scheduler_cert=cert, tls_scheduler_key=key, tls_worker_cert=cert,
                   tls_worker_key=key, tls_client_cert=cert, tls_client_key=key, require_encryption=True)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tls://",
                                  worker_dashboard_address="127.0.0.1:0",
                                  host="127.0.0.1", security=sec, dashboard_address="127.0.0.1:0",
                                  silence_logs=40) as c:
        address = c.scheduler_address
        assert address.startswith("tls://127.0.0.1:")
        db = tmp_path / "tls.db"
        base = ["sweep", str(sweep_file), "--db", f"sqlite:///{db}", "--scheduler", address, "--quiet"]
        assert main(base) == 2  # no certificate: refused, one line, nothing written
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and err.startswith("govsim: error: cannot reach the Dask scheduler at 'tls://"), err
        assert not db.exists()
        assert main([*base, "--tls-ca-file", cert, "--tls-cert", cert, "--tls-key", key]) == 0
        assert count(db, "sweep_results") == load_sweep(sweep_file).n_runs
    assert main(["sweep", str(sweep_file), "--scheduler", "tcp://127.0.0.1:1", "--tls-cert", cert,
                 "--tls-ca-file", cert]) == 2
    assert "need a tls:// scheduler address" in capsys.readouterr().err
    assert main(["sweep", str(sweep_file), "--scheduler", address, "--tls-cert", str(tmp_path / "none.pem"),
                 "--tls-ca-file", cert]) == 2
    assert "none.pem': no such file" in capsys.readouterr().err
