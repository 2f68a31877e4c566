"""sim.core.kernels.draws: kernels drawing from numpy's generators draw numpy's numbers and leave them as numpy does."""

from __future__ import annotations

import copy
import pickle
from types import SimpleNamespace

import numba
import numpy as np
import pytest
from helpers import MEDIUM
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import Model, Scenario
from sim.agents.resident import volunteer_candidates
from sim.core.kernels.arising import arrival_draws
from sim.core.kernels.draws import Handle, bounded, choice_without_replacement, generator_at, handle, poisson
from sim.core.kernels.handling import successes
from sim.core.kernels.residents import participate_day, participate_drawn, volunteer_draws
from sim.core.problems import draw_arrival_uniforms
from sim.core.rng import Streams, binomial_each, poisson_list


def pair(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Two generators in the same state."""
    return np.random.default_rng(seed), np.random.default_rng(seed)


def same_state(a: np.random.Generator, b: np.random.Generator) -> bool:
    """Equal states, the buffered half of a 64-bit draw included."""
    return a.bit_generator.state == b.bit_generator.state


@pytest.mark.parametrize("rng", [0, 1, 2, 9, 5_000, 2**31 - 1, 2**32 - 2, 2**32 - 1, 2**32, 2**40 + 7, 2**63 + 5,
                                 2**64 - 2, 2**64 - 1])
def test_bounded_is_numpys_bounded_integer(rng: int) -> None:
    """bounded(gen, r) draws numpy's integers(0, r, endpoint=True) (Lemire's method on 32- and 64-bit
    draws, and the two full ranges), one after another, a buffered half-draw carried between them."""
    a, b = pair(rng % 1000)
    a.integers(0, 10, dtype=np.uint32)  # leaves half of a 64-bit draw buffered in both
    b.integers(0, 10, dtype=np.uint32)
    got = [int(bounded(a, np.uint64(rng))) for _ in range(25)]
    want = [int(b.integers(0, rng, endpoint=True, dtype=np.uint64)) for _ in range(25)]
    assert got == want
    assert same_state(a, b)


@pytest.mark.parametrize(("n", "k"), [(1, 0), (1, 1), (10, 0), (10, 3), (10, 10), (5_000, 40), (5_000, 1_249),
                                      (10_000, 300), (10_001, 200), (10_001, 201), (60_000, 1_199),
                                      (60_000, 1_201), (60_000, 14_000), (60_000, 60_000)])
def test_choice_without_replacement_is_numpys(n: int, k: int) -> None:
    """Floyd's algorithm and the tail shuffle (from 10,000 candidates and more than n // 50 picks) give
    numpy's sample, in numpy's order, and use up the same draws."""
    a, b = pair(n + k)
    np.testing.assert_array_equal(choice_without_replacement(a, n, k), b.choice(n, size=k, replace=False))
    assert same_state(a, b)
    assert a.random() == b.random()


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 30_000), share=st.floats(0.0, 1.0))
def test_choice_without_replacement_matches_numpy_anywhere(seed: int, n: int, share: float) -> None:
    a, b = pair(seed)
    k = int(share * n)
    np.testing.assert_array_equal(choice_without_replacement(a, n, k), b.choice(n, size=k, replace=False))
    assert same_state(a, b)


@pytest.mark.parametrize(("n", "scale"), [(3_000, 1.0), (3_000, 400.0), (20_000, 1.0), (20_000, 40.0),
                                          (20_000, 2_000.0), (20_000, 0.0)])
def test_volunteer_draws_are_volunteer_candidates(n: int, scale: float) -> None:
    """The kernel's volunteer draws are the Python ones: both candidate paths (numpy's choice below a
    quarter of the residents, uniforms above), Floyd's and the tail shuffle, and no draw at all at top 0."""
    rates = np.random.default_rng(n).random(n).astype(np.float32) * np.float32(0.001)
    mult = np.full(n, scale, dtype=np.float32)
    a, b = pair(int(scale) + n)
    top, cand, u = volunteer_draws(a, n, (rates, mult))
    top_b, cand_b, u_b = volunteer_candidates(n, b, rates, mult)
    assert top == top_b
    np.testing.assert_array_equal(cand, cand_b)
    np.testing.assert_array_equal(u, u_b)
    assert cand.dtype == cand_b.dtype == np.int64
    assert same_state(a, b)


@pytest.mark.parametrize("lam", [[0.0], [0.3, 2.5, 12.0, 40.0], list(np.linspace(0.0, 30.0, 20))])
def test_arrival_draws_are_draw_arrival_uniforms(lam: list[float]) -> None:
    """Poisson counts per stratum (numpy's two methods, below and above 10) then four uniforms a problem,
    through a handle: numpy's numbers, and the Python generator moved on as numpy moves it."""
    a, b = pair(len(lam))
    table = SimpleNamespace(lam=np.array(lam))
    for _ in range(3):
        k, u = arrival_draws(handle(a), table.lam)
        k_b, u_b = draw_arrival_uniforms(table, b)  # type: ignore[arg-type]
        np.testing.assert_array_equal(k, k_b)
        np.testing.assert_array_equal(u, u_b)
        assert same_state(a, b)


@pytest.mark.parametrize("n", [0, 1, 7, 5_000])
def test_successes_are_numpys_draws_against_the_chances(n: int) -> None:
    """``handling.successes`` keeps the rows whose ``rng.random(n)`` falls below their float32 chance, as numpy,
    with chances of 0 and 1 and between, and leaves the generator where numpy's draw does."""
    p = np.random.default_rng(n).random(n).astype(np.float32)
    p[: n // 3] = np.float32(0.0)
    p[n // 3: n // 2] = np.float32(1.0)
    rows = np.random.default_rng(1).permutation(3 * n)[:n].astype(np.int64)
    want_rng, got_rng = np.random.default_rng(4), np.random.default_rng(4)
    want_rng.integers(0, 3, dtype=np.uint32)  # a buffered half-draw, which random leaves in place
    got_rng.integers(0, 3, dtype=np.uint32)
    want = rows[want_rng.random(n) < p]
    got = successes(handle(got_rng), rows, p)
    np.testing.assert_array_equal(got, want, strict=True)
    assert got_rng.bit_generator.state == want_rng.bit_generator.state
    assert n < 7 or 0 < got.size < n


def test_handles_are_made_again_after_pickling_and_copying() -> None:
    """A handle is an address in this process: Streams keeps them out of its pickle, so a copy draws
    from its own generator (and the original is left alone)."""
    s = Streams(3)
    lam = np.array([4.0, 20.0])
    arrival_draws(s.handle("arrival"), lam)
    for how in ("pickle", "deepcopy"):
        copied = pickle.loads(pickle.dumps(s)) if how == "pickle" else copy.deepcopy(s)  # noqa: S301 - made here
        before = s.get("arrival").bit_generator.state
        k, u = arrival_draws(copied.handle("arrival"), lam)
        assert s.get("arrival").bit_generator.state == before
        k_s, u_s = arrival_draws(s.handle("arrival"), lam)
        np.testing.assert_array_equal(k, k_s)
        np.testing.assert_array_equal(u, u_s)
        assert copied.handle("arrival") != s.handle("arrival")


@numba.njit
def _binomials(h: Handle, n: int, p: float, size: int) -> np.ndarray:
    gen = generator_at(h)
    out = np.empty(size, dtype=np.int64)
    for i in range(size):
        out[i] = gen.binomial(n, p)
    return out


@numba.njit
def _poissons(h: Handle, lam: float, size: int) -> np.ndarray:
    gen = generator_at(h)
    out = np.empty(size, dtype=np.int64)
    for i in range(size):
        out[i] = poisson(gen, lam)
    return out


@pytest.mark.parametrize(("n", "p"), [(5000, 0.04), (1000, 0.3), (200, 0.5), (5532, 0.02), (40, 0.1), (300, 0.93)])
def test_kernel_binomials_are_numpys_for_long(n: int, p: float) -> None:
    """A million draws a case, through a handle, by inversion (n p <= 30) and by BTPE (above; numba's port
    differed from numpy's there before 0.67, in one draw in 10^5 to nearly all): numpy's numbers."""
    a, b = pair(n)
    np.testing.assert_array_equal(_binomials(handle(a), n, p, 1_000_000), b.binomial(n, p, size=1_000_000))
    assert same_state(a, b)


@pytest.mark.parametrize("lam", [0.0, 0.03, 2.5, 9.99, 10.0, 10.5, 47.0, 3_000.0, 2e6])
def test_kernel_poissons_are_numpys_for_long(lam: float) -> None:
    """A million draws a case, by multiplication (lam < 10) and by PTRS (from 10; numba's own port, which
    truncates where numpy floors, differed at draw 16,742 of the case at 10 and at nearly every one after): numpy's."""
    a, b = pair(int(lam))
    np.testing.assert_array_equal(_poissons(handle(a), lam, 1_000_000), b.poisson(lam, size=1_000_000))
    assert same_state(a, b)


@pytest.mark.parametrize("bad", [-1e-9, float("nan"), 1e19])
def test_arrival_draws_refuse_the_rates_numpy_refuses(bad: float) -> None:
    """numpy's scalar checks and messages (its array path, above 16 rates, words them otherwise)."""
    rng = np.random.default_rng(0)  # alive while the kernel draws from it
    with pytest.raises(ValueError, match="lam"):
        arrival_draws(handle(rng), np.array([3.0, bad]))
    table = SimpleNamespace(lam=np.array([3.0, bad]))
    with pytest.raises(ValueError, match="lam"):  # as the Python draws
        draw_arrival_uniforms(table, np.random.default_rng(0))  # type: ignore[arg-type]


def _participate_in_python(rng: np.random.Generator, rate: np.ndarray, p_reach: float, start: np.ndarray,
                           size: np.ndarray, vol: tuple[np.ndarray, np.ndarray], res: tuple, how: tuple) -> tuple:
    """The participate phase as the model drew it in Python before its draws moved into the kernel."""
    events = poisson_list(rng, rate)
    n_att = binomial_each(rng, size, np.array([min(e * p_reach, 1.0) for e in events]))
    u_att = rng.random(int(n_att.sum()))
    top, cand, u_vol = volunteer_candidates(res[0].size, rng, *vol)
    return sum(events), participate_day((n_att, u_att, cand, u_vol, top), start, size, vol, res, how)


def test_participate_drawn_is_the_python_draws_then_the_kernel() -> None:
    """Communities many (numpy's array path from 17) or few, some empty, events rare or many, reach 0 to 1,
    volunteers none to most: the same events, volunteers, residents' state and generator state."""
    m = Model(Scenario().with_overrides({**MEDIUM, "run.n_steps": 30}), seed=3)
    m.run(5, progress=False)
    r, party, rs = m.residents, m.party, np.random.default_rng(1)
    for trial in range(24):
        edges = np.unique(np.concatenate([[0, r.n], rs.integers(0, r.n + 1, int(rs.choice([1, 5, 40])))]))
        if trial % 3 == 0:  # empty communities
            edges = np.sort(np.concatenate([edges, edges[rs.integers(0, edges.size, 3)]]))
        start, size = edges[:-1], np.diff(edges)
        rate = (rs.exponential(rs.choice([0.03, 1.0, 12.0]), start.size) * (rs.random(start.size) < 0.8))
        vol = (party.volunteer_rate.copy(), party.volunteer_mult * np.float32(rs.choice([0.0, 1.0, 50.0, 1e5])))
        p_reach = float(rs.choice([0.0, 0.04, 0.3, 1.0]))
        state_a, state_b = copy.deepcopy(r.state()), copy.deepcopy(r.state())
        a, b = pair(trial)
        got = participate_drawn(handle(a), rate.astype(np.float32), p_reach, start, size, vol, state_a, m._influence)
        want = _participate_in_python(b, rate.astype(np.float32), p_reach, start, size, vol, state_b, m._influence)
        assert got == want, trial
        assert same_state(a, b), trial
        for x, y in zip(state_a, state_b, strict=True):
            np.testing.assert_array_equal(x, y, err_msg=str(trial))
