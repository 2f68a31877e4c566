"""compare --uncertainty: Latin-hypercube draws shared by all scenarios, the file format, P(beats), P(best), drivers."""

from __future__ import annotations

import json
import math
import sqlite3
import tomllib
from pathlib import Path

import numpy as np
import pytest
from helpers import SMALL_FILE

from sim.cli import main
from sim.core.scenario import Scenario, apply_overrides, load_scenario
from sim.errors import UncertaintyError
from sim.experiments.uncertainty import UncertainComparison, compare_uncertain, parse_draw_header
from sim.experiments.uncertainty_spec import Uncertain, apply_draw, draw_values, load_uncertainty, resolve_uncertain
from sim.experiments.uncertainty_stats import drivers, p_beats, p_best, percentile_summary, rho_critical
from sim.store.database import ResultStore

ROOT = Path(__file__).resolve().parents[1]
STEPS, R, SEED = 40, 6, 3
SPEC = """[parameters."policies.whistle.cost_per_community_per_year"]
[parameters."policies.whistle.report_capacity_share"]
[parameters."costs.cost_event"]
[parameters."problems.rate_abandon_latent"]
[parameters."handling.dur_escalate"]
distribution = "triangular"
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("unc")
    out = {"small": d / "small.toml", "whistle": d / "whistle.toml", "spec": d / "spec.toml"}
    out["small"].write_text(SMALL_FILE.format(base=(ROOT / "scenarios" / "baseline.toml").as_posix(), name="small"), encoding="utf-8")
    out["whistle"].write_text(f'extends = "{out["small"].as_posix()}"\nname = "whistle"\n[policies.whistle]\n',
                              encoding="utf-8")
    out["spec"].write_text(SPEC, encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def stored(files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[UncertainComparison, Path]:
    db = tmp_path_factory.mktemp("db") / "runs.db"
    with ResultStore(f"sqlite:///{db}") as store:
        res = compare_uncertain([files["small"], files["whistle"]], replicates=R, steps=STEPS, seed=SEED,
                                spec=files["spec"], workers=1, progress=False, store=store)
    return res, db


def _scenarios(files: dict[str, Path]) -> list[Scenario]:
    return [load_scenario(files["small"]), load_scenario(files["whistle"])]


# ---- drawing and applying -----------------------------------------------------------------------
def test_draws_are_a_seeded_latin_hypercube(files: dict[str, Path]) -> None:
    u = [Uncertain("costs.cost_event", "uniform", 1000.0, 4000.0), Uncertain("handling.effort", "uniform", 0.7, 1.5,
                                                                               factor=True)]
    a = draw_values(u, 10, 5)
    for j, p in enumerate(u):  # one value in each of the 10 equal strata of each range
        strata = np.floor((a[:, j] - p.lo) / (p.hi - p.lo) * 10).astype(int)
        assert sorted(strata) == list(range(10))
    np.testing.assert_array_equal(a, draw_values(u, 10, 5))
    assert not np.allclose(a, draw_values(u, 10, 6))
    # all plausible-ranged parameters of the compared scenarios; whistle's only because a scenario has it on
    keys = [p.key for p in resolve_uncertain(_scenarios(files))]
    assert "problems.rate_arise" in keys and "policies.whistle.p_collect" in keys
    assert not any(k.startswith("policies.grid.") for k in keys)
    assert "policies.whistle.p_collect" not in [p.key for p in resolve_uncertain(_scenarios(files)[:1])]


def test_apply_draw_keeps_a_scenarios_own_setting_and_never_switches_a_policy_on(files: dict[str, Path]) -> None:
    """A reform that doubles a capacity keeps it doubled: default 4, reform 8, draw 3 -> 3 and 6."""
    small, whistle = _scenarios(files)
    doubled = apply_overrides(whistle, {"handling.capacity_department_per_10k": 8.0})
    u = [Uncertain("handling.capacity_department_per_10k", "uniform", 2.0, 8.0, default=4.0),
         Uncertain("policies.whistle.p_collect", "uniform", 0.15, 0.5, default=0.3),
         Uncertain("handling.authority", "uniform", 0.8, 1.1, factor=True)]
    a, b = apply_draw(small, u, [3.0, 0.4, 1.1]), apply_draw(doubled, u, [3.0, 0.4, 1.1])
    assert a.handling.capacity_department_per_10k == 3.0 and b.handling.capacity_department_per_10k == 6.0
    assert a.policy("whistle") is None and [s.name for s in a.policies] == []
    assert b.policy("whistle").p_collect == 0.4
    assert a.handling.authority.city.health == pytest.approx(0.9 * 1.1)
    assert a.handling.authority.grid.sanitation == pytest.approx(0.8 * 1.1)
    # a non-default value scaled past its bound is clipped to it
    high = apply_overrides(small, {"handling.authority.city.health": 0.95})
    assert apply_draw(high, u, [3.0, 0.4, 1.1]).handling.authority.city.health == 1.0


def test_a_draw_that_fails_a_cross_check_is_an_error_naming_it(files: dict[str, Path], tmp_path: Path) -> None:
    spec = tmp_path / "child.toml"
    spec.write_text('[parameters."world.p_child"]\ndistribution = "uniform"\nrange = [1.0, 4.0]\n', encoding="utf-8")
    u = load_uncertainty(spec, _scenarios(files))
    with pytest.raises(UncertaintyError, match=r"small \(replicate \d\): world\.p_elderly\.new: p_elderly \+ p_child"):
        from sim.experiments.compare import prepare
        from sim.experiments.uncertainty import prepare_draws

        prepare_draws(prepare([files["small"]]), u, 10, 1)


@pytest.mark.parametrize(("text", "match"), [
    ("colour = 1\n", r"spec\.toml: colour: unknown key; allowed: all, parameters"),
    ('[parameters."problems.nope"]\n', r"parameters\.problems\.nope: no such parameter"),
    ('[parameters."problems.rate_arise"]\ndistribution = "cauchy"\n', r"distribution: 'cauchy' is not allowed"),
    ('[parameters."problems.rate_arise"]\nrange = [0.0, 2.0]\n', r"rate_arise: range .* not within the allowed"),
    ('[parameters."problems.rate_arise"]\nrange = [0.01, 0.02]\n', r"does not contain the default"),
    ('[parameters."problems.rate_arise"]\nrange = [0.01]\n', r"range: expected \[lo, hi\]"),
    ('[parameters."problems.rate_arise"]\nmode = 0.01\n', r"only a triangular distribution has a mode"),
    ('[parameters."policies.grid.p_building_head_find"]\n', r"policy grid is on in none of the scenarios"),
    ('[parameters."problems.rate_recontact"]\n', r"rate_recontact: has no plausible range; give range"),
    ('[parameters."handling.top_level"]\n', r"not a number, vector or table"),
    ('[parameters."problems.dur_patience.big"]\n', r"vector cannot be drawn alone"),
    ("all = false\n", r"no parameter to draw"),
    ("[parameters\n", r"not valid TOML"),
])
def test_uncertainty_file_errors_are_one_line_naming_file_and_key(text: str, match: str, files: dict[str, Path],
                                                                   tmp_path: Path) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text(text, encoding="utf-8")
    with pytest.raises(UncertaintyError, match=match) as info:
        load_uncertainty(spec, _scenarios(files))
    assert "\n" not in str(info.value) and str(info.value).startswith(str(spec))


def test_cli_bad_uncertainty_file_exits_2_before_any_run(files: dict[str, Path], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text('[parameters."problems.rate_arise"]\ndistribution = "cauchy"\n', encoding="utf-8")
    db, out = tmp_path / "runs.db", tmp_path / "figs"
    rc = main(["compare", str(files["small"]), str(files["whistle"]), "--steps", "5", "--uncertainty", str(spec),
               "--db", f"sqlite:///{db}", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "distribution: 'cauchy' is not allowed" in err
    assert not db.exists() and not out.exists()


# ---- statistics on hand-made numbers ------------------------------------------------------------
def test_driver_flags_have_their_false_alarm_rates() -> None:
    """No effect at all (400 sets of 10 parameters, 20 replicates): the 95% flag passes 5.5% of the parameters
    (one in 20, as it should), the Bonferroni flag at least one parameter in 6.3% of the sets (familywise ~5%)."""
    rng = np.random.default_rng(1)
    familywise, passed, total = 0, 0, 0
    for _ in range(400):
        top = drivers(rng.random((20, 10)), [f"p{j}" for j in range(10)], rng.normal(size=20), top=10)
        familywise += any(t["strong"] for t in top)
        passed += sum(not t["noise"] for t in top)
        total += len(top)
    assert total == 4000
    assert 0.035 < passed / total < 0.065  # binomial sd 0.0036 around 0.05
    assert familywise / 400 < 0.09  # binomial sd 0.011 around 0.05


def test_p_beats_and_p_best_by_hand() -> None:
    """Three scenarios, four replicates; a tie for best splits its replicate."""
    vals = np.array([[0.5, 0.6, 0.7, 0.8],   # baseline
                     [0.6, 0.5, 0.9, 0.8],   # beats in r0, r2; loses r1; ties r3
                     [0.4, 0.7, 0.8, np.nan]])
    assert p_beats(vals[1] - vals[0], 1) == pytest.approx((2 + 0.5) / 4)
    assert p_beats(vals[1] - vals[0], -1) == pytest.approx((1 + 0.5) / 4)
    assert math.isnan(p_beats(vals[1] - vals[0], 0))
    assert p_beats(vals[2] - vals[0], 1) == pytest.approx(2 / 3)  # the NaN pair is left out
    # r3 is left out (NaN); r0: scenario 1 best; r1: scenario 2; r2: scenario 1
    np.testing.assert_allclose(p_best(vals, 1), [0, 2 / 3, 1 / 3])
    np.testing.assert_allclose(p_best(vals, -1), [1 / 3, 1 / 3, 1 / 3])
    np.testing.assert_allclose(p_best(vals[:2, 3:], 1), [0.5, 0.5])  # a tie for best
    mean, lo, hi, n = percentile_summary(np.array([1.0, 2.0, 3.0, 4.0, np.nan]))
    assert (mean, n) == (2.5, 4) and lo == pytest.approx(1.075) and hi == pytest.approx(3.925)


def test_drivers_rank_the_parameter_that_makes_the_difference() -> None:
    """diff = x0 + noise (sd 0.1 of x0's range 1) among 9 irrelevant draws, 20 replicates: x0 first, rho ~0.99."""
    rng = np.random.default_rng(0)
    x = rng.random((20, 10))
    diff = x[:, 3] + rng.normal(0, 0.1, 20)
    names = [f"p{j}" for j in range(10)]
    top = drivers(x, names, diff)
    assert top[0]["parameter"] == "p3" and top[0]["rho"] > 0.9 and not top[0]["noise"] and top[0]["strong"]
    assert len(top) == 5 and all(t["abs_rho"] <= top[0]["abs_rho"] for t in top)
    assert drivers(x, names, -diff)[0]["rho"] < -0.9
    assert rho_critical(20) == pytest.approx(0.4438, abs=1e-3)  # t approximation (tables: 0.447)
    assert math.isnan(rho_critical(3)) and drivers(x, names, np.ones(20)) == []


def test_rho_critical_is_exact_for_few_replicates() -> None:
    """Up to 8 pairs the critical |rho| is the permutation distribution's (Zar's table, two-sided 5%: n = 6 0.886,
    n = 7 0.786, n = 8 0.738); with 4 pairs none exists (P(|rho| = 1) = 1/12), so a perfect rank correlation of 4
    replicates is noise, not a driver; a Bonferroni level for 110 parameters needs 7 pairs (2/7! = 4.0e-4 < 4.5e-4),
    and then only |rho| = 1."""
    assert [round(rho_critical(n), 3) for n in (6, 7, 8)] == [0.886, 0.786, 0.738]
    assert math.isnan(rho_critical(4)) and math.isnan(rho_critical(6, 1 - 0.05 / 110))
    assert rho_critical(7, 1 - 0.05 / 110) == 1.0
    assert rho_critical(8, 1 - 0.05 / 110) == pytest.approx(0.976, abs=1e-3)
    x = np.arange(4.0)[:, None]
    top = drivers(x, ["p"], 2 * x[:, 0])
    assert top[0]["rho"] == pytest.approx(1.0) and top[0]["noise"] and not top[0]["strong"]


# ---- a real comparison --------------------------------------------------------------------------
def test_the_reforms_own_cost_drives_its_cost_difference(stored: tuple[UncertainComparison, Path]) -> None:
    """The whistle's running cost is drawn and applies to the whistle scenario only: the paired cost difference
    is exactly cost x days / 365 for one community, so its draw ranks first with rho = 1 (n = 6, noise < 0.89)."""
    res, _ = stored
    comp = res.comparison
    j = res.names.index("policies.whistle.cost_per_community_per_year")
    diff = comp.values("whistle", "cost_yuan") - comp.values("small", "cost_yuan")
    np.testing.assert_allclose(diff, res.values[:, j] * STEPS / 365, rtol=1e-6)
    top = res.drivers("cost_yuan", "whistle")
    assert top[0]["parameter"] == "policies.whistle.cost_per_community_per_year"
    assert top[0]["rho"] == pytest.approx(1.0) and not top[0]["noise"] and top[0]["strong"]
    assert res.stats(["cost_yuan"]).set_index("scenario").loc["whistle", "p_beats"] == 0.0  # it always costs more


def test_same_seed_same_draws_and_results_whatever_the_workers(files: dict[str, Path],
                                                               stored: tuple[UncertainComparison, Path]) -> None:
    res, _ = stored
    again = compare_uncertain([files["small"], files["whistle"]], replicates=R, steps=STEPS, seed=SEED,
                              spec=files["spec"], workers=2, progress=False)
    np.testing.assert_array_equal(again.values, res.values)
    assert again.comparison.runs.equals(res.comparison.runs)
    assert again.stats().equals(res.stats())


def test_every_scenario_of_a_replicate_gets_the_same_draw(stored: tuple[UncertainComparison, Path]) -> None:
    """Stored runs: the scenario text is the drawn scenario headed by the draw, the same in both scenarios."""
    res, db = stored
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT scenario_name, seed, scenario_text FROM runs ORDER BY id").fetchall()
    assert len(rows) == 2 * R
    by_seed: dict[int, dict[str, str]] = {}
    for name, seed, text in rows:
        by_seed.setdefault(seed, {})[name] = text
    assert sorted(by_seed) == sorted(res.comparison.seeds)
    for r, seed in enumerate(res.comparison.seeds):
        texts = by_seed[seed]
        (pa, va), (pb, vb) = parse_draw_header(texts["small"]), parse_draw_header(texts["whistle"])
        np.testing.assert_array_equal(va, vb)
        np.testing.assert_array_equal(va, res.values[r])
        assert [p.key for p in pa] == [p.key for p in pb] == res.names
        small = Scenario.from_dict(tomllib.loads(texts["small"]))
        whistle = Scenario.from_dict(tomllib.loads(texts["whistle"]))
        assert small.problems.rate_abandon_latent == whistle.problems.rate_abandon_latent == res.values[r][3]
        assert small.handling.dur_escalate == whistle.handling.dur_escalate
        assert small.policy("whistle") is None
        assert whistle.policy("whistle").cost_per_community_per_year == res.values[r][0]


def test_table_and_plain_data(stored: tuple[UncertainComparison, Path]) -> None:
    res, _ = stored
    table = res.table()
    assert table.loc["resolution_rate", ("small", "mean")] == pytest.approx(
        np.mean(res.comparison.values("small", "resolution_rate")))
    lo = table.loc["resolution_rate", ("whistle", "lo")]
    assert lo == pytest.approx(np.percentile(res.comparison.values("whistle", "resolution_rate"), 2.5))
    assert math.isnan(table.loc["resolution_rate", ("small", "p_beats")])
    best = table.xs("p_best", axis=1, level=1).loc["resolution_rate"]
    assert best.sum() == pytest.approx(1.0)
    data = json.loads(json.dumps(res.to_dict()))
    assert len(data["draws"]) == R and [p["key"] for p in data["parameters"]] == res.names
    assert data["parameters"][4] == {"key": "handling.dur_escalate", "distribution": "triangular",
                                     "range": [0.5, 2.0], "factor": True}
    assert data["drivers"]["whistle"]["cost_yuan"][0]["parameter"] == "policies.whistle.cost_per_community_per_year"
    text = res.format_table()
    assert "P(beats)" in text and "P(best)" in text and "Drivers of the difference" in text


def test_cli_uncertainty_on_a_tiny_world_and_its_report(files: dict[str, Path], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    db, out = tmp_path / "runs.db", tmp_path / "figs"
    rc = main(["compare", str(files["small"]), str(files["whistle"]), "--replicates", "4", "--steps", "15",
               "--uncertainty", "--workers", "1", "--quiet", "--db", f"sqlite:///{db}", "--out", str(out)])
    text, err = capsys.readouterr()
    assert rc == 0, err
    assert "with parameter uncertainty" in text and "whistle:" in text and "P(beats)" in text
    assert "Drivers of the difference to small" in text and "stored 8 runs" in text
    n_params = int(text.split(" draws ")[1].split()[0])
    assert n_params == len(resolve_uncertain(_scenarios(files))) == 79  # the core's 71 (cost table included) and the whistle's 8
    cid = text.split("label compare:")[1].split()[0]
    assert main(["report", f"compare:{cid}", "--db", f"sqlite:///{db}", "--out", str(tmp_path / "rep")]) == 0
    page = (tmp_path / "rep" / f"{cid}_report.html").read_text(encoding="utf-8")
    assert "Parameter uncertainty" in page and "P(beats)" in page and f"The {n_params} drawn parameters" in page


def test_drivers_leave_out_policies_that_are_off_in_both_scenarios(stored: tuple[UncertainComparison, Path]) -> None:
    """A policy on in neither the scenario nor the baseline cannot change their difference: its draws are not ranked."""
    import dataclasses

    from sim.report.data import comparison_from_store
    from sim.report.uncertainty import uncertainty_from_store

    res, db = stored
    assert res.policies_on == {"small": frozenset(), "whistle": frozenset({"whistle"})}
    assert res.driver_columns("whistle") == list(range(len(res.names)))
    off = dataclasses.replace(res, policies_on={"small": frozenset(), "whistle": frozenset()})
    kept = [off.names[j] for j in off.driver_columns("whistle")]
    assert kept == ["costs.cost_event", "problems.rate_abandon_latent", "handling.dur_escalate"]
    assert all(not d["parameter"].startswith("policies.") for d in off.drivers("cost_yuan", "whistle"))
    # rebuilt from the store: the same draws, statistics and policies
    with ResultStore(f"sqlite:///{db}") as store:
        comp = comparison_from_store(store, res.comparison.comparison_id)
        again = uncertainty_from_store(store, comp)
    assert again is not None and again.names == res.names and again.policies_on == res.policies_on
    np.testing.assert_array_equal(again.values, res.values)
    cols = ["mean", "lo", "hi", "diff", "p_beats", "p_best"]
    assert np.allclose(again.stats()[cols].to_numpy(dtype=float), res.stats()[cols].to_numpy(dtype=float),
                       equal_nan=True)
