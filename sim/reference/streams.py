"""Named random streams for the reference model, and the few distributions it needs.

Same idea as the core (one independent stream per process, keyed by name, so that arrivals
never depend on the model state), but built on the standard library's ``random.Random``:
scalar draws one at a time are what a per-agent model makes, and they are cheap there. The
random numbers are not meant to match the core's.
"""

from __future__ import annotations

import math
import random
import zlib

import numpy as np


class Streams:
    """Lazily created, independent generators keyed by name (``arrival``, ``find``, ...)."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._py: dict[str, random.Random] = {}
        self._np: dict[str, np.random.Generator] = {}

    def _key(self, name: str) -> np.random.SeedSequence:
        # "reference:" keeps these streams distinct from the core's streams of the same name.
        return np.random.SeedSequence(self.seed, spawn_key=(zlib.crc32(f"reference:{name}".encode()),))

    def get(self, name: str) -> random.Random:
        """The ``random.Random`` of stream ``name``."""
        gen = self._py.get(name)
        if gen is None:
            gen = random.Random(int(self._key(name).generate_state(2, np.uint64)[0]))
            self._py[name] = gen
        return gen

    def numpy(self, name: str) -> np.random.Generator:
        """A numpy generator for stream ``name`` (for the rare binomial draw)."""
        gen = self._np.get(name)
        if gen is None:
            gen = np.random.Generator(np.random.PCG64(self._key(name + ":np")))
            self._np[name] = gen
        return gen


def poisson(rng: random.Random, lam: float) -> int:
    """One Poisson(``lam``) draw by inversion (sequential search), exact for any ``lam``."""
    if lam <= 0.0:
        return 0
    if lam > 200.0:  # exp(-lam) would underflow: a sum of independent Poissons is Poisson
        half = lam / 2.0
        return poisson(rng, half) + poisson(rng, lam - half)
    u = rng.random()
    k = 0
    p = math.exp(-lam)
    cum = p
    while u > cum:
        k += 1
        p *= lam / k
        cum += p
        if p == 0.0 and cum < u:  # numerical tail: u fell in the round-off gap
            break
    return k


def bernoulli_count(rng: random.Random, n: int, p: float) -> int:
    """Binomial(``n``, ``p``) as ``n`` Bernoulli trials (one resident at a time)."""
    if p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    rnd = rng.random
    return sum(1 for _ in range(n) if rnd() < p)


def beta_mean(rng: random.Random, mean: float, concentration: float) -> float:
    """Beta draw with mean ``mean`` (clipped to [0.001, 0.999]) and a + b = ``concentration``."""
    m = min(max(mean, 0.001), 0.999)
    return rng.betavariate(m * concentration, (1.0 - m) * concentration)
