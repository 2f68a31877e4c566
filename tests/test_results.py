"""sim.core.results: the time series, the summary statistics and the Results object."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pandas as pd
import pytest
from helpers import small

from sim import Model, Results, run_scenario
from sim.config.taxonomy import N_SEVERITIES, SEVERITIES
from sim.core.results import SERIES, p10_binned, quantile_from_hist


def test_to_dataframe_has_t_index_and_every_series(small_run: tuple[Model, Results]) -> None:
    _, res = small_run
    df = res.to_dataframe()
    assert isinstance(df, pd.DataFrame)
    assert df.index.name == "t"
    np.testing.assert_array_equal(df.index.to_numpy(), res.t)
    assert list(df.columns) == list(SERIES)
    for name in SERIES:
        np.testing.assert_array_equal(df[name].to_numpy(), res.timeseries[name])
    assert len(df) == 200
    s = res.summary_series()
    assert s.name == res.scenario.name and s["resolution_rate"] == res.summary["resolution_rate"]


def test_results_carry_provenance(small_run: tuple[Model, Results]) -> None:
    model, res = small_run
    assert res.seed == 1 and res.scenario is model.scenario
    assert res.finished_at >= res.started_at and res.run_s >= 0 and res.setup_s >= 0
    assert all(isinstance(v, float) for v in res.summary.values())


# ---- quantiles from the histogram of days to resolution ---------------------------------------------
def hand_made() -> tuple[np.ndarray, np.ndarray]:
    """Days to resolution of 10 problems by severity, and the same as a (severity, days) histogram."""
    days = {0: [0, 1, 1, 2], 1: [3, 3, 9], 2: [5, 20], 3: [40]}
    hist = np.zeros((N_SEVERITIES, 50), dtype=np.int64)
    for s, ds in days.items():
        for d in ds:
            hist[s, d] += 1
    return hist, days


def lower_quantile(values: list[int], q: float) -> float:
    """Smallest value with at least a share q of the values at or below it (inverse of the CDF)."""
    v = sorted(values)
    return float(v[math.ceil(q * len(v)) - 1]) if q > 0 else float(v[0])


def test_quantile_from_hist_on_a_hand_made_histogram() -> None:
    hist, days = hand_made()
    every = [d for ds in days.values() for d in ds]  # 0 1 1 2 3 3 5 9 20 40
    total = hist.sum(axis=0)
    assert quantile_from_hist(total, 0.5) == lower_quantile(every, 0.5) == 3.0
    assert quantile_from_hist(total, 0.9) == lower_quantile(every, 0.9) == 20.0
    assert quantile_from_hist(total, 0.1) == lower_quantile(every, 0.1)
    for q in (0.05, 0.25, 0.5, 0.75, 0.95, 1.0):
        assert quantile_from_hist(total, q) == np.quantile(every, q, method="inverted_cdf")
    assert math.isnan(quantile_from_hist(np.zeros(5, dtype=np.int64), 0.5))


def test_quantile_from_hist_matches_numpy_on_random_data() -> None:
    rng = np.random.default_rng(0)
    for _ in range(300):
        values = rng.integers(0, 30, size=int(rng.integers(1, 80)))
        hist = np.bincount(values, minlength=40)
        for q in (0.5, 0.9):
            assert quantile_from_hist(hist, q) == np.quantile(values, q, method="inverted_cdf")


def test_summary_days_to_resolution_from_the_ledger_histogram() -> None:
    """Summary medians are read from the ledger's histogram: plant a hand-made one and compare."""
    m = Model(small(n_steps=10), seed=1)
    hist, days = hand_made()
    m.ledger.days_hist = hist
    s = m.summary()
    every = [d for ds in days.values() for d in ds]
    assert s["days_to_resolution_median"] == lower_quantile(every, 0.5)
    assert s["days_to_resolution_p90"] == lower_quantile(every, 0.9)
    big_or_worse = days[SEVERITIES.index("big")] + days[SEVERITIES.index("major")]  # 5 20 40
    assert s["days_to_resolution_median_big"] == lower_quantile(big_or_worse, 0.5) == 20.0


def test_summary_days_agree_with_a_direct_count_in_a_run() -> None:
    """Over a real run, the histogram holds every resolved problem once with its wait in days."""
    m = Model(small(n_steps=120), seed=6)
    waits: list[np.ndarray] = []
    original = m.resolve

    def spy(rows: np.ndarray, t: int) -> None:
        rows = rows[m.problems.status[rows] == 1]
        waits.append(t - m.problems.t_arise[rows])
        original(rows, t)

    m.resolve = spy  # type: ignore[method-assign]
    s = m.run(120).summary
    every = np.concatenate(waits)
    assert every.size == s["problems_resolved"]
    assert s["days_to_resolution_median"] == np.quantile(every, 0.5, method="inverted_cdf")
    assert s["days_to_resolution_p90"] == np.quantile(every, 0.9, method="inverted_cdf")


@pytest.mark.parametrize("bins", [None, 2000, 100])
def test_p10_binned_is_close_to_the_exact_percentile(bins: int | None) -> None:
    width = 1.0 / (bins or inspect.signature(p10_binned).parameters["bins"].default)
    rng = np.random.default_rng(1)
    for _ in range(20):
        v = rng.beta(3, 2, size=5000).astype(np.float32)
        got = p10_binned(v) if bins is None else p10_binned(v, bins=bins)
        # the centre of the bin holding the (lower) 10th percentile
        assert abs(got - np.quantile(v, 0.1, method="inverted_cdf")) <= 0.5 * width + 1e-7


# ---- recording ----------------------------------------------------------------------------------
@pytest.mark.parametrize("every", [2, 7])
def test_record_every_thins_rows_without_changing_the_run(every: int) -> None:
    full = run_scenario(small(n_steps=60), seed=3, n_steps=60)
    thin = run_scenario(small({"run.record_every": every}, n_steps=60), seed=3, n_steps=60)
    np.testing.assert_array_equal(thin.t, np.arange(0, 60, every))
    assert len(thin.to_dataframe()) == -(-60 // every)
    for name in SERIES:
        assert np.array_equal(thin.timeseries[name], full.timeseries[name][::every], equal_nan=True), name
    assert thin.summary == pytest.approx(full.summary, nan_ok=True)


def test_record_every_longer_than_the_run_keeps_the_first_day() -> None:
    r = run_scenario(small({"run.record_every": 100}, n_steps=30), seed=1, n_steps=30)
    assert r.t.tolist() == [0]
    assert all(v.shape == (1,) for v in r.timeseries.values())


def test_timeseries_are_copies(small_run: tuple[Model, Results]) -> None:
    model, res = small_run
    res2 = model.recorder.results(started=res.started_at, finished=res.finished_at, run_s=0.0)
    res2.timeseries["arisen"][:] = -1
    assert res.timeseries["arisen"][0] >= 0
