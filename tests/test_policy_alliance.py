"""alliance policy (000): allied co-building units back the community in the categories their
resource lists cover; more units claim more projects; set-up, invariants, CRN, parameters."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pytest
from helpers import BASELINE

from sim import Model, Scenario
from sim.config.taxonomy import CATEGORIES, COMMUNITY
from sim.errors import ParameterError
from sim.policies.alliance import Alliance

BASE = Scenario().with_overrides({"world.n_communities_per_street": 2, "world.n_compounds_per_community": 4})
#: only the hospital and the fire brigade join: they cover safety and health, not sanitation,
#: disputes or administrative matters (sim/agents/cobuilding_unit.py UNIT_RESOURCES)
ONLY_HOSPITAL_FIRE = {"police": 0, "hospital": 1, "university": 0, "market_regulator": 0, "fire_brigade": 1,
                      "enterprise": 0, "social_org": 0}
COVERED = [CATEGORIES.index(c) for c in ("safety", "health")]
UNCOVERED = [CATEGORIES.index(c) for c in ("sanitation", "dispute", "admin")]
ZERO = {"success_boost": 0.0, "n_in_service_per_unit": 0.0, "events_per_unit_per_month": 0.0, "p_claim": 0.0,
        "p_meeting_resolve": 0.0, "cost_liaison_per_unit_per_month": 0.0, "cost_materials_per_unit_per_year": 0.0}


def with_alliance(**params: object) -> Scenario:
    return BASE.with_overrides({"policies.alliance": params})


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


def resolution(cats: list[int]) -> Callable[[Model], float]:
    return lambda m: float(m.ledger.resolved[cats].sum() / m.ledger.arisen[cats].sum())


def test_setup_allies_units_and_backs_covered_categories() -> None:
    base = Model(BASE, seed=2)
    m = Model(with_alliance(unit_mix=ONLY_HOSPITAL_FIRE), seed=2)
    pol = m.policies[0]
    assert isinstance(pol, Alliance)
    n_comm = m.world.n_communities
    assert m.units.allied.sum() == 2 * n_comm  # of the 7 units per community, only two types join
    assert set(m.world.unit_type[m.units.allied].tolist()) == {1, 4}  # hospital, fire brigade
    mult = m.handlers.mult[COMMUNITY] / base.handlers.mult[COMMUNITY]
    assert np.all(mult[:, COVERED] > 1.1)
    np.testing.assert_array_equal(mult[:, UNCOVERED], 1.0)
    np.testing.assert_allclose(m.communities.event_rate - base.communities.event_rate, 2 * 0.2 / 30, rtol=1e-5)
    np.testing.assert_array_equal(m.party.n_in_service, 10)
    assert pol.cost_per_day(m) == pytest.approx(2 * n_comm * (12 * 500 + 10_000) / 365)
    # the first n units of each community: police and hospital
    two = Model(with_alliance(n_units=2), seed=2)
    assert set(two.world.unit_type[two.units.allied].tolist()) == {0, 1}
    assert two.units.allied.sum() == 2 * n_comm


def test_alliance_raises_resolution_more_in_covered_categories() -> None:
    """With CRN and replicates, a hospital and a fire brigade that engage strongly (weight 2)
    raise resolution in safety and health more than in sanitation, disputes and admin, which
    they do not cover (those gain only from the community capacity the alliance frees)."""
    mix = {k: 2 * v for k, v in ONLY_HOSPITAL_FIRE.items()}
    covered, uncovered = resolution(COVERED), resolution(UNCOVERED)
    eff = paired_models(BASE, with_alliance(unit_mix=mix), {
        "resolution_covered": covered, "resolution_uncovered": uncovered,
        "covered_minus_uncovered": lambda m: covered(m) - uncovered(m),
    }, seeds=range(1, 7), n_steps=365)
    c, contrast = eff["resolution_covered"], eff["covered_minus_uncovered"]
    assert c.diff > 0 and c.z > 3, f"covered categories should gain: {c}"
    assert contrast.diff > 2 * contrast.se, f"covered should gain more than uncovered: {contrast}"


def test_more_units_claim_more_projects() -> None:
    eff = paired_models(with_alliance(n_units=2), with_alliance(n_units=7), {
        "projects_claimed": lambda m: m.summary()["alliance_projects_claimed"],
        "matters_done": lambda m: m.summary()["alliance_matters_done"],
    }, seeds=range(1, 5), n_steps=180)
    p = eff["projects_claimed"]
    assert p.diff > 2 * p.se and p.diff > 0, f"more units should claim more projects: {p}"
    assert eff["matters_done"].diff > 0, eff["matters_done"]


def test_invariants_every_step_counters_and_reproducibility() -> None:
    sc = with_alliance()
    a, b = Model(sc, seed=5), Model(sc, seed=5)
    for _ in range(120):
        a.step()
        b.step()
        a.check_invariants()
    sa, sb = a.summary(), b.summary()
    assert sa == sb
    np.testing.assert_array_equal(a.ledger.resolved, b.ledger.resolved)
    np.testing.assert_array_equal(a.residents.satisfaction, b.residents.satisfaction)
    assert sa["alliance_projects_claimed"] > 0 and sa["alliance_meeting_resolved"] > 0
    assert sa["alliance_matters_done"] == sa["alliance_project_resolved"] + sa["alliance_meeting_resolved"]
    assert sa["alliance_matters_done"] == sa["flag_alliance_resolved"]
    assert 0 < sa["alliance_disputes_mediated"] < sa["alliance_matters_done"]
    assert sa["alliance_events"] > 0 and sa["alliance_in_service_turns"] > 0


def test_zero_effects_change_nothing() -> None:
    """Units allied but every lever at zero: arrivals (CRN) and every outcome are the baseline's."""
    a, b = Model(BASE, seed=4), Model(with_alliance(**ZERO), seed=4)
    assert b.units.allied.sum() == 7 * b.world.n_communities
    for _ in range(120):
        a.step()
        b.step()
    np.testing.assert_array_equal(a.ledger.arisen, b.ledger.arisen)
    sb = {k: v for k, v in b.summary().items() if not k.startswith("alliance_")}
    assert a.summary() == sb


@pytest.mark.parametrize(("key", "value"), [("n_units", -1), ("n_units", 1.5), ("unit_mix.police", -1.0),
                                              ("p_claim", 2.0), ("dur_meeting", 0), ("no_such_key", 1)])
def test_bad_params_name_the_key(key: str, value: object) -> None:
    head, _, leaf = key.partition(".")
    table: dict[str, object] = {head: {leaf: value}} if leaf else {key: value}
    with pytest.raises(ParameterError) as err:
        Scenario.from_dict({"policies": {"alliance": table}})
    assert err.value.key == f"policies.alliance.{key}"
    with pytest.raises(ParameterError) as err:
        BASE.with_overrides({f"policies.alliance.{key}": value})
    assert f"policies.alliance.{key}" in str(err.value)


def test_more_units_than_the_world_has_is_an_error_naming_both_keys(tmp_path) -> None:
    from sim.core.scenario import load_scenario
    from sim.errors import ScenarioError

    assert BASE.world.n_cobuilding_units_per_community == 7
    with pytest.raises(ParameterError) as err:
        with_alliance(n_units=8)
    assert err.value.key == "policies.alliance.n_units"
    assert "world.n_cobuilding_units_per_community" in err.value.message and "0..7" in err.value.message
    # with more units in the world, the same alliance builds and allies exactly n_units per community
    wide = BASE.with_overrides({"world.n_cobuilding_units_per_community": 12, "policies.alliance": {"n_units": 10}})
    model = Model(wide, seed=1)
    assert model.policy_counters["alliance_units_allied"] == 10 * wide.world.n_communities_per_street
    path = tmp_path / "too_many.toml"
    path.write_text(f'extends = "{BASELINE.as_posix()}"\n[policies.alliance]\nn_units = 9\n',
                    encoding="utf-8")
    with pytest.raises(ScenarioError) as serr:
        load_scenario(path)
    assert str(path) in str(serr.value) and "policies.alliance.n_units" in str(serr.value)
