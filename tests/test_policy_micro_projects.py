"""micro_projects policy (003): engineering projects in old compounds raise satisfaction there and
prevent sanitation and property problems; the cost is the fund; mechanics, invariants, CRN."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pytest

from sim import Model, Scenario
from sim.config.taxonomy import CATEGORIES, FLAG_BIT, OLD
from sim.errors import ParameterError
from sim.policies.micro_projects import PREVENTS, MicroProjects

BASE = Scenario().with_overrides({"world.n_communities_per_street": 2, "world.n_compounds_per_community": 4})
SAN_PROP = [CATEGORIES.index(c) for c in ("sanitation", "property")]
NO_PREVENTION = {"prevent_engineering": 0.0, "prevent_service": 0.0, "prevent_neighbourly": 0.0}
ZERO = {**NO_PREVENTION, "fund_per_community_per_year": 0.0, "p_suggest_latent": 0.0, "time_bank_boost": 0.0,
        "p_take_part": {"old": 0.0, "mature": 0.0, "new": 0.0}}


def with_projects(**params: object) -> Scenario:
    return BASE.with_overrides({"policies.micro_projects": params})


@dataclass(frozen=True)
class Effect:
    """Mean paired difference (variant - base) of a metric over replicates, with its standard error."""

    metric: str
    base_mean: float
    variant_mean: float
    diff: float
    se: float
    n: int

    @property
    def z(self) -> float:
        return self.diff / self.se if self.se > 0 else float("inf") * float(np.sign(self.diff))

    def __str__(self) -> str:
        return (f"{self.metric}: base {self.base_mean:.4g} -> variant {self.variant_mean:.4g}, "
                f"diff {self.diff:+.4g} (se {self.se:.2g}, n={self.n}, z={self.z:+.1f})")


def paired_models(base: Scenario, variant: Scenario, metrics: Mapping[str, Callable[[Model], float]],
                  seeds: Sequence[int], n_steps: int) -> dict[str, Effect]:
    """Run base and variant with the same seeds (common random numbers); paired differences."""
    vals: dict[str, list[tuple[float, float]]] = {k: [] for k in metrics}
    for s in seeds:
        a, b = Model(base, seed=s), Model(variant, seed=s)
        a.run(n_steps, progress=False)
        b.run(n_steps, progress=False)
        for k, fn in metrics.items():
            vals[k].append((fn(a), fn(b)))
    out = {}
    for k, pairs in vals.items():
        x = np.array(pairs)
        d = x[:, 1] - x[:, 0]
        out[k] = Effect(k, float(x[:, 0].mean()), float(x[:, 1].mean()), float(d.mean()),
                        float(d.std(ddof=1) / np.sqrt(d.size)), d.size)
        print(out[k])
    return out


def test_one_cycle_collects_deliberates_implements() -> None:
    """Collect on day 10, implement on day 15: project compounds get prevention by their type,
    their problems of the project's categories are solved, a time bank opens."""
    m = Model(with_projects(dur_collect=10, dur_implement=5, p_approved=1.0), seed=3)
    pol = m.policies[0]
    assert isinstance(pol, MicroProjects)
    mult0 = m.party.volunteer_mult.copy()
    for _ in range(16):
        m.step()
        m.check_invariants()
    s = m.summary()
    # 300,000 yuan a year buys floor(73,973 / 50,000) = 1 project a quarter in each community
    assert s["micro_projects_proposals"] == s["micro_projects_projects"] == m.world.n_communities
    assert s["micro_projects_suggestions"] > 0
    done = np.flatnonzero(m.p_prevent.max(axis=1) > 0)
    assert done.size == m.world.n_communities
    ctype = m.world.compound_type[done]
    np.testing.assert_allclose(m.p_prevent[done], PREVENTS[ctype] * np.array([0.3, 0.15, 0.2])[ctype][:, None],
                               rtol=1e-6)
    assert s.get("flag_project_resolved", 0) == s.get("micro_projects_problems_solved", 0)
    assert s["micro_projects_participants"] > 0
    in_bank = np.isin(m.world.res_community, m.world.compound_community[done])
    np.testing.assert_allclose(m.party.volunteer_mult[in_bank], 1.5 * mult0[in_bank], rtol=1e-6)
    assert not (m.problems.flags & FLAG_BIT["project"]).any()  # solved ones have left the pool


def test_projects_raise_satisfaction_and_prevent_problems_in_old_compounds() -> None:
    """With CRN and replicates: old compounds' residents are more satisfied, and fewer
    sanitation and property problems arise (prevented count up)."""
    eff = paired_models(BASE, with_projects(), {
        "satisfaction_old": lambda m: m.summary()["satisfaction_old"],
        "problems_prevented": lambda m: float(m.ledger.prevented),
        "arisen_old_compounds": lambda m: float(m.ledger.arisen_ctype[OLD]),
        "arisen_sanitation_property": lambda m: float(m.ledger.arisen[SAN_PROP].sum()),
    }, seeds=range(1, 7), n_steps=365)
    sat = eff["satisfaction_old"]
    assert sat.diff > 2 * sat.se and sat.diff > 0, f"satisfaction in old compounds should rise: {sat}"
    prev = eff["problems_prevented"]
    assert prev.diff > 2 * prev.se and prev.base_mean == 0, f"problems should be prevented: {prev}"
    for k in ("arisen_old_compounds", "arisen_sanitation_property"):
        assert eff[k].diff < -2 * eff[k].se, f"fewer problems should arise: {eff[k]}"


def test_cost_is_the_fund() -> None:
    n = 120
    a, b = Model(BASE, seed=6), Model(with_projects(), seed=6)
    pol = b.policies[0]
    fund = 300_000.0 * b.world.n_communities
    assert pol.cost_per_day(b) * 365 == pytest.approx(fund)
    events_a = events_b = 0
    for _ in range(n):
        a.step()
        b.step()
        events_a += a.events_today
        events_b += b.events_today
    # the core's costs differ only by the events it drew (its own stream); the rest is the fund
    event_cost = (events_b - events_a) * BASE.costs.cost_event
    assert b.cost_yuan - a.cost_yuan - event_cost == pytest.approx(fund * n / 365, rel=1e-9)


def test_invariants_every_step_and_reproducibility() -> None:
    sc = with_projects()
    a, b = Model(sc, seed=7), Model(sc, seed=7)
    for _ in range(130):
        a.step()
        b.step()
        a.check_invariants()
    assert a.summary() == b.summary()
    np.testing.assert_array_equal(a.p_prevent, b.p_prevent)
    np.testing.assert_array_equal(a.residents.satisfaction, b.residents.satisfaction)
    s = a.summary()
    assert s["micro_projects_projects"] > 0 and s["micro_projects_volunteers"] > 0


def test_zero_effects_change_nothing() -> None:
    """Without prevention arrivals are the baseline's (CRN); with every lever at zero, everything is."""
    base, no_prev = Model(BASE, seed=4), Model(with_projects(**NO_PREVENTION), seed=4)
    zero = Model(with_projects(**ZERO), seed=4)
    for _ in range(130):
        for m in (base, no_prev, zero):
            m.step()
    assert no_prev.summary()["micro_projects_projects"] > 0
    np.testing.assert_array_equal(base.ledger.arisen, no_prev.ledger.arisen)
    assert no_prev.ledger.prevented == 0
    sz = {k: v for k, v in zero.summary().items() if not k.startswith("micro_projects_")}
    assert base.summary() == sz


@pytest.mark.parametrize(("key", "value"), [("fund_per_community_per_year", -1.0), ("cost_per_project", 0.0),
                                              ("dur_cycle", 0), ("p_take_part.old", 1.5),
                                              ("p_approved", "yes"), ("no_such_key", 1)])
def test_bad_params_name_the_key(key: str, value: object) -> None:
    head, _, leaf = key.partition(".")
    table: dict[str, object] = {head: {leaf: value}} if leaf else {key: value}
    with pytest.raises(ParameterError) as err:
        Scenario.from_dict({"policies": {"micro_projects": table}})
    assert err.value.key == f"policies.micro_projects.{key}"
    with pytest.raises(ParameterError) as err:
        BASE.with_overrides({f"policies.micro_projects.{key}": value})
    assert f"policies.micro_projects.{key}" in str(err.value)
