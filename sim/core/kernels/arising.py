"""Kernels of the arise and find phases: today's problems, and which latent ones are found."""

from __future__ import annotations

import numpy as np
from numba import prange

from sim.config.taxonomy import LATENT
from sim.core.kernels.draws import Handle, PcgState, check_poisson, generator_at, poisson
from sim.core.kernels.jit import ONE32, ZERO32, jit, jit_inline, jit_parallel
from sim.core.kernels.pcg import chunk_states, draw_at, jump_table, next_double, take_row_starts
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
def arrival_draws(stream: Handle, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``sim.core.problems.draw_arrival_uniforms`` drawn in a kernel from ``stream``: the same numbers.

    Today's Poisson count per stratum (at ``lam``), then four uniforms per problem, shape (4, problems).
    """
    gen = generator_at(stream)
    k = np.empty(lam.size, dtype=np.int64)
    for i in range(lam.size):
        check_poisson(np.float64(lam[i]))  # as numpy refuses a rate
        k[i] = poisson(gen, np.float64(lam[i]))
    return k, gen.random(4 * k.sum()).reshape((4, k.sum()))


@jit
def arise_into(k: np.ndarray, u: np.ndarray, strata: Fields, p_prevent: np.ndarray, res_compound: np.ndarray,
               res_ctype: np.ndarray, ledger: Fields, t: int, n: int, buffers: Fields) -> tuple[int, int]:
    """The arise phase: :func:`arise`, the problems written into the pool's ``buffers`` from row ``n``.

    The caller made room for every arrival. Returns the number added and the number prevented.
    """
    res, cat, sev, n_prevented = arise(k, u, strata, p_prevent, res_compound, res_ctype, ledger)
    append_latent(n, res, cat, sev, t, buffers)
    return res.size, n_prevented


#: the largest link count a 4-bit code holds (the code LINKS_MORE: read the count itself)
LINKS_MORE = 15


@jit
def book_visits(n_workers: np.ndarray, capacity_per_worker: np.float32, visits_per_worker: np.float32,
                effort_visit: np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Today's visits booked on the grid workers' time (``Grids.start_day``): the visiting workers and their time.

    Each grid plans ``n_workers x visits_per_worker`` visits of ``effort_visit`` staff-days from a
    budget of ``n_workers x capacity_per_worker``; a grid short of time visits as many as it allows.
    Returns the visiting workers per grid (workers' worth of visits) and the staff-days they spend,
    both float32, as ``numpy_definitions.start_day`` computes them.
    """
    n = n_workers.size
    visiting, spent = np.empty(n, dtype=np.float32), np.empty(n, dtype=np.float32)
    for g in range(n):
        workers = n_workers[g]
        if effort_visit <= 0:
            visiting[g], spent[g] = workers, ZERO32
            continue
        planned = np.float32(workers * visits_per_worker)
        visits = min(planned, np.float32(np.float32(workers * capacity_per_worker) / effort_visit))
        spent[g] = np.float32(visits * effort_visit)
        visiting[g] = np.float32(visits / visits_per_worker) if visits < planned else workers
    return visiting, spent


@jit
def link_codes(n_links: np.ndarray) -> tuple[np.ndarray, int]:
    """Each resident's link count in 4 bits, two to a byte (low nibble first), and the most links.

    A count from 0 to 14 is its own code; :data:`LINKS_MORE` stands for 15 or more (or a
    negative count): read ``n_links``. The find phase reads the code (228 KB for 457k
    residents, in cache) rather than the 914 KB counts at random; one pass a day, as the links
    may change, also finds the most links (at least 0), which sizes the chance table
    (``PartyMembers.links_today``).
    """
    n = n_links.size
    codes = np.zeros((n + 1) >> 1, dtype=np.uint8)
    top = 0
    for b in range(n >> 1):
        lo, hi = n_links[2 * b], n_links[2 * b + 1]
        top = max(top, lo, hi)
        codes[b] = (lo if 0 <= lo < LINKS_MORE else LINKS_MORE) | (hi if 0 <= hi < LINKS_MORE else LINKS_MORE) << 4
    if n & 1:
        last = n_links[n - 1]
        top = max(top, last)
        codes[n >> 1] = last if 0 <= last < LINKS_MORE else LINKS_MORE
    return codes, top


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


def visit_slots(res_household: np.ndarray, household_grid: np.ndarray, household_pos: np.ndarray,
                grid_size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Residents by household slot (a grid's first slot plus the household's position in its round).

    Returns ``order`` (int32 residents sorted by slot) and ``start`` (int32, one more than the
    slots): slot ``s``'s residents are ``order[start[s]:start[s + 1]]``. The find phase marks the
    residents of today's visited households from it (:func:`visited_residents`) instead of
    loading every latent problem's grid and position. Positions must lie in their grid's round.
    """
    size = grid_size.astype(np.int64)
    hh = res_household.astype(np.int64)
    grid, pos = household_grid[hh].astype(np.int64), household_pos[hh].astype(np.int64)
    if np.any((pos < 0) | (pos >= size[grid])):
        raise ValueError("a household's position lies outside its grid's round")
    slot = (np.cumsum(size) - size)[grid] + pos
    order = np.argsort(slot, kind="stable").astype(np.int32)
    start = np.zeros(size.sum() + 1, dtype=np.int32)
    np.cumsum(np.bincount(slot, minlength=size.sum()), out=start[1:])
    return order, start


@jit
def mark_slot(bits: np.ndarray, order: np.ndarray, start: np.ndarray, s: int) -> None:
    """Set the bits of slot ``s``'s residents (:func:`visit_slots`)."""
    for q in range(start[s], start[s + 1]):
        r = order[q]
        bits[r >> 3] |= np.uint8(1 << (r & 7))


@jit
def visited_residents(order: np.ndarray, start: np.ndarray, visit_ptr: np.ndarray, grid_size: np.ndarray,
                      visits: np.ndarray) -> np.ndarray:
    """Bit ``r`` (little-endian bits of bytes) set when resident ``r``'s household is visited today.

    A household at position ``pos`` of grid ``g`` is visited when
    ``wrap_offset(pos - visit_ptr[g], grid_size[g]) < visits[g]``, the numpy definition's
    ``visited``. For ``0 <= ptr < size`` (as the rounds keep it) that offset never decreases
    along the round from ``ceil(ptr)``: it is ``pos - ptr`` up to the end of the grid and
    ``(pos - ptr) + size`` after the wrap, each rounded (monotone), the one at ``size - 1`` at most
    that at 0 (``size - 1 - ptr < size - ptr``). So the visited households are a prefix of the
    round: the same predicate is evaluated along it until it fails, O(visits) work. Another
    pointer tests every household. One bit per resident (57 KB for 457k residents) stays in cache.
    """
    bits = np.zeros((order.size + 7) >> 3, dtype=np.uint8)
    s0 = 0  # the grid's first slot
    for g in range(grid_size.size):
        size = int(grid_size[g])
        ptr, fsize = visit_ptr[g], np.float64(grid_size[g])
        if 0.0 <= ptr < fsize:
            c = int(np.ceil(ptr))  # the round's first household (size: wraps to 0)
            for k in range(size):
                pos = (c + k) % size
                if not wrap_offset(np.float64(pos) - ptr, fsize) < visits[g]:
                    break
                mark_slot(bits, order, start, s0 + pos)
        else:
            for pos in range(size):
                if wrap_offset(np.float64(pos) - ptr, fsize) < visits[g]:
                    mark_slot(bits, order, start, s0 + pos)
        s0 += size
    return bits


@jit
def propensity(trust: np.float32, efficacy: np.float32, slope: np.float32, slope_efficacy: np.float32) -> np.float32:
    """How readily a resident brings a problem to the government: ``max(0, 1 + a (T - 0.5) + b (F - 0.5))``."""
    half = np.float32(0.5)
    lift = ONE32 + slope * np.float32(trust - half) + slope_efficacy * np.float32(efficacy - half)
    return max(lift, ZERO32)


#: pool rows per chunk of the find phase's parallel loop
FIND_CHUNK = 512
#: pool rows from which the chunks run in parallel (below, waking the thread pool costs more than it saves:
#: on 2 cores two threads took 1.3x one thread's time at 4,300 rows, 1.1x at 19,000, 0.9x at 38,000)
PARALLEL_ROWS = 32_768


@jit
def find_latent(t: int, stream: PcgState, pool: Fields, grids: Fields, rules: Fields,
                who: Fields) -> None:
    """Mark latent rows found today: by a grid visit, else a party link, else a self-report.

    The resident's propensity ``m`` (trust and efficacy) scales the self-report hazard, and
    whether they tell a visiting grid worker or a linked member (``min(1, p_tell m)``). Then each
    grid's round of visits moves on by the day's visits. The ``j``-th latent row (in row order)
    reads ``u[0, j]``, ``u[1, j]`` and ``u[2, j]`` of ``rng.random((3, latent rows))``, stepped
    here from the stream's state (:func:`~sim.core.kernels.pcg.take_row_starts`), which moves on past them. Rows
    already marked found (by a policy) keep their finder. Chunks of rows (:func:`find_chunk`),
    each from its first latent row's draws (:func:`~sim.core.kernels.pcg.chunk_states`), run in
    parallel from :data:`PARALLEL_ROWS` rows (:func:`find_rows`).
    """
    pool, grids, rules, who = PoolColumns(*pool), GridRounds(*grids), FindRules(*rules), Reporters(*who)
    n_workers, visit_ptr, grid_size = grids.n_workers, grids.visit_ptr, grids.grid_size
    visits = np.empty(n_workers.size, dtype=np.float32)  # household visits per grid today
    for g in range(n_workers.size):
        visits[g] = n_workers[g] * rules.visits_per_worker
    visited = visited_residents(who.visit_order, who.slot_start, visit_ptr, grid_size, visits)
    # bounds that spare most rows the resident's state and the exponential (same decisions: a
    # uniform above a chance's bound is above the chance; 1 - exp(-h) <= h up to rounding)
    link_max = 0.0
    for k in range(rules.p_by_links.size):
        link_max = max(link_max, rules.p_by_links[k])
    mult_max = 0.0
    for c in range(who.report_mult.size):
        mult_max = max(mult_max, np.float64(who.report_mult[c]))
    m_max = np.float64(propensity(ONE32, ONE32, rules.slope, rules.slope_efficacy))
    self_max = np.empty(rules.rate_self.size)  # by severity
    for k in range(self_max.size):
        self_max[k] = rules.rate_self[k] * m_max * mult_max + 1e-15
    status = pool.status
    n_chunks = (status.size + FIND_CHUNK - 1) // FIND_CHUNK
    counts = np.empty(n_chunks, dtype=np.int64)  # latent rows (draws of each row of u) per chunk
    for c in range(n_chunks):  # counted in a register, without a branch (status alternates)
        n = 0
        for i in range(c * FIND_CHUNK, min(status.size, (c + 1) * FIND_CHUNK)):
            n += status[i] == LATENT
        counts[c] = n
    draws = take_row_starts(stream[0], stream[1], counts.sum(), 3)
    starts = chunk_states(draws, counts)
    table = jump_table(draws[-1, 0], draws[-1, 1])  # the stream's jumps (its increment: the row after the states)
    tell_rules = np.array([rules.p_tell, rules.slope, rules.slope_efficacy], dtype=np.float32)
    if status.size >= PARALLEL_ROWS:
        find_rows(t, starts, table, status, pool.res, pool.sev, pool.t_found, pool.finder, pool.n_contacts, visited,
                  rules.p_visit, tell_rules, who.trust, who.efficacy, link_max, rules.p_by_links, who.n_links,
                  who.link_code, rules.rate_self, self_max, who.report_mult, who.res_community)
    else:
        for c in range(n_chunks):
            find_chunk(c, t, starts, table, status, pool.res, pool.sev, pool.t_found, pool.finder, pool.n_contacts,
                       visited, rules.p_visit, tell_rules, who.trust, who.efficacy, link_max, rules.p_by_links,
                       who.n_links, who.link_code, rules.rate_self, self_max, who.report_mult, who.res_community)
    for g in range(visit_ptr.size):
        visit_ptr[g] = (visit_ptr[g] + np.float64(visits[g])) % np.float64(grid_size[g])


@jit_parallel
def find_rows(t: int, starts: np.ndarray, table: np.ndarray, status: np.ndarray, res: np.ndarray, sev: np.ndarray,
              t_found: np.ndarray, finder: np.ndarray, n_contacts: np.ndarray, visited: np.ndarray, p_visit: float,
              tell_rules: np.ndarray, trust: np.ndarray, efficacy: np.ndarray, link_max: float,
              p_by_links: np.ndarray, n_links: np.ndarray, link_code: np.ndarray, rate_self: np.ndarray,
              self_max: np.ndarray, report_mult: np.ndarray, res_community: np.ndarray) -> None:
    """:func:`find_chunk` for every chunk of rows, in parallel.

    Each chunk steps its own draws and each row writes only its own columns: the same bits for any
    number of threads. (Plain arrays: a parallel loop over arrays taken from named tuples gave
    wrong results with numba 0.68.)
    """
    for c in prange(starts.shape[0]):
        find_chunk(c, t, starts, table, status, res, sev, t_found, finder, n_contacts, visited, p_visit, tell_rules,
                   trust, efficacy, link_max, p_by_links, n_links, link_code, rate_self, self_max, report_mult,
                   res_community)


@jit_inline
def find_chunk(c: int, t: int, starts: np.ndarray, table: np.ndarray, status: np.ndarray, res: np.ndarray,
               sev: np.ndarray, t_found: np.ndarray, finder: np.ndarray, n_contacts: np.ndarray, visited: np.ndarray,
               p_visit: float, tell_rules: np.ndarray, trust: np.ndarray, efficacy: np.ndarray, link_max: float,
               p_by_links: np.ndarray, n_links: np.ndarray, link_code: np.ndarray, rate_self: np.ndarray,
               self_max: np.ndarray, report_mult: np.ndarray, res_community: np.ndarray) -> None:
    """:func:`find_latent`'s decisions for the rows of chunk ``c``, stepping its draws from ``starts[c]``.

    ``table``: the stream's jumps (:func:`~sim.core.kernels.pcg.jump_table`), its row 1 the increment.

    The cheap tests come first, each as the exact chance would decide it: the resident's
    visited bit (:func:`visited_residents`, rarely set, so the branch is predictable) before
    the uniform; the link count's code (:func:`link_codes`) before the count itself, and a link's
    chance before the telling chance that scales it (at most 1).
    """
    p_tell, slope, slope_efficacy = tell_rules[0], tell_rules[1], tell_rules[2]
    n = status.size
    a0, b0, a1, b1, a2, b2 = starts[c, 0], starts[c, 1], starts[c, 2], starts[c, 3], starts[c, 4], starts[c, 5]
    inc_hi, inc_lo = table[1, 2], table[1, 3]  # one step's increment: the stream's (pcg.jump_table)
    # u[0] is read only where a grid worker visited: its state jumps over the rest (pcg.draw_at; j: the
    # chunk's latent rows so far, at0: the one it stands before); u[1] and u[2], read by most, step every row
    j = at0 = 0
    for i in range(c * FIND_CHUNK, min(n, (c + 1) * FIND_CHUNK)):
        if status[i] != LATENT:
            continue
        a1, b1, u1 = next_double(a1, b1, inc_hi, inc_lo)
        a2, b2, u2 = next_double(a2, b2, inc_hi, inc_lo)
        r = res[i]
        s = sev[i]
        f = -1
        tell = -1.0  # not known yet
        if (visited[r >> 3] >> (r & 7)) & 1:
            a0, b0, u0, at0 = draw_at(a0, b0, at0, j, table)
            if u0 < p_visit:
                tell = np.float64(min(p_tell * propensity(trust[r], efficacy[r], slope, slope_efficacy), ONE32))
                if u0 < p_visit * tell:
                    f = 1  # GRID_VISIT
        j += 1
        if f < 0 and u1 < link_max:
            code = (link_code[r >> 1] >> ((r & 1) << 2)) & 0xF
            p_link = p_by_links[code] if code < LINKS_MORE else p_by_links[n_links[r]]
            if u1 < p_link:
                if tell < 0:
                    tell = np.float64(min(p_tell * propensity(trust[r], efficacy[r], slope, slope_efficacy), ONE32))
                if u1 < p_link * tell:
                    f = 2  # PARTY_LINK
        if f < 0 and u2 < self_max[s]:
            m = propensity(trust[r], efficacy[r], slope, slope_efficacy)
            hazard = rate_self[s] * np.float64(m) * np.float64(report_mult[res_community[r]])
            if u2 < 1.0 - np.exp(-hazard):
                f = 0  # SELF_REPORT
        if f >= 0 and t_found[i] < 0:
            finder[i] = f
            t_found[i] = t
            n_contacts[i] = 1
