"""sim.core.kernels.draws: kernels drawing from numpy's generators draw numpy's numbers and leave them as numpy does."""

from __future__ import annotations

import copy
import pickle
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.agents.resident import volunteer_candidates
from sim.core.kernels.arising import arrival_draws
from sim.core.kernels.draws import bounded, choice_without_replacement, handle
from sim.core.kernels.residents import volunteer_draws
from sim.core.problems import draw_arrival_uniforms
from sim.core.rng import Streams


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
