"""Reform dates in the outputs: ``compare --set`` and ``overrides=``, the pre/post effect table, the reform
line on every time-series figure and the report; no silent policy switches (one-line errors, exit 2)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from helpers import BASELINE, REPO, SMALL

from sim import Scenario, load_scenario
from sim.cli import main
from sim.errors import ParameterError, ScenarioError
from sim.experiments.compare import Comparison, compare
from sim.experiments.compare_windows import PRE_POST_COLUMNS, format_pre_post
from sim.experiments.plots import plot_timeseries
from sim.store.database import ResultStore

WHISTLE = REPO / "scenarios" / "bazhong_street_whistle.toml"
DAY, STEPS, R = 30, 60, 3


@pytest.fixture(scope="module")
def dated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Comparison, str, Path]:
    """Baseline and whistle, small worlds, the reform on day 30 set for both through ``overrides=``, stored."""
    d = tmp_path_factory.mktemp("reform")
    url = f"sqlite:///{d / 'r.db'}"
    store = ResultStore(url)
    comp = compare([BASELINE, WHISTLE], replicates=R, steps=STEPS, workers=1, progress=False, store=store,
                   overrides={**SMALL, "reform.start_day": DAY})
    store.close()
    return comp, url, d


def test_overrides_reach_every_scenario_and_the_effect_is_the_paired_change_difference(dated) -> None:
    comp = dated[0]
    assert [sc.reform.start_day for sc in comp.scenarios] == [DAY, DAY]
    assert comp.reform_day() == DAY and comp.reform_day(comp.labels[1]) == DAY
    table = comp.pre_post()
    assert list(table.columns) == list(PRE_POST_COLUMNS) and len(table) == 2 * 5
    row = table[(table["scenario"] == comp.labels[1]) & (table["outcome"] == "satisfaction_mean")].iloc[0]
    change = comp.values(comp.labels[1], "satisfaction_mean_change")
    base = comp.values(comp.baseline, "satisfaction_mean_change")
    assert row["change"] == pytest.approx(change.mean()) and row["effect"] == pytest.approx((change - base).mean())
    assert row["effect_ci_low"] < row["effect"] < row["effect_ci_high"]
    assert row["pre"] == pytest.approx(comp.values(comp.baseline, "satisfaction_mean_pre").mean())  # same pre: CRN
    text = format_pre_post(comp)
    assert f"reform on day {DAY}" in text and "resolution_rate_30d" in text and "effect [95% CI]" in text


def test_compare_without_a_reform_date_has_no_pre_post(dated) -> None:
    comp = compare([BASELINE], replicates=2, steps=10, workers=1, progress=False, overrides=SMALL)
    assert comp.reform_day() == 0 and comp.pre_post().empty and format_pre_post(comp) == ""


def test_every_time_series_panel_has_the_reform_line(dated) -> None:
    comp = dated[0]
    for metrics in (None, ("resolution_rate", "satisfaction_mean", "trust_mean_30d", "cost_yuan")):
        fig = plot_timeseries(comp, metrics)
        axes = [ax for ax in fig.axes if ax.lines]
        assert len(axes) == (3 if metrics is None else 4)
        for ax in axes:
            vlines = [ln for ln in ax.lines if np.all(np.asarray(ln.get_xdata()) == DAY)
                      and ln.get_label() == f"reform (day {DAY})"]
            assert len(vlines) == 1


def test_report_shows_the_reform_line_and_the_pre_post_table(dated, capsys) -> None:
    comp, url, d = dated
    out = d / "report"
    assert main(["report", f"compare:{comp.comparison_id}", "--out", str(out), "--db", url]) == 0
    page = (out / f"{comp.comparison_id}_report.html").read_text(encoding="utf-8")
    assert '<section id="pre_post">' in page and f"Before and after the reform (day {DAY})" in page
    section = page[page.index('<section id="pre_post">'):]
    section = section[:section.index("</section>")]
    assert section.count('<td class="l">satisfaction_mean</td>') == 2  # one row per scenario
    svg = (out / f"{comp.comparison_id}_timeseries.svg").read_text(encoding="utf-8")
    assert f"reform (day {DAY})" in svg
    assert "Resolution rate over the last 30 days" in svg


def test_cli_compare_set_applies_to_every_scenario_and_prints_pre_post(tmp_path: Path, capsys) -> None:
    sets = [f"--set={k}={v}" for k, v in SMALL.items()] + ["--set", f"reform.start_day={DAY}"]
    rc = main(["compare", str(BASELINE), str(WHISTLE), "--replicates", "2", "--steps", "40", "--workers", "1",
               "--db", f"sqlite:///{tmp_path / 'c.db'}", "--out", str(tmp_path / "f"), "--quiet", *sets])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert f"Pre/post-reform windows (reform on day {DAY})" in out
    assert re.search(r"^satisfaction_mean\s+bazhong_street_whistle\s", out, re.M)
    assert "n_residents" not in out and "2 scenarios x 2 replicates x 40 days" in out


@pytest.mark.parametrize(("sets", "fragments"), [
    (["reform.start_dya=3"], ["--set reform.start_dya=3", "baseline.toml", "no such parameter"]),
    (["reform.start_day=-1"], ["--set reform.start_day=-1", "out of range"]),
    (["policies.alliance.n_units=3"], ["--set policies.alliance.n_units=3", "policy 'alliance' is off",
                                       "policies.alliance.enabled=true"]),
])
def test_cli_compare_bad_set_exits_2_before_any_run(sets: list[str], fragments: list[str], tmp_path: Path,
                                                   capsys) -> None:
    argv = ["compare", str(BASELINE), str(WHISTLE), "--steps", "5", "--db", f"sqlite:///{tmp_path / 'c.db'}",
            "--out", str(tmp_path / "f")]
    rc = main([*argv, *(a for s in sets for a in ("--set", s))])
    out, err = capsys.readouterr()
    assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, err
    assert list(tmp_path.iterdir()) == []  # nothing run, nothing written


def test_cli_run_policy_switch_needs_enabled(tmp_path: Path, capsys) -> None:
    db = f"sqlite:///{tmp_path / 'r.db'}"
    rc = main(["run", str(BASELINE), "--steps", "3", "--db", db, "--set", "policies.whistle.deadline_street=9"])
    err = capsys.readouterr().err
    assert rc == 2 and "policy 'whistle' is off" in err and "--set policies.whistle.deadline_street=9" in err
    assert not (tmp_path / "r.db").exists()
    summaries = []
    for sets in ([], ["--set", "policies.whistle.deadline_street=9", "--set", "policies.whistle.enabled=true"]):
        day0 = ["--set", "reform.start_day=0", "--set", "reform.dur_warmup=0"]  # the policy acts from day 0
        assert main(["run", str(BASELINE), "--steps", "3", "--db", db, "--json", *day0, *sets]) == 0  # either order
        summaries.append(json.loads(capsys.readouterr().out)["summary"])
    # the whistle is on: its supervision (staff-days a year per community, at pay) is booked every day
    c = load_scenario(BASELINE).costs
    assert "cost_whistle_supervision_yuan" not in summaries[0]
    assert summaries[1]["cost_whistle_supervision_yuan"] == pytest.approx(
        3 * 4 * c.whistle_supervision_days_per_community_per_year * c.pay_official_per_day / 365)


# ---- no silent switches: the library ------------------------------------------------------------------
def test_a_parameter_of_a_policy_that_is_off_is_an_error_naming_it() -> None:
    base = load_scenario(BASELINE)
    for apply in (base.with_overrides, lambda o: __import__("sim.core.scenario", fromlist=["x"]).apply_overrides(base, o)):
        with pytest.raises(ParameterError) as err:
            apply({"policies.grid.n_workers_per_grid": 2.0})
        assert err.value.key == "policies.grid.n_workers_per_grid" and "policy 'grid' is off" in err.value.message
    on = base.with_overrides({"policies.grid.n_workers_per_grid": 2.0, "policies.grid.enabled": True})
    assert on.policy("grid").n_workers_per_grid == 2.0
    with pytest.raises(ScenarioError, match="policies.grid.n_workers_per_grid: policy 'grid' is off"):
        load_scenario(BASELINE, {"policies.grid.n_workers_per_grid": 2.0})


def test_enabled_false_keeps_a_policy_off_with_its_parameters(tmp_path: Path) -> None:
    path = tmp_path / "off.toml"
    path.write_text(f'extends = "{BASELINE.as_posix()}"\n[policies.grid]\nenabled = false\nn_workers_per_grid = 3.0\n'
                    '[policies.whistle]\n', encoding="utf-8")
    sc = load_scenario(path)
    assert [p.name for p in sc.policies] == ["whistle"] and sc.policy("grid") is None
    with pytest.raises(ParameterError, match="policy 'grid' is off"):
        sc.with_overrides({"policies.grid.n_workers_per_grid": 2.0})
    on = sc.with_overrides({"policies.grid.enabled": True})
    assert on.policy("grid").n_workers_per_grid == 3.0  # the file's value, kept while off
    assert on.with_overrides({"policies.grid.enabled": False}).policy("grid") is None
    assert Scenario.from_dict(sc.to_dict()) == sc
    with pytest.raises(ScenarioError, match="policies.grid.enabled: expected true or false"):
        path.write_text('[policies.grid]\nenabled = "yes"\n', encoding="utf-8")
        load_scenario(path)


def test_sweeps_switch_on_the_policies_of_their_levers() -> None:
    from sim.core.scenario import apply_overrides

    sc = apply_overrides(load_scenario(BASELINE), {"policies.alliance.n_units": 3}, switch_on=True)
    assert sc.policy("alliance").n_units == 3
