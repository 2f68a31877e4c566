"""grid policy (001): re-gridding and integrated posts replacing four part-time roles; visits and
proxy errands on the grid workers' time budget; posts booked against the released roles' pay."""

from __future__ import annotations

import numpy as np
import pytest
from paired import SMALL_WORLD, paired_effects

from sim import Model, Scenario
from sim.config.taxonomy import ADMIN_CATEGORY, FLAG_BIT, FLAGS
from sim.errors import ParameterError
from sim.policies.grid import GridParams

BASE = Scenario().with_overrides(SMALL_WORLD)


def with_grid(**params: object) -> Scenario:
    return BASE.with_overrides({"policies.grid.enabled": True, **{f"policies.grid.{k}": v for k, v in params.items()}})


def _max_size_by_type(m: Model) -> list[int]:
    ctype = m.world.compound_type[m.grids.grid_compound]
    return [int(m.grids.grid_size[ctype == k].max()) for k in range(3)]


def _visit_interval(m: Model) -> np.ndarray:
    """Days between two visits of a household, per grid: grid size over the visits one day moved the round by."""
    before = m.grids.visit_ptr.copy()
    m.step()
    moved = (m.grids.visit_ptr - before) % m.grids.grid_size
    return m.grids.grid_size / moved


def test_baseline_grids_are_the_pre_reform_ones() -> None:
    """The baseline is the arrangement 001 reformed: grids larger than 150 (old) / 300 (new)
    households, covered part-time by role holders whose visits leave them little time."""
    sc = Scenario()
    c = sc.community
    assert (c.households_per_grid.old, c.households_per_grid.new) == (300, 600)
    base = Model(BASE, seed=3)
    assert max(_max_size_by_type(base)) > 300  # larger than any of the reform's grids
    assert np.all(base.grids.n_workers == c.n_grid_workers_per_grid)
    assert base.grid_worker_capacity == c.capacity_per_grid_worker < GridParams().capacity_per_post


def test_regridding_changes_grid_sizes_and_the_visit_interval() -> None:
    """Re-gridding to 001's 150 / 300 households with 1.5 posts visiting 200 households a month
    visits each household far more often than the pre-reform round (median interval seen: ~20
    days against ~110)."""
    base, m = Model(BASE, seed=3), Model(with_grid(), seed=3)
    assert m.grids.n > base.grids.n
    assert all(a <= b for a, b in zip(_max_size_by_type(m), (150, 200, 300), strict=True))
    assert np.all(m.grids.n_workers == 1.5) and m.visits_per_worker_per_month == 200.0
    assert m.grid_worker_capacity == 0.7
    i_base, i_reform = _visit_interval(base), _visit_interval(m)
    # visits per grid a day: workers x 200 / 30 (the budget covers them): interval = size / visits
    np.testing.assert_allclose(i_reform, m.grids.grid_size / (1.5 * 200 / 30), rtol=1e-4)
    assert np.median(i_reform) * 3 < np.median(i_base), (np.median(i_reform), np.median(i_base))


def test_setup_regrids_and_staffs() -> None:
    m = Model(with_grid(**{"households_per_grid.old": 50, "households_per_grid.mature": 50,
                           "households_per_grid.new": 50}, n_workers_per_grid=2.0), seed=3)
    base = Model(BASE, seed=3)
    assert m.grids.n > base.grids.n
    assert m.grids.grid_size.max() <= 50
    assert np.all(m.grids.n_workers == 2.0)
    assert m.visits_per_worker_per_month == 200.0
    # proxy service: proxied matters succeed 1.5 times as often and need no repeat contacts
    assert m.flag_success[FLAGS.index("proxy")] == pytest.approx(1.5)
    assert m.represented_flags & FLAG_BIT["proxy"]


def test_smaller_grids_find_more_problems_proactively() -> None:
    """Smaller grids with more workers raise the share found by the community (visits, links)
    rather than reported by residents themselves, and problems are found sooner."""
    variant = with_grid(p_building_head_find=0.0, proxy_service=False)
    eff = paired_effects(BASE, variant, ["share_found_proactive", "share_found_self_report",
                                         "days_to_resolution_median"], seeds=range(1, 6), n_steps=240)
    assert eff["share_found_proactive"].diff > 0.05 and eff["share_found_proactive"].z > 3, eff["share_found_proactive"]
    assert eff["share_found_self_report"].z < -3, eff["share_found_self_report"]


def test_proxy_service_spares_residents_trips_and_solves_admin_matters() -> None:
    """Administrative matters taken by grid workers as proxies need fewer repeat trips by the
    resident (the proxy follows up: the problem is represented, its recontact hazard is cut
    to ``problems.recontact_represented`` = 0.2) and are solved more often."""
    m = Model(with_grid(proxy_service=True), seed=2)
    m.run(150, progress=False)
    pool = m.problems
    proxied = (pool.flags & FLAG_BIT["proxy"]) != 0
    assert proxied.sum() > 0
    assert np.all(pool.cat[proxied] == ADMIN_CATEGORY)
    others = (pool.cat == ADMIN_CATEGORY) & ~proxied & (pool.status == 1)
    again_proxied = float((pool.n_contacts[proxied] > 1).mean())
    again_others = float((pool.n_contacts[others] > 1).mean())
    assert again_proxied < again_others, (again_proxied, again_others)
    eff = paired_effects(with_grid(proxy_service=False), with_grid(proxy_service=True),
                         ["resolution_rate_admin", "repeat_contacts_per_resolved"], seeds=range(1, 6), n_steps=240)
    assert eff["resolution_rate_admin"].z > 2, eff["resolution_rate_admin"]


def test_invariants_and_reproducibility() -> None:
    sc = with_grid()
    a, b = Model(sc, seed=9), Model(sc, seed=9)
    for _ in range(60):
        a.step()
        b.step()
        a.check_invariants()
    assert a.summary() == b.summary()
    assert a.summary()["grid_proxy_services"] > 0


def test_arrivals_unchanged_by_policy() -> None:
    """Common random numbers: switching the policy on does not change who gets which problem."""
    a, b = Model(BASE, seed=4), Model(with_grid(), seed=4)
    for _ in range(30):
        a.step()
        b.step()
    np.testing.assert_array_equal(a.ledger.arisen, b.ledger.arisen)


@pytest.mark.parametrize(("key", "value"), [("n_workers_per_grid", -1.0), ("households_per_grid.old", 0),
                                              ("proxy_service", 1), ("no_such_key", 1)])
def test_bad_params_name_the_key(key: str, value: object) -> None:
    with pytest.raises(ParameterError) as err:
        BASE.with_overrides({"policies.grid.enabled": True, f"policies.grid.{key}": value})
    assert f"policies.grid.{key.split('.')[0]}" in str(err.value)


def test_merged_posts_cost_the_posts_pay_less_the_released_roles_pay() -> None:
    """The posts replace the four roles: the policy books the posts' pay (001's floor, cost table
    block 001) and, negative, the pre-reform role holders' pay; the model's cost moves by exactly
    that, which is less than the posts would cost as new staff."""
    base, m = Model(BASE, seed=3), Model(with_grid(), seed=3)
    c = m.scenario.costs
    assert c.pay_integrated_grid_worker == 1650.0
    posts = float(m.grids.n_workers.sum()) * c.pay_integrated_grid_worker / 30
    released = float(base.grids.n_workers.sum()) * c.pay_grid_worker / 30
    items = m.policies[0].cost_items(m)
    assert items == {"posts": pytest.approx(posts), "released_roles": pytest.approx(-released)}
    assert released > 0 and sum(items.values()) < posts
    # the core still pays the pre-reform roles; the released item cancels them (no events yet on both)
    assert m.cost_per_day() - base.cost_per_day() == pytest.approx(posts - released)
    dearer = Model(with_grid().with_overrides({"costs.pay_integrated_grid_worker": 2000.0}), seed=3)
    assert dearer.policies[0].cost_items(dearer)["posts"] == pytest.approx(posts * 2000 / 1650)


def test_visits_come_out_of_the_time_budget() -> None:
    """A post with too little time visits only what its time allows and has none left for problems."""
    m = Model(with_grid(capacity_per_post=0.1, proxy_service=False), seed=3)
    e = m.scenario.community.effort_visit
    budget = m.grids.n_workers * np.float32(0.1)
    moved = m.grids.visit_ptr.copy()
    m.step()
    moved = (m.grids.visit_ptr - moved) % m.grids.grid_size
    np.testing.assert_allclose(moved, budget / e, rtol=1e-5)  # fewer than the planned 1.5 x 200 / 30 = 10
    assert np.all(budget / e < 10)
    np.testing.assert_allclose(m.grids.spent, budget, rtol=1e-6)
    grid_cap = m.handlers.capacity()[: m.grids.n]
    assert np.all(np.abs(grid_cap) < 1e-6), "no time left for problems"


def test_proxy_errands_take_time_from_problems() -> None:
    """Each proxy errand takes ``effort_proxy_errand`` of its grid's day, on top of the visits, and
    the grid handles problems only with what is left; with no time left, matters stay the resident's."""
    sc = with_grid(effort_proxy_errand=0.25, **{"households_per_grid.old": 600, "households_per_grid.mature": 600,
                                                 "households_per_grid.new": 600})
    m = Model(sc.with_overrides({"community.p_find_on_visit": 1.0}), seed=3)
    e_visit, e_errand = m.scenario.community.effort_visit, 0.25
    for _ in range(40):
        ptr = m.grids.visit_ptr.copy()
        n_before = m.policy_counters.get("grid_proxy_services", 0.0)
        m.step()
        visits = (m.grids.visit_ptr - ptr) % m.grids.grid_size
        errands = m.policy_counters.get("grid_proxy_services", 0.0) - n_before
        assert m.grids.spent.sum() == pytest.approx(visits.sum() * e_visit + errands * e_errand, rel=1e-4)
        assert np.all(m.grids.spent <= m.grids.budget(m.grid_worker_capacity) * (1 + 1e-5))
        np.testing.assert_allclose(m.handlers.capacity()[: m.grids.n],
                                   m.grids.budget(m.grid_worker_capacity) - m.grids.spent, atol=1e-5)
    s = m.summary()
    assert s["grid_proxy_services"] > 0 and s["grid_proxy_no_time"] > 0, s


def test_more_proxy_errands_leave_less_time_for_problems() -> None:
    """At fixed seeds, on busy grids (small problems enter at the grid too), errands of two hours
    instead of none leave the posts less time: fewer problems resolved at the grid (seen on 5
    seeds: ~2,990 -> ~2,730, z -4.4) and fewer matters taken as proxy (~695 -> ~590, z -7.1),
    the others left to the residents."""
    busy = with_grid(effort_proxy_errand=0.0).with_overrides({"community.p_find_on_visit": 1.0,
                                                               "handling.entry_level.small": "grid"})
    variant = busy.with_overrides({"policies.grid.effort_proxy_errand": 0.25})
    at_grid = ("resolved_at_grid", lambda s: s["share_resolved_grid"] * s["problems_resolved"])
    eff = paired_effects(busy, variant, [at_grid, "grid_proxy_services"], seeds=range(1, 6), n_steps=240)
    assert eff["resolved_at_grid"].z < -3, eff["resolved_at_grid"]
    assert eff["grid_proxy_services"].z < -3, eff["grid_proxy_services"]


def test_old_cost_keys_say_where_they_moved() -> None:
    """The posts' pay is in the cost table now: the old policy key names its new place."""
    with pytest.raises(ParameterError, match="costs.pay_integrated_grid_worker") as err:
        Scenario.from_dict({"policies": {"grid": {"pay_grid_worker": 1650.0}}})
    assert err.value.key == "policies.grid.pay_grid_worker"
    with pytest.raises(ParameterError, match="costs.pay_integrated_grid_worker"):
        BASE.with_overrides({"policies.grid.enabled": True, "policies.grid.pay_grid_worker": 1650.0})
