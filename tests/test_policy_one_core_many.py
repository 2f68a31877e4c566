"""one_core_many policy (004): downward moves, seven teams, red/yellow/green ratings, sensors and the
admission list for administrative tasks."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest
from paired import REPORTING_ALL, SMALL_WORLD, Effect, paired_effects

from sim import Model, Scenario
from sim.config.taxonomy import CATEGORIES, COMMUNITY, GRID, PROPERTY
from sim.errors import ParameterError

NAME = "one_core_many"
BASE = Scenario().with_overrides(SMALL_WORLD)
LEVERS = ("downward_moves", "seven_teams", "ratings", "sensors", "admission_list")
SAFETY = CATEGORIES.index("safety")
TEAMS = np.array([1.1, 1.0, 1.1, 1.1, 1.1, 1.0, 1.0, 1.0], dtype=np.float32)  # 1 + the default teams_gain


def ocm(base: Scenario = BASE, **params: object) -> Scenario:
    return base.with_overrides({f"policies.{NAME}.enabled": True, **{f"policies.{NAME}.{k}": v for k, v in params.items()}})


def only(*levers: str, **params: object) -> Scenario:
    return ocm(**{k: k in levers for k in LEVERS}, **params)


def paired_models(base: Scenario, variant: Scenario, metrics: dict[str, Callable[[Model], float]],
                  seeds: Sequence[int], n_steps: int) -> dict[str, Effect]:
    """Like paired.paired_effects, for metrics read off the model at the end of the run."""
    vals = {k: ([], []) for k in metrics}
    for s in seeds:
        for i, sc in enumerate((base, variant)):
            m = Model(sc, seed=s)
            m.run(n_steps, progress=False)
            for k, fn in metrics.items():
                vals[k][i].append(fn(m))
    out = {}
    for k, (b, v) in vals.items():
        b, v = np.array(b), np.array(v)
        d = v - b
        out[k] = Effect(k, float(b.mean()), float(v.mean()), float(d.mean()),
                        float(d.std(ddof=1) / np.sqrt(d.size)), d.size)
        print(out[k])
    return out


def test_setup() -> None:
    base, m = Model(BASE, seed=1), Model(ocm(), seed=1)
    # first secretary (x1.1 everywhere) and the teams' categories at the community
    np.testing.assert_allclose(m.handlers.level_cat_mult[COMMUNITY], 1.1 * TEAMS, rtol=1e-6)
    np.testing.assert_allclose(m.handlers.level_cat_mult[GRID], TEAMS, rtol=1e-6)
    # street staff: 4 staff x 2 half-days a week x 0.5 staff-day / 7 days, at 0.8 effort a staff-day
    np.testing.assert_allclose(m.handlers.extra_capacity[COMMUNITY], 4 * 2 * 0.5 / 7 * 0.8, rtol=1e-6)
    assert m.streets.n_staff_in_communities.sum() == pytest.approx(m.world.n_communities * 4 / 7)
    np.testing.assert_allclose(m.party.volunteer_mult, 1.5 * base.party.volunteer_mult, rtol=1e-6)
    np.testing.assert_allclose(m.communities.event_rate, 1.5 * base.communities.event_rate, rtol=1e-6)
    # sensors: half of the major safety problems (10% of safety problems) prevented
    assert np.allclose(m.p_prevent[:, SAFETY], 0.05) and m.p_prevent.sum() == pytest.approx(0.05 * m.world.n_compounds)
    # admission list
    assert np.all(m.communities.admin_cap == 4.0)
    assert np.all(m.communities.admin_effort() < base.communities.admin_effort())
    assert np.all(m.communities.problem_capacity() > base.communities.problem_capacity())


def test_admission_list_frees_staff_for_problems() -> None:
    """The admission list (准入制度) cuts the administrative effort consumed; the community spends
    more effort on residents' problems and resolves more of them itself."""
    n_steps = 240

    def admin(m: Model) -> float:
        return float(m.communities.admin_effort().sum()) * m.t

    metrics = {
        "admin_effort_consumed": admin,
        "community_problem_capacity": lambda m: float(m.communities.problem_capacity().sum()),
        "community_effort_on_problems": lambda m: m.recorder.staff_busy_total - admin(m),
        "resolved_at_community": lambda m: float(m.ledger.resolved_level[COMMUNITY]),
        "resolution_rate": lambda m: m.summary()["resolution_rate"],
    }
    # residents who report nearly everything, so that the community has a queue to work on
    eff = paired_models(BASE.with_overrides(REPORTING_ALL), only("admission_list").with_overrides(REPORTING_ALL),
                        metrics, seeds=range(1, 5), n_steps=n_steps)
    assert eff["admin_effort_consumed"].diff < 0, eff["admin_effort_consumed"]
    assert eff["community_problem_capacity"].diff > 0, eff["community_problem_capacity"]
    for key in ("community_effort_on_problems", "resolved_at_community", "resolution_rate"):
        e = eff[key]
        assert e.diff > 0 and e.diff > 2 * e.se, f"expected a rise: {e}"


def test_sensors_find_safety_problems_early() -> None:
    """Smart sensors (智能监管预警平台) raise the share of safety problems found within a day and cut
    the days to finding them (the policy counts both, sensors off or on)."""
    early = ("share_safety_found_early",
             lambda s: s[f"{NAME}_safety_found_early"] / s[f"{NAME}_safety_found"])
    days = ("days_to_find_safety",
            lambda s: s[f"{NAME}_safety_days_to_find"] / s[f"{NAME}_safety_found"])
    eff = paired_effects(only(), only("sensors"), [early, days, "resolution_rate_safety"], seeds=range(1, 5),
                         n_steps=180)
    e = eff["share_safety_found_early"]
    assert e.diff > 0.3 and e.diff > 2 * e.se, f"expected a rise: {e}"
    e = eff["days_to_find_safety"]
    assert e.diff < 0 and -e.diff > 2 * e.se, f"expected a fall: {e}"
    e = eff["resolution_rate_safety"]
    assert e.diff > 0 and e.diff > 2 * e.se, f"expected a rise: {e}"


def test_ratings_mark_the_worst_third_red_until_the_next_rating() -> None:
    m = Model(only("ratings"), seed=3)
    base_firm_mult = m.handlers.mult[PROPERTY].copy()
    m.run(185, progress=False)  # ratings on days 90 and 180
    n_cmp = m.world.n_compounds
    n_red = round(n_cmp / 3)
    assert m.summary()[f"{NAME}_red_ratings"] == 2 * n_red
    red = m.priority_days > 0
    assert red.sum() == n_red and np.all(m.priority_days[red] == 14)
    grid_red = red[m.grids.grid_compound]
    np.testing.assert_allclose(m.handlers.mult[GRID][grid_red], 1.2)
    np.testing.assert_allclose(m.handlers.mult[GRID][~grid_red], 1.0)  # the first rating's boosts were undone
    firm_red = red[m.firms.compound]
    np.testing.assert_allclose(m.handlers.mult[PROPERTY][firm_red], 1.2 * base_firm_mult[firm_red], rtol=1e-6)
    np.testing.assert_allclose(m.handlers.mult[PROPERTY][~firm_red], base_firm_mult[~firm_red], rtol=1e-6)


def test_invariants_every_step_and_reproducible() -> None:
    sc = ocm()
    a, b = Model(sc, seed=9), Model(sc, seed=9)
    for _ in range(120):
        a.step()
        b.step()
        a.check_invariants()
    assert a.summary() == b.summary()
    s = a.summary()
    assert s[f"{NAME}_sensor_found"] > 0 and s[f"{NAME}_branch_found"] > 0 and s["flag_sensor_resolved"] > 0


def test_all_levers_off_is_the_baseline() -> None:
    """The policy draws from its own random stream: switched fully off it changes nothing."""
    a, b = Model(BASE, seed=5), Model(only(), seed=5)
    a.run(90, progress=False)
    b.run(90, progress=False)
    sa, sb = a.summary(), b.summary()
    assert {k: sb[k] for k in sa} == sa


def test_regridding_after_setup_keeps_the_teams_boost() -> None:
    sc = BASE.with_overrides({f"policies.{NAME}": {},
                              "policies.grid.enabled": True,
                              "policies.grid.households_per_grid": {"old": 50, "mature": 50, "new": 50}})
    m = Model(sc, seed=2)
    m.step()
    assert m.grids.n > Model(BASE, seed=2).grids.n
    np.testing.assert_allclose(m.handlers.level_cat_mult[GRID], TEAMS, rtol=1e-6)
    np.testing.assert_allclose(m.handlers.mult[GRID], 1.0)  # per-grid multipliers untouched until a rating


def test_arrivals_unchanged_before_prevention() -> None:
    """Common random numbers: the same problems arise; some safety problems are prevented instead."""
    a, b = Model(BASE, seed=4), Model(ocm(), seed=4)
    for _ in range(120):
        a.step()
        b.step()
    assert b.ledger.prevented > 0 and a.ledger.prevented == 0
    assert a.ledger.arisen.sum() == b.ledger.arisen.sum() + b.ledger.prevented
    others = [c for c in range(len(CATEGORIES)) if c != SAFETY]
    np.testing.assert_array_equal(a.ledger.arisen[others], b.ledger.arisen[others])


@pytest.mark.parametrize(("key", "value"), [
    ("bad", 1), ("share_red", 1.5), ("dur_rating", 0), ("admin_cap", -1.0), ("sensors", "yes"),
    ("teams_gain.safety", -0.1), ("p_sensor_find", 2.0), ("red_priority_days", 2.5),
])
def test_bad_params_name_the_key(key: str, value: object) -> None:
    head, _, leaf = key.partition(".")
    table: dict[str, object] = {head: {leaf: value}} if leaf else {head: value}
    with pytest.raises(ParameterError) as err:
        Scenario.from_dict({"policies": {NAME: table}})
    assert err.value.key == f"policies.{NAME}.{key}", str(err.value)
    with pytest.raises(ParameterError) as err:
        BASE.with_overrides({f"policies.{NAME}.enabled": True, f"policies.{NAME}.{key}": value})
    assert f"policies.{NAME}.{key}" in str(err.value)


def test_ratings_rate_compounds_from_outcomes_and_steer_street_staff() -> None:
    """The quarterly rating scores each compound from its outcomes (unresolved and overdue problems
    per resident, dissatisfaction, each over its mean) and rates the worst third red; half the
    sent-down street staff's time then follows the red compounds (communities with more red
    compounds get more), the total is unchanged, and the street loses a quarter of that time."""
    m = Model(only("ratings", "downward_moves"), seed=3)
    base = Model(BASE, seed=3)
    pol = m.policies[0]
    w = m.world
    staff_days = 4 * 2 * 0.5 / 7
    lost = np.bincount(w.community_street, minlength=w.n_streets) * staff_days * 0.25 * 0.8
    np.testing.assert_allclose(m.streets.capacity, base.streets.capacity - lost, rtol=1e-5)
    m.run(90, progress=False)  # days 0-89 recorded; the rating is on day 90
    size = np.maximum(w.compound_size, 1)
    sat = np.bincount(w.res_compound, weights=m.residents.satisfaction, minlength=w.n_compounds) / size
    parts = [pol._backlog / size, pol._complaints / size, 1 - sat]
    assert all(x.std() > 0 for x in parts)
    expected = sum(x / x.mean() for x in parts)
    np.testing.assert_allclose(pol.scores(m), expected, rtol=1e-9)
    m.step()
    red = m.priority_days > 0
    n_red = round(w.n_compounds / 3)
    assert red.sum() == n_red
    assert expected[red].min() >= expected[~red].max(), "the worst-scored compounds are rated red"
    n_red_comm = np.bincount(w.compound_community[red], minlength=w.n_communities)
    total = staff_days * w.n_communities
    staff = total * (0.5 / w.n_communities + 0.5 * n_red_comm / n_red_comm.sum())
    np.testing.assert_allclose(m.handlers.extra_capacity[COMMUNITY], staff * 0.8, rtol=1e-5)
    assert m.handlers.extra_capacity[COMMUNITY].sum() == pytest.approx(total * 0.8, rel=1e-5)
    assert np.ptp(n_red_comm) > 0 and np.ptp(m.handlers.extra_capacity[COMMUNITY]) > 0


def test_cost_items_count_street_staff_teams_and_sensors() -> None:
    """The sent-down staff are paid for their time in communities (12,000 yuan a month each:
    4 staff x 2 half-days a week = 0.571 staff-days a day per community); the admission list
    costs and saves nothing."""
    m = Model(ocm(), seed=1)
    items = m.policies[0].cost_items(m)
    w = m.world
    assert items["street_staff"] == pytest.approx(w.n_communities * 4 / 7 * 12_000 / 30, rel=1e-5)
    assert items["teams"] == pytest.approx(30_000 * w.n_communities / 365)
    assert items["sensors"] == pytest.approx(60 * w.n_households / 365)
    assert set(Model(only("admission_list"), seed=1).policies[0].cost_items(m)) == set()
