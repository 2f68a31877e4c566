"""``govsim export``: a tidy table per sweep, CSV or Parquet, equal to what the store holds."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from test_sweep_support import results_by_pair, write_sweep

from sim.cli.sweep import main
from sim.experiments.sweep.spec import load_sweep


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> dict:
    d = tmp_path_factory.mktemp("export")
    path = write_sweep(d, name="exp", steps=10, record_every=3, replicates=2,
                       design={"method": "full_factorial", "levels": 2},
                       levers={"policies.alliance.n_units": {"low": 0, "high": 6},
                               "handling.top_level": {"choices": ["department", "city"]},
                               "community.households_per_grid": {"low": 0.8, "high": 1.2, "scale": True}})
    db = d / "e.db"
    assert main(["sweep", str(path), "--db", f"sqlite:///{db}", "--workers", "1", "--quiet"]) == 0
    return {"dir": d, "path": path, "db": db, "spec": load_sweep(path)}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_one_row_per_run_with_parameters_and_outcomes(sweep: dict, fmt: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    spec = sweep["spec"]
    out = sweep["dir"] / f"table.{fmt}"
    assert main(["export", "exp", "--format", fmt, "--out", str(out), "--db", f"sqlite:///{sweep['db']}"]) == 0
    assert f"wrote {spec.n_runs} rows of sweep {spec.sweep_id}" in capsys.readouterr().out
    df = pd.read_csv(out) if fmt == "csv" else pd.read_parquet(out)
    factors = ["problems.rate_arise", "policies.alliance.n_units", "handling.top_level",
               "scale(community.households_per_grid)"]
    assert list(df.columns) == ["sweep_id", "experiment", "replicate", "seed", "run_id", "scenario_hash", *factors,
                                *spec.outcomes]
    assert len(df) == spec.n_runs == 16 * 2 and (df["sweep_id"] == spec.sweep_id).all()
    assert df[["experiment", "replicate"]].drop_duplicates().shape[0] == len(df)
    assert pd.api.types.is_integer_dtype(df["policies.alliance.n_units"])
    assert pd.api.types.is_float_dtype(df["resolution_rate"])
    stored = results_by_pair(sweep["db"])  # read independently with sqlite3
    for row in df.itertuples(index=False):
        e, r = row.experiment, row.replicate
        params = spec.parameters(e)
        assert [getattr(row, "_" + str(i + 6)) for i in range(4)] == [params[f] for f in factors]
        assert row.seed == stored[(e, r)]["seed"] and row.run_id == stored[(e, r)]["run_id"]
        for j, name in enumerate(spec.outcomes):
            want = stored[(e, r)]["summary"][name]
            got = row[10 + j]
            assert (want is None and pd.isna(got)) or got == pytest.approx(want, rel=1e-15, abs=0), name
    # ready for pandas: a one-liner analysis works
    assert df.groupby("handling.top_level")["resolution_rate"].mean().shape == (2,)


def test_default_path_and_timeseries(sweep: dict, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                     tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    spec = sweep["spec"]
    assert main(["export", spec.sweep_id, "--db", f"sqlite:///{sweep['db']}"]) == 0
    assert (tmp_path / "results" / f"{spec.sweep_id}.csv").exists()
    assert main(["export", "exp", "--timeseries", "--format", "parquet", "--db", f"sqlite:///{sweep['db']}"]) == 0
    ts = pd.read_parquet(tmp_path / "results" / f"{spec.sweep_id}_timeseries.parquet")
    assert list(ts.columns) == ["sweep_id", "experiment", "replicate", "run_id", "t", "metric", "value"]
    assert sorted(ts["t"].unique()) == [0, 3, 6, 9]  # record_every = 3 over 10 days
    assert set(ts["metric"]) == set(spec.timeseries) and len(ts) == spec.n_runs * 4 * len(spec.timeseries)


def test_export_errors(sweep: dict, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    db = f"sqlite:///{sweep['db']}"
    missing = tmp_path / "missing" / "x.csv"
    assert main(["export", "exp", "--out", str(missing), "--db", db]) == 2
    err = capsys.readouterr().err
    assert err == f"govsim: error: --out: cannot write '{missing}': directory '{missing.parent}' does not exist\n"
    assert main(["export", "nosuch", "--db", db]) == 2
    assert "no sweep 'nosuch'; stored sweeps: exp-" in capsys.readouterr().err
    assert not (tmp_path / "missing").exists()
