"""Reform dynamics of the residents (issue 13): latent demand and reporting, the limits of
satisfaction, and the community graph carrying influence.

Fixed seeds; statistical claims compare replicates with common random numbers (the same seeds
draw the same arrivals, and rewiring draws from its own stream, so the same residents and
problems are compared). Each docstring states the effect size seen.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from helpers import SMALL

from sim import Model, Scenario, run_scenario
from sim.config.taxonomy import CATEGORIES, LEVELS
from sim.core.rng import Streams
from sim.core.world import generate_world

#: Every attempt succeeds, every handler has ample capacity, every problem is found the day it arises.
#: Visits take none of the grid workers' time (``community.effort_visit`` 0): since issue 14 a visit
#: costs staff-days out of the worker's day before problems, and 2,000 visits a month at the default
#: half hour each would leave the grid no time to solve anything (satisfaction 0.88, not 1).
PERFECT_SERVICE: dict[str, Any] = {
    **{f"handling.authority.{lvl}.{c}": 1.0 for lvl in LEVELS for c in CATEGORIES},
    **{f"handling.severity_mult.{s}": 1.0 for s in ("trivial", "small", "big", "major")},
    "handling.property_quality.mature": 1.0, "handling.property_quality.new": 1.0,
    "handling.property_quality_concentration": 1000.0,
    "handling.capacity_street_per_10k": 1000.0, "handling.capacity_department_per_10k": 1000.0,
    "handling.property_capacity_per_100_households": 100.0,
    "community.n_staff_per_10k": 1000.0, "community.rate_admin_tasks": 0.0,
    "community.n_grid_workers_per_grid": 20.0, "community.capacity_per_grid_worker": 1.0,
    "community.n_visits_per_worker_per_month": 2000.0, "community.effort_visit": 0.0,
    "community.p_find_on_visit": 1.0,
    "problems.p_tell": 1.0, "problems.report_trust_slope": 0.0, "problems.report_efficacy_slope": 0.0,
}

#: Nobody has any capacity to handle a problem.
NO_SERVICE: dict[str, Any] = {
    "handling.capacity_street_per_10k": 0.0, "handling.capacity_department_per_10k": 0.0,
    "handling.capacity_city_per_10k": 0.0, "handling.property_capacity_per_100_households": 0.0,
    "community.n_staff_per_10k": 0.0, "community.capacity_per_grid_worker": 0.0,
}


def small_run(overrides: dict[str, Any], seed: int, n_steps: int) -> dict[str, float]:
    sc = Scenario().with_overrides({**SMALL, "run.n_steps": n_steps, **overrides})
    return run_scenario(sc, seed=seed, n_steps=n_steps, progress=False).summary


# ---- latent demand and reporting ----------------------------------------------------------------
def test_trust_and_efficacy_raise_self_reports_at_fixed_arrivals() -> None:
    """Residents who trust the government and found reporting worth it bring more problems to it.

    Same seeds, same arrivals (asserted day by day); trust and efficacy start at 0.8 instead of
    0.3. Seen over 120 days on the small world, seeds 1-3: self-reports 350 -> 617, 340 -> 614,
    266 -> 477 (+76 to +81%), reporting rate 0.27-0.28 -> 0.52-0.53.
    """
    for seed in (1, 2, 3):
        runs = {}
        for level in (0.3, 0.8):
            sc = Scenario().with_overrides({**SMALL, "run.n_steps": 120, "residents.trust_init": level,
                                            "residents.efficacy_init": level, "residents.init_concentration": 50.0})
            runs[level] = run_scenario(sc, seed=seed, progress=False)
        low, high = runs[0.3], runs[0.8]
        np.testing.assert_array_equal(low.timeseries["arisen"], high.timeseries["arisen"])  # common arrivals
        n_low, n_high = low.timeseries["self_reported"].sum(), high.timeseries["self_reported"].sum()
        assert n_low == low.summary["self_report_rate"] * low.summary["problems_arisen"]
        assert n_high > 1.5 * n_low, (seed, n_low, n_high)
        assert high.summary["reporting_rate"] > low.summary["reporting_rate"] + 0.15


#: No finder of the core: grid visits find nothing, no party contacts, no self-reports.
NO_CORE_FINDERS: dict[str, Any] = {
    "community.p_find_on_visit": 0.0, "party.rate_contact": 0.0,
    **{f"problems.rate_self_report.{s}": 0.0 for s in ("trivial", "small", "big", "major")},
}


def test_building_heads_hear_only_what_residents_tell() -> None:
    """A building head learns of a latent problem only if its resident would tell (trust, efficacy).

    The grid policy with the core's finders off, so building heads find everything found; trust
    and efficacy 0.3 vs 0.8 (chance to tell 0.08 vs 0.38 at the start). Seen over 60 days, seeds
    1-3: reporting rate 0.035-0.036 -> 0.095-0.108 (x2.7 to x3.1), every find the grid's.
    """
    for seed in (1, 2, 3):
        rate = {}
        for level in (0.3, 0.8):
            base = Scenario().with_overrides({**SMALL, **NO_CORE_FINDERS, "run.n_steps": 60,
                                              "residents.trust_init": level, "residents.efficacy_init": level,
                                              "residents.init_concentration": 50.0})
            sc = Scenario.from_dict({**base.to_dict(), "policies": {"grid": {}}})
            summary = run_scenario(sc, seed=seed, progress=False).summary
            assert summary["share_found_grid_visit"] == 1.0
            rate[level] = summary["reporting_rate"]
        assert rate[0.8] > 2.0 * rate[0.3] > 0, (seed, rate)


def test_model_p_tell_is_the_find_kernels_chance_to_tell() -> None:
    """``Model.p_tell`` (building heads, suggestions) is the chance the find kernel gives a visit or a link."""
    from sim.core.kernels import numpy_definitions as nd

    sc = Scenario().with_overrides({**SMALL, "run.n_steps": 30, "residents.init_concentration": 2.0})
    m = Model(sc, seed=3)
    for _ in range(30):
        m.step()
    rows = np.arange(len(m.problems))
    res, prm = m.problems.res[rows], sc.problems
    prop = nd.propensity(m.residents.trust[res], m.residents.efficacy[res], np.float32(prm.report_trust_slope),
                         np.float32(prm.report_efficacy_slope))
    want = nd.p_tell(prop, np.float32(prm.p_tell))
    assert rows.size > 100 and np.unique(want).size > 10
    np.testing.assert_array_equal(m.p_tell(rows), want)


def test_unreported_problems_are_counted_and_weigh_on_satisfaction() -> None:
    """Nobody reports anything (no self-reports, nobody tells a visitor): every problem stays
    unreported, none is resolved, and satisfaction falls well below what the same residents
    feel when they report (seen, seed 1, 365 days: 0.46 against 0.64)."""
    silent = small_run({"problems.p_tell": 0.0, **{f"problems.rate_self_report.{s}": 0.0
                                                    for s in ("trivial", "small", "big", "major")}}, 1, 365)
    usual = small_run({}, 1, 365)
    assert silent["reporting_rate"] == 0.0 and silent["problems_resolved"] == 0.0
    assert silent["satisfaction_mean"] < usual["satisfaction_mean"] - 0.1
    sc = Scenario().with_overrides({**SMALL, "run.n_steps": 50})
    res = run_scenario(sc, seed=2, progress=False)
    ts = res.timeseries
    assert np.all(ts["unreported_pending"] <= ts["pending_latent"]) and ts["unreported_pending"][-1] > 0


# ---- the limits of satisfaction -------------------------------------------------------------------
def test_perfect_service_takes_satisfaction_to_its_maximum() -> None:
    """Every problem found and solved within days: mean satisfaction ends within 0.02 of 1
    (seen, 730 days, seeds 1-2: 1.000 both; reporting and resolution rates 1.000)."""
    for seed in (1, 2):
        s = small_run(PERFECT_SERVICE, seed, 730)
        assert s["reporting_rate"] > 0.99
        assert s["satisfaction_mean"] > 0.98, s["satisfaction_mean"]


def test_no_problems_gives_the_maximum() -> None:
    """No problem ever arises: every resident's satisfaction reaches 1 (seen: 1.0 after 365 days)."""
    s = small_run({"problems.rate_arise": 0.0}, 1, 365)
    assert s["problems_arisen"] == 0
    assert s["satisfaction_p10"] > 0.999 and s["satisfaction_mean"] > 0.999


def test_no_service_drives_satisfaction_low() -> None:
    """No handler has any capacity: nothing is resolved and satisfaction falls low, well below the
    (pre-reform) baseline service of the same residents and arrivals.

    Seen, 730 days, seeds 1-4: mean 0.409, 0.406, 0.383, 0.385 against baseline 0.546, 0.501,
    0.479, 0.483 (paired difference 0.137, 0.094, 0.096, 0.097: mean 0.106, SD 0.021, 95% CI
    0.073-0.139); 10th percentile 0.0; efficacy 0.24 (baseline 0.51, 0.46 on seeds 1-2). The
    no-service level is not set by service: expectations adapt, so the mean settles at the days
    residents live, x = 1 - burden of overdue open problems - grievance, which the arrival rate,
    the give-up times and the grievance's decay fix. The baseline sits above it by what its
    handlers solve (seed 1: 5,361 of 13,056 problems, with issue 14's pre-reform grids and
    finite effort), so the gap (about 0.18 before effort bound, 0.12-0.13 on seeds 1-2 before the
    pre-reform grids) narrows as the baseline weakens; the bound 0.08 is below every replicate seen.
    """
    for seed in (1, 2):
        s, base = small_run(NO_SERVICE, seed, 730), small_run({}, seed, 730)
        assert s["problems_resolved"] == 0
        assert s["satisfaction_mean"] < min(0.5, base["satisfaction_mean"] - 0.08), s["satisfaction_mean"]
        assert s["satisfaction_p10"] < 0.05
        assert s["efficacy_mean"] < base["efficacy_mean"] - 0.2


def test_more_problems_never_make_residents_happier() -> None:
    """At equal service, a higher arrival rate never raises mean satisfaction (seeds 1-3, 730 days,
    rate x0.5 / x1 / x2; seen: 0.85 / 0.57 / 0.20 on average, every seed in order)."""
    rate = Scenario().problems.rate_arise
    for seed in (1, 2, 3):
        sat = [small_run({"problems.rate_arise": rate * f}, seed, 730)["satisfaction_mean"] for f in (0.5, 1.0, 2.0)]
        assert sat[0] > sat[1] > sat[2], (seed, sat)


# ---- the community graph --------------------------------------------------------------------------
def test_rewiring_keeps_every_degree_and_every_other_draw() -> None:
    sc = Scenario().with_overrides(SMALL)
    base = generate_world(sc.world, Streams(4).get("world"))
    for p in (0.3, 1.0):
        w = generate_world(sc.with_overrides({"world.p_rewire": p}).world, Streams(4).get("world"),
                           Streams(4).get("rewire"))
        np.testing.assert_array_equal(np.diff(w.social_indptr), np.diff(base.social_indptr))  # degrees kept
        np.testing.assert_array_equal(w.res_household, base.res_household)
        np.testing.assert_array_equal(w.link_indices, base.link_indices)
        rows = np.repeat(np.arange(w.n_residents), np.diff(w.social_indptr))
        assert np.all(rows != w.social_indices)  # no self-ties
        same_building = w.res_building[rows] == w.res_building[w.social_indices]
        base_rows = np.repeat(np.arange(base.n_residents), np.diff(base.social_indptr))
        base_same = base.res_building[base_rows] == base.res_building[base.social_indices]
        assert same_building.mean() < base_same.mean() * (1 - 0.7 * p)  # the ties left their buildings
    with pytest.raises(ValueError, match="rewire"):
        generate_world(sc.with_overrides({"world.p_rewire": 0.5}).world, Streams(4).get("world"))


@pytest.mark.slow
def test_rewiring_the_same_residents_changes_the_gap_between_compound_types() -> None:
    """Word of mouth along the ties: with the clustered graph, residents of new compounds hear
    mostly from new compounds; with the random graph (same residents, same degrees, same
    arrivals) they hear from everyone, and the satisfaction gap between new and old compounds
    narrows. Baseline world, 1,095 days, seeds 1-24 paired: gap 0.0615 (clustered) -> 0.0554
    (random), difference -0.0061, paired standard error 0.0022 (95% CI -0.0106 to -0.0015).
    Seeds 1-8 alone no longer show it (-0.0033 +- 0.0024): since issue 14's merges the effect is
    about 0.6 of the -0.0100 seen before, hence 24 replicates. Mean outcomes move by less than
    their CIs (satisfaction -0.0009 +- 0.0007)."""
    gaps = {}
    for p in (0.0, 1.0):
        sc = Scenario().with_overrides({"world.p_rewire": p})
        gaps[p] = np.array([(lambda s: s["satisfaction_new"] - s["satisfaction_old"])(
            run_scenario(sc, seed=seed, progress=False).summary) for seed in range(1, 25)])
    d = gaps[1.0] - gaps[0.0]
    half_width = 2.069 * d.std(ddof=1) / np.sqrt(d.size)  # t(23) 97.5%
    assert d.mean() + half_width < 0, (d.mean(), half_width)


def test_a_model_with_rewired_ties_runs_and_keeps_its_invariants() -> None:
    sc = Scenario().with_overrides({**SMALL, "world.p_rewire": 1.0, "run.n_steps": 30})
    m = Model(sc, seed=3)
    m.run(30, progress=False)
    m.check_invariants()
