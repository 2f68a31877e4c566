"""sim.core.rng: named random streams that depend only on the seed and the name."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from sim.core.kernels.draws import pcg_state
from sim.core.kernels.pcg import JUMP_MAX, chunk_states, draw_at, jump_table, next_double, take_row_starts
from sim.core.rng import Streams


def test_same_seed_and_name_give_the_same_draws() -> None:
    a, b = Streams(5), Streams(5)
    np.testing.assert_array_equal(a.get("arrival").random(100), b.get("arrival").random(100))


def test_streams_are_cached_and_advance() -> None:
    s = Streams(1)
    g = s.get("find")
    assert s.get("find") is g
    first = g.random(10)
    assert not np.array_equal(first, s.get("find").random(10))


def test_names_and_seeds_give_different_streams() -> None:
    draws = {(seed, name): Streams(seed).get(name).random(50)
             for seed in (0, 1, 2) for name in ("arrival", "find", "handle", "world", "policy:whistle")}
    values = list(draws.values())
    for i in range(len(values)):
        for j in range(i + 1, len(values)):
            assert not np.array_equal(values[i], values[j])


def test_a_stream_does_not_depend_on_other_streams() -> None:
    """Drawing from other streams first, or not at all, leaves a stream's numbers unchanged."""
    alone = Streams(9).get("arrival").random(20)
    busy = Streams(9)
    busy.get("handle").random(1000)
    busy.get("policy:grid").normal(size=77)
    np.testing.assert_array_equal(busy.get("arrival").random(20), alone)


def test_numpy_integer_seeds_are_accepted() -> None:
    assert Streams(np.int64(4)).seed == 4
    np.testing.assert_array_equal(Streams(np.int64(4)).get("x").random(5), Streams(4).get("x").random(5))


@pytest.mark.parametrize("seed", [-1, 1.5, "1", True, None])
def test_bad_seeds_are_rejected(seed: object) -> None:
    with pytest.raises(ValueError):
        Streams(seed)  # type: ignore[arg-type]



def row_states(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """Where each row of ``rng.random((k, n))`` starts (``pcg.take_row_starts`` on ``rng``'s own state),
    ``rng`` moved on as that call moves it."""
    state, hi = pcg_state(rng)
    return take_row_starts(state, hi, n, k)


@numba.njit
def fill_rows(states: np.ndarray, n: int) -> np.ndarray:
    """``rng.random((k, n))`` from ``row_states``' ``states`` by the kernels' step (``k`` rows, then the increment).

    Compiled here, not among the kernels: a kernel no run calls would keep the cache cold.
    """
    k = states.shape[0] - 1
    out = np.empty((k, n))
    inc_hi, inc_lo = states[k, 0], states[k, 1]
    for j in range(k):
        s_hi, s_lo = states[j, 0], states[j, 1]
        for i in range(n):
            s_hi, s_lo, out[j, i] = next_double(s_hi, s_lo, inc_hi, inc_lo)
    return out

@pytest.mark.parametrize(("seed", "skip", "n", "k"), [(1, 0, 0, 3), (2, 5, 1, 3), (3, 7, 1001, 3), (4, 1, 257, 4)])
def test_row_states_step_to_numpys_draws_and_leave_the_generator_where_numpy_does(seed: int, skip: int, n: int,
                                                                                  k: int) -> None:
    """``row_states`` + the kernels' PCG64 step (``pcg.fill_rows``) give ``rng.random((k, n))`` bit for bit,
    after draws already taken, and the generator then draws what it would have drawn."""
    a, b = np.random.default_rng(seed), np.random.default_rng(seed)
    a.random(skip)
    b.random(skip)
    want = a.random((k, n))
    got = fill_rows(row_states(b, n, k), n)
    assert got.shape == want.shape and np.array_equal(got, want)
    assert np.array_equal(a.random(9), b.random(9))


def test_row_states_keep_a_buffered_half_draw_as_random_does() -> None:
    """A 32-bit draw buffered before (``integers`` of a small range) is still there after, as ``random`` leaves it."""
    a, b = np.random.default_rng(6), np.random.default_rng(6)
    a.integers(0, 10, dtype=np.uint32)
    b.integers(0, 10, dtype=np.uint32)
    assert a.bit_generator.state["has_uint32"] == 1
    want = a.random((3, 50))
    assert np.array_equal(fill_rows(row_states(b, 50, 3), 50), want)
    assert a.bit_generator.state == b.bit_generator.state
    assert np.array_equal(a.integers(0, 10, 7, dtype=np.uint32), b.integers(0, 10, 7, dtype=np.uint32))


def test_row_states_refuse_another_bit_generator() -> None:
    with pytest.raises(TypeError, match="PCG64"):
        row_states(np.random.Generator(np.random.Philox(1)), 10, 3)


def test_chunk_states_start_each_chunk_where_one_loop_would_be() -> None:
    """Chunk ``c`` of ``pcg.chunk_states`` starts each row at the draw after the earlier chunks' counts,
    as numpy's ``PCG64.advance`` puts it (counts of 0, 1 and a few hundred; an empty row)."""
    rng = np.random.default_rng(8)
    rng.random(3)
    counts = np.array([0, 1, 511, 512, 0, 7], dtype=np.int64)
    n = int(counts.sum())
    want = np.random.default_rng(8)
    want.random(3)
    u = want.random((3, n))
    starts = chunk_states(row_states(rng, n, 3), counts)
    inc = int(rng.bit_generator.state["state"]["inc"])
    first = np.concatenate([[0], np.cumsum(counts)])
    for c in range(counts.size):
        for j in range(3):
            st = np.random.PCG64()
            st.state = {"bit_generator": "PCG64", "state": {"state": int(starts[c, 2 * j]) << 64 | int(starts[c, 2 * j + 1]),
                                                            "inc": inc}, "has_uint32": 0, "uinteger": 0}
            got = np.random.Generator(st).random(int(counts[c]))
            assert np.array_equal(got, u[j, first[c]: first[c + 1]])


class _Referable(np.random.Generator):
    """A Generator a weak reference can point at (numpy's own cannot be), to see when one is freed."""


def test_pcg_state_views_the_generator_and_keeps_it_alive() -> None:
    """``draws.pcg_state`` views the live state: a state set through numpy is seen by the view, the view
    moved on by ``take_row_starts`` is where numpy's ``random`` leaves the generator; a view of a generator
    nobody else holds keeps it alive (its memory with it) until the view itself goes."""
    import gc
    import weakref

    rng, twin = np.random.default_rng(11), np.random.default_rng(11)
    state, hi = pcg_state(rng)
    assert hi in (0, 1)
    rng.bit_generator.state = np.random.default_rng(12).bit_generator.state  # numpy writes into the same memory
    twin.bit_generator.state = rng.bit_generator.state
    got = fill_rows(take_row_starts(state, hi, 40, 3), 40)
    assert np.array_equal(got, twin.random((3, 40)))
    assert rng.bit_generator.state == twin.bit_generator.state
    orphan = _Referable(np.random.PCG64(13))
    alive = weakref.ref(orphan)
    view, hi = pcg_state(orphan)
    del orphan
    gc.collect()
    assert alive() is not None  # held by the view
    assert np.array_equal(fill_rows(take_row_starts(view, hi, 25, 2), 25), np.random.default_rng(13).random((2, 25)))
    del view
    gc.collect()
    assert alive() is None  # and freed with it


def test_stream_state_views_are_not_pickled() -> None:
    """``Streams.pcg`` caches a view per stream; a copy of the streams (pickle, deepcopy) views its own generators."""
    import copy
    import pickle

    streams = Streams(4)
    take_row_starts(*streams.pcg("find"), 10, 3)
    for duplicate in (copy.deepcopy, lambda s: pickle.loads(pickle.dumps(s))):
        twin = duplicate(streams)
        take_row_starts(*twin.pcg("find"), 10, 3)  # moves the copy's generator, not the original's
        take_row_starts(*streams.pcg("find"), 10, 3)
        assert twin.get("find").bit_generator.state == streams.get("find").bit_generator.state
        take_row_starts(*streams.pcg("find"), 5, 1)
        assert twin.get("find").bit_generator.state != streams.get("find").bit_generator.state
        take_row_starts(*twin.pcg("find"), 5, 1)


@numba.njit
def draws_with_skips(s_hi: np.uint64, s_lo: np.uint64, inc_hi: np.uint64, inc_lo: np.uint64,
                     skips: np.ndarray) -> np.ndarray:
    """The doubles ``pcg.draw_at`` gives, skipping ``skips[k]`` draws before the ``k``-th."""
    table = jump_table(inc_hi, inc_lo)
    out = np.empty(skips.size)
    at = 0
    for k in range(skips.size):
        s_hi, s_lo, out[k], at = draw_at(s_hi, s_lo, at, at + skips[k], table)
    return out


def test_draw_at_jumps_to_the_draw_numpy_gives_there() -> None:
    """``pcg.draw_at`` (``jump_table``'s multiply-adds) gives the draw ``skip`` draws on, for skips of 0, 1,
    around ``JUMP_MAX`` and its multiples, and large: numpy's ``random`` at those places, bit for bit."""
    rng = np.random.default_rng(21)
    rng.random(5)
    st = rng.bit_generator.state["state"]
    skips = np.array([0, 1, 0, 2, JUMP_MAX - 1, JUMP_MAX, JUMP_MAX + 1, 2 * JUMP_MAX, 2 * JUMP_MAX + 1, 3, 999, 0,
                      5 * JUMP_MAX + 17, 100_003], dtype=np.int64)
    m = (1 << 64) - 1
    got = draws_with_skips(np.uint64(st["state"] >> 64), np.uint64(st["state"] & m), np.uint64(st["inc"] >> 64),
                           np.uint64(st["inc"] & m), skips)
    u = rng.random(int(skips.sum() + skips.size))
    at = np.cumsum(skips + 1) - 1  # the k-th draw read is at skips[0] + ... + skips[k] + k
    assert np.array_equal(got, u[at])
