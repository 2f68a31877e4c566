"""``govsim sensitivity``: SALib Sobol and Morris on stored sweeps, with a chart; clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_sweep_support import write_sweep

from sim.cli.sweep import main

# problems_arisen depends on the arrival rate only; cost_yuan on the price of an event (and the
# events' number, which the rate does not touch); common random numbers keep the noise out
FACTORS = {"uncertainties": {"problems.rate_arise": {"low": 0.004, "high": 0.012}},
           "levers": {"costs.cost_event": {"low": 0.0, "high": 6000.0}}}
OUTCOMES = ("problems_arisen", "cost_yuan", "resolution_rate")


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("sens")
    db = d / "s.db"
    for method, n in (("sobol", 16), ("morris", 6)):
        path = write_sweep(d, f"{method}.toml", name=f"sens_{method}", steps=15, replicates=1, outcomes=OUTCOMES,
                           design={"method": method, "n_samples": n}, extra="common_random_numbers = true",
                           **FACTORS)
        assert main(["sweep", str(path), "--db", f"sqlite:///{db}", "--workers", "1", "--quiet"]) == 0
    return {"dir": d, "db": db}


def _analyse(stored: dict[str, Path], capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    capsys.readouterr()
    rc = main(["sensitivity", *args, "--db", f"sqlite:///{stored['db']}", "--out", str(stored["dir"]), "--json"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    return json.loads(out.out)


def test_sobol_indices_single_out_the_factor_that_matters(stored: dict[str, Path],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    res = _analyse(stored, capsys, "sens_sobol")
    assert res["method"] == "sobol" and res["n_experiments"] == 16 * (2 + 2)
    by = {r["outcome"]: r for r in res["results"]}
    arisen = by["problems_arisen"]["indices"]
    assert by["problems_arisen"]["factors"] == ["problems.rate_arise", "costs.cost_event"]
    assert arisen["ST"][0] > 0.8 and abs(arisen["ST"][1]) < 1e-9 and abs(arisen["S1"][1]) < 1e-9
    assert arisen["S1_conf"][0] > 0  # a confidence interval, not a point
    cost = by["cost_yuan"]["indices"]
    assert cost["ST"][1] > 0.5 and cost["ST"][1] > 5 * abs(cost["ST"][0])
    png = Path(res["figure"])
    assert png.name == f"sensitivity_{res['sweep_id']}_sobol.png" and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_morris_screening_ranks_the_factors(stored: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    res = _analyse(stored, capsys, "sens_morris", "--outcome", "problems_arisen")
    assert res["method"] == "morris" and [r["outcome"] for r in res["results"]] == ["problems_arisen"]
    mu_star = res["results"][0]["indices"]["mu_star"]
    assert mu_star[0] > 10 and mu_star[1] == 0


def test_text_output_has_indices_and_intervals(stored: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["sensitivity", "sens_sobol", "--db", f"sqlite:///{stored['db']}", "--out", str(stored["dir"])]) == 0
    out = capsys.readouterr().out
    assert "first-order S1" in out and "total ST" in out and "95% confidence interval" in out
    assert "problems.rate_arise" in out and out.count("[") >= 6 and "figure:" in out


@pytest.mark.parametrize("args,needle", [
    (["sens_sobol", "--method", "morris"], "has a sobol design; a morris analysis needs"),
    (["sens_sobol", "--outcome", "happiness"], "'happiness' is not an outcome"),
    (["sens_", ], "ambiguous"),
    (["nosuch"], "no sweep 'nosuch'"),
])
def test_errors_are_one_line_exit_2(stored: dict[str, Path], capsys: pytest.CaptureFixture[str], args: list[str],
                                    needle: str) -> None:
    capsys.readouterr()
    assert main(["sensitivity", *args, "--db", f"sqlite:///{stored['db']}", "--out", str(stored["dir"])]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err, err


def test_incomplete_or_non_salib_sweeps_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "x.db"
    ff = write_sweep(tmp_path, "ff.toml", name="ff", design={"method": "full_factorial", "levels": 2}, steps=5)
    assert main(["sweep", str(ff), "--db", f"sqlite:///{db}", "--workers", "1", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["sensitivity", "ff", "--db", f"sqlite:///{db}", "--out", str(tmp_path)]) == 2
    assert 'needs a sweep with [design] method = "sobol"' in capsys.readouterr().err
    sob = write_sweep(tmp_path, "sob.toml", name="sob", design={"method": "sobol", "n_samples": 4}, steps=5)
    assert main(["sweep", str(sob), "--db", f"sqlite:///{db}", "--workers", "1", "--quiet"]) == 0
    import sqlite3

    with sqlite3.connect(db) as conn:  # lose one experiment's runs
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("""DELETE FROM runs WHERE id IN (SELECT r.run_id FROM sweep_results r
                        JOIN experiments e ON e.id = r.experiment_id WHERE e.sweep_id LIKE 'sob-%' AND e.idx = 3)""")
    capsys.readouterr()
    assert main(["sensitivity", "sob", "--db", f"sqlite:///{db}", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "incomplete: 1 of 16 experiments have no stored run" in err and "govsim sweep" in err
