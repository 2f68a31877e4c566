"""Sweep files: parsing, validation (one line, exit 2, nothing written), designs, seeds, identity."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_sweep_support import BASELINE, EXAMPLE, sweep_text, write_sweep

from sim.cli.sweep import main
from sim.core.scenario import apply_overrides, load_scenario
from sim.errors import ParameterError, SweepError
from sim.experiments.compare_stats import replicate_seeds
from sim.experiments.sweep.design import DESIGN_KEY, run_seed
from sim.experiments.sweep.factors import Factor
from sim.experiments.sweep.spec import load_sweep


def test_example_sweep_is_valid_sobol_over_grid_alliance_empowerment() -> None:
    spec = load_sweep(EXAMPLE)
    names = [f.name for f in spec.factors]
    assert names == ["problems.rate_arise", "scale(policies.grid.households_per_grid)", "policies.alliance.n_units",
                     "policies.street_empowerment.capacity_moved"]
    assert spec.design == "sobol" and spec.n_experiments == 64 * (4 + 2) and spec.replicates >= 2
    sc = spec.scenario(5)
    p = spec.parameters(5)
    assert sc.policy("alliance").n_units == p["policies.alliance.n_units"]
    scale = p["scale(policies.grid.households_per_grid)"]
    assert sc.policy("grid").households_per_grid.old == pytest.approx(150 * scale)
    assert sc.policy("grid").households_per_grid.new == pytest.approx(300 * scale)
    assert sc.policy("street_empowerment").capacity_moved == p["policies.street_empowerment.capacity_moved"]


def test_run_seeds_are_seedsequence_children_of_experiment_then_replicate() -> None:
    root, n_exp, n_rep = 987654321, 5, 3
    children = np.random.SeedSequence(root).spawn(n_exp)
    expected = [[int(r.generate_state(1)[0]) for r in e.spawn(n_rep)] for e in children]
    got = [[run_seed(root, e, r) for r in range(n_rep)] for e in range(n_exp)]
    assert got == expected
    assert len({s for row in got for s in row}) == n_exp * n_rep
    # common random numbers: replicate r of every experiment shares govsim compare's seed r
    assert [run_seed(root, 4, r, True) for r in range(n_rep)] == replicate_seeds(root, n_rep)


OVERRIDES = [
    {"community.households_per_grid.old": 120, "handling.top_level": "city"},
    {"policies.alliance.n_units": 3, "policies.grid.n_workers_per_grid": 2.5},  # policies switched on, in order
    {"policies.street_empowerment.capacity_moved": 0.9, "problems.rate_arise": 0.008, "world.n_streets": 2},
]


@pytest.mark.parametrize("overrides", OVERRIDES)
def test_apply_overrides_equals_scenario_with_overrides(overrides: dict) -> None:
    for base in (load_scenario(BASELINE), load_scenario(BASELINE.parent / "bazhong_street_whistle.toml")):
        # switch_on: a sweep's levers under policies.<name> switch the policy on (in order, appended last)
        fast, slow = apply_overrides(base, overrides, switch_on=True), base.with_overrides(overrides, switch_on=True)
        assert fast == slow
        assert fast.content_hash() == slow.content_hash()
        assert [p.name for p in fast.policies] == [p.name for p in slow.policies]


@pytest.mark.parametrize("key,value", [("world.nosuch", 1), ("policies.nosuch.x", 1), ("policies.grid.nosuch", 1),
                                       ("policies.alliance.n_units", 500), ("world.n_streets", 0.5)])
def test_apply_overrides_rejects_what_with_overrides_rejects(key: str, value: object) -> None:
    base = load_scenario(BASELINE)
    with pytest.raises(ParameterError) as fast:
        apply_overrides(base, {key: value})
    with pytest.raises(ParameterError):
        base.with_overrides({key: value})
    assert fast.value.key.startswith(key.rsplit(".", 1)[0])


def test_full_factorial_every_combination_in_file_order(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, design={"method": "full_factorial", "levels": 3},
                       uncertainties={"problems.rate_arise": {"low": 0.004, "high": 0.01}},
                       levers={"policies.alliance.n_units": {"low": 0, "high": 3, "levels": 4},
                               "handling.top_level": {"choices": ["department", "city"]}})
    spec = load_sweep(path, check_outcomes=False)
    rates = [0.004, 0.007, 0.01]
    expected = list(itertools.product(rates, [0, 1, 2, 3], ["department", "city"]))
    got = [tuple(spec.parameters(i).values()) for i in range(spec.n_experiments)]
    assert spec.n_experiments == 24 and spec.n_runs == 48
    assert [g[1:] for g in got] == [e[1:] for e in expected]
    np.testing.assert_allclose([g[0] for g in got], [e[0] for e in expected], rtol=0, atol=1e-15)
    assert all(isinstance(g[1], int) for g in got) and spec.sample(0) is None
    # integer ranges with fewer distinct integers than levels are de-duplicated
    assert Factor("k", "levers", low=0, high=1, levels=5).grid(3) == [0, 1]


def test_latin_hypercube_is_stratified_and_reproducible(tmp_path: Path) -> None:
    kw = {"design": {"method": "latin_hypercube", "n_samples": 10},
          "uncertainties": {"problems.rate_arise": {"low": 0.004, "high": 0.01}},
          "levers": {"policies.alliance.n_units": {"low": 0, "high": 9}}}
    spec = load_sweep(write_sweep(tmp_path, **kw), check_outcomes=False)
    u = np.array([spec.sample(i) for i in range(10)])
    for d in range(2):  # one point in each tenth of every axis
        assert sorted(np.floor(u[:, d] * 10).astype(int)) == list(range(10))
    assert sorted(spec.parameters(i)["policies.alliance.n_units"] for i in range(10)) == list(range(10))
    rates = [spec.parameters(i)["problems.rate_arise"] for i in range(10)]
    assert min(rates) >= 0.004 and max(rates) <= 0.01
    again = load_sweep(write_sweep(tmp_path, "b.toml", **kw), check_outcomes=False)
    other = load_sweep(write_sweep(tmp_path, "c.toml", seed=12, **kw), check_outcomes=False)
    np.testing.assert_array_equal(again.matrix, spec.matrix)
    assert not np.array_equal(other.matrix, spec.matrix)


@pytest.mark.parametrize("second_order", [False, True])
def test_sobol_design_is_salibs_saltelli_sample(tmp_path: Path, second_order: bool) -> None:
    from SALib.sample import sobol

    spec = load_sweep(write_sweep(tmp_path, design={"method": "sobol", "n_samples": 8, "second_order": second_order},
                                  seed=5), check_outcomes=False)
    d = 2
    assert spec.n_experiments == 8 * ((2 * d + 2) if second_order else (d + 2))
    seed = int(np.random.SeedSequence(5, spawn_key=(DESIGN_KEY,)).generate_state(1)[0])
    problem = {"num_vars": d, "names": ["a", "b"], "bounds": [[0.0, 1.0]] * d}
    expected = sobol.sample(problem, 8, calc_second_order=second_order, scramble=True, seed=seed)
    np.testing.assert_array_equal(spec.matrix, expected)


def test_morris_design_is_on_the_level_grid(tmp_path: Path) -> None:
    spec = load_sweep(write_sweep(tmp_path, design={"method": "morris", "n_samples": 5, "levels": 4}),
                      check_outcomes=False)
    assert spec.n_experiments == 5 * (2 + 1)
    assert set(np.round(spec.matrix.ravel() * 3, 9)) <= {0.0, 1.0, 2.0, 3.0}


def test_unit_mapping_is_uniform_over_integers_and_choices() -> None:
    u = (np.arange(10_000) + 0.5) / 10_000
    ints = Factor("k", "levers", low=2, high=6)
    counts = np.bincount([ints.from_unit(x) for x in u])[2:]
    assert counts.tolist() == [2000] * 5 and ints.from_unit(1.0) == 6 and ints.from_unit(0.0) == 2
    ch = Factor("k", "levers", choices=("a", "b", "c"))
    assert [ch.from_unit(x) for x in (0.0, 0.34, 0.67, 1.0)] == ["a", "b", "c", "c"]
    real = Factor("k", "levers", low=1.0, high=3.0)
    assert real.from_unit(0.25) == 1.5


def test_sweep_id_ignores_comments_but_not_content(tmp_path: Path) -> None:
    a = write_sweep(tmp_path, "a.toml")
    b = tmp_path / "b.toml"
    b.write_text("# a comment\n" + sweep_text() + 'description = "x"\n'.replace("description", "#description"))
    c = write_sweep(tmp_path, "c.toml", replicates=3)
    ids = [load_sweep(p, check_outcomes=False).sweep_id for p in (a, b, c)]
    assert ids[0] == ids[1] != ids[2] and ids[0].startswith("t-")
    # a change of the base scenario file changes the sweep too
    base = tmp_path / "base.toml"
    base.write_text(f'extends = "{BASELINE}"\n[problems]\nrate_abandon = 0.03\n')
    d = write_sweep(tmp_path, "d.toml", scenario=base)
    assert load_sweep(d, check_outcomes=False).sweep_id != ids[0]


BAD = [
    ("unknown top-level key", {"extra": "colour = 1"}, "colour: unknown key"),
    ("unknown factor key", {"levers": {"policies.alliance.n_units": {"low": 0, "hgh": 3}}}, "hgh: unknown key"),
    ("low not below high", {"levers": {"policies.alliance.n_units": {"low": 3, "high": 3}}}, "must be below high"),
    ("no such parameter", {"levers": {"world.nosuch": {"low": 0, "high": 3}}}, "levers.world.nosuch: unknown key"),
    ("no such policy", {"levers": {"policies.nosuch.x": {"low": 0, "high": 3}}}, "policies.nosuch"),
    ("policy key typo", {"levers": {"policies.grid.n_worker": {"low": 0.0, "high": 3.0}}},
     "levers.policies.grid.n_worker: unknown key"),
    ("out of range", {"levers": {"policies.alliance.n_units": {"low": 0, "high": 500}}},
     "levers.policies.alliance.n_units.high: 500 is out of range"),
    ("bad choice", {"levers": {"handling.top_level": {"choices": ["city", "moon"]}}}, "'moon' is not allowed"),
    ("empty choices", {"levers": {"handling.top_level": {"choices": []}}}, "non-empty list"),
    ("run.* as factor", {"levers": {"run.n_steps": {"low": 1, "high": 3}}}, "set by the sweep"),
    ("not dotted", {"levers": {"name": {"choices": ["a"]}}}, "dotted scenario key"),
    ("scale of an integer", {"levers": {"policies.alliance.n_units": {"low": 0.5, "high": 2.0, "scale": True}}},
     "real-valued"),
    ("bad design", {"design": {"method": "random"}}, "design.method: 'random' is not allowed"),
    ("sobol not power of 2", {"design": {"method": "sobol", "n_samples": 12}}, "power of 2"),
    ("lhs without n", {"design": {"method": "latin_hypercube"}}, "design.n_samples"),
    ("unknown outcome", {"outcomes": ("resolution_rate", "happiness")},
     "outcomes: 'happiness' is not a summary metric"),
    ("unknown series", {"extra": 'timeseries = ["happiness"]'}, "timeseries: 'happiness' is not a time series"),
    ("bad constant", {"constants": {"world.n_streets": -1}}, "constants.world.n_streets: -1 is out of range"),
    ("negative replicates", {"replicates": 0}, "replicates: 0 is out of range"),
    ("missing scenario", {"scenario": "nope.toml"}, "nope.toml: no such scenario file"),
]


@pytest.mark.parametrize("what,kwargs,needle", BAD, ids=[b[0] for b in BAD])
def test_bad_sweep_one_line_exit_2_nothing_written(tmp_path: Path, capsys: pytest.CaptureFixture[str], what: str,
                                                   kwargs: dict, needle: str) -> None:
    path = write_sweep(tmp_path, **kwargs)
    db = tmp_path / "out.db"
    rc = main(["sweep", str(path), "--db", f"sqlite:///{db}", "--workers", "1", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("govsim: error: "), err
    assert needle in lines[0], lines[0]
    assert lines[0].startswith(f"govsim: error: {path}: "), lines[0]  # every error names the sweep file first
    assert not db.exists()


def test_invalid_combination_is_caught_before_running(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # each bound is valid alone (old compounds: 35% elderly, 12% children by default), but the
    # experiment with 60% elderly and 60% children breaks p_elderly + p_child <= 1
    path = write_sweep(tmp_path, design={"method": "full_factorial", "levels": 2}, uncertainties={},
                       levers={"world.p_elderly.old": {"low": 0.1, "high": 0.6},
                               "world.p_child.old": {"low": 0.1, "high": 0.6}})
    db = tmp_path / "x.db"
    assert main(["sweep", str(path), "--db", f"sqlite:///{db}", "--workers", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "experiment 3" in err and "p_elderly + p_child must be at most 1" in err
    assert "levers.world.p_elderly.old" in err and not db.exists()


def test_not_toml_and_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [unclosed\n")
    assert main(["sweep", str(bad)]) == 2
    assert "bad.toml: not valid TOML" in capsys.readouterr().err
    assert main(["sweep", str(tmp_path / "none.toml")]) == 2
    assert "none.toml: no such sweep file" in capsys.readouterr().err


def test_a_sweep_file_that_is_not_utf8_raises_sweep_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b"# \xff\n")
    with pytest.raises(SweepError) as info:
        load_sweep(path)
    assert str(info.value) == f"{path}: not UTF-8 text (byte 0xff at position 2); allowed: a UTF-8 text file"


def test_bad_database_url_and_missing_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_sweep(tmp_path)
    assert main(["sweep", str(path), "--db", "nosuchdb://x", "--workers", "1"]) == 2
    assert "cannot open results database" in capsys.readouterr().err
    assert main(["sweep", str(path), "--db", f"sqlite:///{tmp_path}/no/dir/x.db", "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "no").exists()


def test_dry_run_validates_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_sweep(tmp_path, design={"method": "full_factorial", "levels": 2})
    assert main(["sweep", str(path), "--dry-run", "--json", "--db", f"sqlite:///{tmp_path}/x.db"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["n_experiments"] == 4 and plan["n_runs"] == 8 and not (tmp_path / "x.db").exists()
    assert plan["first_experiments"][1] == {"problems.rate_arise": 0.004, "policies.alliance.n_units": 10}


@pytest.mark.parametrize(("kwargs", "key", "message"), [
    ({"levers": {"policies.alliance.n_units": {"low": 0, "high": 3, "scale": 1}}},
     "levers.policies.alliance.n_units.scale", "expected true or false, got 1"),
    ({"levers": {"handling.top_level": {"choices": ["city"], "low": 1}}},
     "levers.handling.top_level", "give either choices or low/high, not both"),
    ({"levers": {"policies.alliance.n_units": {"low": 0, "high": "3"}}},
     "levers.policies.alliance.n_units.high", "expected a number, got '3'"),
    ({"uncertainties": {"policies.alliance.n_units": {"low": 0, "high": 3}}},
     "levers.policies.alliance.n_units", "already given in [uncertainties]"),
    ({"design": {"method": "latin_hypercube", "n_samples": 4},
      "levers": {"policies.alliance.n_units": {"low": 0, "high": 3, "levels": 3}}},
     "levers.policies.alliance.n_units.levels", "levels per factor apply to the full_factorial design only"),
    ({"steps": '"x"'}, "steps", "expected an integer in [1, 100000], got 'x'"),
    ({"steps": 0}, "steps", "0 is out of range; allowed: an integer in [1, 100000]"),
    ({"seed": 2**63}, "seed", "9223372036854775808 is out of range; allowed: an integer in [0, 9223372036854775807]"),
    ({"outcomes": ("resolution_rate", "resolution_rate")}, "outcomes", "names must be distinct"),
    ({"extra": "timeseries = 3"}, "timeseries", "expected a list, got 3"),
])
def test_load_sweep_raises_sweep_error_with_the_dotted_key(tmp_path: Path, kwargs: dict, key: str,
                                                           message: str) -> None:
    path = write_sweep(tmp_path, **kwargs)
    with pytest.raises(SweepError) as info:
        load_sweep(path, check_outcomes=False)
    assert (info.value.source, info.value.key, info.value.message) == (str(path), key, message)
    assert str(info.value) == f"{path}: {key}: {message}"


def test_a_bad_base_scenario_is_reported_under_the_sweeps_scenario_key(tmp_path: Path) -> None:
    base = tmp_path / "base.toml"
    base.write_text(f'extends = "{BASELINE}"\n[world]\nn_streets = 0\n', encoding="utf-8")
    path = write_sweep(tmp_path, scenario=base)
    with pytest.raises(SweepError) as info:
        load_sweep(path, check_outcomes=False)
    assert str(info.value) == (f"{path}: scenario: {base}: world.n_streets: 0 is out of range; "
                               "allowed: an integer in [1, 1000]")


def test_the_design_module_does_not_import_the_spec_module() -> None:
    code = ("import sys, sim.experiments.sweep.design; "
            "assert 'sim.experiments.sweep.spec' not in sys.modules, 'design imports spec'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parent.parent)
