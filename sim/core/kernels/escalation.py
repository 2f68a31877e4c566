"""Kernels of the escalate phase.

Stuck problems move up, overdue residents contact again or give up, and closed rows leave the pool.
"""

from __future__ import annotations

import numpy as np

from sim.config.taxonomy import LATENT, QUEUED
from sim.core.kernels.draws import PcgState
from sim.core.kernels.jit import jit, jit_inline
from sim.core.kernels.pcg import draw_at, jump_table, next_double, take_row_starts
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


@jit_inline
def count_abandoned(i: int, pool: PoolColumns, ledger: LedgerCounts) -> None:
    """Count row ``i``'s problem as abandoned, by category and severity and by each flag it carries."""
    ledger.abandoned[pool.cat[i], pool.sev[i]] += 1
    for bit in range(8):
        if (pool.flags[i] >> bit) & 1:
            ledger.flag_abandoned[bit] += 1


@jit
def escalate_day(t: int, stream: PcgState, pool: Fields, rules: Fields, ledger: Fields, where: Fields,
                 success: Fields, climb: Fields) -> tuple[int, int, np.ndarray, np.ndarray, np.ndarray, int]:
    """The escalate phase: one pass over the pool, with uniforms ``u`` (3, rows), then the moves it decided.

    Row ``i`` reads ``u[:, i]`` of ``rng.random((3, rows))``, stepped from the stream's state
    (``pcg.take_row_starts``, which moves it on past them). A queued problem below the top is stuck after
    ``dur_escalate`` days at its level with chance ``rate_escalate`` (``u[0]``), or surely after the
    level's deadline; it is overdue after ``expected_wait`` days since the report, and its resident
    may contact again (``u[1]``, :func:`recontact_hazard`); after ``patience`` days (since the report,
    or since arising for a latent problem) the resident may give up (``u[2]``): the row is counted as
    abandoned and closed. Then the stuck rows are placed at their next level or the first above that
    can handle it (:func:`~sim.core.kernels.routing.place`), and closed rows leave the pool
    (:func:`~sim.core.kernels.pool.keep_rows`). Returns the number escalated, the number of repeat contacts,
    the residents of overdue rows (one per row), those whose found problems were given up (their outcome:
    performance 0), those whose unreported problems were given up, and the new number of rows.
    """
    pool, rules, ledger = PoolColumns(*pool), EscalationRules(*rules), LedgerCounts(*ledger)
    n, top = pool.status.size, Climb(*climb).top
    up, start = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int8)
    late_res, quit_res, lost_res = np.empty(n, dtype=np.int32), np.empty(n, dtype=np.int32), np.empty(n, dtype=np.int32)
    n_up = n_again = n_late = n_quit = n_lost = 0
    # each row's start (high, low halves), then the stream's increment
    a0, b0, a1, b1, a2, b2, inc_hi, inc_lo = take_row_starts(stream[0], stream[1], n, 3).ravel()
    # u[0], u[1]: read by few rows (stuck, overdue), jump to them (pcg.draw_at; at0, at1: the row each stands before)
    table, at0, at1 = jump_table(inc_hi, inc_lo), 0, 0
    for i in range(n):  # the marks are written out here: an inlined helper taking the groups costs 5x the pass
        a2, b2, u2 = next_double(a2, b2, inc_hi, inc_lo)
        st, s, lvl0 = pool.status[i], pool.sev[i], max(pool.level[i], 0)
        queued = st == QUEUED
        waited = np.int32(t - pool.t_found[i])
        if queued and rules.next_level[lvl0] <= top and pool.level[i] != top:
            at_level = np.int32(t - pool.t_level[i])
            stuck = at_level >= rules.deadline[lvl0]
            if not stuck and at_level >= rules.dur_escalate[s]:
                a0, b0, u0, at0 = draw_at(a0, b0, at0, i, table)
                stuck = u0 < rules.rate_escalate[lvl0]
            if stuck:
                up[n_up], start[n_up] = i, rules.next_level[pool.level[i]]
                n_up += 1
        if queued and waited > rules.expected_wait[s]:
            late_res[n_late] = pool.res[i]
            n_late += 1
            a1, b1, u1, at1 = draw_at(a1, b1, at1, i, table)
            if u1 < recontact_hazard(waited, rules.expected_wait[s], pool.flags[i], rules):
                pool.n_contacts[i] += 1
                n_again += 1
        age = waited if queued else np.int32(t - pool.t_arise[i])
        rate = rules.rate_abandon if queued else rules.rate_abandon_latent
        if (age > rules.patience[s]) & (queued | (st == LATENT)) & (u2 < rate):  # without branches: & not and
            if queued:
                quit_res[n_quit] = pool.res[i]
                n_quit += 1
            else:
                lost_res[n_lost] = pool.res[i]
                n_lost += 1
            count_abandoned(i, pool, ledger)
            pool.status[i] = -1
    place(up[:n_up], start[:n_up], t, pool, where, success, climb)
    m = keep_rows(pool)
    return n_up, n_again, late_res[:n_late].copy(), quit_res[:n_quit].copy(), lost_res[:n_lost].copy(), m
