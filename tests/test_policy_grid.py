"""grid policy (001): smaller grids and more visits find problems early; proxy service; set-up."""

from __future__ import annotations

import numpy as np
import pytest
from paired import SMALL_WORLD, paired_effects

from sim import Model, Scenario
from sim.config.taxonomy import ADMIN_CATEGORY, FLAG_BIT, FLAGS
from sim.errors import ParameterError

BASE = Scenario().with_overrides(SMALL_WORLD)


def with_grid(**params: object) -> Scenario:
    return BASE.with_overrides({"policies.grid.enabled": True, **{f"policies.grid.{k}": v for k, v in params.items()}})


def test_setup_regrids_and_staffs() -> None:
    m = Model(with_grid(**{"households_per_grid.old": 50, "households_per_grid.mature": 50,
                           "households_per_grid.new": 50}, n_workers_per_grid=2.0), seed=3)
    base = Model(BASE, seed=3)
    assert m.grids.n > base.grids.n
    assert m.grids.grid_size.max() <= 50
    assert np.all(m.grids.n_workers == 2.0)
    assert m.pay_grid_worker == 1650.0  # 001's floor is the default
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
