"""Helpers shared by the sweep tests (no tests here): sweep files, CLI calls, independent DB reads."""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
BASELINE = REPO / "scenarios" / "baseline.toml"
EXAMPLE = REPO / "scenarios" / "sweeps" / "grid_alliance_empowerment.toml"

#: a world of one community of two compounds (~1,500 residents): runs of a few days take milliseconds
TINY = {"world.n_communities_per_street": 1, "world.n_compounds_per_community": 2,
        "world.n_cobuilding_units_per_community": 10}  # alliance levers go up to 10 units


def toml_value(v: Any) -> str:
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, bool):
        return "true" if v else "false"
    return json.dumps(v)


def sweep_text(
    name: str = "t",
    *,
    scenario: str | Path = BASELINE,
    steps: int = 12,
    record_every: int = 4,
    replicates: int = 2,
    seed: int = 11,
    outcomes: tuple[str, ...] = ("resolution_rate", "satisfaction_mean", "problems_arisen"),
    design: dict[str, Any] | None = None,
    constants: dict[str, Any] | None = None,
    uncertainties: dict[str, Any] | None = None,
    levers: dict[str, Any] | None = None,
    extra: str = "",
) -> str:
    lines = [f"name = {json.dumps(name)}", f"scenario = {json.dumps(str(scenario))}", f"steps = {steps}",
             f"record_every = {record_every}", f"replicates = {replicates}", f"seed = {seed}",
             f"outcomes = {json.dumps(list(outcomes))}", extra]
    tables = {
        "design": design if design is not None else {"method": "latin_hypercube", "n_samples": 4},
        "constants": {**TINY, **(constants or {})},
        "uncertainties": (uncertainties if uncertainties is not None
                          else {"problems.rate_arise": {"low": 0.004, "high": 0.01}}),
        "levers": levers if levers is not None else {"policies.alliance.n_units": {"low": 0, "high": 10}},
    }
    for table, items in tables.items():
        lines.append(f"[{table}]")
        lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in items.items()]
    return "\n".join(lines) + "\n"


def write_sweep(directory: Path, filename: str = "sweep.toml", **kwargs: Any) -> Path:
    path = directory / filename
    path.write_text(sweep_text(**kwargs), encoding="utf-8")
    return path


def cli_subprocess(*args: str, cwd: Path | None = None, **kw: Any) -> subprocess.CompletedProcess[str]:
    """``python -m sim.cli.sweep ARGS`` in a fresh interpreter."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "sim.cli.sweep", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=kw.pop("timeout", 180), check=False, **kw)


def popen_cli(*args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "sim.cli.sweep", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=cwd, env=env, start_new_session=True)


def sqlite_rows(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows read with the plain sqlite3 module, independent of the code under test."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def count(db: Path, table: str) -> int:
    return sqlite_rows(db, f"SELECT COUNT(*) FROM {table}")[0][0]


def results_by_pair(db: Path) -> dict[tuple[int, int], dict[str, Any]]:
    """(experiment, replicate) -> seed, summary and time series, read with sqlite3."""
    out: dict[tuple[int, int], dict[str, Any]] = {}
    rows = sqlite_rows(db, """SELECT e.idx, r.replicate, r.seed, r.run_id FROM sweep_results r
                              JOIN experiments e ON e.id = r.experiment_id""")
    for idx, rep, seed, run_id in rows:
        summ = dict(sqlite_rows(db, "SELECT metric, value FROM summary WHERE run_id = ?", (run_id,)))
        steps = [np.frombuffer(t, "<i8") for t, in sqlite_rows(db, "SELECT t FROM series_steps WHERE run_id = ?",
                                                                (run_id,))]
        ts = [(m, int(t), None if math.isnan(v) else float(v))  # NaN -> None: rows compare equal
              for m, values in sqlite_rows(db, "SELECT metric, value FROM series WHERE run_id = ? ORDER BY metric",
                                           (run_id,))
              for t, v in zip(steps[0], np.frombuffer(values, "<f8"), strict=True)]
        out[(idx, rep)] = {"seed": seed, "run_id": run_id, "summary": summ, "timeseries": ts}
    return out


def strip_ids(results: dict[tuple[int, int], dict[str, Any]]) -> dict[tuple[int, int], tuple[Any, ...]]:
    """What must be identical however the sweep ran: seeds, summaries and series (not run ids)."""
    return {k: (v["seed"], v["summary"], v["timeseries"]) for k, v in results.items()}
