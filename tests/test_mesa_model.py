"""GovsimModel: the vectorised core as a mesa.Model (keywords, seeding, agents, reporters, batch_run)."""

from __future__ import annotations

import math
import pickle
import warnings

import mesa
import numpy as np
import pytest

from sim import Model, Scenario, load_scenario
from sim.config.paths import SCENARIO_DIR
from sim.config.taxonomy import COMMUNITY, QUEUED
from sim.errors import ParameterError
from sim.mesa.model import (
    MODEL_REPORTERS,
    CoBuildingUnitAgent,
    CommunityAgent,
    GovsimModel,
    PropertyFirmAgent,
    StreetOfficeAgent,
    batch_run,
    batch_run_takes_rng,
    build_scenario,
    default_scenario,
)

#: ~1,700 residents: one community of three compounds
TINY = {"n_communities": 1, "n_compounds_per_community": 3}


def run(model: GovsimModel, n: int) -> GovsimModel:
    for _ in range(n):
        model.step()
    return model


def test_keywords_map_to_scenario_keys() -> None:
    m = GovsimModel(n_streets=2, n_communities=3, n_compounds_per_community=4, households_per_grid=120,
                    households_per_grid_new=250, grid_workers_per_grid=2.5, alliance_units=3,
                    street_empowerment=True, whistle=True,
                    overrides={"problems.rate_recontact": 0.05, "policies.whistle.deadline_street": 9.0}, rng=1)
    sc = m.govsim_scenario
    assert (sc.world.n_streets, sc.world.n_communities_per_street, sc.world.n_compounds_per_community) == (2, 3, 4)
    hpg = sc.community.households_per_grid
    assert (hpg.old, hpg.mature, hpg.new) == (120, 120, 250)  # the per-type keyword wins
    assert sc.community.n_grid_workers_per_grid == 2.5
    assert sc.policy("alliance").n_units == 3
    assert sc.policy("street_empowerment") is not None
    assert sc.policy("whistle").deadline_street == 9.0
    assert sc.problems.rate_recontact == 0.05
    assert m.scenario_overrides["community.households_per_grid.new"] == 250
    assert m.scenario_overrides["policies.whistle"] is True
    # ... and the core really runs that scenario
    assert m.world.n_communities == 6 and m.world.n_streets == 2 and m.world.n_compounds == 24
    assert int(m.core.units.allied.sum()) == 3 * 6
    assert m.core.grids.grid_size.max() <= 250


def test_switches_turn_policies_off_and_grid_keywords_follow_the_grid_policy() -> None:
    base = load_scenario(SCENARIO_DIR / "bazhong_street_whistle.toml")
    assert base.policy("whistle") is not None and base.policy("street_empowerment") is not None
    off, _ = build_scenario(base, whistle=False, street_empowerment=False, alliance_units=0)
    assert off.policy("whistle") is None and off.policy("street_empowerment") is None and off.policy("alliance") is None
    grid = Scenario().with_overrides({"policies.grid": {}})
    sc, changes = build_scenario(grid, households_per_grid=90, grid_workers_per_grid=3.0)
    assert sc.policy("grid").households_per_grid.old == 90
    assert sc.policy("grid").n_workers_per_grid == 3.0
    assert "policies.grid.households_per_grid.mature" in changes
    assert sc.community.households_per_grid.old == Scenario().community.households_per_grid.old


def test_bad_keywords_are_refused() -> None:
    with pytest.raises(ParameterError, match="no.such"):
        GovsimModel(overrides={"no.such": 1}, rng=1)
    with pytest.raises(ParameterError, match="households_per_grid"):
        GovsimModel(households_per_grid=0, rng=1)
    with pytest.raises(ValueError, match="max_days"):
        GovsimModel(max_days=0, rng=1)
    with pytest.raises(TypeError):
        GovsimModel(scenario=42, rng=1)


def test_default_scenario_is_a_small_baseline() -> None:
    sc = default_scenario()
    base = load_scenario(SCENARIO_DIR / "baseline.toml")
    assert sc.world.n_communities_per_street * sc.world.n_streets <= 2
    assert sc.policies == () and sc.handling == base.handling and sc.community == base.community
    m = GovsimModel(rng=1)
    assert 2_000 < m.n_residents < 15_000
    m2 = GovsimModel(scenario=SCENARIO_DIR / "baseline.toml", rng=1)  # a path is loaded as is
    assert m2.world.n_communities == base.world.n_communities_per_street * base.world.n_streets


def test_int_rng_is_the_core_seed_and_computes_what_the_core_computes() -> None:
    m = run(GovsimModel(**TINY, whistle=True, rng=7), 40)
    assert m.seed == 7 and m.steps == 40 and m.day == 40
    core = Model(m.govsim_scenario, seed=7)
    res = core.run(40, progress=False)
    assert m.summary() == res.summary or all(
        (math.isnan(a) and math.isnan(b)) or a == b for a, b in zip(m.summary().values(), res.summary.values()))
    assert m.resolution_rate == res.summary["resolution_rate"]
    assert m.satisfaction_mean == res.summary["satisfaction_mean"]
    np.testing.assert_array_equal(m.residents.satisfaction, core.residents.satisfaction)


def test_seedlike_rng_is_deterministic_and_none_is_fresh() -> None:
    a = GovsimModel(**TINY, rng=np.random.SeedSequence(11))
    b = GovsimModel(**TINY, rng=np.random.SeedSequence(11))
    c = GovsimModel(**TINY, rng=[1, 2])
    assert a.seed == b.seed != c.seed
    assert GovsimModel(**TINY, rng=np.random.default_rng(5)).seed == GovsimModel(**TINY, rng=np.random.default_rng(5)).seed
    assert len({GovsimModel(**TINY).seed for _ in range(3)}) == 3
    run(a, 10), run(b, 10)
    assert a.satisfaction_mean == b.satisfaction_mean and a.problems_resolved == b.problems_resolved


def test_running_stops_after_max_days_and_runs_past_the_scenario_length() -> None:
    sc = default_scenario().with_overrides({"run.n_steps": 5, "world.n_communities_per_street": 1,
                                            "world.n_compounds_per_community": 2})
    m = GovsimModel(scenario=sc, max_days=12, rng=2)
    while m.running:
        m.step()
    assert m.day == 12 and m.steps == 12
    assert m.summary()["n_steps"] == 12
    m.core.check_invariants()
    free = run(GovsimModel(scenario=sc, rng=2), 3)
    assert free.running and free.max_days is None


def test_stakeholders_are_agents_viewing_the_core() -> None:
    # 30 days: with the pre-reform grids (issue 14) the communities' queues of this world are empty on day 25
    m = run(GovsimModel(n_communities=2, n_compounds_per_community=4, alliance_units=2, rng=4), 30)
    core = m.core
    by_type = m.agents_by_type
    assert len(by_type[StreetOfficeAgent]) == core.streets.n == 1
    assert len(by_type[CommunityAgent]) == core.world.n_communities == 2
    assert len(by_type[CoBuildingUnitAgent]) == core.units.n
    assert len(by_type[PropertyFirmAgent]) == core.firms.n
    assert len(m.agents) == 1 + 2 + core.units.n + core.firms.n
    assert all(isinstance(a, mesa.Agent) for a in m.agents)
    c = m.community_agents[1]
    sl = slice(int(core.world.community_start[1]), int(core.world.community_start[1] + core.world.community_size[1]))
    assert c.staff == pytest.approx(float(core.communities.n_staff[1]))
    assert c.satisfaction == pytest.approx(float(core.residents.satisfaction[sl].mean()))
    assert c.street is m.street_agents[0] and c in m.street_agents[0].communities
    pool = core.problems
    queued_here = int(((pool.status == QUEUED) & (pool.level == COMMUNITY)).sum())
    assert sum(x.backlog for x in m.community_agents) == queued_here > 0
    assert [u.allied for u in c.units] == [True, True] + [False] * (len(c.units) - 2)
    assert {u.unit_type for u in c.units} >= {"police", "hospital"}
    f = m.firm_agents[0]
    assert f.compound_type in ("mature", "new") and 0 <= f.quality <= 1
    assert sum(f.backlog for f in m.firm_agents) == m.backlog_by_level()["property"]
    # the views follow the core as it runs
    before = c.satisfaction
    m.step()
    assert c.satisfaction == pytest.approx(float(core.residents.satisfaction[sl].mean()))
    assert c.satisfaction != before


def test_resident_view() -> None:
    m = run(GovsimModel(**TINY, rng=5), 5)
    w = m.world
    r = m.resident(100)
    assert r.satisfaction == float(m.residents.satisfaction[100])
    assert r.compound == int(w.res_compound[100]) and r.community is m.community_agents[int(w.res_community[100])]
    assert r.compound_type in ("old", "mature", "new") and r.group in ("child", "adult", "elderly")
    assert r.open_problems == int((m.core.problems.res == 100).sum())
    with pytest.raises(IndexError):
        m.resident(m.n_residents)


def test_datacollector_reports_the_properties() -> None:
    m = run(GovsimModel(**TINY, rng=6), 15)
    dc = m.datacollector
    assert all(isinstance(v, str) for v in dc.model_reporters.values())  # no lambdas: pickles
    df = dc.get_model_vars_dataframe()
    assert list(df.columns) == list(MODEL_REPORTERS) and len(df) == 16  # step 0 and each step
    last = df.iloc[-1]
    for name, attr in MODEL_REPORTERS.items():
        assert last[name] == pytest.approx(getattr(m, attr), nan_ok=True), name
    assert last["resolution_rate"] == pytest.approx(m.problems_resolved / m.problems_arisen)
    assert last["day"] == 15 and 0 < last["resolution_rate"] < 1 and last["backlog"] > 0
    assert (df["problems_arisen"].diff().dropna() >= 0).all()
    pickle.loads(pickle.dumps(dc))


def test_model_pickles_and_resumes() -> None:
    m = run(GovsimModel(**TINY, rng=8), 5)
    copy = pickle.loads(pickle.dumps(m))
    run(m, 3), run(copy, 3)
    assert copy.satisfaction_mean == m.satisfaction_mean and copy.steps == m.steps == 8


#: two levers x TINY; runs are bounded by batch_run's max_steps (see batch_run's docstring on max_days)
LEVERS = {"street_empowerment": [False, True], "whistle": [False, True], **TINY}
SEEDS = [3, 4, 5]


def _mesa_batch_run(parameters: dict, seeds: list[int]) -> list[dict]:
    """mesa.batch_run called directly, the way each Mesa version takes seeds."""
    common = {"max_steps": 20, "number_processes": 1, "data_collection_period": -1, "display_progress": False}
    if batch_run_takes_rng():  # Mesa >= 3.4
        return mesa.batch_run(GovsimModel, parameters=parameters, rng=seeds, **common)
    # Mesa 3.3: no rng= keyword; the seeds are a swept model keyword
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no deprecation either
        return mesa.batch_run(GovsimModel, parameters={"rng": seeds, **parameters}, **common)


def _same(a: dict, b: dict) -> bool:
    """Rows equal, nan equal to nan (a tiny world may have no compound of some type)."""
    def nan(v):
        return isinstance(v, float) and math.isnan(v)
    return a.keys() == b.keys() and all(a[k] == b[k] or (nan(a[k]) and nan(b[k])) for k in a)


def _key(row: dict) -> tuple:
    return row["seed"], row["street_empowerment"], row["whistle"]


def test_mesa_batch_run_over_two_levers_and_three_seeds() -> None:
    rows = _mesa_batch_run(LEVERS, SEEDS)
    assert len(rows) == 2 * 2 * 3
    for row in rows:
        for name in MODEL_REPORTERS:
            assert name in row, name
        assert row["day"] == row["Step"] == 20 and 0 < row["resolution_rate"] < 1 and 0 < row["satisfaction_mean"] < 1
    assert {_key(r) for r in rows} == {(s, e, w) for s in SEEDS for e in (False, True) for w in (False, True)}
    again = {_key(r): r for r in _mesa_batch_run(LEVERS, SEEDS)}
    first = {_key(r): r for r in rows}
    assert first.keys() == again.keys()
    assert all(_same(first[k], again[k]) for k in first)  # equal seeds, equal rows
    # different seeds give different runs; the levers change outcomes under one seed
    assert len({first[(s, False, False)]["resolution_rate"] for s in SEEDS}) == 3
    assert first[(3, True, True)]["resolution_rate"] != first[(3, False, False)]["resolution_rate"]
    # a batch row is the model a user builds by hand with the same keywords
    m = run(GovsimModel(street_empowerment=True, whistle=False, rng=4, **TINY), 20)
    assert first[(4, True, False)]["satisfaction_mean"] == m.satisfaction_mean


def test_helper_batch_run_is_version_neutral() -> None:
    rows = batch_run(LEVERS, SEEDS, max_steps=20)
    assert len(rows) == 12
    assert [r["iteration"] for r in rows] == [i for i in range(3) for _ in range(4)]
    assert all(r["rng"] == SEEDS[r["iteration"]] == r["seed"] for r in rows)
    direct = {_key(r): r["resolution_rate"] for r in _mesa_batch_run(LEVERS, SEEDS)}
    assert {_key(r): r["resolution_rate"] for r in rows} == direct
    with pytest.raises(ValueError):
        batch_run({"rng": [1]}, [1])
    periodic = batch_run(TINY, [1], max_steps=10, data_collection_period=5)
    assert [(r["Step"], r["day"]) for r in periodic] == [(0, 0), (5, 5), (10, 10)]


def test_helper_passes_seeds_as_rng_on_mesa_3_4_and_later(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mesa >= 3.4's batch_run(rng=...) (emulated: Mesa 3.5 needs Python 3.12)."""
    calls = []

    def batch_run_34(model_cls, parameters, number_processes=1, iterations=None, data_collection_period=-1,
                     max_steps=1000, display_progress=True, rng=None):
        calls.append((model_cls, dict(parameters), rng, max_steps))
        return []

    monkeypatch.setattr(mesa, "batch_run", batch_run_34)
    assert batch_run_takes_rng()
    batch_run({"whistle": [False, True]}, [7, 8], max_steps=5)
    assert calls == [(GovsimModel, {"whistle": [False, True]}, [7, 8], 5)]


def test_a_mesa_scenario_passed_on_reset_gives_only_its_rng(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mesa 3.5's SolaraViz Reset passes scenario=mesa.experimental.scenarios.Scenario(rng=...)
    (emulated with a stand-in class: Mesa 3.5 needs Python 3.12)."""
    import sys
    import types

    class MesaScenario:
        def __init__(self, rng=None, **kwargs):
            self.rng = rng

    fake = types.ModuleType("mesa.experimental.scenarios")
    fake.Scenario = MesaScenario
    monkeypatch.setitem(sys.modules, "mesa.experimental.scenarios", fake)
    m = GovsimModel(scenario=MesaScenario(rng=9), **TINY)
    assert m.seed == 9 and m.govsim_scenario.name == default_scenario().name
    assert GovsimModel(scenario=MesaScenario(rng=None), rng=4, **TINY).seed == 4
