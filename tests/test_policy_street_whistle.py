"""street_empowerment and whistle (002): big problems are solved sooner and given up less."""

from __future__ import annotations

import numpy as np
import pytest
from paired import SMALL_WORLD, paired_effects

from sim import Model, Scenario
from sim.config.taxonomy import CITY, DEPARTMENT, STREET
from sim.errors import ParameterError

BASE = Scenario().with_overrides(SMALL_WORLD)
STREET_EMP = BASE.with_overrides({"policies.street_empowerment": {}})
WHISTLE = BASE.with_overrides({"policies.whistle": {}})
BIG = ["abandonment_rate_big", "days_to_resolution_median_big", "abandonment_rate", "share_resolved_street"]


def test_street_empowerment_setup_moves_authority_and_capacity() -> None:
    base, emp = Model(BASE, seed=1), Model(STREET_EMP, seed=1)
    assert np.all(emp.handlers.authority[STREET] >= base.handlers.authority[STREET])
    assert emp.handlers.authority[STREET].sum() > base.handlers.authority[STREET].sum()
    # capacity follows the task: what departments lose, streets gain
    lost = base.departments.capacity.sum() - emp.departments.capacity.sum()
    gained = emp.streets.capacity.sum() - base.streets.capacity.sum()
    assert lost > 0 and gained == pytest.approx(lost, rel=1e-5)
    assert emp.admin_entry_level == STREET
    assert np.all(emp.communities.admin_tasks < base.communities.admin_tasks)


def test_street_empowerment_cuts_abandonment_and_delay_of_big_problems() -> None:
    eff = paired_effects(BASE, STREET_EMP, BIG, seeds=range(1, 6), n_steps=365)
    assert eff["abandonment_rate_big"].z < -2, eff["abandonment_rate_big"]
    assert eff["days_to_resolution_median_big"].diff < 0, eff["days_to_resolution_median_big"]
    assert eff["share_resolved_street"].z > 3, eff["share_resolved_street"]


def test_whistle_setup() -> None:
    m = Model(WHISTLE, seed=1)
    assert m.top_level == CITY
    assert np.isfinite(m.deadline[[2, 3, 4]]).all()
    assert m.handlers.extra_capacity[DEPARTMENT] is not None and m.handlers.extra_capacity[DEPARTMENT].sum() > 0


def test_whistle_cuts_abandonment_and_delay_of_big_problems() -> None:
    eff = paired_effects(BASE, WHISTLE, BIG + ["share_resolved_city"], seeds=range(1, 6), n_steps=365)
    assert eff["abandonment_rate_big"].z < -2, eff["abandonment_rate_big"]
    assert eff["days_to_resolution_median_big"].z < -2, eff["days_to_resolution_median_big"]
    assert eff["share_resolved_city"].variant_mean > 0 == eff["share_resolved_city"].base_mean


def test_whistle_ledger_counts_entered_and_resolved() -> None:
    m = Model(WHISTLE, seed=2)
    m.run(200, progress=False)
    s = m.summary()
    assert s["whistle_entered"] == s["whistle_entered_escalated"] + s["whistle_entered_collected"]
    assert 0 < s["flag_whistle_resolved"] <= s["whistle_entered"]
    m.check_invariants()


@pytest.mark.parametrize(("policy", "key", "value"), [
    ("whistle", "deadline_street", 0.0), ("whistle", "p_collect", 1.5), ("street_empowerment", "capacity_moved", 2.0),
    ("street_empowerment", "authority_share.admin", -0.1), ("whistle", "dur_collect", 1.5),
])
def test_bad_params(policy: str, key: str, value: object) -> None:
    with pytest.raises(ParameterError) as err:
        BASE.with_overrides({f"policies.{policy}.{key}": value})
    assert f"policies.{policy}.{key.split('.')[0]}" in str(err.value)
