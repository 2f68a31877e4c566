"""Kernels of the route phase: chances of success, entry levels, and the climb up the levels.

A problem climbs past levels that cannot handle it; the escalate phase places the problems it
moves up the same way.
"""

from __future__ import annotations

import numpy as np

from sim.config.taxonomy import CITY, COMMUNITY, DEPARTMENT, GRID, LATENT, N_LEVELS, PROPERTY, QUEUED, STREET
from sim.core.kernels.jit import ONE32, ZERO32, jit, jit_inline
from sim.core.kernels.state import Climb, EntryRules, Fields, LedgerCounts, PoolColumns, Residence, SuccessTables


@jit_inline
def handler_mult(success: SuccessTables, lv: int, h: int, c: int) -> np.float32:
    """Handler ``h``'s success multiplier for category ``c`` at level ``lv`` (``h`` -1: the level's last row)."""
    if lv == GRID:
        m = success.m_grid
    elif lv == PROPERTY:
        m = success.m_property
    elif lv == COMMUNITY:
        m = success.m_community
    elif lv == STREET:
        m = success.m_street
    elif lv == 4:
        m = success.m_department
    else:
        m = success.m_city
    return m[h % m.shape[0], c]


@jit_inline
def chance(success: SuccessTables, lv: int, h: int, c: int, s: int) -> np.float32:
    """Chance that one attempt by handler ``h`` at level ``lv`` solves a problem (category ``c``, severity ``s``).

    Authority x severity x level multiplier x the handler's, clipped to [0, 1].
    """
    x = (np.float32(np.float32(success.authority[lv, c] * success.severity_mult[s]) * success.level_cat_mult[lv, c])
         * handler_mult(success, lv, h, c))
    return min(max(x, ZERO32), ONE32)


@jit
def level_handlers(rows: np.ndarray, pool: Fields, where: Fields) -> np.ndarray:
    """The handler at every level of each of pool ``rows``, shape (rows, levels) (``Handlers.level_handlers``).

    A loop of lookups alone, so that the misses of one row's lookups overlap the next rows'.
    """
    pool, where = PoolColumns(*pool), Residence(*where)
    hands = np.empty((rows.size, N_LEVELS), dtype=np.int32)
    for j in range(rows.size):
        r = pool.res[rows[j]]
        hands[j, GRID] = where.household_grid[where.res_household[r]]
        hands[j, PROPERTY] = where.compound_firm[where.res_compound[r]]
        hands[j, COMMUNITY] = where.res_community[r]
        hands[j, STREET] = where.res_street[r]
        hands[j, DEPARTMENT] = pool.cat[rows[j]]
        hands[j, CITY] = 0
    return hands


@jit
def place(rows: np.ndarray, start_level: np.ndarray, t: int, pool: Fields, where: Fields,
          success: Fields, climb: Fields) -> None:
    """Put pool ``rows`` at ``start_level`` or the first level on their way up that can handle them.

    That is a level that exists for them (a firm, a grid with workers) and whose chance of
    success is not below the threshold; never past the top.
    """
    hands = level_handlers(rows, pool, where)
    pool, where, success, climb = PoolColumns(*pool), Residence(*where), SuccessTables(*success), Climb(*climb)
    for j in range(rows.size):
        i, hand = rows[j], hands[j]
        c, s, lvl0 = pool.cat[i], pool.sev[i], start_level[j]
        out = climb.top
        for lv in range(N_LEVELS):
            if lv == climb.top:
                break
            if not climb.chains[lvl0, lv]:
                continue
            if lv == PROPERTY and hand[PROPERTY] < 0:
                continue
            if lv == GRID and not where.grid_workers[hand[GRID]] > 0:
                continue
            if not chance(success, lv, hand[lv], c, s) < climb.threshold:
                out = lv
                break
        pool.level[i] = out
        pool.handler[i] = hand[out]
        pool.t_level[i] = t


@jit
def route_found(pool: Fields, ledger: Fields, entry: Fields, compound_firm: np.ndarray,
                res_compound: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Latent rows marked found become queued, counted by finder; returns them with their entry levels."""
    pool, ledger = PoolColumns(*pool), LedgerCounts(*ledger)
    status, t_found = pool.status, pool.t_found
    found = np.empty(status.size + 1, dtype=np.int64)
    n = 0
    for i in range(status.size):  # branch-free: each row is written at n, which moves on only if it was found
        found[n] = i
        n += (t_found[i] >= 0) & (status[i] == LATENT)
    rows = found[:n].copy()
    for i in rows:
        ledger.found_by[pool.finder[i]] += 1
        status[i] = QUEUED
    return rows, entry_levels(rows, pool, entry, compound_firm, res_compound)


@jit
def route_day(pool: Fields, ledger: Fields, entry: Fields, compound_firm: np.ndarray, res_compound: np.ndarray,
              t: int, where: Fields, success: Fields, climb: Fields) -> int:
    """The route phase in one call: :func:`route_found`, then :func:`place` of the rows; returns how many were found."""
    rows, level = route_found(pool, ledger, entry, compound_firm, res_compound)
    if rows.size:
        place(rows, level, t, pool, where, success, climb)
    return rows.size


@jit
def entry_levels(rows: np.ndarray, pool: Fields, entry: Fields, compound_firm: np.ndarray,
                 res_compound: np.ndarray) -> np.ndarray:
    """Entry level of found rows: by severity, with two exceptions.

    Property matters go to the firm (or the community where there is none); administrative
    matters to ``admin_level`` when it is >= 0.
    """
    pool, entry = PoolColumns(*pool), EntryRules(*entry)
    out = np.empty(rows.size, dtype=np.int8)
    for j in range(rows.size):
        i = rows[j]
        lv = entry.entry_level[pool.sev[i]]
        if pool.cat[i] == entry.property_cat:
            if compound_firm[res_compound[pool.res[i]]] >= 0:
                lv = PROPERTY
            elif lv < COMMUNITY:
                lv = COMMUNITY
        if entry.admin_level >= 0 and pool.cat[i] == entry.admin_cat:
            lv = entry.admin_level
        out[j] = lv
    return out
