"""Kernels of the escalate phase.

Stuck problems move up, overdue residents contact again or give up, and closed rows leave the pool.
"""

from __future__ import annotations

import numpy as np

from sim.config.taxonomy import LATENT, QUEUED
from sim.core.kernels.jit import jit
from sim.core.kernels.pool import keep_rows
from sim.core.kernels.routing import place
from sim.core.kernels.state import Climb, EscalationRules, Fields, LedgerCounts, PoolColumns


@jit
def recontact_hazard(waited: int | np.integer, expected: float | np.floating, flags: int | np.integer,
                     rules: EscalationRules) -> float | np.floating:
    """Daily chance an overdue resident contacts again: rises with the wait over the expected, less if represented.

    ``rate_recontact x min((waited / expected - 1) / (ratio_full_recontact - 1), 1)``, times
    ``recontact_represented`` if the problem carries a flag of someone who follows up for the
    resident (``represented_flags``: a grid worker's proxy, a whistle case officer).
    """
    ramp = min((waited / max(expected, 1.0) - 1.0) / max(rules.ratio_full_recontact - 1.0, 1e-6), 1.0)
    mult = rules.recontact_represented if (flags & rules.represented_flags) != 0 else 1.0
    return rules.rate_recontact * ramp * mult


@jit
def mark(t: int, u: np.ndarray, pool: Fields, rules: Fields, top: int, stuck: np.ndarray,
         overdue: np.ndarray, gave_up: np.ndarray) -> tuple[int, int, int, int, int]:
    """Mark each row stuck (to move up), overdue and given up, from uniforms ``u`` (3, rows).

    Overdue residents may contact again (``n_contacts`` + 1). Returns the numbers stuck, overdue, given up, given up after being found, and repeat contacts.
    """
    pool, rules = PoolColumns(*pool), EscalationRules(*rules)
    n_stuck = n_overdue = n_quit = n_quit_found = n_again = 0
    for i in range(pool.status.size):
        st = pool.status[i]
        queued = st == QUEUED
        s = pool.sev[i]
        lvl0 = max(pool.level[i], 0)
        waited = np.int32(t - pool.t_found[i])
        if queued and rules.next_level[lvl0] <= top and pool.level[i] != top:
            at_level = np.int32(t - pool.t_level[i])
            if ((at_level >= rules.dur_escalate[s] and u[0, i] < rules.rate_escalate[lvl0])
                    or at_level >= rules.deadline[lvl0]):
                stuck[i] = True
                n_stuck += 1
        if queued and waited > rules.expected_wait[s]:
            overdue[i] = True
            n_overdue += 1
            if u[1, i] < recontact_hazard(waited, rules.expected_wait[s], pool.flags[i], rules):
                pool.n_contacts[i] += 1
                n_again += 1
        age = waited if queued else np.int32(t - pool.t_arise[i])
        if age > rules.patience[s]:
            if queued:
                quit = u[2, i] < rules.rate_abandon
            else:
                quit = st == LATENT and u[2, i] < rules.rate_abandon_latent
            if quit:
                gave_up[i] = True
                n_quit += 1
                n_quit_found += queued
    return n_stuck, n_overdue, n_quit, n_quit_found, n_again


@jit
def collect(pool: Fields, ledger: Fields, stuck: np.ndarray, overdue: np.ndarray, gave_up: np.ndarray,
            n_stuck: int, n_overdue: int, n_quit: int,
            n_quit_found: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The stuck rows, and the residents of overdue rows, of found problems given up and of unreported ones given up.

    Given-up rows are counted as abandoned and closed (status -1).
    """
    pool, ledger = PoolColumns(*pool), LedgerCounts(*ledger)
    up = np.empty(n_stuck, dtype=np.int64)
    late_res = np.empty(n_overdue, dtype=np.int32)
    quit_res = np.empty(n_quit_found, dtype=np.int32)
    lost_res = np.empty(n_quit - n_quit_found, dtype=np.int32)
    a = b = c = d = 0
    for i in range(pool.status.size):
        if stuck[i]:
            up[a] = i
            a += 1
        if overdue[i]:
            late_res[b] = pool.res[i]
            b += 1
        if gave_up[i]:
            ledger.abandoned[pool.cat[i], pool.sev[i]] += 1
            for bit in range(8):
                if (pool.flags[i] >> bit) & 1:
                    ledger.flag_abandoned[bit] += 1
            if pool.status[i] == QUEUED:
                quit_res[c] = pool.res[i]
                c += 1
            else:
                lost_res[d] = pool.res[i]
                d += 1
            pool.status[i] = -1
    return up, late_res, quit_res, lost_res


@jit
def escalate(t: int, u: np.ndarray, pool: Fields, rules: Fields, top: int,
             ledger: Fields) -> tuple[np.ndarray, int, np.ndarray, np.ndarray, np.ndarray]:
    """Escalation, repeat contacts, the overdue list and giving up, from uniforms ``u`` (3, rows).

    Queued problems wait since the report, latent ones since arising. Returns the rows to move
    up a level (the caller places them), the number of repeat contacts, the residents of overdue
    rows (one per row), the residents whose found problems were given up (their outcome:
    performance 0) and those whose unreported problems were given up. Given-up rows get status -1.
    """
    pool = PoolColumns(*pool)
    n = pool.status.size
    stuck = np.zeros(n, dtype=np.bool_)
    overdue = np.zeros(n, dtype=np.bool_)
    gave_up = np.zeros(n, dtype=np.bool_)
    n_stuck, n_overdue, n_quit, n_quit_found, n_again = mark(t, u, pool, rules, top, stuck, overdue, gave_up)
    up, late_res, quit_res, lost_res = collect(pool, ledger, stuck, overdue, gave_up, n_stuck, n_overdue, n_quit,
                                               n_quit_found)
    return up, n_again, late_res, quit_res, lost_res


@jit
def escalate_day(t: int, u: np.ndarray, pool: Fields, rules: Fields, ledger: Fields,
                 where: Fields, success: Fields,
                 climb: Fields) -> tuple[int, int, np.ndarray, np.ndarray, np.ndarray, int]:
    """The escalate phase in one pass.

    :func:`escalate`, then the rows that move up are placed at their next level
    (:func:`~sim.core.kernels.routing.place`), then closed rows leave the pool
    (:func:`~sim.core.kernels.pool.keep_rows`). Returns the number escalated, the number of repeat contacts, the residents of overdue rows,
    the residents whose found problems were given up, those whose unreported problems were given
    up, and the new number of rows.
    """
    pool, rules, climb = PoolColumns(*pool), EscalationRules(*rules), Climb(*climb)
    up, n_again, late_res, quit_res, lost_res = escalate(t, u, pool, rules, climb.top, ledger)
    if up.size:
        start = np.empty(up.size, dtype=np.int8)
        for j in range(up.size):
            start[j] = rules.next_level[pool.level[up[j]]]
        place(up, start, t, pool, where, success, climb)
    m = keep_rows(pool)
    return up.size, n_again, late_res, quit_res, lost_res, m
