"""Kernels of the judge and participate phases.

Outcomes of reports (efficacy, grievance), the day's experience and word of mouth, perceived
performance and expectation, participation, satisfaction and trust (docs/model.md §7.7-§7.8).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import prange

from sim.config.taxonomy import LATENT, QUEUED
from sim.core.kernels.draws import (
    Handle,
    check_binomial,
    check_poisson,
    choice_without_replacement,
    generator_at,
    poisson,
)
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
    for r in range(g.size):  # not x[n], the zero the padded neighbour lists point to
        x[r] = max(np.float32(ONE32 - np.float32(acc[r])) - g[r], ZERO32)
        acc[r] = 0.0


#: residents from which the judge phase's loops over residents run in parallel (below, waking the
#: thread pool costs more than it saves: on 2 cores two threads took 1.13x one thread's time at 21,600
#: residents, 0.94x at 45,000)
PARALLEL_RESIDENTS = 32_768

#: neighbours summed per block in word of mouth: each resident's list is padded to whole blocks
#: (:func:`pad_ties`), so that a block's eight additions are written out and a block knows its resident
WOM_BLOCK = 8


#: residents' running sums in word of mouth kept at once (``perceive_range`` names four sums; its last run takes
#: the residents left, so this number only sets where the runs are cut): a float32 sum in stored order is one chain
#: of dependent additions (each waits for the last), so one resident after another leaves the adder
#: idle; the chains of four residents interleaved keep it busy (a district day's sums: 7 ms one by
#: one, ~3 ms four at a time, the same bits)
WOM_STREAMS = 4


def pad_ties(indptr: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each resident's neighbour list, in stored order, padded to whole :data:`WOM_BLOCK` blocks with ``n``.

    ``n`` (the number of residents) indexes the zero kept after the residents' experience
    (``ResidentState.experience``): adding ``+0.0`` to a float32 sum that starts at ``+0.0`` and
    adds non-negative values leaves it unchanged, so the padded sums have the same bits as the plain
    ones. Returns the padded lists' pointers and indices, of the dtypes of ``indptr`` and ``indices``,
    and each block's resident (dtype of ``indices``).
    """
    n = indptr.size - 1
    start = indptr.astype(np.int64)
    deg = np.diff(start)
    blocks = (deg + WOM_BLOCK - 1) // WOM_BLOCK * WOM_BLOCK
    padded_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(blocks, out=padded_ptr[1:])
    padded = np.full(int(padded_ptr[-1]), n, dtype=indices.dtype)
    slot = np.arange(int(start[-1])) - np.repeat(start[:-1] - padded_ptr[:-1], deg)
    padded[slot] = indices[: int(start[-1])]
    block_res = np.repeat(np.arange(n, dtype=indices.dtype), blocks // WOM_BLOCK)
    return padded_ptr.astype(indptr.dtype), padded, block_res


@jit
def perceive(res: Fields, ties: Fields, how: Fields) -> None:
    """Word of mouth, then perception, expectation and the grievances' decay.

    ``heard = x + w (mean of the neighbours' x - x)`` (float32 sum in stored order, over the padded
    lists: :func:`pad_ties`); ``P`` moves toward it at ``rate_down`` when it is worse, ``rate_up``
    otherwise; ``E`` toward the new ``P``; grievances shrink by ``keep_grievance``. Residents in
    chunks (:func:`perceive_range`), in parallel from :data:`PARALLEL_RESIDENTS` residents
    (:func:`perceive_chunks`): the same bits.
    """
    res, ties, how = ResidentState(*res), SocialTies(*ties), Judgement(*how)
    n = res.heard.size
    args = (res.experience, res.heard, ties.indptr, ties.padded_ptr, ties.padded, ties.block_res, res.performance,
            res.expectation, res.grievance, how.word_of_mouth, how.rate_down, how.rate_up, how.rate_expectation,
            how.keep_grievance)
    if n >= PARALLEL_RESIDENTS:
        perceive_chunks(*args)
    else:
        perceive_range(0, n, *args)


#: residents per chunk of the judge phase's parallel loop
RESIDENT_CHUNK = 4096


@jit_inline
def heard_block(b: int, acc: np.float32, prev: int, x: np.ndarray, heard: np.ndarray, indptr: np.ndarray,
                padded: np.ndarray, block_res: np.ndarray, w: np.float32) -> tuple[int, np.float32, int]:
    """One turn of a run: block ``b`` added to its resident's sum, and the resident's ``heard`` as of it.

    The sum restarts at a resident's first block (``prev``, the last block's resident, differs).
    The block's eight additions are written out (the padding adds ``x[n] = 0``); the mean divides by
    the true number of neighbours. Returns the next block, the sum and the last block's resident. (The
    caller tests ``b`` against its run's end: with the test inside, the four runs took 2.6x as long.)
    """
    r = block_res[b]
    acc = acc if r == prev else ZERO32
    k = b * WOM_BLOCK
    acc += x[padded[k]]
    acc += x[padded[k + 1]]
    acc += x[padded[k + 2]]
    acc += x[padded[k + 3]]
    acc += x[padded[k + 4]]
    acc += x[padded[k + 5]]
    acc += x[padded[k + 6]]
    acc += x[padded[k + 7]]
    mean = acc * np.float32(ONE32 / np.float32(indptr[r + 1] - indptr[r]))
    heard[r] = x[r] + w * np.float32(mean - x[r])  # the last block's write is the resident's
    return b + 1, acc, r


@jit
def perceive_range(lo: int, hi: int, x: np.ndarray, heard: np.ndarray, indptr: np.ndarray, padded_ptr: np.ndarray,
                   padded: np.ndarray, block_res: np.ndarray, p: np.ndarray, e: np.ndarray, g: np.ndarray,
                   w: np.float32, rate_down: np.float32, rate_up: np.float32, rate_e: np.float32,
                   keep: np.float32) -> None:
    """:func:`perceive` for residents ``lo`` to ``hi``: each one's ``heard``, then ``P``, ``E`` and grievance.

    The residents are cut into :data:`WOM_STREAMS` runs whose blocks are summed in step, one block of
    each run per turn (:func:`heard_block`), so four sums' additions overlap; each sum still runs over
    its resident's list in stored order. (A compiled function, not an inlined helper: LLVM compiled
    an inlined per-resident helper's sequential loop three times slower.)
    """
    q = (hi - lo + WOM_STREAMS - 1) // WOM_STREAMS
    b0, e0 = padded_ptr[lo] // WOM_BLOCK, padded_ptr[min(hi, lo + q)] // WOM_BLOCK
    b1, e1 = e0, padded_ptr[min(hi, lo + 2 * q)] // WOM_BLOCK
    b2, e2 = e1, padded_ptr[min(hi, lo + 3 * q)] // WOM_BLOCK
    b3, e3 = e2, padded_ptr[hi] // WOM_BLOCK
    a0 = a1 = a2 = a3 = ZERO32
    r0 = r1 = r2 = r3 = block_res.dtype.type(hi)  # no resident of the range (the sums start at zero anyway)
    for _ in range(max(max(e0 - b0, e1 - b1), max(e2 - b2, e3 - b3))):  # four runs: four named sums
        if b0 < e0:
            b0, a0, r0 = heard_block(b0, a0, r0, x, heard, indptr, padded, block_res, w)
        if b1 < e1:
            b1, a1, r1 = heard_block(b1, a1, r1, x, heard, indptr, padded, block_res, w)
        if b2 < e2:
            b2, a2, r2 = heard_block(b2, a2, r2, x, heard, indptr, padded, block_res, w)
        if b3 < e3:
            b3, a3, r3 = heard_block(b3, a3, r3, x, heard, indptr, padded, block_res, w)
    for r in range(lo, hi):
        if indptr[r + 1] == indptr[r]:  # no neighbours (no blocks): what the resident lived
            heard[r] = x[r]
        dp = np.float32(heard[r] - p[r])
        rate = rate_down if dp < ZERO32 else rate_up
        pr = min(max(p[r] + rate * dp, ZERO32), ONE32)
        p[r] = pr
        e[r] = min(max(e[r] + rate_e * np.float32(pr - e[r]), ZERO32), ONE32)
        g[r] = g[r] * keep


@jit_parallel
def perceive_chunks(x: np.ndarray, heard: np.ndarray, indptr: np.ndarray, padded_ptr: np.ndarray, padded: np.ndarray,
                    block_res: np.ndarray, p: np.ndarray, e: np.ndarray, g: np.ndarray, w: np.float32,
                    rate_down: np.float32, rate_up: np.float32, rate_e: np.float32, keep: np.float32) -> None:
    """:func:`perceive_range` for every chunk of :data:`RESIDENT_CHUNK` residents, in parallel.

    Each resident writes only its own ``heard``, ``P``, ``E`` and grievance and reads only ``x``
    besides: the same bits for any number of threads. (Plain arrays: a parallel loop over arrays
    taken from named tuples gave wrong results with numba 0.68.)
    """
    n = heard.size
    for c in prange((n + RESIDENT_CHUNK - 1) // RESIDENT_CHUNK):
        perceive_range(c * RESIDENT_CHUNK, min(n, (c + 1) * RESIDENT_CHUNK), x, heard, indptr, padded_ptr, padded,
                       block_res, p, e, g, w, rate_down, rate_up, rate_e, keep)


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
def volunteer_draws(gen: Any, n: int, vol: Fields) -> tuple[float, np.ndarray, np.ndarray]:
    """``sim.agents.resident.volunteer_candidates`` drawn in a kernel: ``top``, the candidates, a uniform each.

    Binomial(n, top) candidates, ``top`` the largest chance any resident has; fewer than a quarter of
    ``n`` by numpy's ``choice`` without replacement, else the residents whose uniform falls below ``top``.
    """
    vol = Volunteering(*vol)
    top = min(np.float64(max_product(vol.rate, vol.mult)), 1.0)
    if top <= 0:
        return 0.0, np.empty(0, dtype=np.int64), np.empty(0)
    check_binomial(n, top)  # a nan chance: numpy's error
    k = gen.binomial(n, top)
    cand = choice_without_replacement(gen, n, k) if k < n // 4 else np.flatnonzero(gen.random(n) < top)
    return top, cand, gen.random(cand.size)


@jit
def participate_drawn(stream: Handle, event_rate: np.ndarray, p_reach: float, community_start: np.ndarray,
                      community_size: np.ndarray, vol: Fields, res: Fields, how: Fields) -> tuple[int, int]:
    """The participate phase with its draws from ``stream``; returns the day's events and volunteers.

    In numpy's order: events per community (Poisson at ``event_rate``), attendees per community
    (Binomial(size, min(events p_reach, 1))), a uniform per attendee, the volunteers' draws
    (:func:`volunteer_draws`); then :func:`participate_day`.
    """
    gen = generator_at(stream)
    n_comm = event_rate.size
    if community_size.size != n_comm:
        raise ValueError("event_rate and community_size differ in length")
    events = np.empty(n_comm, dtype=np.int64)
    for c in range(n_comm):
        check_poisson(np.float64(event_rate[c]))  # numpy's error for a rate it refuses
        events[c] = poisson(gen, np.float64(event_rate[c]))
    n_att = np.empty(n_comm, dtype=np.int64)
    for c in range(n_comm):
        p = min(np.float64(events[c]) * p_reach, 1.0)
        check_binomial(np.int64(community_size[c]), p)
        n_att[c] = gen.binomial(np.int64(community_size[c]), p)
    u_att = gen.random(n_att.sum())
    top, cand, u_vol = volunteer_draws(gen, ResidentState(*res).satisfaction.size, vol)
    n_vols = participate_day((n_att, u_att, cand, u_vol, top), community_start, community_size, vol, res, how)
    return events.sum(), n_vols


@jit
def max_product(a: np.ndarray, b: np.ndarray) -> float:
    """``(a * b).max()`` for finite values (0 for empty arrays).

    Eight running maxima over interleaved elements, merged at the end: one running maximum made
    each compare wait for the last (7 cycles an element, 1 ms of a district day). The maximum of
    finite values is exact and does not depend on the order they are compared in.
    """
    n = a.size
    if n == 0:
        return a.dtype.type(0) * b.dtype.type(0)
    m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = a[0] * b[0]
    i = 0
    while i + 8 <= n:
        x0, x1, x2, x3 = a[i] * b[i], a[i + 1] * b[i + 1], a[i + 2] * b[i + 2], a[i + 3] * b[i + 3]
        x4, x5, x6, x7 = a[i + 4] * b[i + 4], a[i + 5] * b[i + 5], a[i + 6] * b[i + 6], a[i + 7] * b[i + 7]
        m0, m1, m2, m3 = max(m0, x0), max(m1, x1), max(m2, x2), max(m3, x3)
        m4, m5, m6, m7 = max(m4, x4), max(m5, x5), max(m6, x6), max(m7, x7)
        i += 8
    while i < n:
        m0 = max(m0, a[i] * b[i])
        i += 1
    return max(max(max(m0, m1), max(m2, m3)), max(max(m4, m5), max(m6, m7)))


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
