"""Residents: the people who have problems, report them, wait, judge and take part.

State is one float32 array per variable over all residents (ids are the row numbers of
:class:`~sim.core.world.World`). Judgement follows expectation-disconfirmation with adaptive
expectations (docs/model.md §7.7): perceived performance ``P`` remembers the days lived (each
overdue open problem and each grievance weighs a day down; neighbours tell theirs),
expectation ``E`` follows ``P`` more slowly, satisfaction is ``clip(P + beta (P - E))``, trust
follows satisfaction and efficacy (what reporting achieved) slowly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.config.params import ProblemParams, ResidentParams
from sim.core.kernels import libm
from sim.core.kernels.jit import unsigned
from sim.core.kernels.residents import WOM_BLOCK, max_product, pad_ties, participation_gain
from sim.core.kernels.state import Fields, Influence, Judgement
from sim.core.world import World


def _beta(rng: np.random.Generator, mean: float, conc: float, n: int) -> np.ndarray:
    mean = min(max(mean, 1e-3), 1 - 1e-3)
    return rng.beta(mean * conc, (1 - mean) * conc, size=n).astype(np.float32)


@dataclass
class Residents:
    """Dynamic state of all residents (static attributes live in the World)."""

    satisfaction: np.ndarray  # float32 in [0, 1]: clip(P + beta (P - E))
    trust: np.ndarray  # float32 in [0, 1]
    expectation: np.ndarray  # float32 in [0, 1]
    volunteer_turns: np.ndarray  # int32, turns volunteered so far
    ties: Fields  # the world's neighbour ties (``SocialTies``: CSR, unsigned), for word of mouth
    performance: np.ndarray  # float32 in [0, 1]: perceived performance, a memory of the days lived
    efficacy: np.ndarray  # float32 in [0, 1]: what reporting achieved, one's own and the neighbours'
    grievance: np.ndarray  # float32 in [0, 1]: left by failed outcomes, fading
    _acc: np.ndarray | None = None  # float64 zeros: the kernels' scratch for summing repeated ids
    _days: tuple[np.ndarray, np.ndarray] | None = None  # float32 scratch: the day's experience and what is heard

    @classmethod
    def create(cls, world: World, params: ResidentParams, rng: np.random.Generator) -> Residents:
        """Initial perceived performance, trust, expectation and efficacy drawn from Beta distributions.

        Satisfaction follows from performance and expectation.
        """
        n = world.n_residents
        k = params.init_concentration
        perf = _beta(rng, params.performance_init, k, n)
        trust = _beta(rng, params.trust_init, k, n)
        expect = _beta(rng, params.expectation_init, k, n)
        efficacy = _beta(rng, params.efficacy_init, k, n)
        sat = np.clip(perf + np.float32(params.beta_disconfirm) * (perf - expect), 0.0, 1.0).astype(np.float32)
        return cls(satisfaction=sat, trust=trust, expectation=expect, volunteer_turns=np.zeros(n, dtype=np.int32),
                   ties=_ties(world), performance=perf, efficacy=efficacy, grievance=np.zeros(n, dtype=np.float32))

    @property
    def n(self) -> int:
        """Number of residents."""
        return int(self.satisfaction.size)

    def scratch(self) -> np.ndarray:
        """A float64 array of zeros, one per resident, that the kernels leave zeroed."""
        if self._acc is None or self._acc.size != self.n:
            self._acc = np.zeros(self.n)
        return self._acc

    def day_scratch(self) -> tuple[np.ndarray, np.ndarray]:
        """Two float32 arrays: the day's experience and what the resident makes of it, one per resident.

        The experience has one element more, a zero that the padded neighbour lists point to
        (``SocialTies.padded``).
        """
        if self._days is None or self._days[1].size != self.n:
            x = np.ones(self.n + 1, dtype=np.float32)
            x[self.n] = 0.0
            self._days = (x, np.ones(self.n, dtype=np.float32))
        return self._days

    def state(self) -> Fields:
        """The residents' arrays as the kernels take and update them (``ResidentState``)."""
        x, heard = self.day_scratch()
        return (self.satisfaction, self.expectation, self.trust, self.volunteer_turns, self.scratch(),
                self.performance, self.efficacy, self.grievance, x, heard)


def _ties(world: World) -> Fields:
    """The neighbour ties as the kernels read them (``SocialTies``).

    CSR index arrays viewed as unsigned, 32-bit where they fit (as scipy stores them), and the
    same lists padded to whole blocks for word of mouth (``pad_ties``).
    """
    indptr, indices = world.social_indptr, world.social_indices
    padded_size = int(indptr[-1]) + (WOM_BLOCK - 1) * world.n_residents  # each list padded by at most a block less one
    small = padded_size < 2**31 and world.n_residents < 2**31
    dtype = np.int32 if small else np.int64
    indptr, indices = unsigned(indptr.astype(dtype, copy=False)), unsigned(indices.astype(dtype, copy=False))
    padded_ptr, padded, block_res = pad_ties(indptr, indices)
    return indptr, indices, padded_ptr, padded, block_res


def judgement(params: ResidentParams) -> Judgement:
    """The judge phase's rates: outcomes, the day's experience, word of mouth, perception, expectation."""
    f32 = np.float32
    wom = f32(params.weight_word_of_mouth)
    rate = f32(params.rate_perception)
    return Judgement(f32(params.rate_efficacy), f32(f32(params.rate_efficacy) * wom), f32(params.grievance),
                     f32(1.0 - params.rate_grievance_decay), params.burden.array(np.float32),
                     params.dur_expected_wait.array(np.float32), wom, rate,
                     f32(min(float(rate) * params.negativity_bias, 1.0)), f32(params.rate_expectation))


def influence(params: ResidentParams) -> Influence:
    """The participate phase's gains, and satisfaction's and trust's rates."""
    f32 = np.float32
    return Influence(float(params.participation_satisfaction), float(params.participation_trust),
                     f32(params.beta_disconfirm), f32(params.rate_trust), f32(params.weight_trust_efficacy))


def performance(wait: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Performance of a resolved problem: 1 if on time, decaying with the overdue share of the wait."""
    overdue = np.maximum(wait - expected, 0.0) / expected
    return libm.exp(-overdue).astype(np.float32)  # the C library's, not numpy's CPU-dependent ufunc


def p_tell(trust: np.ndarray, efficacy: np.ndarray, params: ProblemParams) -> np.ndarray:
    """Chance residents tell someone who asks (a building head, a suggestion collection): ``min(1, p_tell m)``.

    ``m = max(0, 1 + a (T - 0.5) + b (F - 0.5))`` is the propensity the find kernel uses for a grid
    worker's visit or a party link (float32, as there); float64 chances.
    """
    half = np.float32(0.5)
    m = np.maximum(np.float32(1.0) + np.float32(params.report_trust_slope) * (trust - half)
                   + np.float32(params.report_efficacy_slope) * (efficacy - half), np.float32(0.0))
    return np.minimum(np.float32(params.p_tell) * m, np.float32(1.0)).astype(np.float64)


def participate(res: Residents, ids: np.ndarray, params: ResidentParams) -> None:
    """Taking part (an event, a volunteer turn) lifts perceived performance and trust (policies' events use it)."""
    if ids.size == 0:
        return
    participation_gain(res.state(), ids, float(params.participation_satisfaction), float(params.participation_trust))


def volunteer_candidates(n: int, rng: np.random.Generator, rate: np.ndarray,
                         mult: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """The draws for today's volunteers: ``top``, the candidates and one uniform each.

    A resident volunteers with chance ``min(1, rate * mult * trust)``, drawn by thinning: Binomial(n,
    top) candidates, top being the largest chance any resident can have, each accepted with its own
    share of it (in the participate kernel), so the cost is proportional to the number of
    candidates, not of residents.
    """
    top = min(float(max_product(rate, mult)), 1.0)
    if top <= 0:
        return 0.0, np.empty(0, dtype=np.int64), np.empty(0)
    k = rng.binomial(n, top)
    cand = rng.choice(n, size=k, replace=False) if k < n // 4 else np.flatnonzero(rng.random(n) < top)
    return top, cand, rng.random(cand.size)


class PerformanceTable:
    """``performance(days waited, expected wait)`` for every severity and 0..t days waited, kept.

    Computed by :func:`performance` once, again when the table is too short or expectations change.
    """

    def __init__(self, n_steps: int) -> None:
        self.n_steps = n_steps
        self._table: np.ndarray | None = None
        self._key = b""

    def get(self, t: int, expected_wait: np.ndarray) -> np.ndarray:
        """The table covering day ``t`` for these expected waits (one per severity)."""
        table, key = self._table, expected_wait.tobytes()
        if table is None or table.shape[1] <= t or key != self._key:
            width = max(t + 1, self.n_steps + 1, 0 if table is None else 2 * table.shape[1])
            waited = np.arange(width, dtype=np.float32)[None, :]
            table = np.ascontiguousarray(performance(waited, expected_wait[:, None]))
            self._table, self._key = table, key
        return table
