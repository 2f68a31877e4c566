"""The compiled kernels (sim/core/kernels/) against their numpy definitions (sim/core/kernels/numpy_definitions.py).

Each test computes the same quantity both ways on a model's real state (or random input) and
asks for equality to the bit: the kernels are an implementation of docs/model.md, not a
different model.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numba
import numpy as np
import pytest
from helpers import MEDIUM, REPO, SMALL

from sim import Model, Scenario
from sim.agents.party_member import p_found_by_links
from sim.agents.resident import influence, judgement, volunteer_candidates
from sim.config.params import DAYS_PER_MONTH
from sim.config.taxonomy import (
    ADMIN_CATEGORY,
    COMMUNITY,
    GRID,
    GRID_VISIT,
    LATENT,
    N_LEVELS,
    PARTY_LINK,
    PROPERTY,
    PROPERTY_CATEGORY,
    QUEUED,
    SELF_REPORT,
    STREET,
)
from sim.core.kernels import arising, escalation, handling, jit, pairwise, recording, residents, routing
from sim.core.kernels import numpy_definitions as nd
from sim.core.kernels.draws import handle, pcg_state
from sim.core.kernels.pool import keep_rows
from sim.core.kernels.state import (
    CommunityStaff,
    DayTotals,
    EntryRules,
    EscalationRules,
    Fields,
    FindRules,
    Judgement,
    LedgerCounts,
    Participation,
    PoolColumns,
    Reporters,
    ResidentState,
    SocialTies,
    Volunteering,
)
from sim.core.problems import ProblemPool, draw_arrival_uniforms
from sim.core.results import SERIES, mean_by_ctype, p10_binned, series_rows, window_rows
from sim.core.rng import binomial_each, poisson_each
from sim.core.scenario import load_scenario
from sim.core.windows import WINDOW_DAYS, WINDOW_SERIES, trailing_mean, trailing_ratio


@pytest.fixture(scope="module")
def busy_model() -> Model:
    """A medium model with every policy's world features, run 120 days (a full problem pool)."""
    sc = Scenario.from_dict({**Scenario().with_overrides({**MEDIUM, "run.n_steps": 200}).to_dict(),
                             "policies": {"grid": {}, "alliance": {},  # enough whistled matters that meetings are held
                                          "whistle": {"n_compile": 3.0, "n_affected_per_1k": 0.0}}})
    m = Model(sc, seed=3)
    m.run(120, progress=False)
    return m


@pytest.fixture(scope="module", params=["bazhong_street_whistle", "combined_reforms"])
def reform_model(request: pytest.FixtureRequest) -> Model:
    """A case scenario whose policies change escalation (deadlines, the city level, capacity), on the
    small world, run 90 days."""
    sc = load_scenario(REPO / "scenarios" / f"{request.param}.toml", {**SMALL, "run.n_steps": 200})
    m = Model(sc, seed=2)
    m.run(90, progress=False)
    return m


# groups are passed to kernels as plain tuples, as the model passes them (see sim/core/kernels/state.py)
def copied_state(r: Fields) -> Fields:
    return tuple(a.copy() for a in r)


def assert_same_state(a: Fields, b: Fields) -> None:
    for name, x, y in zip(ResidentState._fields, a, b):
        np.testing.assert_array_equal(x, y, err_msg=name)


def assert_identical(x: np.ndarray, y: np.ndarray, name: str) -> None:
    """Equal values, shape and dtype."""
    np.testing.assert_array_equal(x, y, err_msg=name, strict=True)


def place_by_numpy(m: Model, pool: ProblemPool, rows: np.ndarray, start: np.ndarray, t: int) -> None:
    """``routing.place`` in numpy: every level's handler and chance for ``rows``, then ``nd.climb``
    from ``start``; writes the rows' level, handler and day at the level."""
    h = m.handlers
    res, cat, sev = pool.res[rows], pool.cat[rows], pool.sev[rows]
    hand = h.level_handlers(res, cat)
    has = np.ones((N_LEVELS, rows.size), dtype=bool)
    has[PROPERTY] = hand[PROPERTY] >= 0
    has[GRID] = m.grids.n_workers[hand[GRID]] > 0
    p = np.stack([nd.p_success(h, np.full(rows.size, lvl), np.maximum(hand[lvl], 0), cat, sev)
                  for lvl in range(N_LEVELS)])
    threshold, _, top = m.climb()
    level = nd.climb(start, p.T, has.T, threshold, top)
    pool.level[rows] = level
    pool.handler[rows] = hand[level, np.arange(rows.size)]
    pool.t_level[rows] = t


def test_the_cache_stamp_covers_every_kernel_module() -> None:
    """numba checks a cached kernel against its own file only; the package stamp makes a change to
    any module (a kernel another one calls) recompile them all."""
    stamp = routing.place._cache._cache_file._source_stamp
    assert stamp[1] == jit.package_stamp()
    assert len(set(p.name for p in jit._PACKAGE.glob("*.py"))) >= 10


def test_numba_still_caches_the_way_the_stamp_hooks_in(tmp_path: Path) -> None:
    """The stamp replaces what ``njit(cache=True)`` installs (``dispatcher._cache``, a FunctionCache):
    if a numba release stopped using that attribute, the kernels would silently stop caching, so the
    mechanism itself is checked on a throw-away function compiled from a file of its own."""
    import importlib.util

    import numba
    from numba.core.caching import FunctionCache

    src = tmp_path / "probe_kernel.py"
    src.write_text("import numba\n\n@numba.njit(cache=True)\ndef f(x):\n    return x + 1\n")
    spec = importlib.util.spec_from_file_location("probe_kernel", src)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert isinstance(mod.f, numba.core.registry.CPUDispatcher) and isinstance(mod.f._cache, FunctionCache)
    assert mod.f(1) == 2
    assert list((tmp_path / "__pycache__").glob("probe_kernel.f-*.nbi")), "numba wrote no cache index"
    assert isinstance(routing.place._cache, FunctionCache)  # the kernels' cache is the same kind


# ---- pool --------------------------------------------------------------------------------------
def test_keep_rows_matches_keep(busy_model: Model) -> None:
    """Closed rows anywhere, in runs, every other one, none or all: the same buffers, tail included."""
    rng = np.random.default_rng(10)
    n = busy_model.problems.n
    blocks = np.repeat(rng.random(n // 50 + 1) < 0.5, 50)[:n]
    masks = [rng.random(n) < 0.3, blocks, np.arange(n) % 2 == 1, np.zeros(n, dtype=bool), np.ones(n, dtype=bool),
             np.arange(n) == 0, np.arange(n) == n - 1, np.arange(n) < n // 3, np.arange(n) >= n // 3]
    for closed in masks:
        a, b = copy.deepcopy(busy_model.problems), copy.deepcopy(busy_model.problems)
        a.status[closed] = -1
        b.status[closed] = -1
        a.set_rows(keep_rows(a.cols))
        nd.keep(b, ~closed)
        assert a.n == b.n == n - closed.sum()
        for name, x, y in zip(PoolColumns._fields, a.buffers, b.buffers):
            assert_identical(x, y, name)


# ---- arise and find ------------------------------------------------------------------------------
def test_arrivals_match_the_vectorised_draw(busy_model: Model) -> None:
    tab = busy_model.arrivals
    k, u = draw_arrival_uniforms(tab, np.random.default_rng(4))
    res, cat, sev = arising.arrivals(k, u, tab.strata())
    ref_res, ref_cat, ref_sev = nd.arrivals(k, u, tab.strata())
    assert res.size > 10
    np.testing.assert_array_equal(res, ref_res)
    np.testing.assert_array_equal(cat, ref_cat)
    np.testing.assert_array_equal(sev, ref_sev)


def test_arise_prevents_and_counts(busy_model: Model) -> None:
    m, w = busy_model, busy_model.world
    tab = m.arrivals
    k, u = draw_arrival_uniforms(tab, np.random.default_rng(11))
    p_prevent = np.random.default_rng(12).random(m.p_prevent.shape).astype(np.float32) * 0.5
    led = copy.deepcopy(m.ledger)
    before = copy.deepcopy(led)
    res, cat, sev, n_prevented = arising.arise(k, u, tab.strata(), p_prevent, w.res_compound, w.res_ctype,
                                               led.counts())
    all_res, all_cat, all_sev = nd.arrivals(k, u, tab.strata())
    gone = nd.prevented(all_res, all_cat, u[3], p_prevent, w.res_compound)
    assert 0 < n_prevented == gone.sum() < gone.size
    np.testing.assert_array_equal(res, all_res[~gone])
    np.testing.assert_array_equal(cat, all_cat[~gone])
    np.testing.assert_array_equal(sev, all_sev[~gone])
    expected = before.arisen.copy()
    np.add.at(expected, (cat, sev), 1)
    np.testing.assert_array_equal(led.arisen, expected)
    np.testing.assert_array_equal(led.arisen_ctype - before.arisen_ctype, np.bincount(w.res_ctype[res], minlength=3))


def test_arise_into_appends_latent_rows(busy_model: Model) -> None:
    m, w = busy_model, busy_model.world
    tab = m.arrivals
    k, u = draw_arrival_uniforms(tab, np.random.default_rng(15))
    a, b = copy.deepcopy(m.problems), copy.deepcopy(m.problems)
    led_a, led_b = copy.deepcopy(m.ledger), copy.deepcopy(m.ledger)
    n_new, n_prevented = arising.arise_into(k, u, tab.strata(), m.p_prevent, w.res_compound, w.res_ctype,
                                            led_a.counts(), 77, a.n, a.reserve(u.shape[1]))
    a.set_rows(a.n + n_new)
    res, cat, sev, _ = arising.arise(k, u, tab.strata(), m.p_prevent, w.res_compound, w.res_ctype, led_b.counts())
    nd.append_rows(b, res=res, cat=cat, sev=sev, status=LATENT, level=-1, handler=-1, t_arise=77, t_found=-1,
                   t_level=-1, n_contacts=0, finder=-1, flags=0)
    assert n_new == res.size > 0
    for name in PoolColumns._fields:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    np.testing.assert_array_equal(led_a.arisen, led_b.arisen)


def test_maxima_match_numpy(busy_model: Model) -> None:
    party = busy_model.party
    codes, top = arising.link_codes(party.n_links)
    assert top == party.n_links.max() > 0
    np.testing.assert_array_equal(codes, nd.link_codes(party.n_links))
    for n in (0, 1, 2, 7, 21):  # an odd count's last code alone in its byte
        links = party.n_links[:n]
        np.testing.assert_array_equal(arising.link_codes(links)[0], nd.link_codes(links))
        assert arising.link_codes(links)[1] == (links.max() if n else 0)
    many = np.array([0, 14, 15, 16, 300, -1, 3], dtype=np.int16)  # past the codes: LINKS_MORE
    np.testing.assert_array_equal(arising.link_codes(many)[0], [14 << 4, 15 | 15 << 4, 15 | 15 << 4, 3])
    np.testing.assert_array_equal(nd.link_codes(many), [14 << 4, 15 | 15 << 4, 15 | 15 << 4, 3])
    assert arising.link_codes(many)[1] == 300
    assert residents.max_product(party.volunteer_rate, party.volunteer_mult) == (
        party.volunteer_rate * party.volunteer_mult).max()
    # eight running maxima and a tail: every length around a multiple of 8, the maximum in each place
    rng = np.random.default_rng(11)
    assert residents.max_product(np.zeros(0, np.float32), np.zeros(0, np.float32)) == 0
    for n in (1, 2, 7, 8, 9, 15, 16, 17, 25):
        a, b = rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32) * np.float32(3)
        for where in {0, n // 2, n - 1}:
            a[where] = np.float32(2.0)
            assert residents.max_product(a, b) == (a * b).max(), (n, where)


def test_wrap_offset_is_pythons_float_modulo() -> None:
    # the find phase's offset within a grid's round: bit for bit np.mod (the numpy definition's),
    # signed zeros included, on the edges (0, +-size, just inside them) and on random offsets
    rng = np.random.default_rng(5)
    sizes = np.array([1.0, 3.0, 42.0, 150.0, 300.0])
    for size in sizes:
        edges = [0.0, -0.0, size, -size, 2 * size, -2.5 * size, np.nextafter(size, 0), -np.nextafter(size, 0),
                 np.nextafter(0.0, 1.0), -np.nextafter(0.0, 1.0), -1e-20, 1e-20]
        ds = np.concatenate([edges, rng.uniform(-size, size, 2000), rng.integers(0, int(size), 50) - rng.random(50)])
        got = np.array([arising.wrap_offset(float(d), float(size)) for d in ds])
        np.testing.assert_array_equal(got.view(np.int64), np.mod(ds, size).view(np.int64))


def test_visited_residents_match_the_rounds(busy_model: Model) -> None:
    # the bit per resident is the numpy definition's visited() of their household, with the
    # pointers on the edges of the round (integral, just below the size, signed zero), outside it
    # (the full scan) and random, and visits from none through fractions to more than the round
    m, w = busy_model, busy_model.world
    g = copy.deepcopy(m.grids)
    order, start = arising.visit_slots(w.res_household, g.household_grid, g.household_pos, g.grid_size)
    assert np.array_equal(np.sort(order), np.arange(w.n_residents))
    rng = np.random.default_rng(8)
    size = g.grid_size.astype(np.float64)
    for it in range(6):  # every other round only pointers in the round (0 <= ptr < size: the walk)
        ptrs = np.stack([np.zeros_like(size), -np.zeros_like(size), size - 1, np.nextafter(size, 0),
                         size - 1 + 1e-9, rng.integers(0, g.grid_size), rng.uniform(0, size),
                         size, np.full_like(size, -0.5), 2.5 * size, np.full_like(size, np.nan)])
        pick = rng.integers(0, 7 if it % 2 else ptrs.shape[0], size.size)
        g.visit_ptr = ptrs[pick, np.arange(size.size)]
        visits = np.choose(rng.integers(0, 4, size.size), [np.zeros_like(size), rng.uniform(0, 5, size.size),
                           size + 0.5, rng.integers(0, 3, size.size) + 0.0]).astype(np.float32)
        bits = arising.visited_residents(order, start, g.visit_ptr, g.grid_size, visits)
        want = nd.visited(g, w.res_household, visits)
        np.testing.assert_array_equal(bits, nd.resident_bits(want))
        assert 0 < want.sum() < want.size
    bad = g.household_pos.copy()
    bad[0] = g.grid_size[g.household_grid[0]]
    with pytest.raises(ValueError):
        arising.visit_slots(w.res_household, g.household_grid, bad, g.grid_size)


@pytest.mark.parametrize("effort_visit", [0.0, -1.0, 0.01, 0.125, 0.3, 2.0])
def test_book_visits_matches_start_day(effort_visit: float) -> None:
    """``arising.book_visits`` gives ``nd.start_day``'s visiting workers and time to the bit: grids with no,
    fractional and many workers, budgets that cover the visits and budgets that do not (both seen)."""
    rng = np.random.default_rng(5)
    n_workers = np.concatenate([[0.0, 0.5, 1.0, 3.0], rng.random(300) * 4]).astype(np.float32)
    for capacity, per_month in ((1.0, 20.0), (0.37, 45.0), (0.05, 30.0), (2.0, 0.0)):
        got = arising.book_visits(n_workers, np.float32(capacity), np.float32(per_month / DAYS_PER_MONTH),
                                  np.float32(effort_visit))
        want = nd.start_day(n_workers, capacity, per_month, effort_visit)
        for g, w in zip(got, want):
            assert_identical(g, w, "book_visits")
    assert (nd.start_day(n_workers, 0.05, 30.0, 0.125)[0] < n_workers)[n_workers > 0].all()  # every grid short
    assert np.array_equal(nd.start_day(n_workers, 1.0, 20.0, 0.01)[0], n_workers)  # none short


@pytest.mark.parametrize("scale", [1, 8])  # 8: counts past arising.link_codes' codes (read from n_links)
def test_find_latent_matches_the_vectorised_finders(busy_model: Model, scale: int) -> None:
    m = busy_model
    pool, w, sc = copy.deepcopy(m.problems), m.world, m.scenario
    idx = np.flatnonzero(pool.status == LATENT)
    numpy_rng, kernel_rng = np.random.default_rng(2), np.random.default_rng(2)
    u = numpy_rng.random((3, idx.size))  # what the kernel steps from the generator's state
    assert pool.n > 2 * arising.FIND_CHUNK  # several chunks: each one's draws start where one loop's would be
    g, moved = copy.deepcopy(m.grids), copy.deepcopy(m.grids)
    pool.t_found[idx] = -1
    # efficacy spread over [0, 1] and a telling chance below 1, so that both clip somewhere
    efficacy = np.random.default_rng(4).random(m.residents.n).astype(np.float32)
    n_links = (m.party.n_links * scale).astype(np.int16)
    link_code, top = arising.link_codes(n_links)
    assert (top > arising.LINKS_MORE) == (scale > 1)
    rules = FindRules(np.float32(m.visits_per_worker_per_month / DAYS_PER_MONTH), sc.community.p_find_on_visit,
                      p_found_by_links(np.arange(top + 1), sc.party), m.rate_self_report, np.float32(sc.problems.report_trust_slope),
                      np.float32(3.5), np.float32(0.8))
    slots = arising.visit_slots(w.res_household, m.grids.household_grid, m.grids.household_pos, m.grids.grid_size)
    who = Reporters(*slots, w.res_community, n_links, link_code, m.residents.trust, m.communities.report_mult, efficacy)
    arising.find_latent(9, pcg_state(kernel_rng), pool.cols, moved.rounds(), tuple(rules), tuple(who))
    assert kernel_rng.bit_generator.state == numpy_rng.bit_generator.state  # moved on past u, as numpy's random
    res, sev = pool.res[idx], pool.sev[idx]
    visits = nd.visits_per_day(g.n_workers, m.visits_per_worker_per_month)
    prop = nd.propensity(m.residents.trust[res], efficacy[res], rules.slope, rules.slope_efficacy)
    tell = nd.p_tell(prop, rules.p_tell)
    assert (tell == 1.0).any() and (tell < 1.0).any() and (prop == 0).any()
    by_grid = nd.visited(g, w.res_household[res], visits) & (u[0] < sc.community.p_find_on_visit * tell)
    nd.advance(g, visits)
    np.testing.assert_array_equal(moved.visit_ptr, g.visit_ptr)  # the rounds moved on as advance() moves them
    by_party = u[1] < p_found_by_links(n_links[res], sc.party) * tell
    assert (by_party & (n_links[res] >= arising.LINKS_MORE)).any() == (scale > 1)
    by_self = u[2] < nd.p_self_report(m.rate_self_report, sev, prop, m.communities.report_mult[w.res_community[res]])
    finder = np.where(by_grid, GRID_VISIT, np.where(by_party, PARTY_LINK, np.where(by_self, SELF_REPORT, -1)))
    found = finder >= 0
    assert 0 < found.sum() < idx.size
    np.testing.assert_array_equal(pool.t_found[idx] >= 0, found)
    np.testing.assert_array_equal(pool.finder[idx][found], finder[found])


# ---- route ---------------------------------------------------------------------------------------
def test_route_found_matches_the_entry_rules(busy_model: Model) -> None:
    m = busy_model
    a = copy.deepcopy(m.problems)
    latent = np.flatnonzero(a.status == LATENT)
    rng = np.random.default_rng(13)
    a.t_found[latent] = np.where(rng.random(latent.size) < 0.5, m.t, -1)
    a.finder[latent] = rng.integers(0, 4, latent.size)
    b = copy.deepcopy(a)
    for admin in (-1, STREET):
        led_a, led_b = copy.deepcopy(m.ledger), copy.deepcopy(m.ledger)
        entry = tuple(EntryRules(m.entry_level, PROPERTY_CATEGORY, ADMIN_CATEGORY, admin))
        rows, level = routing.route_found(a.cols, led_a.counts(), entry, m.compound_firm, m.world.res_compound)
        ref_rows, ref_level = nd.route_found(b.cols, led_b.counts(), entry, m.compound_firm, m.world.res_compound)
        assert rows.size > 20 and PROPERTY in level
        np.testing.assert_array_equal(rows, ref_rows)
        np.testing.assert_array_equal(level, ref_level)
        np.testing.assert_array_equal(led_a.found_by, led_b.found_by)
        np.testing.assert_array_equal(a.status, b.status)
        a.status[rows], b.status[rows] = LATENT, LATENT


def test_route_day_is_route_found_then_place(busy_model: Model) -> None:
    """``routing.route_day`` (the route phase's one call) leaves the pool and ledger as ``route_found`` then
    ``place`` of its rows at their entry levels, and returns the count; a day with none found changes nothing."""
    m, h = busy_model, busy_model.handlers
    a = copy.deepcopy(m.problems)
    latent = np.flatnonzero(a.status == LATENT)
    a.t_found[latent] = np.where(np.random.default_rng(14).random(latent.size) < 0.5, m.t, -1)
    b = copy.deepcopy(a)
    led_a, led_b = copy.deepcopy(m.ledger), copy.deepcopy(m.ledger)
    entry = tuple(EntryRules(m.entry_level, PROPERTY_CATEGORY, ADMIN_CATEGORY, -1))
    where, success, climb = h.residence(), h.success_tables(), m.climb()
    n = routing.route_day(a.cols, led_a.counts(), entry, m.compound_firm, m.world.res_compound, 9, where, success,
                          climb)
    rows, level = routing.route_found(b.cols, led_b.counts(), entry, m.compound_firm, m.world.res_compound)
    routing.place(rows, level, 9, b.cols, where, success, climb)
    assert n == rows.size > 20
    for name, x, y in zip(PoolColumns._fields, a.buffers, b.buffers):
        assert_identical(x, y, name)
    assert_identical(led_a.found_by, led_b.found_by, "found_by")
    before = copy.deepcopy(a)
    assert routing.route_day(a.cols, led_a.counts(), entry, m.compound_firm, m.world.res_compound, 10, where,
                             success, climb) == 0
    for name, x, y in zip(PoolColumns._fields, a.buffers, before.buffers):
        assert_identical(x, y, name)


def test_place_matches_the_climb_over_levels(busy_model: Model) -> None:
    m, h = busy_model, busy_model.handlers
    rng = np.random.default_rng(1)
    rows = np.sort(rng.choice(m.problems.n, size=min(400, m.problems.n), replace=False)).astype(np.int64)
    start = rng.integers(0, N_LEVELS, rows.size).astype(np.int8)
    pool, ref = copy.deepcopy(m.problems), copy.deepcopy(m.problems)
    routing.place(rows, start, 7, pool.cols, h.residence(), h.success_tables(), m.climb())
    place_by_numpy(m, ref, rows, start, 7)
    for name in PoolColumns._fields:
        assert_identical(getattr(pool, name), getattr(ref, name), name)
    assert np.all(pool.t_level[rows] == 7)
    assert len(set(pool.level[rows].tolist())) > 2


# ---- handle --------------------------------------------------------------------------------------
def test_order_by_is_a_stable_sort_by_key_then_priority() -> None:
    rng = np.random.default_rng(0)
    for trial in range(100):
        n, n_keys = int(rng.integers(1, 2000)), int(rng.integers(1, 200))
        key = rng.integers(0, n_keys, n).astype(np.int64)
        span = 10**9 if trial % 5 == 0 else int(rng.integers(1, 3000))  # one or two counting sorts, or the merge
        pr = rng.integers(0, span, n).astype(np.int64)
        np.testing.assert_array_equal(handling.order_by(key, pr, n_keys),
                                      np.argsort((key << 32) | pr, kind="stable"))


@pytest.mark.parametrize("priority", [False, True])
def test_attempts_match_allocate_and_p_success(busy_model: Model, priority: bool) -> None:
    """Without and with compounds whose problems are served first (priority days)."""
    m, h = busy_model, busy_model.handlers
    pool = m.problems
    saved, saved_days = m.flag_success.copy(), m.priority_days.copy()
    m.flag_success[5] = 1.3  # a second flag multiplier besides the whistle's
    if priority:
        m.priority_days[::3] += 9
    try:
        q = np.flatnonzero(pool.status == QUEUED)
        qid = ((pool.res[q].astype(np.int64) << 28) | ((pool.t_arise[q].astype(np.int64) & 0xFFFFF) << 8)
               | (pool.cat[q].astype(np.int64) << 2) | pool.sev[q].astype(np.int64))  # survives the pool's compaction
        work = (h.work[0].copy(), h.work[1].copy())
        work[0][::3], work[1][::3] = 0.3, -1  # some work in progress that matches no head problem
        level = pool.level[q].astype(np.int64)
        key = h.level_offset[level] + pool.handler[q]
        priority = pool.t_level[q] - m.priority_days[m.world.res_compound[pool.res[q]]]
        order = np.argsort(key * 2**32 + (priority - priority.min()), kind="stable")
        first = order[np.r_[True, key[order][1:] != key[order][:-1]]]
        work[0][key[first[::2]]], work[1][key[first[::2]]] = 0.2, qid[first[::2]]  # and some that does
        ref_work = (work[0].copy(), work[1].copy())
        rows, p, used = handling.attempts(pool.cols, h.level_offset, m.priority_days, m.world.res_compound, h.effort,
                                          h.capacity(), work, h.success_tables(), m.flag_success, m.clock,
                                          (m.deadline, m.threat_window, m.threat_effort))
        # the deadline's threat: more effort, and the chance of that many attempts (docs/model.md §7.5)
        threat = (m.clock - pool.t_level[q]) >= m.deadline[level] - m.threat_window[level]
        mult = np.where(threat, m.threat_effort[level], np.float32(1.0))
        attempted, ref_used = nd.allocate(key, priority, qid, h.effort[pool.cat[q], pool.sev[q]].astype(np.float64) * mult, h.capacity(),
                                          ref_work)
        a = q[attempted]
        ref_p = nd.p_success(h, level[attempted], pool.handler[a], pool.cat[a], pool.sev[a])
        for bit in np.flatnonzero(m.flag_success != 1.0):
            flagged = (pool.flags[a] & np.uint8(1 << bit)) != 0
            ref_p[flagged] = np.minimum(ref_p[flagged] * m.flag_success[bit], 1.0)
        k = mult[attempted].astype(np.float32)
        ref_p = np.where(k != 1, np.float32(1) - nd.powf(np.float32(1) - ref_p, k), ref_p)
    finally:
        m.flag_success[:], m.priority_days[:] = saved, saved_days
    assert 0 < rows.size < q.size  # some capacity binds
    np.testing.assert_array_equal(rows, a)
    np.testing.assert_array_equal(p, ref_p)
    np.testing.assert_array_equal(used, ref_used)
    np.testing.assert_array_equal(work[0], ref_work[0])
    np.testing.assert_array_equal(work[1], ref_work[1])
    assert np.all(used <= h.capacity() + 1e-9)  # a handler never spends more than its capacity


def test_handle_day_is_attempts_then_spent_then_the_draw(busy_model: Model) -> None:
    """``handling.handle_day`` (the handle phase's one call): ``attempts``, their effort added to the handlers'
    ``spent``, then the attempts whose ``rng.random(n)`` falls below their chance, and the generator left there."""
    m, h = busy_model, busy_model.handlers
    threat = (m.deadline, m.threat_window, m.threat_effort)
    pool_a, pool_b = copy.deepcopy(m.problems), copy.deepcopy(m.problems)
    work_a, work_b = (h.work[0].copy(), h.work[1].copy()), (h.work[0].copy(), h.work[1].copy())
    spent_a = np.random.default_rng(3).random(h.n_handlers) * 0.1
    spent_b = spent_a.copy()
    rng_a, rng_b = np.random.default_rng(15), np.random.default_rng(15)
    cap = h.capacity()
    got = handling.handle_day(handle(rng_a), pool_a.cols, h.level_offset, m.priority_days, m.world.res_compound,
                              h.effort, cap, work_a, h.success_tables(), m.flag_success, m.clock, threat, spent_a)
    rows, p, used = handling.attempts(pool_b.cols, h.level_offset, m.priority_days, m.world.res_compound, h.effort,
                                      cap, work_b, h.success_tables(), m.flag_success, m.clock, threat)
    spent_b += used
    want = rows[rng_b.random(rows.size) < p]
    assert 0 < want.size < rows.size
    assert_identical(got, want, "rows")
    assert_identical(spent_a, spent_b, "spent")
    for x, y in zip(work_a, work_b):
        assert_identical(x, y, "work")
    assert rng_a.bit_generator.state == rng_b.bit_generator.state


def test_capacity_matches_its_numpy_definition(busy_model: Model) -> None:
    h = busy_model.handlers
    np.testing.assert_array_equal(h.capacity(), nd.capacity(h))
    assert any(e is not None for e in h.extra_capacity.values())  # policies add capacity (the whistle: its meetings take it)


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
    waits = np.random.default_rng(10).integers(0, 5, (N_LEVELS, 64))
    want_waits = waits.copy()
    nd.count_waits(want_waits, rows, pool.status, pool.level, pool.t_level, t)  # before the rows close
    res, perf, contacts = handling.resolve_rows(rows, t, pool.cols, m.world.res_ctype, m._perf.get(t, m.expected_wait),
                                                led.counts(), waits)
    assert_identical(waits, want_waits, "waits")
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


# ---- escalate ------------------------------------------------------------------------------------
def escalate_both(m: Model, pool: ProblemPool, seed: int, rules: EscalationRules, t: int) -> tuple[int, int, int]:
    """``escalation.escalate_day`` on a copy of ``pool`` and of the ledger, stepping the draws of
    ``rng.random((3, rows))`` itself, against its definition on another copy with that array:
    ``nd.escalate``, then the stuck rows placed from their next level, then ``nd.keep`` of the open
    rows. Every output, the ledger, and the pool's whole buffers (the live rows and the compacted
    tail) must be equal. Returns the rows moved up, given up and dropped."""
    h = m.handlers
    a, b = copy.deepcopy(pool), copy.deepcopy(pool)
    led_a, led_b = copy.deepcopy(m.ledger), copy.deepcopy(m.ledger)
    numpy_rng, kernel_rng = np.random.default_rng(seed), np.random.default_rng(seed)
    u = numpy_rng.random((3, pool.n))
    got = escalation.escalate_day(t, pcg_state(kernel_rng), a.cols, tuple(rules), led_a.counts(), h.residence(),
                                  h.success_tables(), m.climb())
    assert kernel_rng.bit_generator.state == numpy_rng.bit_generator.state  # moved on past u, as numpy's random
    up, n_again, late_res, quit_res, lost_res = nd.escalate(t, u, b.cols, tuple(rules), m.climb()[2], led_b.counts())
    place_by_numpy(m, b, up, rules.next_level[b.level[up]], t)
    nd.keep(b, b.status >= 0)
    assert got[0] == up.size and got[1] == n_again and got[5] == b.n
    assert all(type(x) is int for x in (got[0], got[1], got[5]))
    assert_identical(got[2], late_res, "late_res")
    assert_identical(got[3], quit_res, "quit_res")
    assert_identical(got[4], lost_res, "lost_res")
    for name, x, y in zip(PoolColumns._fields, a.buffers, b.buffers):
        assert_identical(x, y, name)
    for name, x, y in zip(LedgerCounts._fields, led_a.counts(), led_b.counts()):
        assert_identical(x, y, name)
    assert n_again > 0 and late_res.size > 0
    return up.size, quit_res.size + lost_res.size, pool.n - b.n


def test_escalate_day_matches_its_numpy_definition(busy_model: Model) -> None:
    """A month later, with residents quicker to give up, and flags on some problems (represented: fewer repeat contacts)."""
    m = busy_model
    pool = copy.deepcopy(m.problems)
    pool.flags[::7] |= np.uint8(0b11)
    rules = EscalationRules(*m.escalation_rules())._replace(rate_abandon=0.3, rate_abandon_latent=0.2)
    n_up, n_quit, n_dropped = escalate_both(m, pool, 14, rules, int(m.t) + 30)
    assert n_up > 0 and n_quit > 0 and n_dropped > 0


def test_escalate_day_under_reforms(reform_model: Model) -> None:
    """Deadlines, the city level and other policies' rules: the next day with the model's rules, then a
    month later with residents quicker to give up."""
    m = reform_model
    rules = EscalationRules(*m.escalation_rules())
    n_up = n_quit = n_dropped = 0
    for later, r in ((0, rules), (30, rules._replace(rate_abandon=0.3, rate_abandon_latent=0.2))):
        counts = escalate_both(m, m.problems, 16 + later, r, int(m.t) + later)
        n_up, n_quit, n_dropped = n_up + counts[0], n_quit + counts[1], n_dropped + counts[2]
    assert n_up > 0 and n_quit > 0 and n_dropped > 0


# ---- residents -----------------------------------------------------------------------------------
def test_hear_outcomes_sums_own_and_neighbours_outcomes_like_bincount(busy_model: Model) -> None:
    state = copied_state(busy_model.residents.state())
    ref = copied_state(state)
    r = busy_model.residents
    rng = np.random.default_rng(5)
    ids = rng.integers(0, r.n, 3000).astype(np.int32)  # many repeats, and neighbours of each other
    perf = rng.random(ids.size).astype(np.float32)
    perf[::7] = 0.0  # given up
    how = tuple(judgement(busy_model.scenario.residents))
    before = ResidentState(*state).efficacy.copy()
    residents.hear_outcomes(state, ids, perf, r.ties, how)
    nd.hear_outcomes(ref, ids, perf, r.ties, how)
    assert_same_state(state, ref)
    assert not np.any(ResidentState(*state).acc)  # the scratch is left zeroed
    heard_only = np.setdiff1d(np.flatnonzero(ResidentState(*state).efficacy != before), ids)
    assert heard_only.size > 0  # neighbours' outcomes moved efficacy by word of mouth
    unique = np.unique(ids)[:500]  # and without repeats
    residents.hear_outcomes(state, unique, perf[: unique.size], r.ties, how)
    nd.hear_outcomes(ref, unique, perf[: unique.size], r.ties, how)
    assert_same_state(state, ref)


def test_experience_and_perception_match_numpy(busy_model: Model) -> None:
    m, r = busy_model, busy_model.residents
    state = copied_state(r.state())
    rs = ResidentState(*state)
    g = np.random.default_rng(9).random(r.n).astype(np.float32)
    rs.grievance[:] = np.where(g < 0.5, np.float32(0.0), np.minimum(g * np.float32(1.5) - np.float32(0.6), 1))
    ref = copied_state(state)
    how = tuple(judgement(m.scenario.residents))
    residents.experience(state, m.t, m.problems.cols, how)
    nd.experience(ref, m.t, m.problems.cols, how)
    assert_same_state(state, ref)
    x = ResidentState(*state).experience[:-1]  # without the padding's zero
    assert (x == 0).any() and (x == 1).any() and ((x > 0) & (x < 1)).any()
    residents.perceive(state, r.ties, how)
    nd.perceive(ref, r.ties, how)
    assert_same_state(state, ref)


@pytest.mark.parametrize("kind", ["participation_gain"])
def test_gains_match_numpy(busy_model: Model, kind: str) -> None:
    state = copied_state(busy_model.residents.state())
    ref = copied_state(state)
    rng = np.random.default_rng(6)
    n = busy_model.residents.n
    for ids in (rng.integers(0, n, 2000), np.arange(0, n, 3)):
        ids = ids.astype(np.int64)
        getattr(residents, kind)(state, ids, 0.013, 0.0071)
        getattr(nd, kind)(ref, ids, 0.013, 0.0071)
        assert_same_state(state, ref)


def test_grieve_matches_numpy(busy_model: Model) -> None:
    state = copied_state(busy_model.residents.state())
    ref = copied_state(state)
    ids = np.random.default_rng(11).integers(0, busy_model.residents.n, 4000).astype(np.int32)  # repeats
    how = tuple(judgement(busy_model.scenario.residents))
    residents.grieve(state, ids, how)
    nd.grieve(ref, ids, how)
    assert_same_state(state, ref)
    assert ResidentState(*state).grievance.max() == 1.0  # clipped where many add up


def test_settle_matches_numpy(busy_model: Model) -> None:
    state = copied_state(busy_model.residents.state())
    ref = copied_state(state)
    how = tuple(influence(busy_model.scenario.residents))
    residents.settle(state, how)
    nd.settle(ref, how)
    assert_same_state(state, ref)


def test_attendees_and_volunteers_match_numpy(busy_model: Model) -> None:
    m, w, party = busy_model, busy_model.world, busy_model.party
    rng = np.random.default_rng(7)
    n_att = rng.integers(0, 40, w.n_communities)
    u = rng.random(int(n_att.sum()))
    np.testing.assert_array_equal(residents.attendees(n_att, w.community_start, w.community_size, u),
                                  nd.attendees(n_att, w.community_start, w.community_size, u))
    vol = tuple(Volunteering(party.volunteer_rate, party.volunteer_mult * np.float32(20.0)))
    top, cand, u_vol = volunteer_candidates(m.residents.n, rng, *vol)
    got = residents.accept_volunteers(cand, u_vol, top, vol, m.residents.trust)
    assert 0 < got.size < cand.size
    np.testing.assert_array_equal(got, nd.accept_volunteers(cand, u_vol, top, vol, m.residents.trust))


def test_fused_phases_equal_their_parts(busy_model: Model) -> None:
    """The model's judge and participate phases (one kernel each) change residents exactly as the
    numpy definitions they fuse, applied in order with the same draws."""
    fused, parts = copy.deepcopy(busy_model), copy.deepcopy(busy_model)
    rng = np.random.default_rng(8)
    for m in (fused, parts):  # outcomes to judge, with repeated residents
        m._closed_res = [rng.integers(0, m.residents.n, 300).astype(np.int32)]
        m._closed_perf = [rng.random(300).astype(np.float32)]
        rng = np.random.default_rng(8)
    t = fused.t
    lost = np.random.default_rng(12).integers(0, fused.residents.n, 50).astype(np.int32)
    fused._lost_res = [lost]
    fused._judge(t)
    fused._participate(t)

    p, r, w = parts.scenario.residents, parts.residents, parts.world
    how = tuple(judgement(p))
    nd.hear_outcomes(r.state(), parts._closed_res[0], parts._closed_perf[0], r.ties, how)
    nd.grieve(r.state(), lost, how)
    nd.experience(r.state(), t, parts.problems.cols, how)
    nd.perceive(r.state(), r.ties, how)
    prng = parts.streams.get("participate")
    events = poisson_each(prng, parts.communities.event_rate)
    n_att = binomial_each(prng, w.community_size, np.minimum(events * parts.scenario.community.p_event_reach, 1.0))
    attendees = nd.attendees(n_att, w.community_start, w.community_size, prng.random(int(n_att.sum())))
    vol = tuple(Volunteering(parts.party.volunteer_rate, parts.party.volunteer_mult))
    top, cand, u = volunteer_candidates(r.n, prng, *vol)
    vols = nd.accept_volunteers(cand, u, top, vol, r.trust)
    r.volunteer_turns[vols] += 1
    gains = influence(p)
    nd.participation_gain(r.state(), np.concatenate([attendees, vols]), gains.gain_s, gains.gain_t)
    nd.settle(r.state(), tuple(gains))

    for name in ("satisfaction", "trust", "expectation", "performance", "efficacy", "grievance", "volunteer_turns"):
        np.testing.assert_array_equal(getattr(fused.residents, name), getattr(r, name), err_msg=name)
    assert fused.events_today == int(events.sum())
    assert fused.volunteer_hours == busy_model.volunteer_hours + vols.size * p.dur_volunteer_hours
    assert vols.size > 0


def test_participate_day_counts_volunteer_turns(busy_model: Model) -> None:
    m = copy.deepcopy(busy_model)
    r, w = m.residents, m.world
    cand = np.array([3, 5, 5 + r.n // 2], dtype=np.int64)
    draws = tuple(Participation(np.zeros(w.n_communities, dtype=np.int64), np.empty(0), cand, np.zeros(3), 1.0))
    before = r.volunteer_turns.copy()
    n = residents.participate_day(draws, w.community_start, w.community_size,
                                  tuple(Volunteering(m.party.volunteer_rate, m.party.volunteer_mult)), r.state(),
                                  tuple(influence(m.scenario.residents)))
    assert n == 3
    np.testing.assert_array_equal(r.volunteer_turns - before, np.isin(np.arange(r.n), cand))


# ---- record --------------------------------------------------------------------------------------
def test_p10_binned_matches_the_counting_definition() -> None:
    """By one count of every value below 2 P10_SAMPLE values, else by the window a sample guesses, or, where
    the sample misleads, by counting every bin."""
    rng = np.random.default_rng(6)
    for n in (0, 1, 7, 1000, 2 * recording.P10_SAMPLE - 1, 2 * recording.P10_SAMPLE, 54321, 456_891):
        v = rng.beta(2, 3, n).astype(np.float32)
        v[: n // 10] = 1.0
        assert recording.p10_binned(v, recording.P10_BINS) == p10_binned(v)
        assert recording.p10_binned(v, 1) == p10_binned(v, 1)
    for v in (np.full(5000, 0.37, dtype=np.float32), np.full(5000, 1.0, dtype=np.float32), np.zeros(10, np.float32),
              rng.random(9999).astype(np.float32),
              np.linspace(0, 1, 100_001, dtype=np.float32)):
        assert recording.p10_binned(v, recording.P10_BINS) == p10_binned(v)
    for first in (0.0, 1.0):  # every sampled value at one end: the 10th percentile is outside the window
        v = rng.random(100_000).astype(np.float32)
        v[:: v.size // recording.P10_SAMPLE] = first
        lo, hi = recording.p10_window(v, recording.P10_BINS)
        assert not lo <= int(p10_binned(v) * recording.P10_BINS) < hi
        assert recording.p10_binned(v, recording.P10_BINS) == p10_binned(v)


@pytest.mark.parametrize("n", [1, 7, 8, 9, 127, 128, 129, 1000, 5532, 8191, 8192, 8193, 18047, 100_003])
def test_sums_are_numpys_to_the_bit(n: int) -> None:
    """Recorded means and utilisation use numpy's pairwise summation; the kernels reproduce it."""
    rng = np.random.default_rng(n)
    x = rng.random(n) * 10.0 ** rng.uniform(-3, 3, n)
    y = x.astype(np.float32)
    assert pairwise.pairwise64(x, 0, n) == x.sum()
    assert pairwise.pairwise32(y, 0, n) == float(y.sum())
    assert pairwise.mean64(y) == y.mean(dtype=np.float64)
    lo = n // 3
    assert pairwise.pairwise64(x, lo, n - lo) == x[lo:].sum()
    assert pairwise.sum32(y, y[lo:]) == (float(y.sum()), float(y[lo:].sum()))


def test_resident_stats_match_the_recorders_definitions(busy_model: Model) -> None:
    m, w = busy_model, busy_model.world
    s, tr = m.residents.satisfaction, m.residents.trust
    s_mean, p10, t_mean, by_type = recording.resident_stats(s, tr, (w.compound_start, w.compound_type, w.compound_size),
                                                            3, 10_000)
    assert s_mean == s.mean(dtype=np.float64)
    assert t_mean == tr.mean(dtype=np.float64)
    assert p10 == p10_binned(s)
    np.testing.assert_array_equal(by_type, mean_by_ctype(w, s))


def utilisation_by_numpy(staff: Fields, used: np.ndarray, cap: np.ndarray, comm: slice,
                         grid: slice) -> tuple[float, ...]:
    """``recording.utilisation`` in numpy (as ``Recorder.utilisation`` computed it with ``Communities``'
    staff_effort and admin_effort): staff effort, admin effort, min(used, capacity) summed over
    communities and over grids, the grids' capacity, and the capacity policies added to the
    communities (their capacity less the staff's effort left after admin)."""
    s = CommunityStaff(*staff)
    staff_eff = s.n_staff * s.capacity_per_staff
    admin_eff = np.minimum(np.minimum(s.admin_tasks, s.admin_cap) * s.effort_per_task, staff_eff)
    return (float(staff_eff.sum()), float(admin_eff.sum()), float(np.minimum(used[comm], cap[comm]).sum()),
            float(np.minimum(used[grid], cap[grid]).sum()), float(cap[grid].sum()),
            float(cap[comm].sum() - (staff_eff - admin_eff).sum()))


def test_utilisation_matches_the_recorders_numpy(reform_model: Model) -> None:
    m, h = reform_model, reform_model.handlers
    off, cap, used = h.level_offset, h.capacity(), m.effort_used
    n_comm, n_grid = m.world.n_communities, m.grids.n
    got = recording.utilisation(h.community_staff(), used, cap, off[COMMUNITY], n_comm, off[GRID], n_grid)
    comm, grid = slice(off[COMMUNITY], off[COMMUNITY] + n_comm), slice(off[GRID], off[GRID] + n_grid)
    ref = utilisation_by_numpy(h.community_staff(), used, cap, comm, grid)
    assert got == ref and all(type(x) is float for x in got)
    c = m.communities
    assert ref[:2] == (float(c.staff_effort().sum()), float(c.admin_effort().sum()))
    assert np.all(used <= cap + 1e-9)  # handlers never overrun their capacity (§7.5)

    # many communities and grids (numpy's pairwise blocks), caps that bind either way
    rng = np.random.default_rng(17)
    n_comm, n_grid, comm_lo = 5003, 3001, 3400
    staff = (rng.uniform(1, 9, n_comm).astype(np.float32), np.float32(0.37), rng.uniform(0, 12, n_comm).astype(np.float32),
             np.where(rng.random(n_comm) < 0.5, np.inf, rng.uniform(0, 8, n_comm)).astype(np.float32), np.float32(0.29))
    cap = rng.uniform(0, 5, comm_lo + n_comm + 7) * 10.0 ** rng.uniform(-2, 2, comm_lo + n_comm + 7)
    used = cap * rng.uniform(0.5, 1.5, cap.size)
    got = recording.utilisation(staff, used, cap, comm_lo, n_comm, 0, n_grid)
    ref = utilisation_by_numpy(staff, used, cap, slice(comm_lo, comm_lo + n_comm), slice(0, n_grid))
    assert got == ref and all(type(x) is float for x in got)
    assert ref[1] < ref[0] and ref[5] != 0.0


def test_effort_and_waits_by_level_match_their_numpy_definitions(reform_model: Model) -> None:
    """``level_sums`` is ``np.bincount`` by level (float64, handler order); ``count_waits`` is ``np.add.at``."""
    m, h, pool = reform_model, reform_model.handlers, reform_model.problems
    h.spare(m.clock)  # today's capacity
    spent = h.capacity_today * np.random.default_rng(4).random(h.n_handlers)
    assert_identical(recording.level_sums(h.handler_level, spent, h.capacity_today, N_LEVELS),
                     nd.level_sums(h.handler_level, spent, h.capacity_today, N_LEVELS), "level sums")
    # every open row, and days that fall off both ends of a short table (negative, past its last bin)
    rows = np.flatnonzero(pool.status >= 0)
    assert (pool.status[rows] == QUEUED).any() and (pool.status[rows] != QUEUED).any()
    for t in (m.clock, m.clock + 50, int(pool.t_level[rows].min()) - 3):
        got, want = np.zeros((N_LEVELS, 40), dtype=np.int64), np.zeros((N_LEVELS, 40), dtype=np.int64)
        recording.count_waits(got, rows, pool.status, pool.level, pool.t_level, t)
        nd.count_waits(want, rows, pool.status, pool.level, pool.t_level, t)
        assert_identical(got, want, f"waits at t={t}")
        assert got.sum() == (pool.status[rows] == QUEUED).sum()


@pytest.mark.parametrize("day", [0, 1, 6, 7, 8, 29, 30, 31, 100, 199])
def test_trailing_row_is_the_windows_numpy(day: int) -> None:
    """The recorder's windowed series in one kernel: ``trailing_ratio`` and ``trailing_mean`` to the bit.

    Windows shorter than 8 values, around numpy's unrolled blocks of 8, the full 30 days; a zero denominator.
    """
    rng = np.random.default_rng(day)
    closed = np.concatenate([[0], np.cumsum(rng.integers(0, 4, 201))]).astype(np.int64)
    resolved = np.minimum(closed, np.concatenate([[0], np.cumsum(rng.integers(0, 3, 201))])).astype(np.int64)
    sat, trust = rng.random(201) * 10.0 ** rng.uniform(-3, 3, 201), rng.random(201)
    got = recording.trailing_row(resolved, closed, sat, trust, day, WINDOW_DAYS)
    assert got == (trailing_ratio(resolved, closed, day), trailing_mean(sat, day), trailing_mean(trust, day))
    flat = np.zeros(202, dtype=np.int64)
    assert math.isnan(recording.trailing_row(flat, flat, sat, trust, day, WINDOW_DAYS)[0])


def test_record_row_writes_each_series_into_its_named_row(busy_model: Model) -> None:
    m, w, led, pool = busy_model, busy_model.world, busy_model.ledger, busy_model.problems
    s, tr = m.residents.satisfaction, m.residents.trust
    totals = DayTotals(11, 12, 0.25, 0.5, 13.5, 14.5, 15, 16, 17)
    table = np.full((len(SERIES), 2), np.nan)
    recording.record_row(table, 1, tuple(series_rows()), pool.cols, led.counts(), m.residents.state(),
                         (w.compound_start, w.compound_type, w.compound_size), tuple(totals))
    by_type = mean_by_ctype(w, s)
    expected = {
        "arisen": led.arisen.sum(), "resolved": led.resolved.sum(), "abandoned": led.abandoned.sum(),
        "pending": pool.n, "pending_latent": (pool.status == LATENT).sum(), "pending_queued": (pool.status == QUEUED).sum(),
        **{f"backlog_{lvl}": (pool.level == i).sum() for i, lvl in enumerate(("grid", "property", "community", "street",
                                                                                "department", "city"))},
        "resolution_rate": led.resolved.sum() / led.arisen.sum(), "satisfaction_mean": s.mean(dtype=np.float64),
        "satisfaction_p10": p10_binned(s), "trust_mean": tr.mean(dtype=np.float64),
        "satisfaction_old": by_type[0], "satisfaction_mature": by_type[1], "satisfaction_new": by_type[2],
        "unreported_pending": ((pool.status == LATENT) & (pool.t_found < 0)).sum(),
        **{name: float(v) for name, v in totals._asdict().items()},
    }
    assert set(expected) | set(WINDOW_SERIES) == set(SERIES)
    for name, value in expected.items():
        assert table[SERIES.index(name), 1] == value, name
    assert np.all(np.isnan(table[:, 0]))
    assert all(np.isnan(table[SERIES.index(name), 1]) for name in WINDOW_SERIES)  # the recorder writes those


@pytest.mark.parametrize("day", [0, 1, 29, 30, 47])
def test_record_day_is_the_counts_the_row_then_the_windows(busy_model: Model, day: int) -> None:
    """``recording.record_day`` (a recorded day's one call) gives what its parts give: the day's cumulative
    resolved and closed counts (numpy's integer sums), ``record_row``, the row's means kept as the day's,
    and ``trailing_row``'s windowed series in their rows, to the bit."""
    m, w, led, pool = busy_model, busy_model.world, busy_model.ledger, busy_model.problems
    totals = tuple(DayTotals(11, 12, 0.25, 0.5, 13.5, 14.5, 15, 16, 17))
    compounds = (w.compound_start, w.compound_type, w.compound_size)
    rng = np.random.default_rng(day)
    # earlier days' counts and means, as a run would have kept them (cumulative counts never fall)
    resolved_cum = np.zeros(60, dtype=np.int64)
    resolved_cum[1:] = np.cumsum(rng.integers(0, 5, 59))
    closed_cum = resolved_cum + np.concatenate([[0], np.cumsum(rng.integers(0, 3, 59))])
    got_days = (resolved_cum, closed_cum, rng.random(60), rng.random(60))
    want_days = tuple(a.copy() for a in got_days)
    got, want = np.full((len(SERIES), 3), np.nan), np.full((len(SERIES), 3), np.nan)
    rows = tuple(series_rows())
    recording.record_day(got, 2, rows, tuple(window_rows()), pool.cols, led.counts(), m.residents.state(), compounds,
                         totals, got_days, day, WINDOW_DAYS)
    resolved = int(led.resolved.sum())
    want_days[0][day + 1], want_days[1][day + 1] = resolved, resolved + int(led.abandoned.sum())
    recording.record_row(want, 2, rows, pool.cols, led.counts(), m.residents.state(), compounds, totals)
    want_days[2][day] = want[SERIES.index("satisfaction_mean"), 2]
    want_days[3][day] = want[SERIES.index("trust_mean"), 2]
    for name, value in zip(WINDOW_SERIES, recording.trailing_row(*want_days, day, WINDOW_DAYS)):
        want[SERIES.index(name), 2] = value
    assert_identical(got, want, "table")
    for name, x, y in zip(("resolved_cum", "closed_cum", "satisfaction_day", "trust_day"), got_days, want_days):
        assert_identical(x, y, name)
    assert not np.isnan(got[[SERIES.index(name) for name in WINDOW_SERIES], 2]).any()


def test_an_unrecorded_day_keeps_what_a_recorded_day_keeps(busy_model: Model) -> None:
    """``recording.unrecorded_day`` (a day without a row) keeps the day's cumulative counts (numpy's integer
    sums) and its mean satisfaction and trust (``ndarray.mean(dtype=float64)``), the values ``record_day``
    keeps for a day with a row."""
    m, led = busy_model, busy_model.ledger
    days = (np.zeros(40, dtype=np.int64), np.zeros(40, dtype=np.int64), np.full(40, np.nan), np.full(40, np.nan))
    recording.unrecorded_day(led.counts(), m.residents.state(), days, 17)
    resolved = int(led.resolved.sum())
    assert days[0][18] == resolved > 0 and days[1][18] == resolved + int(led.abandoned.sum()) > resolved
    assert days[2][17] == m.residents.satisfaction.mean(dtype=np.float64)
    assert days[3][17] == m.residents.trust.mean(dtype=np.float64)
    assert not days[0][:18].any() and np.isnan(days[2][:17]).all() and np.isnan(days[2][18:]).all()
    table, rows = np.full((len(SERIES), 1), np.nan), tuple(series_rows())
    recorded = tuple(a.copy() for a in days)
    recording.record_day(table, 0, rows, tuple(window_rows()), m.problems.cols, led.counts(), m.residents.state(),
                         (m.world.compound_start, m.world.compound_type, m.world.compound_size),
                         tuple(DayTotals(0, 0, 0.5, 0.5, 0.0, 0.0, 0, 0, 0)), recorded, 17, WINDOW_DAYS)
    for name, x, y in zip(("resolved_cum", "closed_cum", "satisfaction_day", "trust_day"), recorded, days):
        assert_identical(x, y, name)


# ---- draws ---------------------------------------------------------------------------------------
def test_scalar_draws_are_the_array_draws() -> None:
    """poisson_each / binomial_each draw the same numbers as numpy's array calls and leave the
    generator in the same state, below and above the size where they switch."""
    for size in (1, 4, 16, 17, 40):
        a, b = np.random.default_rng(size), np.random.default_rng(size)
        lam = a.random(size) * 12.0
        b.random(size)
        n, p = a.integers(0, 3000, size), a.random(size)
        b.integers(0, 3000, size), b.random(size)
        np.testing.assert_array_equal(poisson_each(a, lam), b.poisson(lam))
        np.testing.assert_array_equal(binomial_each(a, n, p), b.binomial(n, p))
        assert a.random() == b.random()


def test_draw_arrivals_is_the_models_arrival_draw(busy_model: Model) -> None:
    """The numpy draw_arrivals draws what the arise phase draws, from the same stream."""
    tab = busy_model.arrivals
    res, cat, sev, u_prevent = nd.draw_arrivals(tab, np.random.default_rng(4))
    k, u = draw_arrival_uniforms(tab, np.random.default_rng(4))
    got = arising.arrivals(k, u, tab.strata())
    for x, y in zip(got, (res, cat, sev)):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(u_prevent, u[3])


# ---- threads ---------------------------------------------------------------------------------------
@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="numba has one thread here")
def test_parallel_kernels_give_the_same_bits_on_one_and_two_threads(busy_model: Model) -> None:
    """Word of mouth and perception run residents in parallel, the find phase chunks of pool rows
    (numba.prange, in worlds from PARALLEL_RESIDENTS residents and PARALLEL_ROWS rows); on 1 and 2
    threads they change the state and the pool to the same bits as the sequential loops, and a whole
    run of a world that large gives the same series and summary."""
    before = numba.get_num_threads()
    m = busy_model
    how = Judgement(*judgement(m.scenario.residents))
    seq = copied_state(m.residents.state())
    residents.perceive(seq, m.residents.ties, tuple(how))  # below PARALLEL_RESIDENTS: the sequential loops
    assert residents.RESIDENT_CHUNK < m.residents.n < residents.PARALLEL_RESIDENTS  # two chunks to share
    for threads in (1, 2):
        numba.set_num_threads(threads)
        par = ResidentState(*copied_state(m.residents.state()))
        ties = SocialTies(*m.residents.ties)
        residents.perceive_chunks(par.experience, par.heard, ties.indptr, ties.padded_ptr, ties.padded, ties.block_res,
                                  par.performance, par.expectation, par.grievance, how.word_of_mouth, how.rate_down,
                                  how.rate_up, how.rate_expectation, how.keep_grievance)
        assert_same_state(tuple(par), seq)
    assert not np.array_equal(ResidentState(*seq).performance, m.residents.performance)  # it moved
    runs = []
    sc = Scenario().with_overrides({"world.n_communities_per_street": 8, "world.n_compounds_per_community": 20,
                                    "run.n_steps": 150})  # ~89,000 residents, the pool crosses PARALLEL_ROWS by day ~90
    for threads in (1, 2):
        numba.set_num_threads(threads)
        model = Model(sc, seed=4)
        runs.append(model.run(150, progress=False))
    numba.set_num_threads(before)  # the session's threads (conftest: one)
    assert model.residents.n >= residents.PARALLEL_RESIDENTS and model.problems.n >= arising.PARALLEL_ROWS
    for name in SERIES:
        np.testing.assert_array_equal(runs[0].timeseries[name], runs[1].timeseries[name], err_msg=name)
    np.testing.assert_equal(runs[0].summary, runs[1].summary)


def test_padded_neighbour_lists_are_the_lists_in_order_then_the_zero_s_index() -> None:
    """``pad_ties``: each resident's padded list is its list in stored order, then the index ``n``
    (the zero after the experience) up to a whole number of blocks, and not a block more; a judge
    day leaves that zero alone."""
    rng = np.random.default_rng(4)
    deg = rng.integers(0, 3 * residents.WOM_BLOCK, 200)
    deg[:5] = 0  # residents without neighbours, at the start
    indptr = np.zeros(deg.size + 1, dtype=np.uint32)
    indptr[1:] = np.cumsum(deg)
    indices = rng.integers(0, deg.size, int(indptr[-1])).astype(np.uint32)
    ptr, padded, block_res = residents.pad_ties(indptr, indices)
    assert ptr.dtype == indptr.dtype and padded.dtype == indices.dtype == block_res.dtype
    assert block_res.size * residents.WOM_BLOCK == padded.size
    blocks = np.diff(ptr.astype(np.int64))
    assert np.all(blocks % residents.WOM_BLOCK == 0) and np.all(blocks >= deg)
    assert np.all(blocks < deg + residents.WOM_BLOCK)
    for r in range(deg.size):
        lst = padded[ptr[r]: ptr[r + 1]]
        assert np.array_equal(lst[: deg[r]], indices[indptr[r]: indptr[r + 1]])
        assert np.all(lst[deg[r]:] == deg.size)
        assert np.all(block_res[ptr[r] // residents.WOM_BLOCK: ptr[r + 1] // residents.WOM_BLOCK] == r)
    m = Model(Scenario().with_overrides({**MEDIUM, "run.n_steps": 30}), seed=2)
    x = ResidentState(*m.residents.state()).experience
    assert x.size == m.residents.n + 1 and x[-1] == 0.0
    m.run(30, progress=False)
    assert ResidentState(*m.residents.state()).experience[-1] == 0.0
    assert (x[:-1] < 1).any()  # the days were judged


@numba.njit(cache=False)
def _compiled_exp_and_powf(x: np.ndarray, a: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    e, p = np.empty_like(x), np.empty_like(a)
    for i in range(x.size):
        e[i] = np.exp(x[i])
        p[i] = a[i] ** k[i]
    return e, p


def test_definitions_exp_and_powf_are_what_compiled_code_computes() -> None:
    """The definitions' ``exp`` and ``powf`` (the C library's) give the compiled loops' bits; numpy's ufuncs
    need not (on an AVX-512 machine they differed for ~2% of these exps and ~20% of these powers)."""
    rng = np.random.default_rng(5)
    x = -rng.random(20_000) * 5.0
    a = rng.random(20_000).astype(np.float32)
    k = (1.0 + 2.0 * rng.random(20_000)).astype(np.float32)
    e, p = _compiled_exp_and_powf(x, a, k)
    np.testing.assert_array_equal(nd.exp(x), e)
    np.testing.assert_array_equal(nd.powf(a, k), p)
    assert nd.powf(a, k).dtype == np.float32 and nd.exp(x).shape == x.shape


@pytest.mark.parametrize("n", [1, 2, 3, 5, 9, 61, residents.RESIDENT_CHUNK + 5])
def test_word_of_mouth_in_interleaved_runs_matches_numpy_on_awkward_lists(n: int) -> None:
    """Perception with the sums of :data:`~sim.core.kernels.residents.WOM_STREAMS` runs of residents interleaved
    gives the numpy definition's bits on lists of 0 to 3 blocks, with residents without neighbours at the start,
    the end and the runs' edges, fewer residents than runs, and (in chunks) more than one chunk."""
    rng = np.random.default_rng(n)
    deg = rng.integers(1, 3 * residents.WOM_BLOCK + 1, n)
    q = -(-n // residents.WOM_STREAMS)
    if n > 2 * residents.WOM_STREAMS:
        deg[[0, n - 1, *range(q - 1, n, q)]] = 0  # no neighbours where the runs start and end
        deg[1] = residents.WOM_BLOCK  # a whole block, no padding
    elif n > 1:
        deg[n // 2] = 0  # runs of one resident: one without neighbours
    indptr = np.zeros(n + 1, dtype=np.uint32)
    indptr[1:] = np.cumsum(deg)
    indices = rng.integers(0, n, int(indptr[-1])).astype(np.uint32)
    ties = (indptr, indices, *residents.pad_ties(indptr, indices))
    f32 = np.float32

    def state() -> Fields:
        g = np.random.default_rng(1)
        x = np.zeros(n + 1, dtype=f32)
        x[:n] = np.where(g.random(n) < 0.3, f32(1), g.random(n).astype(f32))
        return (*(g.random(n).astype(f32) for _ in range(3)), np.zeros(n, np.int32), np.zeros(n),
                *(g.random(n).astype(f32) for _ in range(3)), x, np.zeros(n, dtype=f32))

    how = tuple(judgement(load_scenario(REPO / "scenarios" / "baseline.toml").residents))
    got, ref = state(), state()
    residents.perceive(got, ties, how)
    nd.perceive(ref, ties, how)
    assert_same_state(got, ref)
    chunked = state()
    h = Judgement(*how)
    r = ResidentState(*chunked)
    residents.perceive_chunks(r.experience, r.heard, ties[0], *ties[2:], r.performance, r.expectation, r.grievance,
                              h.word_of_mouth, h.rate_down, h.rate_up, h.rate_expectation, h.keep_grievance)
    assert_same_state(chunked, ref)
    if n > 1:  # (one resident's only neighbour is itself)
        assert np.any(ResidentState(*ref).heard != ResidentState(*ref).experience[:n])  # the neighbours were heard


_SIGNATURES_AFTER_WARM_UP = """
import importlib, json, pkgutil
from numba.core.registry import CPUDispatcher
import sim.core.kernels, sim.core.rng, sim.core.results
from sim import Model, Scenario
from sim.core.model import warm_up
from sim.policies import builtin
mods = [importlib.import_module(f"sim.core.kernels.{m.name}") for m in pkgutil.iter_modules(sim.core.kernels.__path__)]
mods += [sim.core.rng, sim.core.results]
def loaded():
    return {f"{m.__name__}.{n}": len(o.signatures) for m in mods for n, o in vars(m).items()
            if isinstance(o, CPUDispatcher)}
warm_up()
before = loaded()
Model(Scenario().with_overrides({"world.n_compounds_per_community": 12, "run.n_steps": 40}), seed=1).run(progress=False)
Model(Scenario().with_overrides({"world.n_compounds_per_community": 3, "run.n_steps": 20, "run.record_every": 3}),
      seed=3).run(progress=False)
sc = Scenario(name="all").with_overrides({"world.n_compounds_per_community": 6, "run.n_steps": 60}).to_dict()
Model(Scenario.from_dict({**sc, "policies": {p: {} for p in builtin()}}), seed=2).run(progress=False)
after = loaded()
print(json.dumps({"kernels": len(before), "new": [k for k in after if after[k] > before.get(k, 0)]}))
"""


def test_warm_up_leaves_no_kernel_to_load_or_compile_in_a_run() -> None:
    """After ``warm_up`` (in a fresh interpreter) a bigger baseline run, one recording every third day and a
    run with every built-in policy add no kernel signature: nothing is compiled or loaded inside a run that follows it (two days of
    warm-up left three kernels to compile in a district's first day)."""
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _SIGNATURES_AFTER_WARM_UP], capture_output=True, text=True,
                         check=True, cwd=REPO, env={**__import__("os").environ, "NUMBA_NUM_THREADS": "1"})
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["kernels"] > 30 and got["new"] == [], got
