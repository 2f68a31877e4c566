"""Kernels of the escalate phase.

Stuck problems move up, overdue residents contact again or give up, and closed rows leave the pool.
"""

from __future__ import annotations

import numpy as np

from sim.config.taxonomy import LATENT, QUEUED
from sim.core.kernels.jit import jit, jit_inline
from sim.core.kernels.pool import move_row
from sim.core.kernels.routing import place
from sim.core.kernels.state import (
    Climb,
    EscalationRules,
    Fields,
    LedgerCounts,
    PoolColumns,
    Residence,
    SuccessTables,
)


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
def stuck_rows(old: np.ndarray, new: np.ndarray, start: np.ndarray, n_up: int,
               m: int) -> tuple[np.ndarray, np.ndarray]:
    """Where the first ``n_up`` stuck rows are placed after the compaction to ``m`` rows, and from which level.

    At its new row if it stayed open; and at its old row if that is past the new end (the compaction
    leaves it there, closed or not), so the buffers end as if the rows had been placed before the
    compaction.
    """
    rows, levels = np.empty(2 * n_up, dtype=np.int64), np.empty(2 * n_up, dtype=np.int8)
    r = 0
    for k in range(n_up):
        if new[k] >= 0:
            rows[r], levels[r] = new[k], start[k]
            r += 1
        if old[k] >= m:
            rows[r], levels[r] = old[k], start[k]
            r += 1
    return rows[:r], levels[:r]


@jit
def escalate_day(t: int, u: np.ndarray, pool: Fields, rules: Fields, ledger: Fields,
                 where: Fields, success: Fields,
                 climb: Fields) -> tuple[int, int, np.ndarray, np.ndarray, np.ndarray, int]:
    """The escalate phase in one pass over the pool, from uniforms ``u`` (3, rows).

    A queued problem below the top is stuck after ``dur_escalate`` days at its level with chance
    ``rate_escalate`` (``u[0]``), or surely after the level's deadline, and is placed at its next
    level or the first above that can handle it (:func:`~sim.core.kernels.routing.place`); it
    is overdue after ``expected_wait`` days since the report, and its resident may contact again
    (``u[1]``, :func:`recontact_hazard`); after ``patience`` days (since the report, or since arising
    for a latent problem) the resident may give up (``u[2]``): the row is counted as abandoned and
    closed. Closed rows leave the pool, the others move up over them in order (as
    :func:`~sim.core.kernels.pool.keep_rows`). Returns the number escalated, the number of repeat
    contacts, the residents of overdue rows (one per row), those whose found problems were given up
    (their outcome: performance 0), those whose unreported problems were given up, and the new
    number of rows.
    """
    pool, rules, ledger = PoolColumns(*pool), EscalationRules(*rules), LedgerCounts(*ledger)
    where, success, climb = Residence(*where), SuccessTables(*success), Climb(*climb)
    n, top = pool.status.size, climb.top
    old, new, start = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int8)  # stuck rows
    late_res, quit_res, lost_res = np.empty(n, dtype=np.int32), np.empty(n, dtype=np.int32), np.empty(n, dtype=np.int32)
    n_up = n_again = n_late = n_quit = n_lost = m = 0
    for i in range(n):  # the marks are written out here: an inlined helper taking the groups costs 5x the pass
        st, s, lvl0 = pool.status[i], pool.sev[i], max(pool.level[i], 0)
        queued = st == QUEUED
        waited = np.int32(t - pool.t_found[i])
        if queued and rules.next_level[lvl0] <= top and pool.level[i] != top:
            at_level = np.int32(t - pool.t_level[i])
            if ((at_level >= rules.dur_escalate[s] and u[0, i] < rules.rate_escalate[lvl0])
                    or at_level >= rules.deadline[lvl0]):  # placed after the pass (stuck_rows), at row m if it stays open
                old[n_up], new[n_up], start[n_up] = i, m, rules.next_level[pool.level[i]]
                n_up += 1
        if queued and waited > rules.expected_wait[s]:
            late_res[n_late] = pool.res[i]
            n_late += 1
            if u[1, i] < recontact_hazard(waited, rules.expected_wait[s], pool.flags[i], rules):
                pool.n_contacts[i] += 1
                n_again += 1
        age = waited if queued else np.int32(t - pool.t_arise[i])
        if age > rules.patience[s]:
            quit = False
            if queued and u[2, i] < rules.rate_abandon:
                quit_res[n_quit] = pool.res[i]
                n_quit += 1
                quit = True
            elif st == LATENT and u[2, i] < rules.rate_abandon_latent:
                lost_res[n_lost] = pool.res[i]
                n_lost += 1
                quit = True
            if quit:
                count_abandoned(i, pool, ledger)
                pool.status[i] = -1
                if n_up and old[n_up - 1] == i:
                    new[n_up - 1] = -1
        if pool.status[i] >= 0:
            if m != i:
                move_row(pool, i, m)
            m += 1
    rows, levels = stuck_rows(old, new, start, n_up, m)
    place(rows, levels, t, pool, where, success, climb)
    return n_up, n_again, late_res[:n_late].copy(), quit_res[:n_quit].copy(), lost_res[:n_lost].copy(), m
