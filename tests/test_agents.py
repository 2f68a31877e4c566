"""sim.agents: residents' judgement and influence, grid visits, staff, firms, party members, volunteers."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from sim import Model
from sim.agents.community import Communities, Grids
from sim.agents.department import Departments
from sim.agents.party_member import PartyMembers, p_found_by_links
from sim.agents.property_firm import PropertyFirms
from sim.agents.resident import (
    Residents,
    influence,
    judgement,
    participate,
    performance,
    volunteer_candidates,
)
from sim.agents.street_office import StreetOffices
from sim.config.params import DAYS_PER_MONTH, CommunityParams, HandlingParams, PartyParams, ResidentParams
from sim.config.taxonomy import N_CATEGORIES, OLD
from sim.core.kernels import residents as kernels
from sim.core.kernels.numpy_definitions import advance, scatter_add, visited, visits_per_day
from sim.core.kernels.state import ResidentState


def fresh_residents(model: Model, seed: int = 0) -> Residents:
    return Residents.create(model.world, model.scenario.residents, np.random.default_rng(seed))


# the residents' submodels as the model's phases run them (the kernels)
def judge_outcomes(r: Residents, ids: np.ndarray, perf: np.ndarray, params: ResidentParams) -> None:
    kernels.hear_outcomes(r.state(), ids.astype(np.int32), perf.astype(np.float32), r.ties, tuple(judgement(params)))


def live_days(r: Residents, x: np.ndarray, params: ResidentParams, n_days: int) -> None:
    """``n_days`` days whose experience is ``x`` (before word of mouth): perception, expectation, settling."""
    state = ResidentState(*r.state())
    for _ in range(n_days):
        state.experience[: r.n] = x  # the last element is the padding's zero
        kernels.perceive(tuple(state), r.ties, tuple(judgement(params)))
        kernels.settle(tuple(state), tuple(influence(params)))


def draw_volunteers(r: Residents, rng: np.random.Generator, rate: np.ndarray, mult: np.ndarray) -> np.ndarray:
    top, cand, u = volunteer_candidates(r.n, rng, rate, mult)
    return kernels.accept_volunteers(cand, u, top, (rate, mult), r.trust)


# ---- grid visits ---------------------------------------------------------------------------------
@pytest.mark.parametrize("days_per_round", [1, 2, 8, 32])
def test_grid_visits_cover_each_household_once_per_round(small_model: Model, days_per_round: int) -> None:
    """Rounds of a power-of-two number of days keep the visit pointer exact in binary floating point
    (other rates are covered, up to round-off at the round's boundary, by the balance test below)."""
    w = small_model.world
    grids = Grids.create(w, small_model.scenario.community.households_per_grid.array(), 1.0)
    households = np.arange(w.n_households)
    visits = grids.grid_size / days_per_round  # each grid's round takes exactly days_per_round days
    for _ in range(3):  # three rounds in a row
        seen = np.zeros(w.n_households, dtype=np.int64)
        for _ in range(days_per_round):
            seen += visited(grids, households, visits)
            advance(grids, visits)
        np.testing.assert_array_equal(seen, 1)


def test_grid_visits_are_balanced_at_any_rate(small_model: Model) -> None:
    """With a visit rate that does not divide the grid, after D days every household has been
    visited floor or ceil of D * visits / size times, and the total matches the visits made."""
    w = small_model.world
    grids = Grids.create(w, small_model.scenario.community.households_per_grid.array(), 1.3)
    households = np.arange(w.n_households)
    visits = visits_per_day(grids.n_workers, 77.0)
    np.testing.assert_allclose(visits, 1.3 * 77.0 / DAYS_PER_MONTH, rtol=1e-6)
    seen = np.zeros(w.n_households)
    days = 200
    for _ in range(days):
        seen += visited(grids, households, visits)
        advance(grids, visits)
    per_grid_expected = days * visits / grids.grid_size
    expected = per_grid_expected[grids.household_grid]
    assert np.all(seen >= np.floor(expected) - 1) and np.all(seen <= np.ceil(expected) + 1)
    assert seen.max() - seen.min() <= np.ceil(per_grid_expected.max()) - np.floor(per_grid_expected.min()) + 1


def test_no_workers_no_visits(small_model: Model) -> None:
    w = small_model.world
    grids = Grids.create(w, small_model.scenario.community.households_per_grid.array(), 0.0)
    visits = visits_per_day(grids.n_workers, 100.0)
    assert not visited(grids, np.arange(w.n_households), visits).any()


# ---- performance and judgement -------------------------------------------------------------------
def test_performance_is_one_on_time_and_decreasing_when_late() -> None:
    expected = np.full(60, 7.0, dtype=np.float32)
    wait = np.arange(60, dtype=np.float32)
    perf = performance(wait, expected)
    assert np.all(perf[:8] == 1.0)  # on time (wait <= expected)
    assert np.all(np.diff(perf[7:]) < 0) and np.all(perf > 0) and np.all(perf <= 1)
    # lateness counts relative to the expected wait
    assert performance(np.array([14.0]), np.array([7.0]))[0] == pytest.approx(
        performance(np.array([90.0]), np.array([45.0]))[0])


def test_outcomes_move_efficacy_own_and_by_word_of_mouth(small_model: Model) -> None:
    params = small_model.scenario.residents
    r = fresh_residents(small_model)
    ids = np.arange(0, 200, 20)
    good, bad = ids[:5], ids[5:]
    perf = np.concatenate([np.ones(5, np.float32), np.zeros(5, np.float32)])
    before = copy.deepcopy(r)
    judge_outcomes(r, ids, perf, params)
    assert np.all(r.efficacy[good] > before.efficacy[good]) and np.all(r.efficacy[bad] < before.efficacy[bad])
    # a failure leaves a grievance, a success none
    np.testing.assert_allclose(r.grievance[bad], params.grievance, rtol=1e-6)
    assert np.all(r.grievance[good] == 0)
    # the step is rate_efficacy of the gap for the resident, rate_efficacy x word of mouth for a neighbour
    i = good[0]
    assert r.efficacy[i] == pytest.approx(before.efficacy[i] + params.rate_efficacy * (1 - before.efficacy[i]), abs=1e-6)
    w = small_model.world
    nbrs = np.setdiff1d(w.social_indices[w.social_indptr[i]:w.social_indptr[i + 1]], ids)
    lone = [k for k in nbrs if not np.isin(w.social_indices[w.social_indptr[k]:w.social_indptr[k + 1]], ids[ids != i]).any()]
    assert lone
    k = lone[0]
    assert r.efficacy[k] == pytest.approx(
        before.efficacy[k] + params.rate_efficacy * params.weight_word_of_mouth * (1 - before.efficacy[k]), abs=1e-6)
    unrelated = np.setdiff1d(np.arange(r.n), np.concatenate([ids, w.social_indices[
        np.concatenate([np.arange(w.social_indptr[j], w.social_indptr[j + 1]) for j in ids])]]))
    np.testing.assert_array_equal(r.efficacy[unrelated], before.efficacy[unrelated])


def test_outcomes_stay_in_bounds_with_repeated_ids(small_model: Model) -> None:
    params = ResidentParams(rate_efficacy=1.0, weight_word_of_mouth=1.0, grievance=1.0)
    r = fresh_residents(small_model)
    ids = np.repeat(np.arange(20), 5)
    judge_outcomes(r, ids, np.ones(ids.size, np.float32), params)
    judge_outcomes(r, ids[::-1], np.zeros(ids.size, np.float32), params)
    for a in (r.efficacy, r.grievance):
        assert a.min() >= 0.0 and a.max() <= 1.0


def test_perfect_days_take_satisfaction_to_its_maximum(small_model: Model) -> None:
    """Every day lived without an overdue problem: P, E and S all tend to 1; S leads E (positive disconfirmation)."""
    params = small_model.scenario.residents
    r = fresh_residents(small_model)
    live_days(r, np.ones(r.n, np.float32), params, 400)
    assert r.performance.min() > 0.999 and r.satisfaction.min() > 0.999
    assert np.all(r.expectation < r.performance)  # expectations lag
    live_days(r, np.ones(r.n, np.float32), params, 3000)
    assert r.expectation.min() > 0.99


def test_worse_days_lower_perception_faster_than_better_days_raise_it(small_model: Model) -> None:
    params = small_model.scenario.residents
    r = fresh_residents(small_model)
    r.performance[:] = 0.5
    live_days(r, np.full(r.n, 0.0, np.float32), params, 1)
    down = 0.5 - r.performance.copy()
    r.performance[:] = 0.5
    live_days(r, np.full(r.n, 1.0, np.float32), params, 1)
    up = r.performance - 0.5
    np.testing.assert_allclose(down / up, params.negativity_bias, rtol=1e-4)


def test_disconfirmation_puts_satisfaction_above_or_below_performance(small_model: Model) -> None:
    """After an improvement S > P (expectations lag behind); after a decline S < P."""
    params = small_model.scenario.residents
    r = fresh_residents(small_model)
    live_days(r, np.full(r.n, 0.4, np.float32), params, 2000)  # settled at a poor level
    live_days(r, np.full(r.n, 0.9, np.float32), params, 60)
    assert np.all(r.satisfaction > r.performance)
    live_days(r, np.full(r.n, 0.9, np.float32), params, 3000)  # settled at a good level
    live_days(r, np.full(r.n, 0.4, np.float32), params, 60)
    assert np.all(r.satisfaction < r.performance)


def test_participation_lifts_performance_and_trust(small_model: Model) -> None:
    params = small_model.scenario.residents
    r = fresh_residents(small_model)
    before_p, before_t = r.performance.copy(), r.trust.copy()
    participate(r, np.array([5, 5]), params)
    assert r.performance[5] == pytest.approx(min(1.0, before_p[5] + 2 * params.participation_satisfaction), abs=1e-6)
    assert r.trust[5] == pytest.approx(min(1.0, before_t[5] + 2 * params.participation_trust), abs=1e-6)
    assert r.performance[4] == before_p[4]


def test_word_of_mouth_mixes_the_neighbours_experience(small_model: Model) -> None:
    params = ResidentParams(weight_word_of_mouth=0.3)
    r = fresh_residents(small_model)
    x = np.random.default_rng(2).random(r.n).astype(np.float32)
    state = ResidentState(*r.state())
    state.experience[: r.n] = x  # the last element is the padding's zero
    kernels.perceive(tuple(state), r.ties, tuple(judgement(params)))
    adj = small_model.world.social_matrix()
    deg = np.asarray(adj.sum(axis=1)).ravel()
    mean = np.where(deg > 0, adj @ x.astype(np.float64) / np.maximum(deg, 1), x)
    np.testing.assert_allclose(state.heard, x + 0.3 * (mean - x), atol=1e-5)


def test_initial_state_follows_the_parameters(small_model: Model) -> None:
    params = ResidentParams(performance_init=0.3, trust_init=0.7, expectation_init=0.5, efficacy_init=0.2,
                            init_concentration=50.0)
    r = Residents.create(small_model.world, params, np.random.default_rng(1))
    n = r.n
    for arr, mean in ((r.performance, 0.3), (r.trust, 0.7), (r.expectation, 0.5), (r.efficacy, 0.2)):
        assert arr.dtype == np.float32 and arr.size == n
        assert abs(arr.mean() - mean) < 4 * arr.std() / np.sqrt(n)
        assert arr.min() >= 0 and arr.max() <= 1
    np.testing.assert_allclose(r.satisfaction, np.clip(r.performance + 0.5 * (r.performance - r.expectation), 0, 1),
                               atol=1e-6)
    assert np.all(r.grievance == 0)


def test_scatter_add_matches_add_at() -> None:
    rng = np.random.default_rng(3)
    for unique in (True, False):
        target = rng.random(100).astype(np.float32)
        ids = rng.permutation(100)[:30] if unique else rng.integers(0, 100, 300)
        values = rng.normal(size=ids.size)
        expected = target.astype(np.float64)
        np.add.at(expected, ids, values)
        scatter_add(target, ids, values)
        np.testing.assert_allclose(target, expected, rtol=1e-5, atol=1e-5)


# ---- volunteering and party links -----------------------------------------------------------------
@pytest.mark.parametrize("rate", [0.002, 0.3])
def test_draw_volunteers_rate(small_model: Model, rate: float) -> None:
    r = fresh_residents(small_model)
    rates = np.full(r.n, rate, dtype=np.float32)
    rates[::7] = 5 * rate  # e.g. party members volunteer more
    mult = np.ones(r.n, dtype=np.float32)
    mult[::10] = 3.0
    rng = np.random.default_rng(11)
    counts = np.array([draw_volunteers(r, rng, rates, mult).size for _ in range(300)])
    expected = float(np.minimum(rates * mult * r.trust, 1.0).sum())
    se = counts.std(ddof=1) / np.sqrt(counts.size)
    assert abs(counts.mean() - expected) < 4 * se + 1e-9, (counts.mean(), expected, se)
    ids = draw_volunteers(r, rng, rates, mult)
    assert np.all(np.diff(ids) > 0)  # sorted, each resident at most once a day
    assert draw_volunteers(r, rng, np.zeros(r.n, dtype=np.float32), mult).size == 0


def test_p_found_by_links() -> None:
    params = PartyParams(rate_contact=0.1, p_find_on_contact=0.5)
    p = p_found_by_links(np.arange(6, dtype=np.int16), params)
    assert p[0] == 0.0 and np.all(np.diff(p) > 0)
    np.testing.assert_allclose(p, 1 - (1 - 0.05) ** np.arange(6))


def test_party_members_count_links_per_resident(medium_model: Model) -> None:
    w = medium_model.world
    pm = PartyMembers.create(w, PartyParams(rate_volunteer=0.02), resident_rate=0.002)
    np.testing.assert_array_equal(pm.n_links, np.bincount(w.link_indices, minlength=w.n_residents))
    assert pm.n_links.sum() == w.link_indices.size
    np.testing.assert_allclose(pm.volunteer_rate[w.party_ids], 0.02)
    np.testing.assert_allclose(pm.volunteer_rate[~w.res_party], 0.002)
    assert np.all(pm.volunteer_mult == 1.0)


# ---- staff, firms, streets, departments -----------------------------------------------------------
def test_community_capacity(small_model: Model) -> None:
    w = small_model.world
    params = CommunityParams(n_staff_per_10k=20.0, capacity_per_staff=0.5, rate_admin_tasks=4.0, effort_admin_task=0.25)
    c = Communities.create(w, params)
    np.testing.assert_allclose(c.n_staff, 20.0 * w.community_size / 1e4, rtol=1e-6)
    np.testing.assert_allclose(c.admin_effort(), np.minimum(1.0, c.staff_effort()), rtol=1e-6)
    np.testing.assert_allclose(c.problem_capacity(), c.staff_effort() - c.admin_effort(), rtol=1e-6)
    assert np.all(c.problem_capacity() >= 0)
    swamped = Communities.create(w, CommunityParams(rate_admin_tasks=1000.0))
    assert np.all(swamped.problem_capacity() == 0)


def test_property_firms(medium_model: Model) -> None:
    w = medium_model.world
    params = HandlingParams()
    firms = PropertyFirms.create(w, params, np.random.default_rng(0))
    assert firms.n == int((w.compound_type != OLD).sum())
    assert np.all((firms.quality >= 0) & (firms.quality <= 1))
    np.testing.assert_allclose(firms.capacity, params.property_capacity_per_100_households
                               * w.compound_n_households[firms.compound] / 100, rtol=1e-6)
    new_ids = firms.add(np.flatnonzero(w.compound_type == OLD)[:2], 0.5, np.array([1.0, 2.0]), community_run=True)
    assert new_ids.tolist() == [firms.n - 2, firms.n - 1] and firms.community_run[-2:].all()


def test_street_and_department_capacity(small_model: Model) -> None:
    w = small_model.world
    params = HandlingParams(capacity_street_per_10k=3.0, capacity_department_per_10k=5.0, capacity_city_per_10k=1.0)
    s = StreetOffices.create(w, params)
    np.testing.assert_allclose(s.capacity, 3.0 * w.street_size / 1e4, rtol=1e-6)
    assert s.authority_mult.shape == (w.n_streets, N_CATEGORIES) and np.all(s.authority_mult == 1)
    d = Departments.create(w, params)
    np.testing.assert_allclose(d.capacity, np.full(N_CATEGORIES, 5.0 * w.n_residents / 1e4), rtol=1e-6)
    np.testing.assert_allclose(d.city_capacity, [1.0 * w.n_residents / 1e4], rtol=1e-6)
