"""Shared days (sim.core.branching, sim.experiments.compare_runs): branches give a fresh run's results, bit for bit."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from sim.config.paths import SCENARIO_DIR
from sim.core import branching
from sim.core.branching import Prefix, prefix_key, restore, shared_days, snapshot
from sim.core.model import Model
from sim.core.results import Results
from sim.core.scenario import Scenario, load_scenario
from sim.errors import InputError
from sim.experiments.compare import compare
from sim.experiments.compare_prepare import prepare
from sim.experiments.compare_runs import ComparisonRuns, groups
from sim.experiments.sweep.spec import SweepSpec, load_sweep

#: the case scenarios that differ from the baseline in their policies only (sanya_jiyang_1plusN changes the world)
SHARING = ("baseline.toml", "bazhong_street_whistle.toml", "combined_reforms.toml", "gaoxian_four_empowerments.toml",
           "huiji_micro_projects.toml", "luohu_one_core.toml")
SMALL = {"world.n_communities_per_street": 1, "world.n_compounds_per_community": 2, "run.n_steps": 90,
         "reform.dur_warmup": 20}


def _scenarios(start_day: int, files: tuple[str, ...] = SHARING, **more: object) -> list[Scenario]:
    return [load_scenario(SCENARIO_DIR / f, {**SMALL, "reform.start_day": start_day, **more}) for f in files]


def _assert_same(got: Results, want: Results) -> None:
    assert np.array_equal(got.t, want.t)
    assert got.timeseries.keys() == want.timeseries.keys()
    for k, series in want.timeseries.items():
        assert np.array_equal(got.timeseries[k], series, equal_nan=True), k
    assert got.summary.keys() == want.summary.keys()
    for k, v in want.summary.items():
        assert got.summary[k] == v or (np.isnan(got.summary[k]) and np.isnan(v)), k


@pytest.mark.parametrize("start_day", [0, 30, 500])
def test_each_branch_is_a_fresh_run_bit_for_bit(start_day: int) -> None:
    """Every case scenario sharing the baseline's days, with the reform on day 0, mid-run and after the run's end."""
    scenarios = _scenarios(start_day)
    prefix = Prefix(scenarios[0], seed=11)
    assert prefix.days == shared_days(scenarios[0]) == min(start_day, 89)
    rates = set()
    for sc in scenarios:
        got = prefix.run(sc, share=len(scenarios))
        want = Model(sc, seed=11).run(progress=False)
        _assert_same(got, want)
        assert got.scenario is sc
        rates.add(want.summary["resolution_rate"])
    assert len(rates) == (1 if start_day >= 90 else len(scenarios))  # the reforms do act after the branch


def test_a_branch_without_warm_up_or_shared_days_is_a_fresh_run() -> None:
    sc = _scenarios(0, ("combined_reforms.toml",), **{"reform.dur_warmup": 0})[0]
    prefix = Prefix(sc, seed=3)
    assert prefix.days == 0
    _assert_same(prefix.run(sc), Model(sc, seed=3).run(progress=False))


def test_the_snapshot_keeps_views_views_of_their_own_copy() -> None:
    """The recorder's series are rows of one table: after restore too, and of the copy's table, not the original's.

    Plain pickling makes each row an array of its own, so the copy would record into a table nothing reads.
    """
    model = Model(_scenarios(30)[0], seed=2)
    for _ in range(5):
        model.step()
    copy = restore(snapshot(model))
    table, rows = copy.recorder._table, copy.recorder.data
    assert all(np.shares_memory(row, table) for row in rows.values())
    assert not np.shares_memory(table, model.recorder._table)
    plain = pickle.loads(pickle.dumps(model))
    assert not any(np.shares_memory(row, plain.recorder._table) for row in plain.recorder.data.values())


def test_plain_pickling_would_give_other_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The view-keeping snapshot is what makes branches exact: with plain pickling the series come out wrong."""
    sc = _scenarios(30)[1]
    monkeypatch.setattr(branching, "snapshot", lambda model: pickle.dumps(model))
    got = Prefix(sc, seed=5).run(sc)
    want = Model(sc, seed=5).run(progress=False)
    assert not np.array_equal(got.timeseries["resolved"], want.timeseries["resolved"])


def test_the_prefix_key_ignores_name_description_and_policies_only() -> None:
    base, whistle, combined = _scenarios(30, SHARING[:3])
    assert prefix_key(base) == prefix_key(whistle) == prefix_key(combined)
    renamed = base.with_overrides({"name": "other", "description": "x"})
    assert prefix_key(renamed) == prefix_key(base)
    assert prefix_key(base.with_overrides({"problems.rate_abandon": 0.01})) != prefix_key(base)
    assert prefix_key(base.with_overrides({"reform.start_day": 31})) != prefix_key(base)
    sanya = _scenarios(30, ("sanya_jiyang_1plusN.toml",))[0]
    assert prefix_key(sanya) != prefix_key(base)


def test_a_branch_refuses_a_scenario_that_differs_in_more_than_its_policies() -> None:
    base = _scenarios(30)[0]
    prefix = Prefix(base, seed=1)
    with pytest.raises(InputError, match="does not share this prefix"):
        prefix.branch(base.with_overrides({"problems.rate_abandon": 0.01}))


def test_groups_put_together_the_scenarios_that_share_days() -> None:
    scs = _scenarios(30, (*SHARING[:3], "sanya_jiyang_1plusN.toml", SHARING[4]))
    assert groups(scs) == [(0, 1, 2, 4), (3,)]
    assert groups(scs, share_prefix=False) == [(i,) for i in range(5)]
    alone = _scenarios(0, SHARING[:2], **{"reform.dur_warmup": 0})  # nothing to share
    assert groups(alone) == [(0,), (1,)]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_comparison_sharing_days_has_the_same_runs_as_one_that_does_not(workers: int) -> None:
    """Three scenarios sharing days and one that does not, 3 replicates: tasks 6 instead of 12, the same numbers."""
    files = [SCENARIO_DIR / f for f in (*SHARING[:3], "sanya_jiyang_1plusN.toml")]
    kw = {"replicates": 3, "seed": 4, "progress": False, "overrides": {**SMALL, "reform.start_day": 30}}
    shared = compare(files, workers=workers, **kw)  # type: ignore[arg-type]
    alone = compare(files, workers=1, share_prefix=False, **kw)  # type: ignore[arg-type]
    cols = [c for c in alone.runs.columns]
    assert shared.runs[cols].equals(alone.runs[cols])
    for label in alone.labels:
        for k, v in alone.series[label].items():
            assert np.array_equal(shared.series[label][k], v, equal_nan=True), (label, k)
    entries = prepare(files, None, {**SMALL, "reform.start_day": 30})
    assert len(ComparisonRuns(entries, None, "x").tasks([1, 2, 3])[1]) == 6
    assert len(ComparisonRuns(entries, None, "x", share_prefix=False).tasks([1, 2, 3])[1]) == 12


def test_an_uncertainty_comparison_shares_days_too() -> None:
    """A replicate's draw is the same in every scenario: its scenarios still share their days; the same numbers."""
    from sim.experiments.uncertainty import run_uncertain
    from sim.experiments.uncertainty_spec import Uncertain

    entries = prepare([SCENARIO_DIR / f for f in SHARING[:2]], None, {**SMALL, "reform.start_day": 30})
    drawn = [Uncertain("costs.cost_event", "uniform", 1000.0, 4000.0),
             Uncertain("problems.rate_abandon_latent", "uniform", 0.001, 0.01)]
    kw = {"replicates": 3, "seed": 2, "workers": 1, "progress": False}
    shared = run_uncertain(entries, drawn, share_prefix=True, **kw)  # type: ignore[arg-type]
    alone = run_uncertain(entries, drawn, share_prefix=False, **kw)  # type: ignore[arg-type]
    assert shared.comparison.runs.equals(alone.comparison.runs)
    assert shared.comparison.runs["problems_resolved"].nunique() == 6  # each draw and scenario its own run


def test_the_cli_turns_it_off() -> None:
    from sim.cli import build_parser

    args = build_parser().parse_args(["compare", "a.toml", "--no-share-prefix"])
    assert args.share_prefix is False
    assert build_parser().parse_args(["compare", "a.toml"]).share_prefix is True


def _share_spec(tmp_path: Path, crn: bool = True, uncertainties: dict | None = None) -> SweepSpec:
    from test_sweep_support import write_sweep

    path = write_sweep(tmp_path, "share.toml", name="share", steps=25, replicates=3, design={"method": "latin_hypercube",
                       "n_samples": 4}, extra=f"common_random_numbers = {'true' if crn else 'false'}",
                       constants={"reform.dur_warmup": 30, "reform.start_day": 10}, uncertainties=uncertainties or {},
                       levers={"policies.alliance.n_units": {"low": 0, "high": 10},
                               "policies.whistle.share_meeting": {"low": 0.1, "high": 0.9}})
    return load_sweep(path)


def test_a_sweep_shares_days_only_under_common_random_numbers_with_policy_factors(tmp_path: Path) -> None:
    spec = _share_spec(tmp_path)
    assert spec.shares_prefix
    assert list(spec.pairs())[:5] == [(0, 0), (1, 0), (2, 0), (3, 0), (0, 1)]  # replicate by replicate
    assert list(spec.pairs({(1, 0)}))[:2] == [(0, 0), (2, 0)]
    assert not _share_spec(tmp_path, crn=False).shares_prefix
    assert list(_share_spec(tmp_path, crn=False).pairs())[:2] == [(0, 0), (0, 1)]
    core = _share_spec(tmp_path, uncertainties={"problems.rate_arise": {"low": 0.004, "high": 0.01}})
    assert not core.shares_prefix


def test_a_sweep_sharing_days_stores_the_runs_of_one_that_does_not(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Bit for bit: every kept outcome of every (experiment, replicate), with days shared and without."""
    from sim.experiments.sweep import work
    from sim.experiments.sweep.run import run_sweep
    from sim.store.database import ResultStore

    spec = _share_spec(tmp_path)
    built: list[int] = []
    real = Prefix.__init__

    def counting(self: Prefix, scenario: Scenario, seed: int) -> None:
        built.append(seed)
        real(self, scenario, seed)

    monkeypatch.setattr(Prefix, "__init__", counting)
    frames = {}
    for share in (True, False):
        monkeypatch.setattr(SweepSpec, "shares_prefix", share)  # the class attribute stands in for the property
        work._PREFIXES.clear()
        built.clear()
        with ResultStore(f"sqlite:///{tmp_path / f'{share}.db'}") as store:
            report = run_sweep(spec, store, workers=1, progress=False, log=lambda m: None)
            assert report.complete
            frames[share] = store.sweep_frame(spec.sweep_id).sort_values(["experiment", "replicate"])
        assert built == ([spec.seed_of(0, r) for r in range(3)] if share else [])  # one per replicate, 4 runs each
    cols = [c for c in frames[False].columns if c != "run_id"]
    assert frames[True][cols].reset_index(drop=True).equals(frames[False][cols].reset_index(drop=True))
    assert frames[True]["resolution_rate"].nunique() > 3  # the levers do act
