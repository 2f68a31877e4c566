"""Units everywhere: one convention for shares (0-1), a unit per summary metric, counts as integers in JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from helpers import BASELINE, SMALL_FILE

from sim import Model, load_scenario
from sim.cli import main
from sim.config.units import SCORE, SHARE, is_count, json_summary, metric_unit
from sim.experiments.compare import compare


@pytest.fixture(scope="module")
def small_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("units") / "small.toml"
    path.write_text(SMALL_FILE.format(base=BASELINE.as_posix(), name="small"), encoding="utf-8")
    return path


def test_run_json_has_a_units_map_and_integer_counts(small_file: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(small_file), "--steps", "8", "--json", "--quiet", "--db",
                 f"sqlite:///{tmp_path / 'u.db'}"]) == 0
    data = json.loads(capsys.readouterr().out)
    summary, units = data["summary"], data["units"]
    expected = Model(load_scenario(small_file, {"run.n_steps": 8}), seed=1).run(8).summary
    assert set(units) == set(summary) | {"setup_s", "run_s"}
    assert units["n_residents"] == "residents" and units["resolution_rate"] == SHARE
    assert units["satisfaction_mean"] == SCORE and units["cost_yuan"] == "yuan" and units["run_s"] == "seconds"
    for key in ("n_residents", "n_steps", "problems_arisen", "problems_resolved"):
        assert type(summary[key]) is int and summary[key] == expected[key], key  # 18047, not 18047.0
    assert summary["n_steps"] == 8
    for key, value in summary.items():  # nothing but the type changed
        want = expected[key]
        assert (value is None and math.isnan(want)) or value == want, key
        if isinstance(value, float):
            assert not (is_count(key) and value.is_integer()), key
    assert type(summary["resolution_rate"]) is float and 0.0 <= summary["resolution_rate"] <= 1.0


def test_compare_json_carries_units(small_file: Path) -> None:
    comp = compare([small_file, small_file], replicates=2, steps=5, workers=1, progress=False)
    data = comp.to_json_dict()
    metrics = data["scenarios"][0]["metrics"]
    assert set(metrics) <= set(data["units"])
    assert data["units"]["resolution_rate"] == SHARE and data["units"]["steps"] == "days"
    assert "0.01" in data["units"]["yuan_per_pp"]


def test_every_core_summary_metric_has_a_named_unit(small_run) -> None:
    _, results = small_run
    fallback = [k for k in results.summary if metric_unit(k) == "count" and k != "escalations"]
    assert fallback == []
    assert metric_unit("four_empowerments_trusteeship_compounds") == "compounds"  # not a trust score
    assert metric_unit("resolution_rate_30d_change") == SHARE and not is_count("resolution_rate_30d_change")
    assert not is_count("days_to_resolution_median")  # a median of days can be 4.5
    assert json_summary({"days_to_resolution_median": 4.0, "n_residents": 10.0, "x_rate": float("nan")}) == \
        {"days_to_resolution_median": 4.0, "n_residents": 10, "x_rate": None}
