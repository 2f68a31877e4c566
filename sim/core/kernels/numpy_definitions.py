"""The readable numpy definition each compiled kernel is held to, bit for bit, by tests/test_kernels.py.

The kernels of this package do in one compiled pass what these functions say in vectorised
numpy (and what docs/model.md says in words); the tests run both on the same state and draws
and ask for equal arrays, to the last bit. Nothing in a simulation calls these functions:
they are the specification, kept executable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.config.params import DAYS_PER_MONTH
from sim.config.taxonomy import COMMUNITY, LATENT, N_CATEGORIES, N_LEVELS, PROPERTY, QUEUED
from sim.core.kernels.c_library import exp as exp  # the C library's functions, re-exported for the tests
from sim.core.kernels.c_library import expf as expf
from sim.core.kernels.c_library import pow64 as pow64
from sim.core.kernels.c_library import powf as powf
from sim.core.kernels.state import (
    ArrivalStrata,
    EntryRules,
    EscalationRules,
    Fields,
    Influence,
    Judgement,
    LedgerCounts,
    PoolColumns,
    ResidentState,
    SocialTies,
    Volunteering,
)
from sim.core.problems import CHAINS, ArrivalTable, ProblemPool, draw_arrival_uniforms

if TYPE_CHECKING:
    from sim.agents.community import Grids
    from sim.core.handlers import Handlers


# ---- the pool ------------------------------------------------------------------------------
def append_rows(pool: ProblemPool, **cols: np.ndarray | int) -> None:
    """Append rows to ``pool`` (``pool.append_latent`` writes new latent problems).

    Every field is given, the first as an array, the rest as arrays of the same length or one
    value for all rows.
    """
    k = int(np.size(next(iter(cols.values()))))
    if k == 0:
        return
    buffers = pool.reserve(k)
    for name, arr in zip(PoolColumns._fields, buffers):
        arr[pool.n : pool.n + k] = cols[name]
    pool.set_rows(pool.n + k)


def keep(pool: ProblemPool, mask: np.ndarray) -> None:
    """Keep only the rows of ``pool`` where ``mask`` is true, in order (``pool.keep_rows`` keeps status >= 0)."""
    m = int(mask.sum())
    if m == pool.n:
        return
    for arr in pool.reserve(0):
        arr[:m] = arr[: pool.n][mask]
    pool.set_rows(m)


# ---- arise ---------------------------------------------------------------------------------
def arrivals(k: np.ndarray, u: np.ndarray, strata: Fields) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resident, category and severity of today's problems (``arising.arrivals``).

    Per stratum in order, per problem, the resident within the stratum, then the category and
    the severity as the first column of the cumulative distribution exceeding the uniform.
    """
    strata = ArrivalStrata(*strata)
    stratum = np.repeat(np.arange(k.size), k)
    res = strata.order[strata.start[stratum] + (u[0] * strata.size[stratum]).astype(np.int64)]
    cat = np.minimum((u[1][:, None] >= strata.cat_cum[stratum]).sum(axis=1), strata.cat_cum.shape[1] - 1)
    sev = np.minimum((u[2][:, None] >= strata.sev_cum[cat]).sum(axis=1), strata.sev_cum.shape[1] - 1)
    return res, cat, sev


def draw_arrivals(table: ArrivalTable, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Today's new problems: resident ids, categories, severities and a prevention uniform.

    Drawn from the ``arrival`` stream alone (common random numbers across scenarios).
    """
    k, u = draw_arrival_uniforms(table, rng)
    res, cat, sev = arrivals(k, u, table.strata())
    return res, cat, sev, u[3]


def prevented(res: np.ndarray, cat: np.ndarray, u_prevent: np.ndarray, p_prevent: np.ndarray,
              res_compound: np.ndarray) -> np.ndarray:
    """Which of today's problems never arise (``arising.arise``): uniform < ``p_prevent[compound, category]``."""
    return u_prevent < p_prevent[res_compound[res], cat]


# ---- find ----------------------------------------------------------------------------------
def visits_per_day(n_workers: np.ndarray, visits_per_worker_per_month: float) -> np.ndarray:
    """Households each grid's workers visit per day."""
    return n_workers * (visits_per_worker_per_month / DAYS_PER_MONTH)


def start_day(n_workers: np.ndarray, capacity_per_worker: float, visits_per_month: float,
              effort_visit: float) -> tuple[np.ndarray, np.ndarray]:
    """The visiting workers and their time today (``arising.book_visits``, ``Grids.start_day``)."""
    visits_per_worker = np.float32(visits_per_month / DAYS_PER_MONTH)
    budget, planned = n_workers * np.float32(capacity_per_worker), n_workers * visits_per_worker
    if effort_visit <= 0:
        return n_workers, np.zeros_like(budget)
    visits = np.minimum(planned, budget / np.float32(effort_visit))
    short = visits < planned  # implies visits_per_worker > 0
    visiting = np.where(short, visits / np.where(short, visits_per_worker, 1), n_workers).astype(np.float32)
    return visiting, (visits * np.float32(effort_visit)).astype(np.float32)


def visited(grids: Grids, households: np.ndarray, visits: np.ndarray) -> np.ndarray:
    """Whether each household is in today's round: workers go round their grid in order."""
    g = grids.household_grid[households]
    offset = np.mod(grids.household_pos[households] - grids.visit_ptr[g], grids.grid_size[g])
    return offset < visits[g]


def resident_bits(mask: np.ndarray) -> np.ndarray:
    """A per-resident mask as bits, little-endian in bytes.

    ``arising.visited_residents`` is :func:`visited` of each resident's household so packed.
    """
    return np.packbits(mask, bitorder="little")


def link_codes(n_links: np.ndarray) -> np.ndarray:
    """Link counts in 4 bits, two residents a byte, low nibble first (``arising.link_codes``).

    A count from 0 to 14 is its own code, any other count 15 (``arising.LINKS_MORE``).
    """
    code = np.where((n_links >= 0) & (n_links < 15), n_links, 15).astype(np.uint8)
    code = np.append(code, np.zeros(code.size % 2, dtype=np.uint8))
    return code[0::2] | (code[1::2] << 4)


def advance(grids: Grids, visits: np.ndarray) -> None:
    """Move each grid's round forward by today's visits."""
    grids.visit_ptr = np.mod(grids.visit_ptr + visits, grids.grid_size)


def propensity(trust: np.ndarray, efficacy: np.ndarray, slope: np.float32, slope_efficacy: np.float32) -> np.ndarray:
    """How readily residents bring a problem to the government (``arising.propensity``, float32).

    ``max(0, 1 + slope (T - 0.5) + slope_efficacy (F - 0.5))``.
    """
    half = np.float32(0.5)
    return np.maximum(np.float32(1.0) + slope * (trust - half) + slope_efficacy * (efficacy - half), np.float32(0.0))


def p_tell(m: np.ndarray, p: np.float32) -> np.ndarray:
    """Chance a resident tells a visiting grid worker or a linked party member: ``min(1, p m)`` (float64)."""
    return np.minimum(p * m, np.float32(1.0)).astype(np.float64)


def p_self_report(base: np.ndarray, sev: np.ndarray, m: np.ndarray, mult: np.ndarray) -> np.ndarray:
    """Daily chance a resident reports a latent problem: rises with the propensity ``m`` and with ``mult``."""
    hazard = base[sev] * m.astype(np.float64) * mult.astype(np.float64)
    return 1.0 - exp(-hazard)


# ---- route and handle ----------------------------------------------------------------------
def climb(level: np.ndarray, p_solve: np.ndarray, has_handler: np.ndarray, threshold: float, top: int) -> np.ndarray:
    """Move each problem up from ``level`` past levels that cannot handle it (``routing.place``).

    ``p_solve[i, l]`` is problem i's chance of success at level l and ``has_handler[i, l]``
    whether level l exists for it (a compound without a firm has no property level). A level
    is skipped (the handler refers the matter up) when it does not exist or its chance is
    below ``threshold``, never past ``top``.
    """
    # the first level on the way up (levels only rise) that can handle the problem, else the top
    stop = has_handler & ~(p_solve < threshold)
    stop[:, top] = True
    stop &= CHAINS[top][level]
    return stop.argmax(axis=1).astype(np.int8)


def p_success(handlers: Handlers, level: np.ndarray, handler: np.ndarray, cat: np.ndarray,
              sev: np.ndarray) -> np.ndarray:
    """Chance one attempt solves each problem (``routing.chance``).

    Authority x severity x level multiplier x the handler's multiplier, clipped to [0, 1];
    handler -1 reads the level's last row.
    """
    h = handlers
    base = h.authority[level, cat] * h.severity_mult[sev] * h.level_cat_mult[level, cat]
    mults = [h.mult[lvl] for lvl in range(N_LEVELS)]
    n_rows = np.array([a.shape[0] for a in mults] + [1])
    flat = np.concatenate([*mults, np.ones((1, N_CATEGORIES), dtype=np.float32)], dtype=np.float32)
    start = np.cumsum(n_rows) - n_rows
    row = start[level] + handler % n_rows[level]
    return np.clip(base * flat[row, cat], 0.0, 1.0)


def route_found(pool: Fields, ledger: Fields, entry: Fields, compound_firm: np.ndarray,
                res_compound: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Latent rows marked found are counted by finder and queued (``routing.route_found``).

    Returns them with their entry level: by severity, property matters to the firm (or at least
    the community where there is none), administrative matters to ``admin_level`` when it is >= 0.
    """
    pool, ledger, entry = PoolColumns(*pool), LedgerCounts(*ledger), EntryRules(*entry)
    rows = np.flatnonzero((pool.t_found >= 0) & (pool.status == LATENT))
    ledger.found_by[:] += np.bincount(pool.finder[rows], minlength=ledger.found_by.size)
    pool.status[rows] = QUEUED
    sev, cat = pool.sev[rows], pool.cat[rows]
    level = entry.entry_level[sev].astype(np.int64)
    prop = cat == entry.property_cat
    has_firm = compound_firm[res_compound[pool.res[rows]]] >= 0
    level = np.where(prop & has_firm, PROPERTY, np.where(prop & (level < COMMUNITY), COMMUNITY, level))
    if entry.admin_level >= 0:
        level = np.where(cat == entry.admin_cat, entry.admin_level, level)
    return rows, level.astype(np.int8)


def allocate(key: np.ndarray, priority: np.ndarray, qid: np.ndarray, effort: np.ndarray, capacity: np.ndarray,
             work: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Which queued problems each handler attempts today, within its capacity (``handling.attempts``).

    Problems are served in ``priority`` order (smallest first) within each handler ``key``; a
    handler attempts the prefix of its queue whose summed effort fits in its capacity plus the
    work in progress ``work`` (effort, problem id) if its head problem is that one; the rest of
    the day goes into the first problem that does not fit (``work`` is updated). Returns the
    attempted mask and the effort used per key.
    """
    bank, bank_id = work
    pr = priority.astype(np.int64)
    pr -= pr.min() if pr.size else 0  # non-negative, so it cannot spill into the key's bits
    order = np.argsort((key.astype(np.int64) << 32) | pr, kind="stable")
    attempted = np.zeros(key.size, dtype=bool)
    used = np.zeros(capacity.size)
    for k in np.unique(key):
        rows = order[key[order] == k]
        avail = capacity[k] + (bank[k] if qid[rows[0]] == bank_id[k] else 0.0)
        cum = np.cumsum(effort[rows])
        go = cum <= avail + 1e-9
        attempted[rows[go]] = True
        done = cum[go][-1] if go.any() else 0.0
        if go.all():
            used[k] = max(capacity[k] - (avail - done), 0.0)
            bank[k], bank_id[k] = 0.0, -1
        else:
            used[k] = capacity[k]
            bank[k], bank_id[k] = avail - done, qid[rows[np.argmin(go)]]
    return attempted, used


def capacity(handlers: Handlers) -> np.ndarray:
    """Today's effort per handler, all levels concatenated (``handling.capacity``)."""
    m = handlers.model
    parts = [
        m.grids.n_workers * np.float32(m.grid_worker_capacity) - m.grids.spent,  # less visits and errands
        m.firms.capacity,
        m.communities.problem_capacity(),
        m.streets.capacity,
        m.departments.capacity,
        m.departments.city_capacity,
    ]
    for lvl, extra in handlers.extra_capacity.items():
        if extra is not None:
            parts[lvl] = parts[lvl] + extra
    return np.concatenate(parts).astype(np.float64)


# ---- escalate -----------------------------------------------------------------------------
def escalate(t: int, u: np.ndarray, pool: Fields, rules: Fields, top: int,
             ledger: Fields) -> tuple[np.ndarray, int, np.ndarray, np.ndarray, np.ndarray]:
    """Escalation, repeat contacts, the overdue list and giving up (``escalation.escalate_day``).

    A queued problem below the top is stuck (moves up) after ``dur_escalate`` days at its level
    with chance ``rate_escalate``, or surely after its level's deadline; it is overdue after
    ``expected_wait`` days since the report, and its resident contacts again with chance
    ``rate_recontact`` ramped by the wait over the expected and lowered if someone follows up for them
    (``escalation.recontact_hazard``); after ``patience`` days
    (since the report, or since arising for latent problems) the resident gives up with chance
    ``rate_abandon`` (``rate_abandon_latent``). Returns the stuck rows, the repeat contacts, the
    residents of overdue rows, of found problems given up and of unreported ones given up;
    given-up rows are counted and closed. (The kernel then places the stuck rows from their next
    level and drops the closed rows.)
    """
    pool, rules, ledger = PoolColumns(*pool), EscalationRules(*rules), LedgerCounts(*ledger)
    status, sev, level = pool.status, pool.sev, pool.level
    queued = status == QUEUED
    lvl0 = np.maximum(level, 0)
    waited = (t - pool.t_found).astype(np.int32)
    at_level = (t - pool.t_level).astype(np.int32)
    rises = queued & (rules.next_level[lvl0] <= top) & (level != top)
    stuck = rises & (((at_level >= rules.dur_escalate[sev]) & (u[0] < rules.rate_escalate[lvl0]))
                     | (at_level >= rules.deadline[lvl0]))
    overdue = queued & (waited > rules.expected_wait[sev])
    ratio = waited / np.maximum(rules.expected_wait[sev], np.float32(1.0))
    ramp = np.minimum((ratio - 1.0) / max(rules.ratio_full_recontact - 1.0, 1e-6), 1.0)
    rep = np.where((pool.flags & rules.represented_flags) != 0, rules.recontact_represented, 1.0)
    again = overdue & (u[1] < rules.rate_recontact * ramp * rep)
    pool.n_contacts[again] += 1
    age = np.where(queued, waited, (t - pool.t_arise).astype(np.int32))
    quits = np.where(queued, u[2] < rules.rate_abandon, (status == LATENT) & (u[2] < rules.rate_abandon_latent))
    gave_up = (age > rules.patience[sev]) & quits
    np.add.at(ledger.abandoned, (pool.cat[gave_up], sev[gave_up]), 1)
    bits = np.unpackbits(pool.flags[gave_up][:, None], axis=1, bitorder="little")
    ledger.flag_abandoned[:] += bits.sum(axis=0, dtype=np.int64)
    quit_res = pool.res[gave_up & queued]
    lost_res = pool.res[gave_up & ~queued]
    status[gave_up] = -1
    return np.flatnonzero(stuck), int(again.sum()), pool.res[overdue], quit_res, lost_res


# ---- residents -----------------------------------------------------------------------------
def scatter_add(target: np.ndarray, ids: np.ndarray, values: np.ndarray | float) -> None:
    """``target[ids] += values`` where ``ids`` may repeat (``residents.scatter_add``).

    Repeated ids are summed first, in float64 and input order (``np.bincount``), then added in
    the target's precision.
    """
    if ids.size == 0:
        return
    order = np.argsort(ids)
    s = ids[order]
    first = np.empty(s.size, dtype=bool)
    first[:1] = True
    np.not_equal(s[1:], s[:-1], out=first[1:])
    if first.all():  # no id repeats
        target[ids] += values
        return
    inv = np.empty(ids.size, dtype=np.intp)
    inv[order] = np.cumsum(first) - 1
    w = np.broadcast_to(np.asarray(values, dtype=np.float64), ids.shape)
    target[s[first]] += np.bincount(inv, weights=w, minlength=int(first.sum())).astype(target.dtype)


def _clip_at(target: np.ndarray, ids: np.ndarray) -> None:
    target[ids] = target[ids].clip(0.0, 1.0)


def hear_outcomes(res: Fields, ids: np.ndarray, perf: np.ndarray, ties: Fields, how: Fields) -> None:
    """Outcomes move efficacy, the resident's and by word of mouth the neighbours'; failures leave grievances.

    ``residents.hear_outcomes``: own ``rate (o - F)``, each neighbour's ``rate_heard (o - F)``, from
    the morning's state, summed per resident in order (own, then neighbours, outcome by
    outcome), clipped; ``G += grievance (1 - o)``, clipped.
    """
    res, ties, how = ResidentState(*res), SocialTies(*ties), Judgement(*how)
    f = res.efficacy
    indptr = ties.indptr.astype(np.int64)
    deg = indptr[ids + 1] - indptr[ids]
    block = 1 + deg  # own entry, then the neighbours
    first = np.cumsum(block) - block
    nb_pos = np.repeat(indptr[ids] - first - 1, block) + np.arange(int(block.sum()))
    own = np.zeros(int(block.sum()), dtype=bool)
    own[first] = True
    who = np.where(own, np.repeat(ids.astype(np.int64), block), ties.indices[np.where(own, 0, nb_pos)].astype(np.int64))
    o = np.repeat(perf, block)
    rate = np.where(own, how.rate_efficacy, how.rate_efficacy_heard).astype(np.float32)
    scatter_add(f, who, rate * (o - f[who]))
    _clip_at(f, who)
    scatter_add(res.grievance, ids, how.grievance * (np.float32(1.0) - perf))
    _clip_at(res.grievance, ids)


def grieve(res: Fields, ids: np.ndarray, how: Fields) -> None:
    """An unreported problem given up leaves a full grievance (``residents.grieve``): ``G += grievance``, clipped."""
    res, how = ResidentState(*res), Judgement(*how)
    scatter_add(res.grievance, ids, float(how.grievance))
    _clip_at(res.grievance, ids)


def experience(res: Fields, t: int, pool: Fields, how: Fields) -> None:
    """The day's experience ``x = max(0, 1 - B - G)`` (``residents.experience``).

    ``B`` sums ``burden[sev] min(1, (age - D) / D)`` over each resident's open problems older than
    the expected wait ``D`` since arising (``np.bincount``: float64, pool order).
    """
    res, pool, how = ResidentState(*res), PoolColumns(*pool), Judgement(*how)
    open_ = (pool.status == LATENT) | (pool.status == QUEUED)
    sev = pool.sev[open_]
    d = how.expected_wait[sev]
    age = (t - pool.t_arise[open_]).astype(np.float32)
    late = age > d
    v = how.burden[sev[late]] * np.minimum(np.float32(1.0), (age[late] - d[late]) / d[late])
    n = res.grievance.size  # the experience's last element is the padding's zero (``pad_ties``)
    b = np.bincount(pool.res[open_][late], weights=v.astype(np.float64), minlength=n)
    res.experience[:n] = np.maximum((np.float32(1.0) - b.astype(np.float32)) - res.grievance, np.float32(0.0))


def perceive(res: Fields, ties: Fields, how: Fields) -> None:
    """Word of mouth, perception, expectation, grievances' decay (``residents.perceive``).

    The neighbours' mean experience is the sparse product (float32); ``heard = x + w (mean - x)``;
    ``P`` moves toward ``heard`` (faster when it is worse), ``E`` toward the new ``P``.
    """
    res, ties, how = ResidentState(*res), SocialTies(*ties), Judgement(*how)
    import scipy.sparse as sp

    n = res.heard.size
    x = res.experience[:n]  # without the padding's zero
    adj = sp.csr_matrix((np.ones(ties.indices.size, dtype=np.float32), ties.indices.astype(np.int64),
                         ties.indptr.astype(np.int64)), shape=(n, n))
    deg = np.diff(ties.indptr.astype(np.int64)).astype(np.float32)
    inv_deg = np.divide(np.float32(1.0), deg, out=np.zeros_like(deg), where=deg > 0)
    mean = (adj @ x) * inv_deg
    res.heard[:] = np.where(deg > 0, x + how.word_of_mouth * (mean - x), x)
    d = res.heard - res.performance
    rate = np.where(d < 0, how.rate_down, how.rate_up).astype(np.float32)
    res.performance[:] = np.clip(res.performance + rate * d, 0.0, 1.0)
    e = res.expectation
    e[:] = np.clip(e + how.rate_expectation * (res.performance - e), 0.0, 1.0)
    res.grievance[:] = res.grievance * how.keep_grievance


def participation_gain(res: Fields, ids: np.ndarray, gain_s: float, gain_t: float) -> None:
    """Each participation (repeated ids add up) lifts perceived performance and trust, clipped.

    ``residents.participation_gain``.
    """
    res = ResidentState(*res)
    scatter_add(res.performance, ids, gain_s)
    scatter_add(res.trust, ids, gain_t)
    _clip_at(res.performance, ids)
    _clip_at(res.trust, ids)


def settle(res: Fields, how: Fields) -> None:
    """Satisfaction ``clip(P + beta (P - E))``; trust toward ``S + w_F (F - S)`` (``residents.settle``)."""
    res, how = ResidentState(*res), Influence(*how)
    p, e = res.performance, res.expectation
    res.satisfaction[:] = np.clip(p + how.beta * (p - e), 0.0, 1.0)
    s, tr = res.satisfaction, res.trust
    target = s + how.weight_efficacy * (res.efficacy - s)
    tr[:] = np.clip(tr + how.rate_trust * (target - tr), 0.0, 1.0)


def attendees(n_att: np.ndarray, community_start: np.ndarray, community_size: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Residents attending today's events: ``n_att[c]`` uniform picks within each community (``residents.attendees``)."""
    comm = np.repeat(np.arange(n_att.size), n_att)
    return community_start[comm] + (u * community_size[comm]).astype(np.int64)


def accept_volunteers(cand: np.ndarray, u: np.ndarray, top: float, vol: Fields, trust: np.ndarray) -> np.ndarray:
    """Candidates who volunteer, sorted (``residents.accept_volunteers``).

    Each is accepted with ``min(rate * mult * trust, 1) / top``.
    """
    vol = Volunteering(*vol)
    p = np.minimum(vol.rate[cand] * vol.mult[cand] * trust[cand], np.float32(1.0))
    return np.sort(cand[u * top < p])


def level_sums(handler_level: np.ndarray, spent: np.ndarray, capacity: np.ndarray, n_levels: int) -> np.ndarray:
    """Effort spent and capacity summed by level (``recording.level_sums``)."""
    return np.stack([np.bincount(handler_level, weights=spent, minlength=n_levels),
                     np.bincount(handler_level, weights=capacity, minlength=n_levels)])


def count_waits(waits: np.ndarray, rows: np.ndarray, status: np.ndarray, level: np.ndarray, t_level: np.ndarray,
                t: int) -> None:
    """Queued rows counted by level and days at it (``recording.count_waits``)."""
    queued = rows[status[rows] == QUEUED]
    flat = level[queued].astype(np.int64) * waits.shape[1] + np.clip(t - t_level[queued], 0, waits.shape[1] - 1)
    np.add.at(waits.reshape(-1), flat, 1)
