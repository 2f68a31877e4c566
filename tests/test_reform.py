"""Reform date, warm-up and windowed outcomes (docs/model.md §7.12): bit-identity before the date,
exact accounting after a warm-up, the window statistics on known series, and the reference model."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import REPO, SMALL

from sim import Model, load_scenario, run_scenario
from sim.config.taxonomy import QUEUED
from sim.core.results import SERIES
from sim.core.windows import WINDOW_SERIES, centred_mean, pre_post, trailing_mean, trailing_ratio

START, STEPS = 60, 120


def scenario(name: str, **extra: object):
    return load_scenario(REPO / "scenarios" / f"{name}.toml",
                         {**SMALL, "run.n_steps": STEPS, "reform.start_day": START, **extra})


@pytest.mark.parametrize("name", ["combined_reforms", "huiji_micro_projects", "bazhong_street_whistle"])
@pytest.mark.parametrize("warmup", [0, 25])
def test_before_the_reform_day_every_series_is_the_baselines_bit_for_bit(name: str, warmup: int) -> None:
    """Common random numbers: a reform scenario's days before start_day are the baseline's, every series,
    every day; from the day on they differ (the policies act)."""
    base = run_scenario(scenario("baseline", **{"reform.dur_warmup": warmup}), seed=5)
    reform = run_scenario(scenario(name, **{"reform.dur_warmup": warmup}), seed=5)
    assert base.t.tolist() == reform.t.tolist() == list(range(STEPS))
    for k in SERIES:
        assert np.array_equal(base.timeseries[k][:START], reform.timeseries[k][:START], equal_nan=True), k
    moved = [k for k in SERIES if not np.array_equal(base.timeseries[k][START:], reform.timeseries[k][START:],
                                                     equal_nan=True)]
    assert "cost_yuan" in moved and "satisfaction_mean" in moved


def test_start_day_zero_is_the_scenario_without_a_date() -> None:
    """reform.start_day = 0 (the default) sets the policies up before day 0, as before the key existed."""
    a = run_scenario(scenario("combined_reforms", **{"reform.start_day": 0}), seed=2)
    sc = load_scenario(REPO / "scenarios" / "combined_reforms.toml", {**SMALL, "run.n_steps": STEPS})
    b = run_scenario(sc, seed=2)
    assert a.summary == b.summary
    assert sc.content_hash() == sc.with_overrides({"reform.start_day": 0}).content_hash()
    assert sc.content_hash() != sc.with_overrides({"reform.start_day": 5}).content_hash()


def test_policies_are_set_up_on_the_reform_day_and_cost_nothing_before() -> None:
    m = Model(scenario("combined_reforms"), seed=1)
    costs = []
    for _ in range(START + 1):
        assert m.policies == [] or m.t == START
        before = m.cost_yuan
        m.step()
        costs.append(m.cost_yuan - before)
    assert [p.name for p in m.policies] == [s.name for s in m.scenario.policies]
    assert all(p.t_start == START for p in m.policies)
    base = Model(scenario("baseline"), seed=1)
    base_costs = []
    for _ in range(START + 1):
        before = base.cost_yuan
        base.step()
        base_costs.append(base.cost_yuan - before)
    assert costs[:START] == base_costs[:START]
    assert costs[START] > base_costs[START] + 1e5  # the venues (four_empowerments) are paid on the reform day
    m.check_invariants()


def test_warm_up_carries_open_problems_and_keeps_the_identities() -> None:
    """After a warm-up the ledger starts at day 0 with the open problems counted as arisen (and the routed
    ones as found); every invariant holds at every day; cost and volunteer hours start from zero."""
    m = Model(scenario("combined_reforms", **{"reform.dur_warmup": 40}), seed=3)
    assert m.t == 0 and m.clock == 40
    carried = m.problems_carried
    assert carried == m.problems.n > 0
    assert int(m.ledger.arisen.sum()) == carried and m.ledger.found == int((m.problems.status == QUEUED).sum())
    assert m.cost_yuan == 0.0 and m.volunteer_hours == 0.0
    m.check_invariants()
    for _ in range(STEPS):
        m.step()
        m.check_invariants()
    rec, summary = m.recorder, m.summary()
    assert rec.t[0] == 0 and rec.rows == STEPS and summary["n_steps"] == STEPS
    assert summary["problems_carried"] == carried
    assert summary["problems_arisen"] == rec.data["arisen"][STEPS - 1]


def test_windowed_series_are_computed_from_daily_counts() -> None:
    """resolution_rate_30d is resolved / closed over the last 30 days from the cumulative series; the 30-day
    means are the means of the last 30 daily values; thinning the rows (record_every) changes none of them."""
    res = run_scenario(scenario("baseline", **{"reform.start_day": 0}), seed=4)
    ts = res.timeseries
    resolved = np.concatenate([[0.0], ts["resolved"]])
    closed = np.concatenate([[0.0], ts["resolved"] + ts["abandoned"]])
    for d in (0, 10, 29, 30, 77, STEPS - 1):
        lo = max(0, d + 1 - 30)
        den = closed[d + 1] - closed[lo]
        want = (resolved[d + 1] - resolved[lo]) / den if den else math.nan
        assert ts["resolution_rate_30d"][d] == pytest.approx(want, nan_ok=True)
        assert ts["satisfaction_mean_30d"][d] == pytest.approx(ts["satisfaction_mean"][lo:d + 1].mean(), rel=1e-12)
        assert ts["trust_mean_30d"][d] == pytest.approx(ts["trust_mean"][lo:d + 1].mean(), rel=1e-12)
    thin = run_scenario(scenario("baseline", **{"reform.start_day": 0, "run.record_every": 7}), seed=4)
    for k in WINDOW_SERIES:
        assert np.array_equal(thin.timeseries[k], ts[k][::7], equal_nan=True), k


def test_trailing_helpers() -> None:
    num = np.array([0, 1, 3, 3, 10])
    den = np.array([0, 2, 4, 4, 20])
    assert trailing_ratio(num, den, 3, width=2) == 7 / 16
    assert math.isnan(trailing_ratio(num, den, 2, width=1))  # nothing closed on day 2
    assert trailing_mean(np.array([1.0, 2.0, 3.0, 4.0]), 3, width=2) == 3.5
    assert trailing_mean(np.array([1.0, 2.0, 3.0, 4.0]), 0, width=30) == 1.0


def test_pre_post_on_a_step_change() -> None:
    """A series at 0.4 before day 100 and 0.7 from it: pre 0.4, post 0.7, change 0.3; smoothed by a centred
    31-day mean it covers 50% of the change on day 100 (16 of 31 days after the step) and 90% on day 112 (28 of 31)."""
    t = np.arange(300)
    x = np.where(t < 100, 0.4, 0.7)
    out = pre_post(t, x, 100, 90)
    assert out["pre"] == pytest.approx(0.4) and out["post"] == pytest.approx(0.7)
    assert out["change"] == pytest.approx(0.3)
    # at day 100+k the window [85+k, 115+k] holds 16+k of its 31 days after the step: share (16+k)/31
    assert out["t50"] == 0.0  # 16/31 = 0.52
    assert out["t90"] == 12.0  # 28/31 = 0.903, while 27/31 = 0.871
    sm = centred_mean(t, x)
    assert sm[112] == pytest.approx((0.4 * 3 + 0.7 * 28) / 31)


def test_pre_post_on_an_exponential_approach() -> None:
    """x = 1 - exp(-(t - s) / tau) after s: 50% at tau ln 2 and 90% at tau ln 10 (smoothing is symmetric, so
    nearly unbiased on a slow curve); a series that never changes has NaN days; a decline counts as well."""
    tau, s = 40.0, 200
    t = np.arange(900)
    x = np.where(t < s, 0.0, 1.0 - np.exp(-(t - s) / tau))
    out = pre_post(t, x, s, 90)
    assert out["post"] == pytest.approx(1.0, abs=1e-4)
    # the smoothing of a concave curve delays the crossing by about a day, the whole days by up to one more
    assert 0.0 <= out["t50"] - tau * math.log(2) <= 3.0
    assert 0.0 <= out["t90"] - tau * math.log(10) <= 3.0
    down = pre_post(t, -x, s, 90)
    assert down["t50"] == out["t50"] and down["t90"] == out["t90"]
    flat = pre_post(t, np.full(t.size, 0.5), s, 90)
    assert flat["change"] == 0.0 and math.isnan(flat["t50"]) and math.isnan(flat["t90"])
    assert all(math.isnan(v) for v in pre_post(t, x, 0, 90).values())  # no reform date: no windows


def test_summary_has_pre_post_keys_only_with_a_reform_date() -> None:
    dated = run_scenario(scenario("combined_reforms"), seed=1).summary
    plain = run_scenario(scenario("combined_reforms", **{"reform.start_day": 0}), seed=1).summary
    for key in ("satisfaction_mean_pre", "satisfaction_mean_post", "satisfaction_mean_t50", "trust_mean_t90",
                "resolution_rate_30d_change", "reform_start_day"):
        assert key in dated and key not in plain
    assert dated["reform_start_day"] == START
    assert dated["satisfaction_mean_change"] == pytest.approx(
        dated["satisfaction_mean_post"] - dated["satisfaction_mean_pre"])


def test_reference_model_honours_the_reform_date_and_the_warm_up() -> None:
    """The Mesa reference model: before the date, the reform scenario's series are its baseline's; after a
    warm-up its carried problems count as arisen; the summary has the pre/post keys."""
    from sim.reference import ReferenceModel, summary

    extra = {"world.n_compounds_per_community": 2, "reform.dur_warmup": 10, "run.n_steps": 40,
             "reform.start_day": 20}
    runs = {}
    for name in ("baseline", "combined_reforms"):
        m = ReferenceModel(load_scenario(REPO / "scenarios" / f"{name}.toml", {**SMALL, **extra}), seed=2)
        assert m.t == 0 and m.problems_carried == len(m.problems) == m.ledger.total(m.ledger.arisen)
        for _ in range(40):
            m.step()
        runs[name] = (m, summary(m))
    (b, _), (c, s) = runs["baseline"], runs["combined_reforms"]
    for k in SERIES:
        assert np.array_equal(np.array(b.series[k][:20]), np.array(c.series[k][:20]), equal_nan=True), k
    assert c.series["cost_yuan"][25] != b.series["cost_yuan"][25]
    assert s["reform_start_day"] == 20 and "satisfaction_mean_t50" in s and s["problems_carried"] > 0
