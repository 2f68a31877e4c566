"""Named random streams derived from one seed.

Every process draws from its own stream (``arrival``, ``world``, ``find``, ``handle``, ...),
each a PCG64 generator seeded by ``SeedSequence(seed, spawn_key=(crc32(name),))``. Streams
depend only on the seed and their name, never on what other processes drew, so two scenarios
that differ only in how problems are handled see exactly the same problem arrivals (common
random numbers), and adding a policy does not shift the core's draws.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

import numpy as np

from sim.errors import InputError

if TYPE_CHECKING:
    from sim.core.kernels.draws import Handle, PcgState


class Streams:
    """Lazily created, independent random generators keyed by name."""

    def __init__(self, seed: int) -> None:
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise InputError(f"seed must be a non-negative integer, got {seed!r}")
        self.seed = int(seed)
        self._streams: dict[str, np.random.Generator] = {}
        self._handles: dict[str, Handle] = {}
        self._pcg: dict[str, PcgState] = {}

    def __getstate__(self) -> dict[str, object]:
        return {"seed": self.seed, "_streams": self._streams}  # handles and state views are of this process

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._handles = {}
        self._pcg = {}

    def get(self, name: str) -> np.random.Generator:
        """The generator for ``name`` (created on first use)."""
        gen = self._streams.get(name)
        if gen is None:
            ss = np.random.SeedSequence(self.seed, spawn_key=(zlib.crc32(name.encode()),))
            gen = np.random.Generator(np.random.PCG64(ss))
            self._streams[name] = gen
        return gen

    def handle(self, name: str) -> Handle:
        """The stream ``name`` as a kernel draws from it (:mod:`sim.core.kernels.draws`): its generator moves on."""
        h = self._handles.get(name)
        if h is None:
            from sim.core.kernels.draws import handle  # compiled: imported where a run needs it

            h = self._handles[name] = handle(self.get(name))
        return h

    def pcg(self, name: str) -> PcgState:
        """The stream ``name``'s PCG64 state as a kernel steps it in place (``kernels.pcg.take_row_starts``)."""
        st = self._pcg.get(name)
        if st is None:
            from sim.core.kernels.draws import pcg_state  # compiled: imported where a run needs it

            st = self._pcg[name] = pcg_state(self.get(name))
        return st


#: Up to this many draws, one scalar call each is cheaper than numpy's broadcasting path.
_SCALAR_DRAWS = 16


def poisson_each(rng: np.random.Generator, lam: np.ndarray) -> np.ndarray:
    """``rng.poisson(lam)`` for a 1-d ``lam``: the same numbers, drawn in the same order.

    Generator.poisson calls the same C routine once per element whether given an array or a
    scalar; for a handful of elements, scalar calls skip the array path's fixed cost.
    """
    return np.array(poisson_list(rng, lam), dtype=np.int64) if lam.size <= _SCALAR_DRAWS else rng.poisson(lam)


def poisson_list(rng: np.random.Generator, lam: np.ndarray) -> list[int]:
    """``rng.poisson(lam).tolist()``, by scalar calls for a handful of elements (see poisson_each)."""
    return [rng.poisson(x) for x in lam.tolist()] if lam.size <= _SCALAR_DRAWS else rng.poisson(lam).tolist()


def binomial_each(rng: np.random.Generator, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``rng.binomial(n, p)`` for 1-d ``n`` and ``p`` of one length: the same numbers, in order."""
    if n.size > _SCALAR_DRAWS:
        return rng.binomial(n, p)
    return np.array([rng.binomial(k, q) for k, q in zip(n.tolist(), p.tolist(), strict=True)], dtype=np.int64)
