"""Kernels of the handle phase: handlers' capacity, whom they help today, what they resolve."""

from __future__ import annotations

import numpy as np

from sim.config.taxonomy import QUEUED
from sim.core.kernels.jit import ONE32, jit
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

    As two counting sorts when the priorities span a short range.
    """
    n = key.size
    span = pr.max() + 1
    if span > 4 * n + 4096:
        return np.argsort((key << 32) | pr, kind="mergesort")
    order = counting_order(pr, span, np.arange(n))
    return counting_order(key, n_keys, order)


@jit
def queue_keys(q: np.ndarray, pool: Fields, level_offset: np.ndarray, priority_days: np.ndarray,
               res_compound: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each queued row's handler (its index among all handlers) and its priority.

    The priority is the day it reached its level, less its compound's priority days (shifted to
    start at 0).
    """
    pool = PoolColumns(*pool)
    n = q.size
    key = np.empty(n, dtype=np.int64)
    pr = np.empty(n, dtype=np.int64)
    for j in range(n):
        i = q[j]
        key[j] = level_offset[pool.level[i]] + pool.handler[i]
        pr[j] = np.int64(np.int32(pool.t_level[i] - priority_days[res_compound[pool.res[i]]]))
    pr -= pr.min()
    return key, pr


@jit
def serve(order: np.ndarray, key: np.ndarray, effort: np.ndarray, capacity: np.ndarray,
          used: np.ndarray) -> np.ndarray:
    """Whether each queued problem is attempted; adds the effort to ``used``.

    In service ``order``, while the effort its handler already started is below the handler's
    capacity. ``effort`` is each queued problem's effort (float64).
    """
    n = order.size
    go = np.zeros(n, dtype=np.bool_)
    cum = 0.0
    first_cum = 0.0  # running sum and effort at the current key's first problem
    first_e = 0.0
    prev = -1
    for o in range(n):
        j = order[o]
        e = effort[j]
        k = key[j]
        cum += e
        if k != prev:
            first_cum, first_e, prev = cum, e, k
        # effort started before this problem by its handler, as a difference of running sums
        before = (cum - e) - (first_cum - first_e)
        if before < capacity[k]:
            go[j] = True
    # the effort used per handler, added in service order (as np.bincount over the sorted rows)
    for o in range(n):
        j = order[o]
        if go[j]:
            used[key[j]] += effort[j]
    return go


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
             effort: np.ndarray, capacity: np.ndarray, success: Fields,
             flag_success: np.ndarray, t: int, threat: Fields) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Queued rows each handler attempts today within its capacity, and each attempt's chance.

    Problems are served by waiting time at the level, then first come first served. A problem
    within ``window`` days of its level's deadline is worked with ``mult`` times the effort and
    succeeds as that many attempts would (``threat`` = deadline, window, mult per level; mult 1:
    no threat). Returns the attempted rows (row order), their chances and the effort used per handler.
    """
    pool = PoolColumns(*pool)
    q = np.flatnonzero(pool.status == QUEUED)
    used = np.zeros(capacity.size)
    if q.size == 0:
        return q, np.empty(0, dtype=np.float32), used
    key, pr = queue_keys(q, pool, level_offset, priority_days, res_compound)
    order = order_by(key, pr, capacity.size)
    deadline, window, mult = threat
    e = np.empty(q.size)
    for j in range(q.size):
        e[j] = np.float64(effort[pool.sev[q[j]]])
        lv = pool.level[q[j]]
        if mult[lv] != ONE32 and np.float32(t - pool.t_level[q[j]]) >= deadline[lv] - window[lv]:
            e[j] *= mult[lv]
    go = serve(order, key, e, capacity, used)
    rows, p = attempt_chances(q, go, pool, success, flag_success)
    for a in range(rows.size):
        lv = pool.level[rows[a]]
        if mult[lv] != ONE32 and np.float32(t - pool.t_level[rows[a]]) >= deadline[lv] - window[lv]:
            p[a] = ONE32 - (ONE32 - p[a]) ** mult[lv]
    return rows, p, used


@jit
def resolve_rows(rows: np.ndarray, t: int, pool: Fields, res_ctype: np.ndarray, perf_table: np.ndarray,
                 ledger: Fields) -> tuple[np.ndarray, np.ndarray, int]:
    """Count queued ``rows`` as resolved today and close them (status -1).

    Returns the residents of the rows closed, the performance of each outcome (looked up by
    severity and days waited since the report in ``perf_table``), and the contacts the closed
    problems took.
    """
    pool, ledger = PoolColumns(*pool), LedgerCounts(*ledger)
    status, sev = pool.status, pool.sev
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
