"""The compiled kernels (sim/core/kernels.py) against the vectorised numpy definitions they replace.

Each test computes the same quantity both ways on a model's real state (or random input) and
asks for equality to the bit: the kernels are an implementation of docs/model.md, not a
different model.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from helpers import MEDIUM

from sim import Model, Scenario
from sim.agents.party_member import p_found_by_links
from sim.agents.resident import _add_grouped, _groups, social_influence
from sim.config.params import DAYS_PER_MONTH
from sim.config.taxonomy import GRID, GRID_VISIT, LATENT, N_LEVELS, PARTY_LINK, PROPERTY, QUEUED, SELF_REPORT
from sim.core import kernels
from sim.core.problems import allocate, climb, draw_arrivals
from sim.core.results import _p10_binned


@pytest.fixture(scope="module")
def busy_model() -> Model:
    """A medium model with every policy's world features, run 120 days (a full problem pool)."""
    sc = Scenario.from_dict({**Scenario().with_overrides({**MEDIUM, "run.n_steps": 200}).to_dict(),
                             "policies": {"grid": {}, "whistle": {}, "alliance": {}}})
    m = Model(sc, seed=3)
    m.run(120, progress=False)
    return m


def test_order_by_is_a_stable_sort_by_key_then_priority() -> None:
    rng = np.random.default_rng(0)
    for trial in range(100):
        n, n_keys = int(rng.integers(1, 2000)), int(rng.integers(1, 200))
        key = rng.integers(0, n_keys, n).astype(np.int64)
        span = 10**9 if trial % 5 == 0 else int(rng.integers(1, 3000))  # both the counting and the merge path
        pr = rng.integers(0, span, n).astype(np.int64)
        np.testing.assert_array_equal(kernels._order_by(key, pr, n_keys),
                                      np.argsort((key << 32) | pr, kind="stable"))


def test_attempts_match_allocate_and_p_success(busy_model: Model) -> None:
    m = busy_model
    pool = m.problems
    saved = m.flag_success.copy()
    m.flag_success[5] = 1.3  # a second flag multiplier besides the whistle's
    try:
        rows, p, used = kernels.attempts(
            pool.status, pool.res, pool.cat, pool.sev, pool.level, pool.handler, pool.t_level, pool.flags,
            m.level_offset, m.priority_days, m.world.res_compound, m.effort, m.capacity(), *m._success_tables(),
            m.flag_success,
        )
        q = np.flatnonzero(pool.status == QUEUED)
        level = pool.level[q].astype(np.int64)
        key = m.level_offset[level] + pool.handler[q]
        priority = pool.t_level[q] - m.priority_days[m.world.res_compound[pool.res[q]]]
        attempted, ref_used = allocate(key, priority, m.effort[pool.sev[q]].astype(np.float64), m.capacity())
        a = q[attempted]
        ref_p = m.p_success(level[attempted], pool.handler[a], pool.cat[a], pool.sev[a])
        for bit in np.flatnonzero(m.flag_success != 1.0):
            flagged = (pool.flags[a] & np.uint8(1 << bit)) != 0
            ref_p[flagged] = np.minimum(ref_p[flagged] * m.flag_success[bit], 1.0)
    finally:
        m.flag_success[:] = saved
    assert 0 < rows.size < q.size  # some capacity binds
    np.testing.assert_array_equal(rows, a)
    np.testing.assert_array_equal(p, ref_p)
    np.testing.assert_array_equal(used, ref_used)


def test_place_matches_the_climb_over_levels(busy_model: Model) -> None:
    m = busy_model
    rng = np.random.default_rng(1)
    rows = np.sort(rng.choice(m.problems.n, size=min(400, m.problems.n), replace=False)).astype(np.int64)
    start = rng.integers(0, N_LEVELS, rows.size).astype(np.int8)
    pool = copy.deepcopy(m.problems)
    kernels.place(rows, start, 7, pool.res, pool.cat, pool.sev, pool.level, pool.handler, pool.t_level,
                  m.world.res_household, m.grids.household_grid, m.grids.n_workers, m.world.res_compound,
                  m.compound_firm, m.world.res_community, m.world.res_street, *m._success_tables(),
                  np.float32(m.scenario.handling.p_refer_below), kernels_chains(m.top_level), m.top_level)
    # the vectorised definition: every level's handler and chance, then climb()
    res, cat, sev = m.problems.res[rows], m.problems.cat[rows], m.problems.sev[rows]
    hand = m.level_handlers(res, cat)
    has = np.ones((N_LEVELS, rows.size), dtype=bool)
    has[PROPERTY] = hand[PROPERTY] >= 0
    has[GRID] = m.grids.n_workers[hand[GRID]] > 0
    p = np.stack([m.p_success(np.full(rows.size, lvl), np.maximum(hand[lvl], 0), cat, sev) for lvl in range(N_LEVELS)])
    level = climb(start, p.T, has.T, m.scenario.handling.p_refer_below, m.top_level)
    np.testing.assert_array_equal(pool.level[rows], level)
    np.testing.assert_array_equal(pool.handler[rows], hand[level, np.arange(rows.size)])
    assert np.all(pool.t_level[rows] == 7)
    assert len(set(level.tolist())) > 2


def kernels_chains(top: int) -> np.ndarray:
    from sim.core.problems import _CHAINS

    return _CHAINS[top]


def test_find_latent_matches_the_vectorised_finders(busy_model: Model) -> None:
    m = busy_model
    pool, w, sc = copy.deepcopy(m.problems), m.world, m.scenario
    idx = np.flatnonzero(pool.status == LATENT)
    assert kernels.count_equal(pool.status, LATENT) == idx.size
    u = np.random.default_rng(2).random((3, idx.size))
    g = copy.deepcopy(m.grids)
    visits = g.visits_per_day(m.visits_per_worker_per_month)
    pool.t_found[idx] = -1
    ptr = g.visit_ptr.copy()
    kernels.find_latent(9, u, pool.status, pool.res, pool.sev, pool.t_found, pool.n_contacts, pool.finder,
                        w.res_household, g.household_grid, g.household_pos, ptr, g.grid_size, g.n_workers,
                        np.float32(m.visits_per_worker_per_month / DAYS_PER_MONTH), sc.community.p_find_on_visit,
                        m.party.n_links, m._p_by_links(), m.rate_self_report, m.residents.trust,
                        np.float32(sc.problems.report_trust_slope), m.communities.report_mult, w.res_community)
    res, sev = pool.res[idx], pool.sev[idx]
    from sim.core.problems import p_self_report

    by_grid = g.visited(w.res_household[res], visits) & (u[0] < sc.community.p_find_on_visit)
    g.advance(visits)
    np.testing.assert_array_equal(ptr, g.visit_ptr)  # the rounds moved on as Grids.advance moves them
    by_party = u[1] < p_found_by_links(m.party.n_links[res], sc.party)
    by_self = u[2] < p_self_report(m.rate_self_report, sev, m.residents.trust[res], sc.problems.report_trust_slope,
                                   m.communities.report_mult[w.res_community[res]])
    finder = np.where(by_grid, GRID_VISIT, np.where(by_party, PARTY_LINK, np.where(by_self, SELF_REPORT, -1)))
    found = finder >= 0
    assert 0 < found.sum() < idx.size
    np.testing.assert_array_equal(pool.t_found[idx] >= 0, found)
    np.testing.assert_array_equal(pool.finder[idx][found], finder[found])


def test_arrivals_match_the_vectorised_draw(busy_model: Model) -> None:
    tab = busy_model.arrivals
    res, cat, sev, u_prev = draw_arrivals(tab, np.random.default_rng(4))
    rng = np.random.default_rng(4)  # the same draws, then the vectorised categorical picks
    k = rng.poisson(tab.lam)
    stratum = np.repeat(np.arange(k.size), k)
    u = rng.random((4, stratum.size))
    ref_res = tab.order[tab.start[stratum] + (u[0] * tab.size[stratum]).astype(np.int64)]
    ref_cat = np.minimum((u[1][:, None] >= tab.cat_cum[stratum]).sum(axis=1), tab.cat_cum.shape[1] - 1)
    ref_sev = np.minimum((u[2][:, None] >= tab.sev_cum[ref_cat]).sum(axis=1), tab.sev_cum.shape[1] - 1)
    assert res.size > 10
    np.testing.assert_array_equal(res, ref_res)
    np.testing.assert_array_equal(cat, ref_cat)
    np.testing.assert_array_equal(sev, ref_sev)
    np.testing.assert_array_equal(u_prev, u[3])


def test_judge_sums_repeated_residents_like_bincount(busy_model: Model) -> None:
    r = copy.deepcopy(busy_model.residents)
    p = busy_model.scenario.residents
    rng = np.random.default_rng(5)
    ids = rng.integers(0, r.n, 3000).astype(np.int32)  # many repeats
    perf = rng.random(ids.size).astype(np.float32)
    s0, e0, t0 = r.satisfaction.copy(), r.expectation.copy(), r.trust.copy()
    kernels.judge(r.satisfaction, r.expectation, r.trust, ids, perf, np.float32(p.beta_disconfirm),
                  np.float32(p.alpha_outcome), np.float32(p.alpha_expectation), np.float32(p.alpha_trust), r.scratch())
    s, e, tr = s0[ids], e0[ids], t0[ids]
    target = np.clip(perf + p.beta_disconfirm * (perf - e), 0.0, 1.0)
    groups = _groups(ids)
    assert groups is not None
    _add_grouped(s0, ids, p.alpha_outcome * (target - s), groups)
    _add_grouped(e0, ids, p.alpha_expectation * (perf - e), groups)
    _add_grouped(t0, ids, p.alpha_trust * (perf - tr), groups)
    for arr in (s0, e0, t0):
        arr[ids] = arr[ids].clip(0.0, 1.0)
    np.testing.assert_array_equal(r.satisfaction, s0)
    np.testing.assert_array_equal(r.expectation, e0)
    np.testing.assert_array_equal(r.trust, t0)
    assert not np.any(r.scratch())  # the scratch is left zeroed


def test_social_influence_matches_the_sparse_product(busy_model: Model) -> None:
    r = copy.deepcopy(busy_model.residents)
    p = busy_model.scenario.residents
    s = r.satisfaction.copy()
    trust = r.trust.copy()
    social_influence(r, p)
    nbr_mean = (r._adj @ s) * r._inv_deg
    s += np.float32(p.rate_social) * np.where(r._inv_deg > 0, nbr_mean - s, 0.0).astype(np.float32)
    s += np.float32(p.rate_drift) * (np.float32(p.satisfaction_init) - s)
    trust += np.float32(p.rate_drift) * (np.float32(p.trust_init) - trust)
    np.clip(s, 0.0, 1.0, out=s)
    assert p.rate_social > 0 and p.rate_drift > 0
    np.testing.assert_array_equal(r.satisfaction, s)
    np.testing.assert_array_equal(r.trust, trust)


def test_p10_binned_matches_the_counting_definition() -> None:
    rng = np.random.default_rng(6)
    for n in (1, 7, 1000, 54321):
        v = rng.beta(2, 3, n).astype(np.float32)
        v[: n // 10] = 1.0
        assert kernels.p10_binned(v, 10_000) == _p10_binned(v)


@pytest.mark.parametrize("n", [1, 7, 8, 9, 127, 128, 129, 1000, 5532, 8191, 8192, 8193, 18047, 100_003])
def test_sums_are_numpys_to_the_bit(n: int) -> None:
    """Recorded means and utilisation use numpy's pairwise summation; the kernels reproduce it."""
    rng = np.random.default_rng(n)
    x = rng.random(n) * 10.0 ** rng.uniform(-3, 3, n)
    y = x.astype(np.float32)
    assert kernels._pairwise64(x, 0, n) == x.sum()
    assert kernels._pairwise32(y, 0, n) == float(y.sum())
    assert kernels.mean64(y) == y.mean(dtype=np.float64)
    lo = n // 3
    assert kernels._pairwise64(x, lo, n - lo) == x[lo:].sum()


def test_resident_stats_match_the_recorders_definitions(busy_model: Model) -> None:
    m, w = busy_model, busy_model.world
    s, tr = m.residents.satisfaction, m.residents.trust
    s_mean, p10, t_mean, by_type = kernels.resident_stats(s, tr, w.compound_start, w.compound_type, w.compound_size,
                                                          3, 10_000)
    assert s_mean == s.mean(dtype=np.float64)
    assert t_mean == tr.mean(dtype=np.float64)
    assert p10 == _p10_binned(s)
    np.testing.assert_array_equal(by_type, m.recorder._by_ctype(s))


def test_capacity_matches_its_vectorised_definition(busy_model: Model) -> None:
    m = busy_model
    np.testing.assert_array_equal(m.capacity(), m.capacity_vectorised())
    assert any(e is not None for e in m.extra_capacity.values())  # the whistle adds department capacity


def test_scalar_draws_are_the_array_draws() -> None:
    """poisson_each / binomial_each draw the same numbers as numpy's array calls and leave the
    generator in the same state, below and above the size where they switch."""
    from sim.core.rng import binomial_each, poisson_each

    for size in (1, 4, 16, 17, 40):
        a, b = np.random.default_rng(size), np.random.default_rng(size)
        lam = a.random(size) * 12.0
        b.random(size)
        n, p = a.integers(0, 3000, size), a.random(size)
        b.integers(0, 3000, size), b.random(size)
        np.testing.assert_array_equal(poisson_each(a, lam), b.poisson(lam))
        np.testing.assert_array_equal(binomial_each(a, n, p), b.binomial(n, p))
        assert a.random() == b.random()


def test_fused_phases_equal_their_parts(busy_model: Model) -> None:
    """The model's judge and participate phases (one kernel each) change residents exactly as the
    public functions they fuse, applied in order with the same draws."""
    from sim.agents.resident import draw_volunteers, erode_waiting, judge_outcomes, participate
    from sim.core.rng import binomial_each, poisson_each

    fused, parts = copy.deepcopy(busy_model), copy.deepcopy(busy_model)
    rng = np.random.default_rng(8)
    for m in (fused, parts):  # outcomes and overdue problems to judge, with repeated residents
        m._closed_res = [rng.integers(0, m.residents.n, 300).astype(np.int32)]
        m._closed_perf = [rng.random(300).astype(np.float32)]
        m._overdue_res = rng.integers(0, m.residents.n, 200).astype(np.int32)
        rng = np.random.default_rng(8)
    fused._judge(50)
    fused._participate(50)

    p, r, w = parts.scenario.residents, parts.residents, parts.world
    judge_outcomes(r, parts._closed_res[0], parts._closed_perf[0], p)
    erode_waiting(r, parts._overdue_res, p)
    prng = parts.streams.get("participate")
    events = poisson_each(prng, parts.communities.event_rate)
    n_att = binomial_each(prng, w.community_size, np.minimum(events * parts.scenario.community.p_event_reach, 1.0))
    comm = np.repeat(np.arange(w.n_communities), n_att)
    attendees = w.community_start[comm] + (prng.random(comm.size) * w.community_size[comm]).astype(np.int64)
    vols = draw_volunteers(r, prng, parts.party.volunteer_rate, parts.party.volunteer_mult)
    r.volunteer_turns[vols] += 1
    participate(r, np.concatenate([attendees, vols]), p)
    social_influence(r, p)

    for name in ("satisfaction", "trust", "expectation", "volunteer_turns"):
        np.testing.assert_array_equal(getattr(fused.residents, name), getattr(r, name), err_msg=name)
    assert fused.events_today == int(events.sum())
    assert fused.volunteer_hours == busy_model.volunteer_hours + vols.size * p.dur_volunteer_hours
    assert vols.size > 0


def test_resolve_rows_counts_what_it_closes(busy_model: Model) -> None:
    """The ledger after resolve_rows: counts by (category, severity), level, compound type, days
    from arising, flag bit and contacts, as numpy counts them; performance from the table."""
    from sim.agents.resident import performance

    m = busy_model
    pool, led = copy.deepcopy(m.problems), copy.deepcopy(m.ledger)
    before = copy.deepcopy(led)
    rng = np.random.default_rng(9)
    rows = np.sort(rng.choice(pool.n, size=pool.n // 2, replace=False)).astype(np.int64)
    rows = np.concatenate([rows, rows[:5]])  # a row given twice is counted twice, as numpy's resolve did
    t = int(m.t)
    pool.flags[rows[:40]] |= np.uint8(0b101)
    q = rows[pool.status[rows] == QUEUED]
    res, perf, contacts = kernels.resolve_rows(
        rows, t, pool.status, pool.res, pool.cat, pool.sev, pool.level, pool.t_arise, pool.t_found, pool.n_contacts,
        pool.flags, m.world.res_ctype, m._performance_table(t), led.resolved, led.resolved_level,
        led.resolved_ctype, led.days_hist, led.flag_resolved)
    cat, sev = m.problems.cat[q], m.problems.sev[q]
    expected = before.resolved.copy()
    np.add.at(expected, (cat, sev), 1)
    np.testing.assert_array_equal(led.resolved, expected)
    np.testing.assert_array_equal(led.resolved_level - before.resolved_level,
                                  np.bincount(pool.level[q], minlength=N_LEVELS))
    np.testing.assert_array_equal(led.resolved_ctype - before.resolved_ctype,
                                  np.bincount(m.world.res_ctype[pool.res[q]], minlength=3))
    days = before.days_hist.copy()
    np.add.at(days, (sev, t - pool.t_arise[q]), 1)
    np.testing.assert_array_equal(led.days_hist, days)
    bits = np.unpackbits(pool.flags[q][:, None], axis=1, bitorder="little").sum(axis=0)
    np.testing.assert_array_equal(led.flag_resolved - before.flag_resolved, bits)
    assert contacts == int(pool.n_contacts[q].sum())
    np.testing.assert_array_equal(res, pool.res[q])
    waited = (t - pool.t_found[q]).astype(np.float32)
    np.testing.assert_array_equal(perf, performance(waited, m.expected_wait[sev]))
    assert np.all(pool.status[q] == -1) and 0 < q.size < rows.size
