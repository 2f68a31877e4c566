"""sim.core.rng: named random streams that depend only on the seed and the name."""

from __future__ import annotations

import numpy as np
import pytest

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
