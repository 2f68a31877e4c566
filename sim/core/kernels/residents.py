"""Kernels of the judge and participate phases.

Residents' judgement, erosion by waiting, participation and social influence.
"""

from __future__ import annotations

import numpy as np

from sim.core.kernels.jit import ONE32, ZERO32, jit
from sim.core.kernels.state import (
    Fields,
    Influence,
    Judgement,
    Participation,
    ResidentState,
    SocialTies,
    Volunteering,
)


@jit
def scatter_add(target: np.ndarray, ids: np.ndarray, values: np.ndarray, acc: np.ndarray) -> None:
    """``target[ids] += values`` with repeated ids summed first.

    In float64 and input order (as ``np.bincount``), then added in the target's precision. ``acc`` is a zeroed float64
    scratch array as long as ``target``; it is left zeroed.
    """
    for j in range(ids.size):
        acc[ids[j]] += np.float64(values[j])
    for j in range(ids.size):  # each id once: its sum is reset after use (a zero sum adds nothing)
        r = ids[j]
        if acc[r] != 0.0:
            target[r] = target[r] + np.float32(acc[r])
            acc[r] = 0.0


@jit
def scatter_add_scalar(target: np.ndarray, ids: np.ndarray, value: float, acc: np.ndarray) -> None:
    """``target[ids] += value`` for one float64 ``value``, repeated ids summed first (see scatter_add)."""
    for j in range(ids.size):
        acc[ids[j]] += value
    for j in range(ids.size):
        r = ids[j]
        if acc[r] != 0.0:
            target[r] = target[r] + np.float32(acc[r])
            acc[r] = 0.0


@jit
def clip_at(target: np.ndarray, ids: np.ndarray) -> None:
    """Clip ``target[ids]`` to [0, 1]."""
    for j in range(ids.size):
        r = ids[j]
        target[r] = min(max(target[r], ZERO32), ONE32)


@jit
def judge(res: Fields, ids: np.ndarray, perf: np.ndarray, how: Fields) -> None:
    """Expectation-disconfirmation updates from the morning's state, summed per resident, clipped."""
    res, how = ResidentState(*res), Judgement(*how)
    n = ids.size
    ds = np.empty(n, dtype=np.float32)
    de = np.empty(n, dtype=np.float32)
    dt = np.empty(n, dtype=np.float32)
    for j in range(n):
        r = ids[j]
        p, e = perf[j], res.expectation[r]
        target = min(max(np.float32(p + np.float32(how.beta * np.float32(p - e))), ZERO32), ONE32)
        ds[j] = how.alpha_s * np.float32(target - res.satisfaction[r])
        de[j] = how.alpha_e * np.float32(p - e)
        dt[j] = how.alpha_t * np.float32(p - res.trust[r])
    scatter_add(res.satisfaction, ids, ds, res.acc)
    scatter_add(res.expectation, ids, de, res.acc)
    scatter_add(res.trust, ids, dt, res.acc)
    clip_at(res.satisfaction, ids)
    clip_at(res.expectation, ids)
    clip_at(res.trust, ids)


@jit
def erode(res: Fields, ids: np.ndarray, loss_s: float, loss_t: float) -> None:
    """Each overdue problem (repeated ids add up) costs satisfaction and trust; both clipped."""
    res = ResidentState(*res)
    scatter_add_scalar(res.satisfaction, ids, -loss_s, res.acc)
    scatter_add_scalar(res.trust, ids, -loss_t, res.acc)
    clip_at(res.satisfaction, ids)
    clip_at(res.trust, ids)


@jit
def participation_gain(res: Fields, ids: np.ndarray, gain_s: float, gain_t: float) -> None:
    """Each participation (repeated ids add up) lifts satisfaction and trust; both clipped."""
    res = ResidentState(*res)
    scatter_add_scalar(res.satisfaction, ids, gain_s, res.acc)
    scatter_add_scalar(res.trust, ids, gain_t, res.acc)
    clip_at(res.satisfaction, ids)
    clip_at(res.trust, ids)


@jit
def social_influence(s: np.ndarray, trust: np.ndarray, ties: Fields, how: Fields) -> None:
    """DeGroot step toward the neighbours' mean satisfaction, then drift toward the initial means.

    Each neighbour sum is accumulated in float32 in the adjacency's stored order, as scipy's CSR
    product does.
    """
    ties, how = SocialTies(*ties), Influence(*how)
    n = s.size
    indptr, indices = ties.indptr, ties.indices
    rate_social, rate_drift = how.rate_social, how.rate_drift
    if rate_social > 0:
        mean = np.zeros(n, dtype=np.float32)
        for r in range(n):
            lo, hi = indptr[r], indptr[r + 1]
            x = ZERO32
            for k in range(lo, hi):
                x += s[indices[k]]
            if hi > lo:
                mean[r] = x * np.float32(ONE32 / np.float32(hi - lo))
        for r in range(n):
            if indptr[r + 1] > indptr[r]:
                s[r] = s[r] + rate_social * np.float32(mean[r] - s[r])
            else:
                s[r] = s[r] + rate_social * ZERO32
    for r in range(n):
        if rate_drift > 0:
            s[r] = s[r] + rate_drift * np.float32(how.s_init - s[r])
            trust[r] = trust[r] + rate_drift * np.float32(how.t_init - trust[r])
        s[r] = min(max(s[r], ZERO32), ONE32)


@jit
def judge_day(res: Fields, ids: np.ndarray, perf: np.ndarray, overdue: np.ndarray, how: Fields) -> None:
    """The judge phase: :func:`judge` for today's outcomes, then :func:`erode` for overdue problems.

    ``loss_s`` 0: no erosion.
    """
    how = Judgement(*how)
    if ids.size:
        judge(res, ids, perf, how)
    if overdue.size and how.loss_s != 0:
        erode(res, overdue, how.loss_s, how.loss_t)


@jit
def attendees(n_att: np.ndarray, community_start: np.ndarray, community_size: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Residents attending today's events: ``n_att[c]`` uniform picks within each community."""
    out = np.empty(u.size, dtype=np.int64)
    i = 0
    for c in range(n_att.size):
        for _ in range(n_att[c]):
            out[i] = community_start[c] + np.int64(u[i] * community_size[c])
            i += 1
    return out


@jit
def accept_volunteers(cand: np.ndarray, u: np.ndarray, top: float, vol: Fields, trust: np.ndarray) -> np.ndarray:
    """Candidates who volunteer: accepted with ``min(rate * mult * trust, 1) / top``; sorted ids."""
    vol = Volunteering(*vol)
    keep = np.empty(cand.size, dtype=np.bool_)
    for j in range(cand.size):
        r = cand[j]
        p = min(np.float32(np.float32(vol.rate[r] * vol.mult[r]) * trust[r]), ONE32)
        keep[j] = u[j] * top < p
    return np.sort(cand[keep])


@jit
def max_product(a: np.ndarray, b: np.ndarray) -> float:
    """``(a * b).max()`` (0 for empty arrays)."""
    top = a.dtype.type(0) * b.dtype.type(0)
    for i in range(a.size):
        x = a[i] * b[i]
        if i == 0 or x > top:
            top = x
    return top


@jit
def participate_day(draws: Fields, community_start: np.ndarray, community_size: np.ndarray,
                    vol: Fields, res: Fields, ties: Fields, how: Fields) -> int:
    """The participate phase after its draws; returns the number of volunteers.

    Event attendees (:func:`attendees`), volunteers among the candidates
    (:func:`accept_volunteers`), their gains (:func:`participation_gain`), then
    :func:`social_influence`.
    """
    draws, res, how = Participation(*draws), ResidentState(*res), Influence(*how)
    s, trust = res.satisfaction, res.trust  # as locals: LLVM then optimises the inlined social influence as well
    att = attendees(draws.n_att, community_start, community_size, draws.u_att)
    vols = accept_volunteers(draws.cand, draws.u_vol, draws.top, vol, trust)
    for r in vols:
        res.volunteer_turns[r] += 1
    ids = np.empty(att.size + vols.size, dtype=np.int64)
    ids[: att.size] = att
    ids[att.size:] = vols
    if ids.size:
        participation_gain(res, ids, how.gain_s, how.gain_t)
    social_influence(s, trust, ties, how)
    return vols.size
