"""``govsim params [PATTERN] [--json]``: filtered by key, each parameter with description, unit, range and source."""

from __future__ import annotations

import json
import re

import pytest

from sim.cli import main
from sim.cli.params import matches, parameter_groups
from sim.config.param_docs import CASES, DESCRIPTIONS, readable_source


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def all_rows() -> list[dict]:
    return [r for _, rows in parameter_groups() for r in rows]


def test_params_grid_json_returns_only_grid_parameters_with_description_unit_range_and_source(
        capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run_cli(capsys, "params", "grid", "--json")
    assert rc == 0 and err == ""
    data = json.loads(out)
    keys = [p["key"] for p in data["parameters"]]
    assert data["pattern"] == "grid"
    assert keys == [r["key"] for r in all_rows() if "grid" in r["key"]]  # all of them, and only them
    assert {"policies.grid.n_workers_per_grid", "community.households_per_grid.old", "costs.pay_grid_worker"} <= set(keys)
    for p in data["parameters"]:
        assert set(p) == {"key", "description", "default", "unit", "range", "choices", "plausible",
                          "plausible_factor_of", "source"}
        assert p["description"] and p["source"]
    workers = next(p for p in data["parameters"] if p["key"] == "policies.grid.n_workers_per_grid")
    assert workers["default"] == 1.5 and workers["unit"] == "workers" and workers["range"] == [0.0, 20.0]
    assert workers["source"] == "case 001 Gaoxian: 48 integrated grid-worker posts for 32 grids"
    assert workers["description"] == "grid workers per grid after the reform"


def test_pattern_is_a_substring_or_a_glob(capsys: pytest.CaptureFixture[str]) -> None:
    assert matches("residents.trust_init", "TRUST") and not matches("residents.trust_init", "world")
    assert matches("residents.trust_init", "residents.*_init") and not matches("residents.rate_trust", "residents.*_init")
    rc, out, _ = run_cli(capsys, "params", "policies.whistle.*")
    assert rc == 0
    rows = [line for line in out.splitlines() if line.startswith("| `")]
    assert rows and all(line.startswith("| `policies.whistle.") for line in rows)
    assert "## Policy `whistle`" in out and "## Policy `grid`" not in out
    rc, out, err = run_cli(capsys, "params", "no_such_thing")
    assert rc == 2 and out == "" and err.startswith("govsim: error: no parameter key matches 'no_such_thing'")


def test_every_parameter_has_a_description_and_a_readable_source() -> None:
    rows = all_rows()
    assert [r["key"] for r in rows if not r["description"]] == []
    used = {key for key in DESCRIPTIONS if any(r["key"] == key or r["key"].startswith(key + ".") for r in rows)}
    assert used == set(DESCRIPTIONS)  # no description of a parameter that does not exist
    for r in rows:
        # no bare case code (000..004) and no development note: every code reads "case 00x <place>"
        assert re.search(r"(?<!case )(?<![\d,.])00[0-4](?!\d|[,.]\d)", r["source"]) is None, r
        assert not r["source"].startswith("issue"), r


def test_readable_source_spells_out_case_codes_only() -> None:
    assert readable_source("003: 17,492 members / 277,000 residents") == \
        "case 003 Huiji: 17,492 members / 277,000 residents"
    assert readable_source("assumption after 000, 002, 004") == \
        "assumption after case 000 Sanya Jiyang, case 002 Bazhong, case 004 Luohu"
    assert readable_source("below 001's 1,650 floor; 1000 and 10,000") == \
        "below case 001 Gaoxian's 1,650 floor; 1000 and 10,000"
    assert set(CASES) == {"000", "001", "002", "003", "004"}
