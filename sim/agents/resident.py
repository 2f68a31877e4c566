"""Residents: the people who have problems, report them, wait, judge the outcome and take part.

State is one float32 array per variable over all residents (ids are the row numbers of
:class:`~sim.core.world.World`). Judgement follows expectation-disconfirmation: an outcome's
performance ``P`` in [0, 1] is compared with the resident's adaptive expectation ``E``;
satisfaction moves toward ``P + beta (P - E)``, expectation toward ``P``, trust toward ``P``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from sim.config.params import ResidentParams
from sim.core import kernels
from sim.core.world import World


def _beta(rng: np.random.Generator, mean: float, conc: float, n: int) -> np.ndarray:
    mean = min(max(mean, 1e-3), 1 - 1e-3)
    return rng.beta(mean * conc, (1 - mean) * conc, size=n).astype(np.float32)


@dataclass
class Residents:
    """Dynamic state of all residents (static attributes live in the World)."""

    satisfaction: np.ndarray  # float32 in [0, 1]
    trust: np.ndarray  # float32 in [0, 1]
    expectation: np.ndarray  # float32 in [0, 1]
    volunteer_turns: np.ndarray  # int32, turns volunteered so far
    _adj: sp.csr_matrix  # neighbour ties, for social influence
    _inv_deg: np.ndarray  # float32, 1/degree (0 for isolated residents)
    _acc: np.ndarray | None = None  # float64 zeros: the kernels' scratch for summing repeated ids

    @classmethod
    def create(cls, world: World, params: ResidentParams, rng: np.random.Generator) -> Residents:
        """Initial satisfaction, trust and expectation drawn from Beta distributions."""
        n = world.n_residents
        adj = world.social_matrix()
        deg = np.diff(world.social_indptr).astype(np.float32)
        inv = np.divide(1.0, deg, out=np.zeros_like(deg), where=deg > 0)
        return cls(
            satisfaction=_beta(rng, params.satisfaction_init, params.init_concentration, n),
            trust=_beta(rng, params.trust_init, params.init_concentration, n),
            expectation=_beta(rng, params.expectation_init, params.init_concentration, n),
            volunteer_turns=np.zeros(n, dtype=np.int32),
            _adj=adj,
            _inv_deg=inv,
        )

    @property
    def n(self) -> int:
        return int(self.satisfaction.size)

    def scratch(self) -> np.ndarray:
        """A float64 array of zeros, one per resident, that the kernels leave zeroed."""
        if self._acc is None or self._acc.size != self.n:
            self._acc = np.zeros(self.n)
        return self._acc


def _groups(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Sorted distinct ids and each id's position among them, or None if no id repeats."""
    order = np.argsort(ids)
    s = ids[order]
    first = np.empty(s.size, dtype=bool)
    first[:1] = True
    np.not_equal(s[1:], s[:-1], out=first[1:])
    if first.all():
        return None
    inv = np.empty(ids.size, dtype=np.intp)
    inv[order] = np.cumsum(first) - 1
    return s[first], inv


def _add_grouped(target: np.ndarray, ids: np.ndarray, values: np.ndarray | float,
                 groups: tuple[np.ndarray, np.ndarray] | None) -> None:
    """``target[ids] += values`` given ``_groups(ids)``: repeated ids are summed first."""
    if groups is None:
        target[ids] += values
        return
    uniq, inv = groups
    w = np.broadcast_to(np.asarray(values, dtype=np.float64), ids.shape)
    target[uniq] += np.bincount(inv, weights=w, minlength=uniq.size).astype(target.dtype)


def scatter_add(target: np.ndarray, ids: np.ndarray, values: np.ndarray | float) -> None:
    """``target[ids] += values`` where ``ids`` may repeat, in O(k log k) for k ids.

    Faster than ``np.add.at`` and than a full-length ``bincount`` when k is much smaller than
    the number of residents.
    """
    if ids.size == 0:
        return
    _add_grouped(target, ids, values, _groups(ids))


def performance(wait: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Performance of a resolved problem: 1 if on time, decaying with the overdue share of the wait."""
    overdue = np.maximum(wait - expected, 0.0) / expected
    return np.exp(-overdue).astype(np.float32)


def judge_outcomes(res: Residents, ids: np.ndarray, perf: np.ndarray, params: ResidentParams) -> None:
    """Expectation-disconfirmation update for residents whose problems closed today.

    A resident with several outcomes on one day receives the sum of the updates computed from
    the morning's state (rare; keeps the update vectorised); the result is clipped to [0, 1].
    """
    if ids.size == 0:
        return
    f32 = np.float32
    # target = clip(P + beta (P - E), 0, 1); S += alpha_S (target - S); E += alpha_E (P - E); T += alpha_T (P - T)
    kernels.judge(res.satisfaction, res.expectation, res.trust, ids, perf.astype(f32, copy=False),
                  f32(params.beta_disconfirm), f32(params.alpha_outcome), f32(params.alpha_expectation),
                  f32(params.alpha_trust), res.scratch())


def erode_waiting(res: Residents, ids: np.ndarray, params: ResidentParams) -> None:
    """Waiting erodes: each overdue open problem costs its resident satisfaction and some trust."""
    if ids.size == 0 or params.rate_wait_erosion == 0:
        return
    kernels.erode(res.satisfaction, res.trust, ids, float(params.rate_wait_erosion),
                  float(params.trust_erosion_share * params.rate_wait_erosion), res.scratch())


def social_influence(res: Residents, params: ResidentParams) -> None:
    """Satisfaction moves toward the neighbours' mean (DeGroot step); satisfaction and trust
    relax toward their initial means (memory fades)."""
    f32 = np.float32
    # S += rate_social (mean of neighbours' S - S); S, T += rate_drift (initial mean - value); clip S
    adj = res._adj
    kernels.social_influence(res.satisfaction, res.trust, kernels.unsigned(adj.indptr), kernels.unsigned(adj.indices),
                             f32(params.rate_social),
                             f32(params.rate_drift), f32(params.satisfaction_init), f32(params.trust_init))


def participate(res: Residents, ids: np.ndarray, params: ResidentParams) -> None:
    """Taking part (an event, a volunteer turn) lifts satisfaction and trust."""
    if ids.size == 0:
        return
    kernels.participation_gain(res.satisfaction, res.trust, ids, float(params.participation_satisfaction),
                               float(params.participation_trust), res.scratch())


def draw_volunteers(res: Residents, rng: np.random.Generator, rate: np.ndarray, mult: np.ndarray) -> np.ndarray:
    """Ids of residents volunteering today: chance ``min(1, rate * mult * trust)``, by thinning.

    Draws Binomial(n, top) candidates, top being the largest chance any resident can have, and
    accepts each with its own share of it, so the cost is proportional to the number of
    candidates, not of residents.
    """
    top, cand, u = volunteer_candidates(res.n, rng, rate, mult)
    return kernels.accept_volunteers(cand, u, top, rate, mult, res.trust)


def volunteer_candidates(n: int, rng: np.random.Generator, rate: np.ndarray,
                         mult: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """The draws of :func:`draw_volunteers`: ``top``, the candidates and one uniform each."""
    top = min(float(kernels.max_product(rate, mult)), 1.0)
    if top <= 0:
        return 0.0, np.empty(0, dtype=np.int64), np.empty(0)
    k = rng.binomial(n, top)
    cand = rng.choice(n, size=k, replace=False) if k < n // 4 else np.flatnonzero(rng.random(n) < top)
    return top, cand, rng.random(cand.size)
