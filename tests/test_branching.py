"""Shared days (sim.core.branching, sim.experiments.compare_runs): branches give a fresh run's results, bit for bit."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sim.config.paths import SCENARIO_DIR
from sim.core import branching
from sim.core.branching import Prefix, prefix_key, restore, shared_days, snapshot
from sim.core.model import Model
from sim.core.phases import Policy
from sim.core.results import Results
from sim.core.scenario import Scenario, load_scenario
from sim.errors import InputError
from sim.experiments.compare import compare
from sim.experiments.compare_prepare import prepare
from sim.experiments.compare_runs import ComparisonRuns, groups, split
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
    assert prefix_key(alone[0]) is None and prefix_key(alone[1]) is None
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


# ---- from the review: what could make a branch differ, and the costs of sharing -------------------------
def _arrays(obj: object, path: str, seen: set[int], out: dict[str, np.ndarray]) -> None:
    """Every array reachable from ``obj`` through dicts, lists, tuples and govsim objects, by its first path."""
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        if obj.nbytes:
            out[path] = obj
        return
    if isinstance(obj, dict):
        items: Any = obj.items()
    elif isinstance(obj, (list, tuple)):
        items = enumerate(obj)
    elif type(obj).__module__.startswith("sim.") and hasattr(obj, "__dict__"):
        items = vars(obj).items()
    else:
        return
    for k, v in items:
        _arrays(v, f"{path}.{k}", seen, out)


def _shared_pairs(model: Model) -> set[tuple[str, str]]:
    """The paths of every pair of the model's arrays that share memory."""
    arrays: dict[str, np.ndarray] = {}
    _arrays(model, "model", set(), arrays)
    names = sorted(arrays)
    return {(a, b) for i, a in enumerate(names) for b in names[i + 1:] if np.shares_memory(arrays[a], arrays[b])}


@pytest.mark.parametrize("start_day", [10, 0])
def test_a_restored_model_has_the_same_arrays_sharing_memory_and_none_with_the_original(start_day: int) -> None:
    """Every pair of arrays that share memory in a model (before and after its reform) shares it in its copy."""
    model = Model(_scenarios(start_day, ("combined_reforms.toml",))[0], seed=6)
    for _ in range(15):  # past the reform: the policies' arrays too
        model.step()
    pairs = _shared_pairs(model)
    assert ("model.recorder._table", "model.recorder.data.resolved") in pairs  # the walk finds views
    copy = restore(snapshot(model))
    assert _shared_pairs(copy) == pairs
    for name, value in vars(copy.residents).items():
        if isinstance(value, np.ndarray) and value.nbytes:
            assert not np.shares_memory(value, vars(model.residents)[name]), name


def test_views_of_an_f_ordered_or_foreign_base_stay_views_and_a_strided_base_is_refused() -> None:
    f = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    foreign = np.frombuffer(bytearray(np.arange(6, dtype=np.int64).tobytes()), dtype=np.int64)  # base: a bytearray
    holder = {"f": f, "f_col": f[:, 1], "foreign": foreign, "foreign_tail": foreign[2:]}
    copy: Any = restore(snapshot(holder))  # type: ignore[arg-type]
    copy["f"][0, 1] = -1.0
    copy["foreign"][3] = -7
    assert copy["f_col"][0] == -1.0 and copy["foreign_tail"][1] == -7
    assert f[0, 1] == 1.0 and foreign[3] == 3
    strided = np.ndarray((5,), float, buffer=bytearray(80), strides=(16,))  # the topmost array, every other double
    with pytest.raises(TypeError, match="neither C- nor F-contiguous"):
        snapshot({"base": strided, "view": strided[1:]})  # type: ignore[arg-type]


@pytest.mark.parametrize("more", [{"run.record_every": 7}, {"reform.dur_warmup": 0}, {"run.n_steps": 20}])
def test_branches_with_a_coarser_record_no_warm_up_or_a_short_run(more: dict[str, object]) -> None:
    scenarios = _scenarios(30, SHARING[:3], **more)
    prefix = Prefix(scenarios[0], seed=8)
    for sc in scenarios:
        _assert_same(prefix.run(sc), Model(sc, seed=8).run(progress=False))


class _Remembers(Policy):
    """A plugin policy whose own ``__init__`` reads the model: built before the warm-up, it sees another state."""

    name = "remembers_trust"

    def __init__(self, params: Any, model: Model) -> None:
        super().__init__(params, model)
        self.trust0 = float(model.residents.trust.mean())

    def setup(self, model: Model) -> None:
        model.p_prevent[:] = 0.5 * self.trust0


def test_a_policy_with_its_own_init_shares_no_days(monkeypatch: pytest.MonkeyPatch) -> None:
    from sim import policies

    monkeypatch.setitem(policies._REGISTRY, _Remembers.name, _Remembers)
    base = _scenarios(30)[0]
    odd = Scenario.from_dict({**base.to_dict(), "policies": {"remembers_trust": {}}})
    assert prefix_key(odd) is None and prefix_key(base) is not None
    assert prefix_key(base, also=["remembers_trust"]) is None  # a sweep's factor switching it on
    assert groups([base, odd, base]) == [(0, 2), (1,)]
    with pytest.raises(InputError, match="__init__ of its own"):
        Prefix(base, seed=1).branch(odd)
    # what sharing would have got wrong: the policy built on the reform date sees the warmed-up residents
    fresh = Model(odd, seed=1)
    branched = Prefix(base, seed=1).branch(base)
    first = fresh._waiting[0]
    assert isinstance(first, _Remembers)
    assert _Remembers(odd.policies[0].params, branched).trust0 != first.trust0


def test_the_prefix_model_is_freed_once_its_snapshot_is_taken() -> None:
    import gc
    import weakref

    made: list[weakref.ref[Model]] = []
    real = branching.snapshot

    def keep(model: Model) -> bytes:
        made.append(weakref.ref(model))
        return real(model)

    gc.disable()
    try:
        mp = pytest.MonkeyPatch()
        mp.setattr(branching, "snapshot", keep)
        prefix = Prefix(_scenarios(30)[0], seed=1)
        mp.undo()
        assert made and made[0]() is None  # freed by reference counting, no collection needed
        assert prefix.days == 30
    finally:
        gc.enable()


def test_more_workers_than_groups_cuts_the_groups_up_to_the_workers() -> None:
    """Six scenarios sharing days, 2 replicates: 2 tasks on 2 workers, 8 on 8 (none idle), never more than workers."""
    entries = prepare([SCENARIO_DIR / f for f in SHARING], None, {**SMALL, "reform.start_day": 30})
    runs = ComparisonRuns(entries, None, "x")
    assert [len(t[0]) for t in runs.tasks([1, 2], workers=2)[1]] == [6, 6]
    cut = runs.tasks([1, 2], workers=8)[1]
    assert len(cut) == 8 and sorted(i for t in cut if t[1] == 0 for i in t[0]) == list(range(6))
    assert split([[(0, 1, 2, 3, 4)]], 2) == [[(0, 1), (2, 3, 4)]]
    assert split([[(0, 1, 2, 3), (4,), (5,), (6,)]], 9) == [[(0,), (1,), (2,), (3,), (4,), (5,), (6,)]]
    # 20 replicates of a pair on 24 workers: 24 tasks (4 pairs cut), not 40 in two rounds
    assert sum(len(gs) for gs in split([[(0, 1)]] * 20, 24)) == 24
    alone = ComparisonRuns(entries, None, "x", share_prefix=False).tasks([1, 2], workers=8)[1]
    assert [(t[0][0], t[1]) for t in alone] == [(i, r) for i in range(6) for r in range(2)]  # entry by entry, as before


def test_worker_threads_build_a_replicates_days_once() -> None:
    """A Dask worker's threads asking for the same shared days at once: one builds them, the others reuse them."""
    import threading

    from sim.core.branching import prefix_key as key_of
    from sim.experiments.sweep import work

    sc = _scenarios(30)[1]
    work.forget_prefixes()
    got: list[object] = []
    barrier = threading.Barrier(4)

    def ask() -> None:
        barrier.wait()
        got.append(work._prefix(str(key), sc, 9))

    key = key_of(sc)
    assert key is not None
    threads = [threading.Thread(target=ask) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(got) == 4 and all(p is got[0] for p in got)
    finally:
        work.forget_prefixes()


def test_a_sweep_sharing_days_on_two_worker_processes_stores_the_same_runs(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from sim.experiments.sweep.run import run_sweep
    from sim.store.database import ResultStore

    spec = _share_spec(tmp_path)
    frames = {}
    for workers, share in ((2, True), (1, False)):
        monkeypatch.setattr(SweepSpec, "shares_prefix", share)
        with ResultStore(f"sqlite:///{tmp_path / f'{workers}.db'}") as store:
            assert run_sweep(spec, store, workers=workers, progress=False, log=lambda m: None).complete
            frames[workers] = store.sweep_frame(spec.sweep_id).drop(columns="run_id").reset_index(drop=True)
    assert frames[2].equals(frames[1])
