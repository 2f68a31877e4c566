"""Kernels of the arise and find phases: today's problems, and which latent ones are found."""

from __future__ import annotations

import numpy as np
from numba import prange

from sim.config.taxonomy import LATENT
from sim.core.kernels.jit import ONE32, ZERO32, jit, jit_inline, jit_parallel
from sim.core.kernels.pool import append_latent
from sim.core.kernels.state import ArrivalStrata, Fields, FindRules, GridRounds, LedgerCounts, PoolColumns, Reporters


@jit
def arrivals(k: np.ndarray, u: np.ndarray, strata: Fields) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resident, category and severity of today's problems.

    From Poisson counts per stratum ``k`` and uniforms ``u`` (4, m): resident within stratum,
    category, severity, prevention.
    """
    strata = ArrivalStrata(*strata)
    m = u.shape[1]
    res = np.empty(m, dtype=np.int32)
    cat = np.empty(m, dtype=np.int8)
    sev = np.empty(m, dtype=np.int8)
    cat_cum, sev_cum = strata.cat_cum, strata.sev_cum
    n_cat = cat_cum.shape[1]
    n_sev = sev_cum.shape[1]
    i = 0
    for s in range(k.size):
        for _ in range(k[s]):
            res[i] = strata.order[strata.start[s] + np.int64(u[0, i] * strata.size[s])]
            c = 0
            for j in range(n_cat):
                if u[1, i] >= cat_cum[s, j]:
                    c += 1
            c = min(c, n_cat - 1)
            v = 0
            for j in range(n_sev):
                if u[2, i] >= sev_cum[c, j]:
                    v += 1
            cat[i] = c
            sev[i] = min(v, n_sev - 1)
            i += 1
    return res, cat, sev


@jit
def arise(k: np.ndarray, u: np.ndarray, strata: Fields, p_prevent: np.ndarray, res_compound: np.ndarray,
          res_ctype: np.ndarray, ledger: Fields) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Today's arrivals (see :func:`arrivals`) less the prevented ones, counted in the ledger.

    A problem is prevented when its fourth uniform is below ``p_prevent[compound, category]``.
    Returns the residents, categories and severities of the problems that arise, and the
    number prevented.
    """
    ledger = LedgerCounts(*ledger)
    res, cat, sev = arrivals(k, u, strata)
    ok = np.empty(res.size, dtype=np.bool_)
    n_ok = 0
    for i in range(res.size):
        ok[i] = not (u[3, i] < p_prevent[res_compound[res[i]], cat[i]])
        if ok[i]:
            ledger.arisen[cat[i], sev[i]] += 1
            ledger.arisen_ctype[res_ctype[res[i]]] += 1
            n_ok += 1
    return res[ok], cat[ok], sev[ok], res.size - n_ok


@jit
def arise_into(k: np.ndarray, u: np.ndarray, strata: Fields, p_prevent: np.ndarray, res_compound: np.ndarray,
               res_ctype: np.ndarray, ledger: Fields, t: int, n: int, buffers: Fields) -> tuple[int, int]:
    """The arise phase: :func:`arise`, the problems written into the pool's ``buffers`` from row ``n``.

    The caller made room for every arrival. Returns the number added and the number prevented.
    """
    res, cat, sev, n_prevented = arise(k, u, strata, p_prevent, res_compound, res_ctype, ledger)
    append_latent(n, res, cat, sev, t, buffers)
    return res.size, n_prevented


@jit
def count_equal(a: np.ndarray, value: int) -> int:
    """``np.count_nonzero(a == value)``."""
    n = 0
    for x in a:
        if x == value:
            n += 1
    return n


@jit
def max_value(a: np.ndarray) -> int:
    """``a.max()`` of a non-empty array (the most party links any resident has)."""
    top = a[0]
    for x in a:
        if x > top:
            top = x
    return top


@jit
def wrap_offset(d: float, size: float) -> float:
    """``d % size`` (Python's float modulo) for ``-size <= d < size`` without the slow ``fmod``.

    Exactly ``d`` for ``0 < d < size`` and ``d + size`` for ``-size <= d < 0`` (``fmod`` returns
    ``d`` itself when ``|d| < size``, and Python then adds ``size``); zero is ``+0.0`` as in Python;
    other ``d`` take the modulo. The find phase's hot loop calls it once per latent problem.
    """
    if d > 0.0:
        return d if d < size else d % size
    if d == 0.0:
        return 0.0
    return d + size if d >= -size else d % size


def visit_keys(res_household: np.ndarray, household_grid: np.ndarray, household_pos: np.ndarray) -> np.ndarray:
    """Each resident's grid and position in its round, as one int64: ``grid << 32 | position``.

    The find kernel reads it with one load per visited problem instead of three dependent ones.
    """
    hh = res_household.astype(np.int64)
    return (household_grid[hh].astype(np.int64) << 32) | household_pos[hh].astype(np.int64)


@jit
def propensity(trust: np.float32, efficacy: np.float32, slope: np.float32, slope_efficacy: np.float32) -> np.float32:
    """How readily a resident brings a problem to the government: ``max(0, 1 + a (T - 0.5) + b (F - 0.5))``."""
    half = np.float32(0.5)
    lift = ONE32 + slope * np.float32(trust - half) + slope_efficacy * np.float32(efficacy - half)
    return max(lift, ZERO32)


#: pool rows per chunk of the find phase's parallel loop
FIND_CHUNK = 512
#: pool rows from which the chunks run in parallel (below, a thread pool's start costs more than it saves)
PARALLEL_ROWS = 4096


@jit
def find_latent(t: int, u: np.ndarray, pool: Fields, grids: Fields, rules: Fields,
                who: Fields) -> None:
    """Mark latent rows found today: by a grid visit, else a party link, else a self-report.

    The resident's propensity ``m`` (trust and efficacy) scales the self-report hazard, and
    whether they tell a visiting grid worker or a linked member (``min(1, p_tell m)``). Then each
    grid's round of visits moves on by the day's visits. ``u`` holds three uniforms per latent
    row, in row order. Rows already marked found (by a policy) keep their finder. Chunks of rows
    (:func:`find_chunk`), each from its first latent row's uniforms, run in parallel from
    :data:`PARALLEL_ROWS` rows (:func:`find_rows`).
    """
    pool, grids, rules, who = PoolColumns(*pool), GridRounds(*grids), FindRules(*rules), Reporters(*who)
    n_workers, visit_ptr, grid_size = grids.n_workers, grids.visit_ptr, grids.grid_size
    visits = np.empty(n_workers.size, dtype=np.float32)  # household visits per grid today
    for g in range(n_workers.size):
        visits[g] = n_workers[g] * rules.visits_per_worker
    # bounds that spare most rows the resident's state and the exponential (same decisions: a
    # uniform above a chance's bound is above the chance; 1 - exp(-h) <= h up to rounding)
    link_max = 0.0
    for k in range(rules.p_by_links.size):
        link_max = max(link_max, rules.p_by_links[k])
    mult_max = 0.0
    for c in range(who.report_mult.size):
        mult_max = max(mult_max, np.float64(who.report_mult[c]))
    m_max = np.float64(propensity(ONE32, ONE32, rules.slope, rules.slope_efficacy))
    status = pool.status
    n_chunks = (status.size + FIND_CHUNK - 1) // FIND_CHUNK
    first = np.zeros(n_chunks + 1, dtype=np.int64)  # index of each chunk's first uniform
    for i in range(status.size):
        if status[i] == LATENT:
            first[i // FIND_CHUNK + 1] += 1
    for c in range(n_chunks):
        first[c + 1] += first[c]
    tell_rules = np.array([rules.p_tell, rules.slope, rules.slope_efficacy], dtype=np.float32)
    if status.size >= PARALLEL_ROWS:
        find_rows(t, u, first, status, pool.res, pool.sev, pool.t_found, pool.finder, pool.n_contacts, who.res_visit,
                  visit_ptr, grid_size, visits, rules.p_visit, tell_rules, who.trust, who.efficacy, link_max,
                  rules.p_by_links, who.n_links, rules.rate_self, m_max, mult_max, who.report_mult, who.res_community)
    else:
        for c in range(n_chunks):
            find_chunk(c, t, u, first, status, pool.res, pool.sev, pool.t_found, pool.finder, pool.n_contacts,
                       who.res_visit, visit_ptr, grid_size, visits, rules.p_visit, tell_rules, who.trust, who.efficacy,
                       link_max, rules.p_by_links, who.n_links, rules.rate_self, m_max, mult_max, who.report_mult,
                       who.res_community)
    for g in range(visit_ptr.size):
        visit_ptr[g] = (visit_ptr[g] + np.float64(visits[g])) % np.float64(grid_size[g])


@jit_parallel
def find_rows(t: int, u: np.ndarray, first: np.ndarray, status: np.ndarray, res: np.ndarray, sev: np.ndarray,
              t_found: np.ndarray, finder: np.ndarray, n_contacts: np.ndarray, res_visit: np.ndarray,
              visit_ptr: np.ndarray, grid_size: np.ndarray, visits: np.ndarray, p_visit: float, tell_rules: np.ndarray,
              trust: np.ndarray, efficacy: np.ndarray, link_max: float, p_by_links: np.ndarray, n_links: np.ndarray,
              rate_self: np.ndarray, m_max: float, mult_max: float, report_mult: np.ndarray, res_community: np.ndarray) -> None:
    """:func:`find_chunk` for every chunk of rows, in parallel.

    Each row reads only its own uniforms and writes only its own columns: the same bits for any
    number of threads. (Plain arrays: a parallel loop over arrays taken from named tuples gave
    wrong results with numba 0.68.)
    """
    for c in prange(first.size - 1):
        find_chunk(c, t, u, first, status, res, sev, t_found, finder, n_contacts, res_visit, visit_ptr, grid_size,
                   visits, p_visit, tell_rules, trust, efficacy, link_max, p_by_links, n_links, rate_self, m_max,
                   mult_max, report_mult, res_community)


@jit_inline
def find_chunk(c: int, t: int, u: np.ndarray, first: np.ndarray, status: np.ndarray, res: np.ndarray,
               sev: np.ndarray, t_found: np.ndarray, finder: np.ndarray, n_contacts: np.ndarray, res_visit: np.ndarray,
              visit_ptr: np.ndarray, grid_size: np.ndarray, visits: np.ndarray, p_visit: float, tell_rules: np.ndarray,
              trust: np.ndarray, efficacy: np.ndarray, link_max: float, p_by_links: np.ndarray, n_links: np.ndarray,
              rate_self: np.ndarray, m_max: float, mult_max: float, report_mult: np.ndarray, res_community: np.ndarray) -> None:
    """:func:`find_latent`'s decisions for the rows of chunk ``c``, from uniform ``first[c]`` on."""
    p_tell, slope, slope_efficacy = tell_rules[0], tell_rules[1], tell_rules[2]
    n = status.size
    j = first[c]
    for i in range(c * FIND_CHUNK, min(n, (c + 1) * FIND_CHUNK)):
        if status[i] != LATENT:
            continue
        u0, u1, u2 = u[0, j], u[1, j], u[2, j]
        j += 1
        r = res[i]
        s = sev[i]
        f = -1
        tell = -1.0  # not known yet
        if u0 < p_visit:
            key = res_visit[r]  # one load, not household then grid and position (:func:`visit_keys`)
            g = key >> 32
            off = wrap_offset(np.float64(key & 0xFFFFFFFF) - visit_ptr[g], np.float64(grid_size[g]))
            if off < visits[g]:
                tell = np.float64(min(p_tell * propensity(trust[r], efficacy[r], slope, slope_efficacy), ONE32))
                if u0 < p_visit * tell:
                    f = 1  # GRID_VISIT
        if f < 0 and u1 < link_max:
            if tell < 0:
                tell = np.float64(min(p_tell * propensity(trust[r], efficacy[r], slope, slope_efficacy), ONE32))
            if u1 < p_by_links[n_links[r]] * tell:
                f = 2  # PARTY_LINK
        if f < 0 and u2 < rate_self[s] * m_max * mult_max + 1e-15:
            m = propensity(trust[r], efficacy[r], slope, slope_efficacy)
            hazard = rate_self[s] * np.float64(m) * np.float64(report_mult[res_community[r]])
            if u2 < 1.0 - np.exp(-hazard):
                f = 0  # SELF_REPORT
        if f >= 0 and t_found[i] < 0:
            finder[i] = f
            t_found[i] = t
            n_contacts[i] = 1
