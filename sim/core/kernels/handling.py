"""Kernels of the handle phase: handlers' capacity, whom they help today, what they resolve."""

from __future__ import annotations

import numpy as np

from sim.config.taxonomy import QUEUED
from sim.core.kernels.draws import Handle, generator_at
from sim.core.kernels.jit import ONE32, jit, jit_inline
from sim.core.kernels.recording import count_waits
from sim.core.kernels.routing import chance
from sim.core.kernels.state import CommunityStaff, Fields, HandlerEffort, LedgerCounts, PoolColumns, SuccessTables


@jit
def counting_order(values: np.ndarray, n_values: int, order: np.ndarray) -> np.ndarray:
    """``order`` stably re-sorted by ``values[order]`` (integers in [0, n_values))."""
    count = np.zeros(n_values + 1, dtype=np.int64)
    for j in order:
        count[values[j] + 1] += 1
    for v in range(n_values):
        count[v + 1] += count[v]
    out = np.empty_like(order)
    for j in order:
        v = values[j]
        out[count[v]] = j
        count[v] += 1
    return out


@jit
def order_by(key: np.ndarray, pr: np.ndarray, n_keys: int) -> np.ndarray:
    """Stable argsort by (key, pr): ``np.argsort((key << 32) | pr, kind="stable")`` for non-negative ``pr``.

    As one counting sort by ``key x span + pr`` when there are few such values, else as two (by
    ``pr``, then by ``key``) when the priorities span a short range.
    """
    n = key.size
    span = pr.max() + 1
    if n_keys * span <= 4 * n + 65536:
        return counting_order(key * span + pr, n_keys * span, np.arange(n))
    if span > 4 * n + 4096:
        return np.argsort((key << 32) | pr, kind="mergesort")
    order = counting_order(pr, span, np.arange(n))
    return counting_order(key, n_keys, order)


@jit_inline
def problem_id(res: np.int32, t_arise: np.int32, cat: np.int8, sev: np.int8) -> np.int64:
    """An identity for a queued problem that survives the pool's compaction: resident, day arisen, category, severity."""
    return ((np.int64(res) << 28) | (np.int64(t_arise & 0xFFFFF) << 8)
            | (np.int64(cat) << 2) | np.int64(sev))


@jit
def queue_rows(pool: Fields, level_offset: np.ndarray, effort: np.ndarray, t: int,
               threat: Fields) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The queued rows, each one's handler, day at its level, effort needed today and :func:`problem_id`.

    The handler is its index among all handlers; the effort as ``attempts`` says. The rows are
    listed in one branch-free pass over the status, then read once each.
    """
    pool = PoolColumns(*pool)
    status = pool.status
    listed = np.empty(status.size + 1, dtype=np.int64)
    n = 0
    for i in range(status.size):  # each row is written at n, which moves on only if it is queued
        listed[n] = i
        n += status[i] == QUEUED
    q = listed[:n].copy()
    key, day, e, qid = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64), np.empty(n), np.empty(n, dtype=np.int64)
    deadline, window, mult = threat
    for j in range(n):
        i = q[j]
        lv, c, s = pool.level[i], pool.cat[i], pool.sev[i]
        key[j] = level_offset[lv] + pool.handler[i]
        day[j] = pool.t_level[i]
        e[j] = effort[c, s]
        if mult[lv] != ONE32 and np.float32(t - pool.t_level[i]) >= deadline[lv] - window[lv]:
            e[j] *= mult[lv]
        qid[j] = problem_id(pool.res[i], pool.t_arise[i], c, s)
    return q, key, day, e, qid


@jit
def priorities(q: np.ndarray, day: np.ndarray, pool: Fields, priority_days: np.ndarray,
               res_compound: np.ndarray) -> np.ndarray:
    """Each queued row's priority: the day it reached its level, less its compound's priority days (shifted to start at 0).

    The compound of each row's resident is looked up only if some compound has priority days.
    """
    pool = PoolColumns(*pool)
    pr = day
    if np.any(priority_days != 0):
        for j in range(q.size):
            pr[j] = np.int64(np.int32(pool.t_level[q[j]] - priority_days[res_compound[pool.res[q[j]]]]))
    pr -= pr.min()
    return pr


#: slack of the effort comparisons (float64 sums of effort against float32 capacities)
EFFORT_TOL = 1e-9


@jit
def serve(order: np.ndarray, key: np.ndarray, qid: np.ndarray, effort: np.ndarray, capacity: np.ndarray,
          used: np.ndarray, work: Fields) -> np.ndarray:
    """Whether each queued problem is attempted today; adds the effort spent to ``used``.

    Each handler walks its queue in service ``order`` and attempts a problem only if the effort
    it needs fits in what is left of today's ``capacity`` (plus the work already put into it on
    earlier days, if it is the problem at the head of the queue). At the first problem that does
    not fit the handler stops and puts the rest of its day into it; that work in progress
    (``work``: effort and problem id per handler, see ``problem_id``) counts for it only while it
    stays at the head of the queue: a handler whose head problem changed starts afresh. So a
    problem needing more than a day's capacity waits until the days of work it needs are done,
    and a handler never spends more than its capacity.
    """
    bank, bank_id = work
    n = order.size
    go = np.zeros(n, dtype=np.bool_)
    o = 0
    while o < n:
        k = key[order[o]]
        avail = capacity[k]
        if qid[order[o]] == bank_id[k]:
            avail += bank[k]
        cum = 0.0
        blocked = False
        while o < n and key[order[o]] == k:
            j = order[o]
            o += 1
            if blocked:
                continue
            c = cum + effort[j]
            if c <= avail + EFFORT_TOL:
                go[j] = True
                cum = c
            else:
                blocked = True
                bank[k] = avail - cum  # the rest of the day goes into the head problem
                bank_id[k] = qid[j]
        if blocked:
            used[k] += capacity[k]
        else:
            used[k] += max(capacity[k] - (avail - cum), 0.0)
            bank[k] = 0.0
            bank_id[k] = -1
    return go


@jit
def take(key: np.ndarray, effort: np.ndarray, spare: np.ndarray, spent: np.ndarray) -> np.ndarray:
    """Which problems, in the order given, fit in their handler's effort left today; books what they take.

    ``key`` is each problem's handler (its index among all handlers, -1: none), ``spare`` the
    effort each handler has left today; a problem that does not fit is skipped and the next
    ones are still tried. ``spent`` gets the effort taken.
    """
    ok = np.zeros(key.size, dtype=np.bool_)
    for j in range(key.size):
        k = key[j]
        if k >= 0 and spent[k] + effort[j] <= spare[k] + EFFORT_TOL:
            spent[k] += effort[j]
            ok[j] = True
    return ok


@jit
def attempt_chances(q: np.ndarray, go: np.ndarray, pool: Fields, success: Fields,
                    flag_success: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The attempted rows (``q[go]``) and each attempt's chance of success.

    The chance is multiplied by the success multiplier of every flag the problem carries (capped at 1).
    """
    pool, success = PoolColumns(*pool), SuccessTables(*success)
    n_go = 0
    for j in range(q.size):
        if go[j]:
            n_go += 1
    rows = np.empty(n_go, dtype=np.int64)
    p = np.empty(n_go, dtype=np.float32)
    a = 0
    for j in range(q.size):
        if not go[j]:
            continue
        i = q[j]
        x = chance(success, pool.level[i], pool.handler[i], pool.cat[i], pool.sev[i])
        for bit in range(8):
            if flag_success[bit] != ONE32 and (pool.flags[i] & (1 << bit)) != 0:
                x = min(np.float32(x * flag_success[bit]), ONE32)
        rows[a] = i
        p[a] = x
        a += 1
    return rows, p


@jit
def attempts(pool: Fields, level_offset: np.ndarray, priority_days: np.ndarray, res_compound: np.ndarray,
             effort: np.ndarray, capacity: np.ndarray, work: Fields, success: Fields,
             flag_success: np.ndarray, t: int, threat: Fields) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Queued rows each handler attempts today within its capacity, and each attempt's chance.

    Problems are served by waiting time at the level, then first come first served; ``effort``
    is the effort table (category x severity, staff-days), ``capacity`` each handler's effort
    left today and ``work`` the work in progress carried from earlier days (see ``serve``). A
    problem within ``window`` days of its level's deadline is worked with ``mult`` times the
    effort and succeeds as that many attempts would (``threat`` = deadline, window, mult per
    level; mult 1: no threat). Returns the attempted rows (row order), their chances and the
    effort spent per handler.
    """
    q, key, day, e, qid = queue_rows(pool, level_offset, effort, t, threat)
    used = np.zeros(capacity.size)
    if q.size == 0:
        return q, np.empty(0, dtype=np.float32), used
    order = order_by(key, priorities(q, day, pool, priority_days, res_compound), capacity.size)
    go = serve(order, key, qid, e, capacity, used, work)
    pool = PoolColumns(*pool)
    deadline, window, mult = threat
    rows, p = attempt_chances(q, go, pool, success, flag_success)
    for a in range(rows.size):
        lv = pool.level[rows[a]]
        if mult[lv] != ONE32 and np.float32(t - pool.t_level[rows[a]]) >= deadline[lv] - window[lv]:
            p[a] = ONE32 - (ONE32 - p[a]) ** mult[lv]
    return rows, p, used


@jit
def successes(stream: Handle, rows: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The attempts that succeed: ``rows[rng.random(rows.size) < p]``, drawn from the stream's generator."""
    gen = generator_at(stream)
    ok = np.empty(rows.size, dtype=np.bool_)
    for i in range(rows.size):
        ok[i] = gen.random() < p[i]  # float64 against the float32 chance, as numpy compares them
    return rows[ok]


@jit
def handle_day(stream: Handle, pool: Fields, level_offset: np.ndarray, priority_days: np.ndarray,
               res_compound: np.ndarray, effort: np.ndarray, capacity: np.ndarray, work: Fields, success: Fields,
               flag_success: np.ndarray, t: int, threat: Fields, spent: np.ndarray) -> np.ndarray:
    """The handle phase in one call: :func:`attempts`, their effort added to ``spent``, then :func:`successes`.

    Returns the attempted rows that succeed (row order).
    """
    rows, p, used = attempts(pool, level_offset, priority_days, res_compound, effort, capacity, work, success,
                             flag_success, t, threat)
    for h in range(spent.size):  # as spent += used
        spent[h] += used[h]
    return successes(stream, rows, p)


@jit
def resolve_rows(rows: np.ndarray, t: int, pool: Fields, res_ctype: np.ndarray, perf_table: np.ndarray,
                 ledger: Fields, waits: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Count queued ``rows`` as resolved today and close them (status -1).

    Each is counted in the ledger and in ``waits`` by its level and the days it waited there
    (:func:`~sim.core.kernels.recording.count_waits`, ``LevelLoad.waits``).

    Returns the residents of the rows closed, the performance of each outcome (looked up by
    severity and days waited since the report in ``perf_table``), and the contacts the closed
    problems took.
    """
    pool, ledger = PoolColumns(*pool), LedgerCounts(*ledger)
    status, sev = pool.status, pool.sev
    count_waits(waits, rows, status, pool.level, pool.t_level, t)
    n = 0
    for j in range(rows.size):
        if status[rows[j]] == QUEUED:
            n += 1
    closed = np.empty(n, dtype=np.int64)
    who = np.empty(n, dtype=np.int32)
    perf = np.empty(n, dtype=np.float32)
    contacts = 0
    a = 0
    for j in range(rows.size):
        i = rows[j]
        if status[i] != QUEUED:
            continue
        ledger.resolved[pool.cat[i], sev[i]] += 1
        ledger.resolved_level[pool.level[i]] += 1
        ledger.resolved_ctype[res_ctype[pool.res[i]]] += 1
        ledger.days_hist[sev[i], t - pool.t_arise[i]] += 1
        contacts += pool.n_contacts[i]
        for bit in range(8):
            if (pool.flags[i] >> bit) & 1:
                ledger.flag_resolved[bit] += 1
        closed[a] = i
        who[a] = pool.res[i]
        perf[a] = perf_table[sev[i], t - pool.t_found[i]]
        a += 1
    for j in range(n):
        status[closed[j]] = -1
    return who, perf, contacts


@jit
def put(out: np.ndarray, at: int, part: np.ndarray, extra: np.ndarray) -> int:
    """Write ``part (+ extra)`` into ``out`` from ``at`` (the sum in the parts' own precision)."""
    if extra.size:
        for i in range(part.size):
            out[at + i] = part[i] + extra[i]
    else:
        for i in range(part.size):
            out[at + i] = part[i]
    return at + part.size


@jit
def problem_capacity(staff: Fields) -> np.ndarray:
    """Community staff effort per day left for residents' problems after administrative tasks."""
    staff = CommunityStaff(*staff)
    comm = np.empty(staff.n_staff.size, dtype=np.float32)
    for i in range(staff.n_staff.size):
        eff = staff.n_staff[i] * staff.capacity_per_staff
        admin = min(np.float32(min(staff.admin_tasks[i], staff.admin_cap[i]) * staff.effort_per_task), eff)
        comm[i] = eff - admin
    return comm


@jit
def capacity(effort: Fields, staff: Fields, extra: tuple[np.ndarray, ...]) -> np.ndarray:
    """Today's effort per handler, all levels concatenated (``Handlers.capacity``).

    ``extra`` holds the effort policies add per handler at each level (empty: none).
    """
    effort, staff = HandlerEffort(*effort), CommunityStaff(*staff)
    n = (effort.n_workers.size + effort.firm.size + staff.n_staff.size + effort.street.size
         + effort.department.size + effort.city.size)
    out = np.empty(n)
    grid = np.empty(effort.n_workers.size, dtype=np.float32)
    for i in range(effort.n_workers.size):
        grid[i] = effort.n_workers[i] * effort.capacity_per_worker
    at = put(out, 0, grid, extra[0])
    at = put(out, at, effort.firm, extra[1])
    at = put(out, at, problem_capacity(staff), extra[2])
    at = put(out, at, effort.street, extra[3])
    at = put(out, at, effort.department, extra[4])
    put(out, at, effort.city, extra[5])
    return out
