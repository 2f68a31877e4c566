"""Kernels of the judge and participate phases.

Outcomes of reports (efficacy, grievance), the day's experience and word of mouth, perceived
performance and expectation, participation, satisfaction and trust (docs/model.md §7.7-§7.8).
"""

from __future__ import annotations

import numpy as np
from numba import prange

from sim.config.taxonomy import LATENT, QUEUED
from sim.core.kernels.jit import ONE32, ZERO32, jit, jit_inline, jit_parallel
from sim.core.kernels.state import (
    Fields,
    Influence,
    Judgement,
    Participation,
    PoolColumns,
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
def hear_outcomes(res: Fields, ids: np.ndarray, perf: np.ndarray, ties: Fields, how: Fields) -> None:
    """Outcomes of reports move efficacy (own, and the neighbours' by word of mouth) and leave grievances.

    For outcome ``j`` of resident ``r`` with performance ``o``: ``F_r += rate (o - F_r)``, for each
    neighbour ``k`` of ``r``: ``F_k += rate_heard (o - F_k)``, all from the morning's state, summed
    per resident (own first, then the neighbours in stored order, outcome by outcome), then
    clipped; ``G_r += grievance (1 - o)``, clipped.
    """
    res, ties, how = ResidentState(*res), SocialTies(*ties), Judgement(*how)
    indptr, indices, f = ties.indptr, ties.indices, res.efficacy
    m = ids.size
    for j in range(ids.size):
        m += indptr[ids[j] + 1] - indptr[ids[j]]
    who = np.empty(m, dtype=np.int64)
    df = np.empty(m, dtype=np.float32)
    dg = np.empty(ids.size, dtype=np.float32)
    a = 0
    for j in range(ids.size):
        r, o = ids[j], perf[j]
        who[a] = r
        df[a] = how.rate_efficacy * np.float32(o - f[r])
        a += 1
        for k in range(indptr[r], indptr[r + 1]):
            nb = indices[k]
            who[a] = nb
            df[a] = how.rate_efficacy_heard * np.float32(o - f[nb])
            a += 1
        dg[j] = how.grievance * np.float32(ONE32 - o)
    scatter_add(f, who, df, res.acc)
    clip_at(f, who)
    scatter_add(res.grievance, ids, dg, res.acc)
    clip_at(res.grievance, ids)


@jit
def grieve(res: Fields, ids: np.ndarray, how: Fields) -> None:
    """An unreported problem given up leaves a full grievance: ``G += grievance`` per problem, clipped."""
    res, how = ResidentState(*res), Judgement(*how)
    scatter_add_scalar(res.grievance, ids, np.float64(how.grievance), res.acc)
    clip_at(res.grievance, ids)


@jit
def experience(res: Fields, t: int, pool: Fields, how: Fields) -> None:
    """Each resident's experience today: ``x = max(0, 1 - B - G)``.

    ``B`` sums, over the resident's open problems (latent or queued) older than the expected
    wait ``D`` since arising, ``burden[sev] x min(1, (age - D) / D)`` (in float64, pool order).
    """
    res, pool, how = ResidentState(*res), PoolColumns(*pool), Judgement(*how)
    acc, x, g = res.acc, res.experience, res.grievance
    for i in range(pool.status.size):
        st = pool.status[i]
        if st != LATENT and st != QUEUED:
            continue
        s = pool.sev[i]
        d = how.expected_wait[s]
        age = np.float32(t - pool.t_arise[i])
        if age > d:
            acc[pool.res[i]] += np.float64(how.burden[s] * min(ONE32, np.float32(age - d) / d))
    for r in range(x.size):
        x[r] = max(np.float32(ONE32 - np.float32(acc[r])) - g[r], ZERO32)
        acc[r] = 0.0


#: residents from which the judge phase's loops over residents run in parallel (below, a thread
#: pool's start costs more than it saves)
PARALLEL_RESIDENTS = 20_000


@jit
def perceive(res: Fields, ties: Fields, how: Fields) -> None:
    """Word of mouth, then perception, expectation and the grievances' decay.

    ``heard = x + w (mean of the neighbours' x - x)`` (float32 sum in stored order); ``P`` moves
    toward it at ``rate_down`` when it is worse, ``rate_up`` otherwise; ``E`` toward the new
    ``P``; grievances shrink by ``keep_grievance``. From :data:`PARALLEL_RESIDENTS` residents in
    parallel (:func:`hear_neighbours`, :func:`perceive_heard`): the same bits.
    """
    res, ties, how = ResidentState(*res), SocialTies(*ties), Judgement(*how)
    x, heard, p, e, g = res.experience, res.heard, res.performance, res.expectation, res.grievance
    w, down, up, rate_e, keep = how.word_of_mouth, how.rate_down, how.rate_up, how.rate_expectation, how.keep_grievance
    if x.size >= PARALLEL_RESIDENTS:
        hear_neighbours(x, heard, ties.indptr, ties.indices, w)
        perceive_heard(heard, p, e, g, down, up, rate_e, keep)
    else:
        for r in range(x.size):
            hear_one(r, x, heard, ties.indptr, ties.indices, w)
        for r in range(x.size):
            perceive_one(r, heard, p, e, g, down, up, rate_e, keep)


@jit_inline
def hear_one(r: int, x: np.ndarray, heard: np.ndarray, indptr: np.ndarray, indices: np.ndarray, w: np.float32) -> None:
    """Resident ``r``'s ``heard = x + w (mean of the neighbours' x - x)``, or ``x`` without neighbours."""
    lo, hi = indptr[r], indptr[r + 1]
    if hi > lo:
        acc = ZERO32
        for k in range(lo, hi):
            acc += x[indices[k]]
        mean = acc * np.float32(ONE32 / np.float32(hi - lo))
        heard[r] = x[r] + w * np.float32(mean - x[r])
    else:
        heard[r] = x[r]


@jit_inline
def perceive_one(r: int, heard: np.ndarray, p: np.ndarray, e: np.ndarray, g: np.ndarray, rate_down: np.float32,
                 rate_up: np.float32, rate_e: np.float32, keep: np.float32) -> None:
    """Resident ``r``'s ``P`` toward ``heard``, ``E`` toward ``P``, grievance's decay."""
    d = np.float32(heard[r] - p[r])
    rate = rate_down if d < ZERO32 else rate_up
    pr = min(max(p[r] + rate * d, ZERO32), ONE32)
    p[r] = pr
    e[r] = min(max(e[r] + rate_e * np.float32(pr - e[r]), ZERO32), ONE32)
    g[r] = g[r] * keep


@jit_parallel
def hear_neighbours(x: np.ndarray, heard: np.ndarray, indptr: np.ndarray, indices: np.ndarray, w: np.float32) -> None:
    """:func:`hear_one` for every resident, in parallel.

    Each resident writes only its own ``heard`` and reads only ``x``: the same bits for any number
    of threads. (Plain arrays: a parallel loop over arrays taken from named tuples gave wrong
    results with numba 0.68.)
    """
    for r in prange(x.size):
        hear_one(r, x, heard, indptr, indices, w)


@jit_parallel
def perceive_heard(heard: np.ndarray, p: np.ndarray, e: np.ndarray, g: np.ndarray, rate_down: np.float32,
                   rate_up: np.float32, rate_e: np.float32, keep: np.float32) -> None:
    """:func:`perceive_one` for every resident, in parallel (each its own)."""
    for r in prange(heard.size):
        perceive_one(r, heard, p, e, g, rate_down, rate_up, rate_e, keep)


@jit
def judge_day(res: Fields, ids: np.ndarray, perf: np.ndarray, lost: np.ndarray, t: int, pool: Fields, ties: Fields,
              how: Fields) -> None:
    """The judge phase: :func:`hear_outcomes`, :func:`grieve` for ``lost``, :func:`experience`, :func:`perceive`."""
    if ids.size:
        hear_outcomes(res, ids, perf, ties, how)
    if lost.size:
        grieve(res, lost, how)
    experience(res, t, pool, how)
    perceive(res, ties, how)


@jit
def participation_gain(res: Fields, ids: np.ndarray, gain_s: float, gain_t: float) -> None:
    """Each participation (repeated ids add up) lifts perceived performance and trust; both clipped."""
    res = ResidentState(*res)
    scatter_add_scalar(res.performance, ids, gain_s, res.acc)
    scatter_add_scalar(res.trust, ids, gain_t, res.acc)
    clip_at(res.performance, ids)
    clip_at(res.trust, ids)


@jit
def settle(res: Fields, how: Fields) -> None:
    """Satisfaction ``S = clip(P + beta (P - E))``; trust moves toward ``S + w_F (F - S)``."""
    res, how = ResidentState(*res), Influence(*how)
    s, p, e, tr, f = res.satisfaction, res.performance, res.expectation, res.trust, res.efficacy
    for r in range(s.size):
        s[r] = min(max(p[r] + how.beta * np.float32(p[r] - e[r]), ZERO32), ONE32)
        target = s[r] + how.weight_efficacy * np.float32(f[r] - s[r])
        tr[r] = min(max(tr[r] + how.rate_trust * np.float32(target - tr[r]), ZERO32), ONE32)


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
                    vol: Fields, res: Fields, how: Fields) -> int:
    """The participate phase after its draws; returns the number of volunteers.

    Event attendees (:func:`attendees`), volunteers among the candidates
    (:func:`accept_volunteers`), their gains (:func:`participation_gain`), then :func:`settle`.
    """
    draws, res, how = Participation(*draws), ResidentState(*res), Influence(*how)
    att = attendees(draws.n_att, community_start, community_size, draws.u_att)
    vols = accept_volunteers(draws.cand, draws.u_vol, draws.top, vol, res.trust)
    for r in vols:
        res.volunteer_turns[r] += 1
    ids = np.empty(att.size + vols.size, dtype=np.int64)
    ids[: att.size] = att
    ids[att.size:] = vols
    if ids.size:
        participation_gain(res, ids, how.gain_s, how.gain_t)
    settle(res, how)
    return vols.size
