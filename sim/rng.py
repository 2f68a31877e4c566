"""Named random streams derived from one seed.

Every process draws from its own stream (``arrival``, ``world``, ``find``, ``handle``, ...),
each a PCG64 generator seeded by ``SeedSequence(seed, spawn_key=(crc32(name),))``. Streams
depend only on the seed and their name, never on what other processes drew, so two scenarios
that differ only in how problems are handled see exactly the same problem arrivals (common
random numbers), and adding a policy does not shift the core's draws.
"""

from __future__ import annotations

import zlib

import numpy as np


class Streams:
    """Lazily created, independent random generators keyed by name."""

    def __init__(self, seed: int) -> None:
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.seed = int(seed)
        self._streams: dict[str, np.random.Generator] = {}

    def get(self, name: str) -> np.random.Generator:
        """The generator for ``name`` (created on first use)."""
        gen = self._streams.get(name)
        if gen is None:
            ss = np.random.SeedSequence(self.seed, spawn_key=(zlib.crc32(name.encode()),))
            gen = np.random.Generator(np.random.PCG64(ss))
            self._streams[name] = gen
        return gen
