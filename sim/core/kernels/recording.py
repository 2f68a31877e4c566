"""Kernels of the record phase: pool counts, residents' statistics, utilisation, the series row, effort and waits by level.

Each figure is computed as numpy computes it (pairwise sums), to the last bit.
"""

from __future__ import annotations

import numpy as np

from sim.config.taxonomy import LATENT, N_COMPOUND_TYPES, N_LEVELS, QUEUED
from sim.core.kernels.jit import jit, jit_inline
from sim.core.kernels.pairwise import mean64, pairwise32, pairwise64, pairwise_with
from sim.core.kernels.state import (
    CommunityStaff,
    Compounds,
    DayCounts,
    DayTotals,
    Fields,
    LedgerCounts,
    PoolColumns,
    ResidentState,
    SeriesRows,
    WindowRows,
)

#: bins of the binned 10th percentile of satisfaction (``results.p10_binned``)
P10_BINS = 10_000


@jit
def pool_counts(status: np.ndarray, level: np.ndarray, t_found: np.ndarray,
                n_levels: int) -> tuple[int, int, np.ndarray, int]:
    """Latent and queued rows, rows at each level, and latent rows nobody has reported or found.

    Counted without branches (vectorised), the rows at each level in a pass per level.
    """
    latent = queued = unreported = 0
    for i in range(status.size):
        lat = status[i] == LATENT
        latent += lat
        queued += status[i] == QUEUED
        unreported += lat & (t_found[i] < 0)
    backlog = np.zeros(n_levels, dtype=np.int64)
    for lv in range(n_levels):
        c = 0
        for i in range(level.size):
            c += level[i] == lv
        backlog[lv] = c
    return latent, queued, backlog, unreported


@jit
def p10_counted(values: np.ndarray, bins: int) -> float:
    """:func:`p10_binned` by counting the values in every bin.

    Four interleaved histograms, summed at the end (integer counts: the same result), so that runs
    of values in one bin (satisfaction is concentrated) do not wait on one counter.
    """
    counts = np.zeros(4 * bins, dtype=np.int32)
    scale = np.float32(bins)
    top = np.uint64(bins - 1)
    four = np.uint64(4)
    n = values.size
    m = n - n % 4
    for i in range(0, m, 4):  # values are in [0, 1]: the bin index is never negative (unsigned: no wraparound check)
        for lane in range(4):
            k = np.uint64(np.int64(np.float32(values[i + lane] * scale)))
            counts[(k if k < top else top) * four + np.uint64(lane)] += 1
    for i in range(m, n):
        k = np.uint64(np.int64(np.float32(values[i] * scale)))
        counts[(k if k < top else top) * four] += 1
    return rank_bin(counts, 4, 0.1 * n, bins)


@jit_inline
def rank_bin(counts: np.ndarray, lanes: int, target: float, bins: int) -> float:
    """The middle of the first bin whose cumulative count reaches ``target`` (the last bin's if none does).

    ``counts`` holds ``lanes`` interleaved counts per bin (:func:`p10_counted`'s four, one otherwise).
    """
    cum = 0
    for b in range(bins):
        for lane in range(lanes):
            cum += counts[lanes * b + lane]
        if cum >= target:
            return (b + 0.5) / bins
    return (bins - 0.5) / bins


#: values in the systematic sample that guesses where the 10th percentile lies (``p10_window``)
P10_SAMPLE = 4096


@jit
def bin_counts(values: np.ndarray, bins: int, step: int) -> np.ndarray:
    """How many of every ``step``-th value fall in each bin, as :func:`p10_counted` bins them (one histogram)."""
    counts = np.zeros(bins, dtype=np.int32)
    scale = np.float32(bins)
    top = np.uint64(bins - 1)
    for i in range(0, values.size, step):
        k = np.uint64(np.int64(np.float32(values[i] * scale)))  # as p10_counted
        counts[k if k < top else top] += 1
    return counts


@jit
def p10_window(values: np.ndarray, bins: int) -> tuple[int, int]:
    """Bins ``[lo, hi)`` that likely hold the 10th percentile: the 7.5th to 12.5th percentile of a sample.

    The sample is every (n / ``P10_SAMPLE``)-th value; ``hi`` stays below the last bin (which also
    holds the values above 1).
    """
    step = max(values.size // P10_SAMPLE, 1)
    counts = bin_counts(values, bins, step)
    m = (values.size + step - 1) // step
    lo, cum = -1, 0
    for b in range(bins):
        cum += counts[b]
        if lo < 0 and cum >= 0.075 * m:
            lo = b
        if cum >= 0.125 * m:
            return lo, min(b + 1, bins - 1)
    return 0, 0


@jit
def p10_binned(values: np.ndarray, bins: int) -> float:
    """10th percentile of float32 values in [0, 1] to 1/bins, by counting (``results.p10_binned``).

    The bin of the value ranked ``0.1 n`` (the first whose cumulative count reaches it). Below
    ``2 P10_SAMPLE`` values, one count of every value (:func:`bin_counts`; the window's sample would
    be all of them, 13.5 -> ~6 us at 5,532 residents). Otherwise one pass
    counts the values below a window of bins guessed from a sample (:func:`p10_window`) and keeps
    those in it, as ``value x bins``; if the count below stops short of the rank and the window
    reaches it, the kept values are counted by bin; otherwise every bin is (:func:`p10_counted`).
    The same bin either way; the window's pass has no histogram to wait on.
    """
    n = values.size
    target = 0.1 * n
    if n < 2 * P10_SAMPLE:  # the window's sample would be every value: its count is the answer
        return rank_bin(bin_counts(values, bins, 1), 1, target, bins)
    lo, hi = p10_window(values, bins)
    if lo < hi:
        scale, flo, fhi = np.float32(bins), np.float32(lo), np.float32(hi)
        kept = np.empty(n + 1, dtype=np.float32)
        below = j = 0
        for i in range(n):  # branch-free: each value is written at j, which moves on only if it is in the window
            y = np.float32(values[i] * scale)
            below += int(y < flo)
            kept[j] = y
            j += int((y >= flo) & (y < fhi))
        if below < target and below + j >= target:
            counts = np.zeros(hi - lo, dtype=np.int64)
            for a in range(j):
                counts[np.int64(kept[a]) - lo] += 1
            cum = below
            for b in range(hi - lo):
                cum += counts[b]
                if cum >= target:
                    return (lo + b + 0.5) / bins
    return p10_counted(values, bins)


@jit
def resident_stats(s: np.ndarray, trust: np.ndarray, compounds: Fields, n_types: int,
                   bins: int) -> tuple[float, float, float, np.ndarray]:
    """Mean and 10th percentile of satisfaction, mean trust, mean satisfaction by compound type.

    By compound type as ``results.mean_by_ctype``: ``np.add.reduceat`` per compound, then ``np.bincount``.
    """
    compounds = Compounds(*compounds)
    sums = np.zeros(n_types)
    counts = np.zeros(n_types)
    work, vals = np.empty((3, 192), dtype=np.int64), np.empty(96)  # pairwise's scratch, for all compounds
    n_comp = compounds.start.size
    for c in range(n_comp):
        lo = compounds.start[c]
        hi = compounds.start[c + 1] if c + 1 < n_comp else s.size
        # as reduceat: the first value plus the pairwise sum of the rest
        v = np.float64(s[lo]) + pairwise_with(s, lo + 1, max(hi - lo - 1, 0), 0.0, work, vals)
        sums[compounds.ctype[c]] += v
        counts[compounds.ctype[c]] += np.float64(compounds.size[c])
    by_type = np.empty(n_types)
    for k in range(n_types):
        by_type[k] = sums[k] / counts[k] if counts[k] != 0 else np.nan
    return mean64(s), p10_binned(s, bins), mean64(trust), by_type


@jit
def utilisation(staff: Fields, used: np.ndarray, cap: np.ndarray, comm_lo: int, n_comm: int, grid_lo: int,
                n_grid: int) -> tuple[float, float, float, float, float, float]:
    """Community staff effort and busy effort, and grid effort and busy effort, today.

    See ``Recorder.utilisation``: staff, admin, community used, grid used, grid capacity, and
    the effort policies added to the community (capacity less the staff's own problem effort).
    """
    staff = CommunityStaff(*staff)
    nc = staff.n_staff.size
    staff_eff = np.empty(nc, dtype=np.float32)
    admin_eff = np.empty(nc, dtype=np.float32)
    own = np.empty(nc, dtype=np.float32)
    for i in range(nc):
        staff_eff[i] = staff.n_staff[i] * staff.capacity_per_staff
        tasks = min(staff.admin_tasks[i], staff.admin_cap[i])
        admin_eff[i] = min(np.float32(tasks * staff.effort_per_task), staff_eff[i])
        own[i] = staff_eff[i] - admin_eff[i]
    comm = np.empty(n_comm)
    for j in range(n_comm):
        comm[j] = min(used[comm_lo + j], cap[comm_lo + j])
    grid = np.empty(n_grid)
    for j in range(n_grid):
        grid[j] = min(used[grid_lo + j], cap[grid_lo + j])
    added = pairwise64(cap, comm_lo, n_comm) - pairwise32(own, 0, nc)
    return (pairwise32(staff_eff, 0, nc), pairwise32(admin_eff, 0, nc),
            pairwise64(comm, 0, n_comm), pairwise64(grid, 0, n_grid), pairwise64(cap, grid_lo, n_grid), added)


@jit
def record_row(table: np.ndarray, r: int, rows: Fields, pool: Fields, ledger: Fields,
               res: Fields, compounds: Fields, totals: Fields) -> None:
    """Write column ``r`` of the time series ``table``, each series into its named row."""
    rows, pool, ledger, res, totals = SeriesRows(*rows), PoolColumns(*pool), LedgerCounts(*ledger), ResidentState(*res), DayTotals(*totals)
    arisen, resolved = ledger.arisen.sum(), ledger.resolved.sum()
    latent, queued, backlog, unreported = pool_counts(pool.status, pool.level, pool.t_found, N_LEVELS)
    # the bin count as a run-time value (the table always has columns): with the constant folded in,
    # LLVM compiles the counting loop about 4x slower on concentrated satisfaction
    bins = P10_BINS if table.shape[1] > 0 else 1
    s_mean, p10, t_mean, by_type = resident_stats(res.satisfaction, res.trust, compounds, N_COMPOUND_TYPES, bins)
    table[rows.arisen, r] = np.float64(arisen)
    table[rows.found, r] = np.float64(totals.found)
    table[rows.resolved, r] = np.float64(resolved)
    table[rows.abandoned, r] = np.float64(ledger.abandoned.sum())
    table[rows.prevented, r] = np.float64(totals.prevented)
    table[rows.pending, r] = np.float64(pool.status.size)
    table[rows.pending_latent, r] = np.float64(latent)
    table[rows.pending_queued, r] = np.float64(queued)
    for lv in range(N_LEVELS):
        table[rows.backlog[lv], r] = backlog[lv]
    table[rows.resolution_rate, r] = np.float64(resolved) / np.float64(arisen) if arisen else np.nan
    table[rows.satisfaction_mean, r] = s_mean
    table[rows.satisfaction_p10, r] = p10
    table[rows.trust_mean, r] = t_mean
    for k in range(N_COMPOUND_TYPES):
        table[rows.satisfaction_by_ctype[k], r] = by_type[k]
    table[rows.staff_utilisation, r] = np.float64(totals.staff_utilisation)
    table[rows.grid_utilisation, r] = np.float64(totals.grid_utilisation)
    table[rows.volunteer_hours, r] = np.float64(totals.volunteer_hours)
    table[rows.cost_yuan, r] = np.float64(totals.cost_yuan)
    table[rows.repeat_contacts, r] = np.float64(totals.repeat_contacts)
    table[rows.escalations, r] = np.float64(totals.escalations)
    table[rows.self_reported, r] = np.float64(totals.self_reported)
    table[rows.unreported_pending, r] = np.float64(unreported)


@jit_inline
def count_closed(ledger: LedgerCounts, days: DayCounts, day: int) -> None:
    """The problems resolved and closed (resolved or abandoned) up to the end of ``day``, into ``days``."""
    resolved = ledger.resolved.sum()  # integer sums: any order gives numpy's
    days.resolved_cum[day + 1] = resolved
    days.closed_cum[day + 1] = resolved + ledger.abandoned.sum()


@jit
def record_day(table: np.ndarray, r: int, rows: Fields, windows: Fields, pool: Fields, ledger: Fields, res: Fields,
               compounds: Fields, totals: Fields, days: Fields, day: int, width: int) -> None:
    """A recorded day in one call: its cumulative counts, column ``r`` of ``table``, then the windows.

    :func:`count_closed`, :func:`record_row`, the row's mean satisfaction and trust kept as the day's,
    and the windowed series of the row (:func:`trailing_row` over the last ``width`` days).
    """
    days, windows = DayCounts(*days), WindowRows(*windows)
    count_closed(LedgerCounts(*ledger), days, day)
    record_row(table, r, rows, pool, ledger, res, compounds, totals)
    series = SeriesRows(*rows)
    days.satisfaction_day[day] = table[series.satisfaction_mean, r]
    days.trust_day[day] = table[series.trust_mean, r]
    rate, sat, trust = trailing_row(days.resolved_cum, days.closed_cum, days.satisfaction_day, days.trust_day, day,
                                    width)
    table[windows.resolution_rate_30d, r] = rate
    table[windows.satisfaction_mean_30d, r] = sat
    table[windows.trust_mean_30d, r] = trust


@jit
def unrecorded_day(ledger: Fields, res: Fields, days: Fields, day: int) -> None:
    """A day without a row (``record_every`` > 1): what the windows read of it, as :func:`record_day` keeps it.

    :func:`count_closed`, and the mean satisfaction and trust (``ndarray.mean(dtype=float64)``, as the
    row's).
    """
    days, res = DayCounts(*days), ResidentState(*res)
    count_closed(LedgerCounts(*ledger), days, day)
    days.satisfaction_day[day] = mean64(res.satisfaction)
    days.trust_day[day] = mean64(res.trust)


@jit
def level_sums(handler_level: np.ndarray, spent: np.ndarray, capacity: np.ndarray, n_levels: int) -> np.ndarray:
    """Effort spent and capacity summed by level, shape (2, levels), as ``np.bincount`` sums them (handler order)."""
    out = np.zeros((2, n_levels))
    for h in range(handler_level.size):
        out[0, handler_level[h]] += spent[h]
        out[1, handler_level[h]] += capacity[h]
    return out


@jit
def count_waits(waits: np.ndarray, rows: np.ndarray, status: np.ndarray, level: np.ndarray, t_level: np.ndarray,
                t: int) -> None:
    """Count each queued row of ``rows`` in ``waits[level, days since it reached the level]`` (days clipped to the table)."""
    top = waits.shape[1] - 1
    for i in range(rows.size):
        r = rows[i]
        if status[r] == QUEUED:
            waits[level[r], min(max(t - t_level[r], 0), top)] += 1


@jit
def trailing_row(resolved_cum: np.ndarray, closed_cum: np.ndarray, satisfaction_day: np.ndarray,
                 trust_day: np.ndarray, day: int, width: int) -> tuple[float, float, float]:
    """The windowed series on ``day``: resolution rate, mean satisfaction and mean trust over the last ``width`` days.

    As :func:`sim.core.windows.trailing_ratio` and :func:`~sim.core.windows.trailing_mean` compute them
    (the means numpy's pairwise sum over the window, divided by its length).
    """
    lo = max(0, day + 1 - width)
    den = closed_cum[day + 1] - closed_cum[lo]
    ratio = np.float64(resolved_cum[day + 1] - resolved_cum[lo]) / np.float64(den) if den else np.nan
    n = day + 1 - lo
    return ratio, pairwise64(satisfaction_day, lo, n) / n, pairwise64(trust_day, lo, n) / n
