"""sim.core.problems (the problem pool, the ledger, arrival strata) and the numpy definitions of the
submodels the kernels implement (arise, find, route, handle)."""

from __future__ import annotations

import numpy as np
import pytest

from sim.config.taxonomy import (
    CITY,
    COMMUNITY,
    DEPARTMENT,
    GRID,
    N_CATEGORIES,
    N_LEVELS,
    N_SEVERITIES,
    PROPERTY,
    STREET,
)
from sim.core.kernels.numpy_definitions import (
    allocate,
    append_rows,
    climb,
    draw_arrivals,
    keep,
    p_self_report,
    p_tell,
    propensity,
)
from sim.core.kernels.state import PoolColumns
from sim.core.problems import CHAINS, NEXT_LEVEL, Ledger, ProblemPool, arrival_table


# ---- allocate ------------------------------------------------------------------------------------
def no_work(n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    """No work in progress at any handler."""
    return np.zeros(n_keys), np.full(n_keys, -1, dtype=np.int64)


def allocate_reference(key, priority, effort, capacity, work):
    """Plain-Python statement of the rule (docs/model.md §7.5): per handler, in (priority, arrival) order,
    attempt a problem while the effort of the attempts so far plus its own fits in the capacity (plus the
    work in progress if it is the problem that work was for); at the first that does not fit, put the rest
    of the day into it and stop."""
    bank, bank_id = work
    attempted = np.zeros(key.size, dtype=bool)
    used = np.zeros(capacity.size)
    for k in np.unique(key):
        queue = sorted(np.flatnonzero(key == k), key=lambda i: (priority[i], i))
        avail = capacity[k] + (bank[k] if bank_id[k] == queue[0] else 0.0)
        done = 0.0
        for i in queue:
            if done + effort[i] > avail + 1e-9:
                bank[k], bank_id[k], used[k] = avail - done, i, capacity[k]
                break
            attempted[i] = True
            done += effort[i]
        else:
            bank[k], bank_id[k], used[k] = 0.0, -1, max(capacity[k] - (avail - done), 0.0)
    return attempted, used


def random_queue(rng: np.random.Generator, n: int, n_keys: int, prio_lo: int):
    key = rng.integers(0, n_keys, n)
    priority = rng.integers(prio_lo, prio_lo + 40, n)
    # binary fractions: sums are exact, so "fits in the capacity" has no round-off ties
    effort = rng.choice([0.125, 0.25, 0.5, 1.0], n)
    capacity = rng.choice([0.0, 0.375, 1.0, 2.5, 100.0], n_keys)
    return key, priority, effort, capacity


def check_allocation(key, priority, effort, capacity):
    qid = np.arange(key.size, dtype=np.int64)
    work, ref_work = no_work(capacity.size), no_work(capacity.size)
    attempted, used = allocate(key, priority, qid, effort, capacity, work)
    ref_att, ref_used = allocate_reference(key, priority, effort, capacity, ref_work)
    np.testing.assert_array_equal(attempted, ref_att)
    np.testing.assert_allclose(used, ref_used)
    np.testing.assert_array_equal(work[1], ref_work[1])
    assert np.all(used <= capacity)  # never more than the capacity
    for k in range(capacity.size):
        mine = np.flatnonzero(key == k)
        mine = mine[np.lexsort((mine, priority[mine]))]  # this handler's queue in service order
        went = attempted[mine]
        # served in order: the attempted problems are a prefix of the queue, and fit in the capacity
        assert not np.any(went[1:] & ~went[:-1])
        assert effort[mine[went]].sum() <= capacity[k]
        if not went.all():  # the first problem left out did not fit; the rest of the day went into it
            first = mine[np.argmin(went)]
            assert effort[mine[went]].sum() + effort[first] > capacity[k]
            assert work[1][k] == first and work[0][k] == capacity[k] - effort[mine[went]].sum()
            assert used[k] == capacity[k]


@pytest.mark.parametrize("seed", range(20))
def test_allocate_respects_capacity_per_key_and_priority_order(seed: int) -> None:
    rng = np.random.default_rng(seed)
    check_allocation(*random_queue(rng, int(rng.integers(1, 300)), int(rng.integers(1, 12)), prio_lo=0))


@pytest.mark.parametrize("seed", range(5))
def test_allocate_with_negative_priorities(seed: int) -> None:
    """Queue priority from policies (t_level - priority_days) can be negative: queues must not mix."""
    rng = np.random.default_rng(seed)
    check_allocation(*random_queue(rng, 200, 6, prio_lo=-20))


def test_allocate_small_example() -> None:
    key = np.array([1, 0, 1, 1, 0])
    priority = np.array([5, 3, 2, 9, 1])
    effort = np.array([1.0, 1.0, 1.0, 1.0, 1.0])
    work = no_work(2)
    attempted, used = allocate(key, priority, np.arange(5), effort, np.array([1.0, 1.5]), work)
    # handler 0 (cap 1): priority 1 fits, priority 3 does not; handler 1 (cap 1.5): priority 2 fits, then
    # priority 5 (1 more) does not: the remaining 0.5 goes into it as work in progress
    assert attempted.tolist() == [False, False, True, False, True]
    assert used.tolist() == [1.0, 1.5]
    assert work[0].tolist() == [0.0, 0.5] and work[1].tolist() == [1, 0]
    # the next day, handler 1 has 1.5 + the 0.5 carried for problem 0: problems 0 and 3 fit (2.0)
    attempted, used = allocate(key[[0, 3]], priority[[0, 3]], np.array([0, 3]), effort[[0, 3]], np.array([1.0, 1.5]),
                               work)
    assert attempted.tolist() == [True, True] and used[1] == 1.5 and work[1][1] == -1


def test_allocate_ties_are_first_come_first_served() -> None:
    key = np.zeros(4, dtype=np.int64)
    attempted, _ = allocate(key, np.array([3, 3, 3, 3]), np.arange(4), np.ones(4), np.array([2.0]), no_work(1))
    assert attempted.tolist() == [True, True, False, False]


# ---- climb ---------------------------------------------------------------------------------------
def climb_reference(start, p, has, threshold, top):
    out = []
    for i, lvl in enumerate(start):
        lvl = int(lvl)
        while lvl < top and (not has[i, lvl] or p[i, lvl] < threshold):
            lvl = min(int(NEXT_LEVEL[lvl]), top)
        out.append(lvl)
    return np.array(out)


@pytest.mark.parametrize("seed", range(10))
def test_climb_skips_levels_below_threshold_and_never_passes_top(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 500
    top = int(rng.integers(COMMUNITY, N_LEVELS))
    start = rng.integers(0, top + 1, n).astype(np.int8)
    p = rng.random((n, N_LEVELS)).astype(np.float32)
    has = rng.random((n, N_LEVELS)) < 0.8
    threshold = 0.3
    out = climb(start, p, has, threshold, top)
    np.testing.assert_array_equal(out, climb_reference(start, p, has, threshold, top))
    assert np.all(out <= top) and np.all(out >= start)
    ok = has[np.arange(n), out] & (p[np.arange(n), out] >= threshold)
    assert np.all(ok | (out == top))  # stops at the first good level, or at the top
    # a problem that starts at a good level stays
    good_start = has[np.arange(n), start] & (p[np.arange(n), start] >= threshold)
    np.testing.assert_array_equal(out[good_start], start[good_start])
    assert start.dtype == np.int8 and np.array_equal(start, start.copy())  # input not modified


def test_climb_example_property_firm_escalates_to_community() -> None:
    p = np.ones((2, N_LEVELS), dtype=np.float32)
    has = np.ones((2, N_LEVELS), dtype=bool)
    has[0, PROPERTY] = False  # no firm
    p[1, GRID] = p[1, COMMUNITY] = 0.0  # neither grid nor community can solve it
    out = climb(np.array([PROPERTY, GRID], dtype=np.int8), p, has, 0.15, DEPARTMENT)
    assert out.tolist() == [COMMUNITY, STREET]
    # with a zero threshold only missing handlers are skipped
    assert climb(np.array([GRID], dtype=np.int8), np.zeros((1, N_LEVELS), np.float32),
                 np.ones((1, N_LEVELS), bool), 0.0, CITY).tolist() == [GRID]


def test_climb_never_returns_a_level_above_top() -> None:
    """A problem entering above the top level is brought down to it, whatever the other rows do."""
    p = np.ones((2, N_LEVELS), dtype=np.float32)
    has = np.ones((2, N_LEVELS), dtype=bool)
    alone = climb(np.array([DEPARTMENT], dtype=np.int8), p[:1], has[:1], 0.1, STREET)
    p[1, GRID] = 0.0
    together = climb(np.array([DEPARTMENT, GRID], dtype=np.int8), p, has, 0.1, STREET)
    assert together[0] == alone[0]
    assert alone[0] <= STREET


def test_next_level_climbs() -> None:
    assert NEXT_LEVEL[GRID] == COMMUNITY and NEXT_LEVEL[PROPERTY] == COMMUNITY
    assert NEXT_LEVEL[COMMUNITY] == STREET and NEXT_LEVEL[STREET] == DEPARTMENT
    assert NEXT_LEVEL[DEPARTMENT] == CITY and NEXT_LEVEL[CITY] == CITY


def test_chains_follow_next_level_up_to_top() -> None:
    for top in range(N_LEVELS):
        for start in range(N_LEVELS):
            way, lvl = {min(start, top)}, min(start, top)
            while lvl < top:
                lvl = min(int(NEXT_LEVEL[lvl]), top)
                way.add(lvl)
            assert set(np.flatnonzero(CHAINS[top][start]).tolist()) == way


# ---- arrivals ------------------------------------------------------------------------------------
def small_table(rate_arise: float = 0.02, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = 3000
    ctype = rng.integers(0, 3, n).astype(np.int8)
    group = rng.integers(0, 3, n).astype(np.int8)
    weights = rng.uniform(0.2, 2.0, (3, N_CATEGORIES))
    mult = rng.uniform(0.5, 2.0, (3, N_CATEGORIES))
    sev = rng.uniform(0.1, 1.0, (N_CATEGORIES, N_SEVERITIES))
    return ctype, group, weights, mult, sev, arrival_table(ctype, group, rate_arise, weights, mult, sev)


def test_arrival_table_rates_follow_the_formula() -> None:
    ctype, group, weights, mult, sev, table = small_table()
    for ct in range(3):
        for g in range(3):
            s = ct * 3 + g
            expected = 0.02 * weights[g] * mult[ct] / weights[1].sum()
            np.testing.assert_allclose(table.rate[s], expected)
            members = table.order[table.start[s]: table.start[s] + table.size[s]]
            assert np.all(ctype[members] == ct) and np.all(group[members] == g)
    assert sorted(table.order.tolist()) == list(range(ctype.size))
    np.testing.assert_allclose(table.sev_cum[:, -1], 1.0)
    # an adult in a compound with multiplier 1 has rate_arise problems a day over all categories
    neutral = arrival_table(ctype, group, 0.01, weights, np.ones((3, N_CATEGORIES)), sev)
    assert neutral.rate[1].sum() == pytest.approx(0.01)


def test_draw_arrivals_matches_expected_rates() -> None:
    ctype, group, weights, mult, sev_w, table = small_table()
    rng = np.random.default_rng(42)
    n_days = 1500
    counts = np.zeros(n_days)
    by_res_stratum = np.zeros(9)
    by_cat = np.zeros(N_CATEGORIES)
    by_cat_sev = np.zeros((N_CATEGORIES, N_SEVERITIES))
    for d in range(n_days):
        res, cat, sev, u_prev = draw_arrivals(table, rng)
        assert res.size == cat.size == sev.size == u_prev.size
        counts[d] = res.size
        by_res_stratum += np.bincount(ctype[res].astype(np.int64) * 3 + group[res], minlength=9)
        by_cat += np.bincount(cat, minlength=N_CATEGORIES)
        np.add.at(by_cat_sev, (cat, sev), 1)
        assert np.all((u_prev >= 0) & (u_prev < 1))
    expected_per_day = float((table.size * table.rate.sum(axis=1)).sum())
    se = counts.std(ddof=1) / np.sqrt(n_days)  # from the spread of the daily counts
    assert abs(counts.mean() - expected_per_day) < 4 * se, (counts.mean(), expected_per_day, se)
    # each stratum's share and each category's share match the rates (binomial se)
    total = counts.sum()
    for observed, p in ((by_res_stratum, table.size * table.rate.sum(axis=1)),
                        (by_cat, (table.size[:, None] * table.rate).sum(axis=0))):
        p = p / p.sum()
        assert np.all(np.abs(observed / total - p) < 4 * np.sqrt(p * (1 - p) / total) + 1e-12)
    # severities by category follow the normalised severity weights
    sev_p = sev_w / sev_w.sum(axis=1, keepdims=True)
    n_cat = by_cat_sev.sum(axis=1, keepdims=True)
    assert np.all(np.abs(by_cat_sev / n_cat - sev_p) < 4 * np.sqrt(sev_p * (1 - sev_p) / n_cat))


def test_draw_arrivals_is_a_function_of_the_stream() -> None:
    *_, table = small_table()
    a = draw_arrivals(table, np.random.default_rng(7))
    b = draw_arrivals(table, np.random.default_rng(7))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    res, *_ = draw_arrivals(arrival_table(*small_table()[:2], 0.0, *small_table()[2:5]), np.random.default_rng(7))
    assert res.size == 0


# ---- find ----------------------------------------------------------------------------------------
def test_p_self_report_rises_with_trust_and_efficacy() -> None:
    base = np.array([0.04, 0.08, 0.15, 0.25])
    level = np.linspace(0.0, 1.0, 101, dtype=np.float32)
    half = np.full(level.size, 0.5, dtype=np.float32)
    one = np.ones(level.size, dtype=np.float32)
    f32 = np.float32
    for s in range(N_SEVERITIES):
        sev = np.full(level.size, s)
        for trust, efficacy in ((level, half), (half, level)):
            p = p_self_report(base, sev, propensity(trust, efficacy, f32(1.5), f32(1.5)), one)
            assert np.all(np.diff(p) > 0)
            assert np.all((p >= 0) & (p < 1))
        flat = p_self_report(base, sev, propensity(level, level, f32(0.0), f32(0.0)), one)
        np.testing.assert_allclose(flat, 1 - np.exp(-base[s]))  # no slopes: trust and efficacy do not matter
    # at trust and efficacy 0.5 the daily hazard is the base rate; the multiplier scales the hazard
    m = propensity(half[:2], half[:2], f32(1.5), f32(1.5))
    p = p_self_report(base, np.array([2, 2]), m, np.array([1.0, 2.0], dtype=np.float32))
    np.testing.assert_allclose(p, [1 - np.exp(-0.15), 1 - np.exp(-0.30)])
    # the propensity never falls below 0, even for steep slopes at zero trust and efficacy
    zero = np.zeros(1, dtype=np.float32)
    assert propensity(zero, zero, f32(2.0), f32(2.0))[0] == 0.0
    assert p_tell(propensity(zero + 1, zero + 1, f32(2.0), f32(2.0)), f32(0.5))[0] == 1.0  # telling is capped at 1

def pool_rows(k: int, start: int = 0) -> dict[str, np.ndarray]:
    ids = np.arange(start, start + k)
    return {"res": ids, "cat": ids % N_CATEGORIES, "sev": ids % N_SEVERITIES, "status": np.zeros(k),
            "level": np.full(k, -1), "handler": np.full(k, -1), "t_arise": ids, "t_found": np.full(k, -1),
            "t_level": np.full(k, -1), "n_contacts": np.zeros(k), "finder": np.full(k, -1), "flags": np.zeros(k)}


def test_problem_pool_grows_and_keeps_order() -> None:
    pool = ProblemPool(capacity=4)
    append_rows(pool, **pool_rows(3))
    append_rows(pool, **pool_rows(0))
    append_rows(pool, **pool_rows(10, start=3))
    assert len(pool) == 13 and pool.res.tolist() == list(range(13))
    assert pool.cat.dtype == np.int8 and pool.res.dtype == np.int32
    kept = pool.res % 3 != 0
    keep(pool, kept)
    assert pool.res.tolist() == [i for i in range(13) if i % 3]
    assert pool.t_arise.tolist() == pool.res.tolist()
    keep(pool, np.ones(pool.n, dtype=bool))
    assert pool.n == 8
    for name, col, buf in zip(PoolColumns._fields, pool.cols, pool.buffers):  # the kernels' view: the live rows
        assert getattr(pool, name) is col and col.base is buf
    with pytest.raises(AttributeError):
        pool.nonexistent  # noqa: B018



def test_problem_pool_columns_follow_a_grow_that_adds_no_row() -> None:
    """A day whose room was reserved (buffers grown) but whose every arrival was prevented keeps n
    unchanged: the columns the kernels write through must still be views of the new buffers."""
    pool = ProblemPool(capacity=4)
    append_rows(pool, **pool_rows(3))
    old = pool.buffers
    pool.reserve(10)  # grows: new buffers
    assert pool.buffers[0] is not old[0]
    pool.set_rows(pool.n)  # nothing appended today
    for name, col, buf in zip(PoolColumns._fields, pool.cols, pool.buffers):
        assert getattr(pool, name) is col and col.base is buf
    pool.status[0] = 7  # a kernel's write through a column lands in the live buffer
    assert pool.buffers[PoolColumns._fields.index("status")][0] == 7

def test_ledger_shapes() -> None:
    led = Ledger(n_days=10)
    assert led.arisen.shape == led.resolved.shape == led.abandoned.shape == (N_CATEGORIES, N_SEVERITIES)
    assert led.days_hist.shape == (N_SEVERITIES, 11)
    assert led.flag_resolved.shape == led.flag_abandoned.shape == (8,)
