"""Compiled kernels of the day's hot loops (numba), one per submodel step.

Why: a day of the core is a few dozen small array operations; at community scale (a few
thousand residents) their fixed cost per call, not the work, dominated the run time. Each
kernel does in one compiled pass what the phase used to do in ten to thirty numpy calls.

Rules that keep the kernels equal to the vectorised definitions they replace (and to
docs/model.md), bit for bit:

* every random number is still drawn by numpy, in the caller, from the same stream and in the
  same amount; kernels only take the uniforms;
* float32 state is computed in float32 (parameters come in as ``np.float32``, as numpy's
  promotion rules would cast them), sums of float32 updates in float64 in input order, as
  ``np.bincount`` adds them; comparisons of a float32 with a Python float are done in float32;
* transcendental functions on stored state (``exp`` of a performance) stay in numpy, whose
  SIMD routines may differ from libm in the last bit.

Kernels are compiled on first use and cached on disk (``cache=True``); nothing is compiled at
import. They live in this one module on purpose: numba invalidates a cached kernel when its own
source file changes, not when a kernel it calls in another file does, so splitting them would
let an upgrade run stale machine code.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from sim.config.taxonomy import COMMUNITY, GRID, LATENT, N_LEVELS, PROPERTY, QUEUED, STREET

_jit = nb.njit(cache=True, nogil=True)

_ZERO32 = np.float32(0.0)
_ONE32 = np.float32(1.0)


def unsigned(ids: np.ndarray) -> np.ndarray:
    """A non-negative integer array viewed as unsigned: numba then skips negative-index checks."""
    return ids.view(np.uint32 if ids.dtype.itemsize == 4 else np.uint64)


# --------------------------------------------------------------------------------------------
# the pool
# --------------------------------------------------------------------------------------------
@_jit
def keep_rows(status, res, cat, sev, level, handler, t_arise, t_found, t_level, n_contacts, finder, flags):  # noqa: ANN001, ANN201
    """Drop rows whose status is negative (closed), keeping order; returns the new row count."""
    m = 0
    for i in range(status.size):
        if status[i] >= 0:
            if m != i:
                status[m] = status[i]
                res[m] = res[i]
                cat[m] = cat[i]
                sev[m] = sev[i]
                level[m] = level[i]
                handler[m] = handler[i]
                t_arise[m] = t_arise[i]
                t_found[m] = t_found[i]
                t_level[m] = t_level[i]
                n_contacts[m] = n_contacts[i]
                finder[m] = finder[i]
                flags[m] = flags[i]
            m += 1
    return m


# --------------------------------------------------------------------------------------------
# arise
# --------------------------------------------------------------------------------------------
@_jit
def arrivals(k, u, order, start, size, cat_cum, sev_cum):  # noqa: ANN001, ANN201
    """Resident, category and severity of today's problems from Poisson counts per stratum ``k``
    and uniforms ``u`` (4, m): resident within stratum, category, severity, prevention."""
    m = u.shape[1]
    res = np.empty(m, dtype=np.int32)
    cat = np.empty(m, dtype=np.int8)
    sev = np.empty(m, dtype=np.int8)
    n_cat = cat_cum.shape[1]
    n_sev = sev_cum.shape[1]
    i = 0
    for s in range(k.size):
        for _ in range(k[s]):
            res[i] = order[start[s] + np.int64(u[0, i] * size[s])]
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


@_jit
def arise(k, u, order, start, size, cat_cum, sev_cum, p_prevent, res_compound, res_ctype, arisen,
          arisen_ctype):  # noqa: ANN001, ANN201
    """Today's arrivals (see :func:`arrivals`) less the prevented ones, counted in the ledger.

    Returns the residents, categories and severities of the problems that arise, and the
    number prevented.
    """
    res, cat, sev = arrivals(k, u, order, start, size, cat_cum, sev_cum)
    ok = np.empty(res.size, dtype=np.bool_)
    n_ok = 0
    for i in range(res.size):
        ok[i] = not (u[3, i] < p_prevent[res_compound[res[i]], cat[i]])
        if ok[i]:
            arisen[cat[i], sev[i]] += 1
            arisen_ctype[res_ctype[res[i]]] += 1
            n_ok += 1
    return res[ok], cat[ok], sev[ok], res.size - n_ok


@_jit
def append_latent(n, res, cat, sev, t, b_res, b_cat, b_sev, b_status, b_level, b_handler, b_t_arise, b_t_found,
                  b_t_level, b_n_contacts, b_finder, b_flags):  # noqa: ANN001, ANN201
    """Write new latent problems into the pool's buffers from row ``n`` (the caller made room)."""
    for j in range(res.size):
        i = n + j
        b_res[i] = res[j]
        b_cat[i] = cat[j]
        b_sev[i] = sev[j]
        b_status[i] = LATENT
        b_level[i] = -1
        b_handler[i] = -1
        b_t_arise[i] = t
        b_t_found[i] = -1
        b_t_level[i] = -1
        b_n_contacts[i] = 0
        b_finder[i] = -1
        b_flags[i] = 0


# --------------------------------------------------------------------------------------------
# find
# --------------------------------------------------------------------------------------------
@_jit
def count_equal(a, value):  # noqa: ANN001, ANN201
    """``np.count_nonzero(a == value)``."""
    n = 0
    for x in a:
        if x == value:
            n += 1
    return n


@_jit
def find_latent(t, u, status, res, sev, t_found, n_contacts, finder, res_household, household_grid,
                household_pos, visit_ptr, grid_size, n_workers, visits_per_worker, p_visit, n_links, p_by_links,
                rate_self, trust, slope, report_mult, res_community):  # noqa: ANN001, ANN201
    """Mark latent rows found today: by a grid visit, else a party link, else a self-report;
    then move each grid's round of visits on by the day's visits (``Grids.advance``).

    ``u`` holds three uniforms per latent row, in row order; ``p_by_links[k]`` is the chance
    that k links find a problem. Rows already marked found (by a policy) keep their finder.
    """
    visits = np.empty(n_workers.size, dtype=np.float32)  # Grids.visits_per_day
    for g in range(n_workers.size):
        visits[g] = n_workers[g] * visits_per_worker
    j = 0
    for i in range(status.size):
        if status[i] != LATENT:
            continue
        r = res[i]
        hh = res_household[r]
        g = household_grid[hh]
        off = (np.float64(household_pos[hh]) - visit_ptr[g]) % np.float64(grid_size[g])
        f = -1
        if off < visits[g] and u[0, j] < p_visit:
            f = 1  # GRID_VISIT
        elif u[1, j] < p_by_links[n_links[r]]:
            f = 2  # PARTY_LINK
        else:
            lift = max(_ONE32 + slope * np.float32(trust[r] - np.float32(0.5)), _ZERO32)
            hazard = rate_self[sev[i]] * np.float64(lift) * np.float64(report_mult[res_community[r]])
            if u[2, j] < 1.0 - np.exp(-hazard):
                f = 0  # SELF_REPORT
        j += 1
        if f >= 0 and t_found[i] < 0:
            finder[i] = f
            t_found[i] = t
            n_contacts[i] = 1
    for g in range(visit_ptr.size):
        visit_ptr[g] = (visit_ptr[g] + np.float64(visits[g])) % np.float64(grid_size[g])


# --------------------------------------------------------------------------------------------
# route: handlers, chances and the climb past levels that cannot handle a problem
# --------------------------------------------------------------------------------------------
@_jit
def place(rows, start_level, t, res, cat, sev, level, handler, t_level, res_household, household_grid,
          grid_workers, res_compound, compound_firm, res_community, res_street, authority, severity_mult,
          level_cat_mult, m_grid, m_property, m_community, m_street, m_department, m_city, threshold,
          chains, top):  # noqa: ANN001, ANN201
    """Put pool ``rows`` at ``start_level`` or the first level on their way up that exists for
    them and whose chance of success is not below ``threshold``; never past ``top``."""
    hand = np.empty(N_LEVELS, dtype=np.int32)
    for j in range(rows.size):
        i = rows[j]
        r, c, s = res[i], cat[i], sev[i]
        hand[GRID] = household_grid[res_household[r]]
        hand[PROPERTY] = compound_firm[res_compound[r]]
        hand[COMMUNITY] = res_community[r]
        hand[STREET] = res_street[r]
        hand[4] = c
        hand[5] = 0
        lvl0 = start_level[j]
        out = top
        for lv in range(N_LEVELS):
            if lv == top:
                break
            if not chains[lvl0, lv]:
                continue
            if lv == PROPERTY:
                if hand[PROPERTY] < 0:
                    continue
                mult = m_property[hand[PROPERTY], c]
            elif lv == GRID:
                if not grid_workers[hand[GRID]] > 0:
                    continue
                mult = m_grid[hand[GRID], c]
            elif lv == COMMUNITY:
                mult = m_community[hand[COMMUNITY], c]
            elif lv == STREET:
                mult = m_street[hand[STREET], c]
            elif lv == 4:
                mult = m_department[c, c]
            else:
                mult = m_city[0, c]
            p = np.float32(np.float32(authority[lv, c] * severity_mult[s]) * level_cat_mult[lv, c]) * mult
            p = min(max(p, _ZERO32), _ONE32)
            if not p < threshold:
                out = lv
                break
        level[i] = out
        handler[i] = hand[out]
        t_level[i] = t


@_jit
def route_found(status, t_found, finder, found_by, res, cat, sev, entry_level, compound_firm, res_compound,
                property_cat, admin_cat, admin_level):  # noqa: ANN001, ANN201
    """Latent rows marked found become queued: returns them (row order) with their entry
    levels, after counting them by finder."""
    n = 0
    for i in range(status.size):
        if t_found[i] >= 0 and status[i] == LATENT:
            n += 1
    rows = np.empty(n, dtype=np.int64)
    a = 0
    for i in range(status.size):
        if t_found[i] >= 0 and status[i] == LATENT:
            rows[a] = i
            a += 1
            found_by[finder[i]] += 1
            status[i] = QUEUED
    return rows, entry_levels(rows, res, cat, sev, entry_level, compound_firm, res_compound, property_cat,
                              admin_cat, admin_level)


@_jit
def entry_levels(rows, res, cat, sev, entry_level, compound_firm, res_compound, property_cat, admin_cat,
                 admin_level):  # noqa: ANN001, ANN201
    """Entry level of found rows: by severity; property matters to the firm (or the community
    where there is none); administrative matters to ``admin_level`` when it is >= 0."""
    out = np.empty(rows.size, dtype=np.int8)
    for j in range(rows.size):
        i = rows[j]
        lv = entry_level[sev[i]]
        if cat[i] == property_cat:
            if compound_firm[res_compound[res[i]]] >= 0:
                lv = PROPERTY
            elif lv < COMMUNITY:
                lv = COMMUNITY
        if admin_level >= 0 and cat[i] == admin_cat:
            lv = admin_level
        out[j] = lv
    return out


# --------------------------------------------------------------------------------------------
# handle
# --------------------------------------------------------------------------------------------
@_jit
def _counting_order(values, n_values, order):  # noqa: ANN001, ANN201
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


@_jit
def _order_by(key, pr, n_keys):  # noqa: ANN001, ANN201
    """Stable argsort by (key, pr): ``np.argsort((key << 32) | pr, kind="stable")`` for
    non-negative ``pr``, as two counting sorts when the priorities span a short range."""
    n = key.size
    span = pr.max() + 1
    if span > 4 * n + 4096:
        return np.argsort((key << 32) | pr, kind="mergesort")
    order = _counting_order(pr, span, np.arange(n))
    return _counting_order(key, n_keys, order)


@_jit
def attempts(status, res, cat, sev, level, handler, t_level, flags, level_offset, priority_days, res_compound,
             effort, capacity, authority, severity_mult, level_cat_mult, m_grid, m_property, m_community,
             m_street, m_department, m_city, flag_success):  # noqa: ANN001, ANN201
    """Queued rows each handler attempts today within its capacity (served by waiting time at
    the level, then first come first served) and each attempt's chance of success.

    Returns the attempted rows (row order), their chances and the effort used per handler.
    """
    q = np.flatnonzero(status == QUEUED)
    n = q.size
    used = np.zeros(capacity.size)
    if n == 0:
        return q, np.empty(0, dtype=np.float32), used
    key = np.empty(n, dtype=np.int64)
    pr = np.empty(n, dtype=np.int64)
    for j in range(n):
        i = q[j]
        key[j] = level_offset[level[i]] + handler[i]
        pr[j] = np.int64(np.int32(t_level[i] - priority_days[res_compound[res[i]]]))
    pr -= pr.min()
    order = _order_by(key, pr, capacity.size)
    go = np.zeros(n, dtype=np.bool_)
    cum = 0.0
    first_cum = 0.0  # running sum and effort at the current key's first problem
    first_e = 0.0
    prev = -1
    for o in range(n):
        j = order[o]
        e = np.float64(effort[sev[q[j]]])
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
            used[key[j]] += np.float64(effort[sev[q[j]]])
    n_go = 0
    for j in range(n):
        if go[j]:
            n_go += 1
    rows = np.empty(n_go, dtype=np.int64)
    p = np.empty(n_go, dtype=np.float32)
    a = 0
    for j in range(n):
        if not go[j]:
            continue
        i = q[j]
        lv, c, h = level[i], cat[i], handler[i]
        if lv == GRID:
            mult = m_grid[h % m_grid.shape[0], c]
        elif lv == PROPERTY:
            mult = m_property[h % m_property.shape[0], c]
        elif lv == COMMUNITY:
            mult = m_community[h % m_community.shape[0], c]
        elif lv == STREET:
            mult = m_street[h % m_street.shape[0], c]
        elif lv == 4:
            mult = m_department[h % m_department.shape[0], c]
        else:
            mult = m_city[h % m_city.shape[0], c]
        x = np.float32(np.float32(authority[lv, c] * severity_mult[sev[i]]) * level_cat_mult[lv, c]) * mult
        x = min(max(x, _ZERO32), _ONE32)
        for bit in range(8):
            if flag_success[bit] != _ONE32 and (flags[i] & (1 << bit)) != 0:
                x = min(np.float32(x * flag_success[bit]), _ONE32)
        rows[a] = i
        p[a] = x
        a += 1
    return rows, p, used


@_jit
def resolve_rows(rows, t, status, res, cat, sev, level, t_arise, t_found, n_contacts, flags, res_ctype,
                 perf_table, resolved, resolved_level, resolved_ctype, days_hist, flag_resolved):  # noqa: ANN001, ANN201
    """Count queued ``rows`` as resolved today and close them (status -1).

    Returns the residents of the rows closed, the performance of each outcome (looked up by
    severity and days waited since the report in ``perf_table``), and the contacts the closed
    problems took.
    """
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
        resolved[cat[i], sev[i]] += 1
        resolved_level[level[i]] += 1
        resolved_ctype[res_ctype[res[i]]] += 1
        days_hist[sev[i], t - t_arise[i]] += 1
        contacts += n_contacts[i]
        for bit in range(8):
            if (flags[i] >> bit) & 1:
                flag_resolved[bit] += 1
        closed[a] = i
        who[a] = res[i]
        perf[a] = perf_table[sev[i], t - t_found[i]]
        a += 1
    for j in range(n):
        status[closed[j]] = -1
    return who, perf, contacts


# --------------------------------------------------------------------------------------------
# escalate
# --------------------------------------------------------------------------------------------
@_jit
def escalate(t, u, status, res, cat, sev, level, t_arise, t_found, t_level, n_contacts, flags, dur_escalate,
             rate_escalate, deadline, next_level, top, expected_wait, rate_recontact, no_recontact_flags,
             patience, rate_abandon, rate_abandon_latent, abandoned, flag_abandoned):  # noqa: ANN001, ANN201
    """Escalation, repeat contacts, the overdue list and giving up, from uniforms ``u`` (3, rows).

    Returns the rows to move up a level (the caller places them), the number of repeat
    contacts, the residents of overdue rows (one per row) and the residents whose found
    problems were given up (their outcome: performance 0). Given-up rows get status -1.
    """
    n = status.size
    stuck = np.zeros(n, dtype=np.bool_)
    overdue = np.zeros(n, dtype=np.bool_)
    gave_up = np.zeros(n, dtype=np.bool_)
    n_stuck = n_overdue = n_quit = n_quit_found = n_again = 0
    for i in range(n):
        st = status[i]
        queued = st == QUEUED
        s = sev[i]
        lvl0 = max(level[i], 0)
        waited = np.int32(t - t_found[i])
        if queued and next_level[lvl0] <= top and level[i] != top:
            at_level = np.int32(t - t_level[i])
            if (at_level >= dur_escalate[s] and u[0, i] < rate_escalate[lvl0]) or at_level >= deadline[lvl0]:
                stuck[i] = True
                n_stuck += 1
        if queued and waited > expected_wait[s]:
            overdue[i] = True
            n_overdue += 1
            if u[1, i] < rate_recontact and (flags[i] & no_recontact_flags) == 0:
                n_contacts[i] += 1
                n_again += 1
        age = waited if queued else np.int32(t - t_arise[i])
        if age > patience[s]:
            if queued:
                quit = u[2, i] < rate_abandon
            else:
                quit = st == LATENT and u[2, i] < rate_abandon_latent
            if quit:
                gave_up[i] = True
                n_quit += 1
                n_quit_found += queued
    up = np.empty(n_stuck, dtype=np.int64)
    late_res = np.empty(n_overdue, dtype=np.int32)
    quit_res = np.empty(n_quit_found, dtype=np.int32)
    a = b = c = 0
    for i in range(n):
        if stuck[i]:
            up[a] = i
            a += 1
        if overdue[i]:
            late_res[b] = res[i]
            b += 1
        if gave_up[i]:
            abandoned[cat[i], sev[i]] += 1
            for bit in range(8):
                if (flags[i] >> bit) & 1:
                    flag_abandoned[bit] += 1
            if status[i] == QUEUED:
                quit_res[c] = res[i]
                c += 1
            status[i] = -1
    return up, n_again, late_res, quit_res


# --------------------------------------------------------------------------------------------
# residents: judgement, erosion, participation, social influence
# --------------------------------------------------------------------------------------------
@_jit
def scatter_add(target, ids, values, acc):  # noqa: ANN001, ANN201
    """``target[ids] += values`` with repeated ids summed first, in float64 and input order
    (as ``np.bincount``), then added in the target's precision. ``acc`` is a zeroed float64
    scratch array as long as ``target``; it is left zeroed."""
    for j in range(ids.size):
        acc[ids[j]] += np.float64(values[j])
    for j in range(ids.size):  # each id once: its sum is reset after use (a zero sum adds nothing)
        r = ids[j]
        if acc[r] != 0.0:
            target[r] = target[r] + np.float32(acc[r])
            acc[r] = 0.0


@_jit
def scatter_add_scalar(target, ids, value, acc):  # noqa: ANN001, ANN201
    """``target[ids] += value`` for one float64 ``value``, repeated ids summed first (see scatter_add)."""
    for j in range(ids.size):
        acc[ids[j]] += value
    for j in range(ids.size):
        r = ids[j]
        if acc[r] != 0.0:
            target[r] = target[r] + np.float32(acc[r])
            acc[r] = 0.0


@_jit
def erode(satisfaction, trust, ids, loss_s, loss_t, acc):  # noqa: ANN001, ANN201
    """Each overdue problem (repeated ids add up) costs satisfaction and trust; both clipped."""
    scatter_add_scalar(satisfaction, ids, -loss_s, acc)
    scatter_add_scalar(trust, ids, -loss_t, acc)
    clip_at(satisfaction, ids)
    clip_at(trust, ids)


@_jit
def clip_at(target, ids):  # noqa: ANN001, ANN201
    """Clip ``target[ids]`` to [0, 1]."""
    for j in range(ids.size):
        r = ids[j]
        target[r] = min(max(target[r], _ZERO32), _ONE32)


@_jit
def judge(satisfaction, expectation, trust, ids, perf, beta, alpha_s, alpha_e, alpha_t, acc):  # noqa: ANN001, ANN201
    """Expectation-disconfirmation updates from the morning's state, summed per resident, clipped."""
    n = ids.size
    ds = np.empty(n, dtype=np.float32)
    de = np.empty(n, dtype=np.float32)
    dt = np.empty(n, dtype=np.float32)
    for j in range(n):
        r = ids[j]
        p, e = perf[j], expectation[r]
        target = min(max(np.float32(p + np.float32(beta * np.float32(p - e))), _ZERO32), _ONE32)
        ds[j] = alpha_s * np.float32(target - satisfaction[r])
        de[j] = alpha_e * np.float32(p - e)
        dt[j] = alpha_t * np.float32(p - trust[r])
    scatter_add(satisfaction, ids, ds, acc)
    scatter_add(expectation, ids, de, acc)
    scatter_add(trust, ids, dt, acc)
    clip_at(satisfaction, ids)
    clip_at(expectation, ids)
    clip_at(trust, ids)


@_jit
def social_influence(s, trust, indptr, indices, rate_social, rate_drift, s_init, t_init):  # noqa: ANN001, ANN201
    """DeGroot step toward the neighbours' mean satisfaction, then drift toward the initial means.

    Each neighbour sum is accumulated in float32 in the adjacency's stored order, as scipy's CSR
    product does. ``indptr`` and ``indices`` are unsigned views (no negative-index checks).
    """
    n = s.size
    if rate_social > 0:
        mean = np.zeros(n, dtype=np.float32)
        for r in range(n):
            lo, hi = indptr[r], indptr[r + 1]
            x = _ZERO32
            for k in range(lo, hi):
                x += s[indices[k]]
            if hi > lo:
                mean[r] = x * np.float32(_ONE32 / np.float32(hi - lo))
        for r in range(n):
            if indptr[r + 1] > indptr[r]:
                s[r] = s[r] + rate_social * np.float32(mean[r] - s[r])
            else:
                s[r] = s[r] + rate_social * _ZERO32
    for r in range(n):
        if rate_drift > 0:
            s[r] = s[r] + rate_drift * np.float32(s_init - s[r])
            trust[r] = trust[r] + rate_drift * np.float32(t_init - trust[r])
        s[r] = min(max(s[r], _ZERO32), _ONE32)


# --------------------------------------------------------------------------------------------
# participate and record
# --------------------------------------------------------------------------------------------
@_jit
def attendees(n_att, community_start, community_size, u):  # noqa: ANN001, ANN201
    """Residents attending today's events: ``n_att[c]`` uniform picks within each community."""
    out = np.empty(u.size, dtype=np.int64)
    i = 0
    for c in range(n_att.size):
        for _ in range(n_att[c]):
            out[i] = community_start[c] + np.int64(u[i] * community_size[c])
            i += 1
    return out


@_jit
def accept_volunteers(cand, u, top, rate, mult, trust):  # noqa: ANN001, ANN201
    """Candidates who volunteer: accepted with ``min(rate * mult * trust, 1) / top``; sorted ids."""
    keep = np.empty(cand.size, dtype=np.bool_)
    for j in range(cand.size):
        r = cand[j]
        p = min(np.float32(np.float32(rate[r] * mult[r]) * trust[r]), _ONE32)
        keep[j] = u[j] * top < p
    return np.sort(cand[keep])


@_jit
def pool_counts(status, level, n_levels):  # noqa: ANN001, ANN201
    """Latent and queued rows, and rows at each level."""
    backlog = np.zeros(n_levels, dtype=np.int64)
    latent = queued = 0
    for i in range(status.size):
        if status[i] == LATENT:
            latent += 1
        elif status[i] == QUEUED:
            queued += 1
        if level[i] >= 0:
            backlog[level[i]] += 1
    return latent, queued, backlog


@_jit
def p10_binned(values, bins):  # noqa: ANN001, ANN201
    """10th percentile of float32 values in [0, 1] to 1/bins, by counting (see results._p10_binned)."""
    counts = np.zeros(bins, dtype=np.int32)
    scale = np.float32(bins)
    top = np.uint64(bins - 1)
    for v in values:  # values are in [0, 1]: the bin index is never negative (unsigned: no wraparound check)
        k = np.uint64(np.int64(np.float32(v * scale)))
        counts[k if k < top else top] += 1
    target = 0.1 * values.size
    cum = 0
    for k in range(bins):
        cum += counts[k]
        if cum >= target:
            return (k + 0.5) / bins
    return (bins - 0.5) / bins


# --------------------------------------------------------------------------------------------
# sums as numpy computes them (pairwise), so recorded figures are the same to the last bit
# --------------------------------------------------------------------------------------------
@_jit
def _block(a, lo, n, zero):  # noqa: ANN001, ANN201
    """numpy's pairwise-sum leaf (n <= 128), accumulated in the type of ``zero`` (float64, or
    float32 as numpy sums a float32 array): sequential below 8 elements, else 8 accumulators."""
    res = zero
    if n < 8:
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = zero + a[lo], zero + a[lo + 1], zero + a[lo + 2], zero + a[lo + 3]
    r4, r5, r6, r7 = zero + a[lo + 4], zero + a[lo + 5], zero + a[lo + 6], zero + a[lo + 7]
    i = 8
    m = n - n % 8
    while i < m:
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@_jit
def _pairwise(a, lo, n, zero):  # noqa: ANN001, ANN201
    """``a[lo:lo+n].sum()`` as numpy computes it, in the type of ``zero``: halves (rounded down
    to a multiple of 8) until blocks of at most 128 (``_block``). The tree is walked with an
    explicit stack (cached numba code and recursion do not mix)."""
    if n <= 128:
        return _block(a, lo, n, zero)
    work = np.empty((3, 192), dtype=np.int64)  # lo, n, kind (0 evaluate, 1 add the top two values)
    vals = np.full(96, zero)
    work[0, 0], work[1, 0], work[2, 0] = lo, n, 0
    sp, vp = 1, 0
    while sp > 0:
        sp -= 1
        at, m, kind = work[0, sp], work[1, sp], work[2, sp]
        if kind == 1:
            vp -= 1
            vals[vp - 1] = vals[vp - 1] + vals[vp]
        elif m <= 128:
            vals[vp] = _block(a, at, m, zero)
            vp += 1
        else:
            n2 = m // 2
            n2 -= n2 % 8
            work[0, sp], work[1, sp], work[2, sp] = 0, 0, 1
            work[0, sp + 1], work[1, sp + 1], work[2, sp + 1] = at + n2, m - n2, 0
            work[0, sp + 2], work[1, sp + 2], work[2, sp + 2] = at, n2, 0
            sp += 3
    return vals[0]


@_jit
def _pairwise64(a, lo, n):  # noqa: ANN001, ANN201
    """``a[lo:lo+n].sum()`` in float64 (elements converted), as numpy does it."""
    return _pairwise(a, lo, n, 0.0)


@_jit
def _pairwise32(a, lo, n):  # noqa: ANN001, ANN201
    """``a[lo:lo+n].sum()`` of a float32 array accumulated in float32 (returned as float64)."""
    return np.float64(_pairwise(a, lo, n, _ZERO32))


@_jit
def mean64(a):  # noqa: ANN001, ANN201
    """``a.mean(dtype=np.float64)`` of a float32 array: numpy casts it in buffers of 8,192."""
    res = 0.0
    lo = 0
    while lo < a.size:
        n = min(8192, a.size - lo)
        res += _pairwise64(a, lo, n)
        lo += n
    return res / a.size


@_jit
def resident_stats(s, trust, compound_start, compound_type, compound_size, n_types, bins):  # noqa: ANN001, ANN201
    """Mean and 10th percentile of satisfaction, mean trust, mean satisfaction by compound type
    (as ``Recorder._by_ctype``: ``np.add.reduceat`` per compound, then ``np.bincount``)."""
    sums = np.zeros(n_types)
    counts = np.zeros(n_types)
    n_comp = compound_start.size
    for c in range(n_comp):
        lo = compound_start[c]
        hi = compound_start[c + 1] if c + 1 < n_comp else s.size
        v = np.float64(s[lo]) + _pairwise64(s, lo + 1, max(hi - lo - 1, 0))  # reduceat: first + pairwise(rest)
        sums[compound_type[c]] += v
        counts[compound_type[c]] += np.float64(compound_size[c])
    by_type = np.empty(n_types)
    for k in range(n_types):
        by_type[k] = sums[k] / counts[k] if counts[k] != 0 else np.nan
    return mean64(s), p10_binned(s, bins), mean64(trust), by_type


@_jit
def utilisation(n_staff, capacity_per_staff, admin_tasks, admin_cap, effort_per_task, used, cap, comm_lo, n_comm,
                grid_lo, n_grid):  # noqa: ANN001, ANN201
    """Community staff effort and busy effort, and grid effort and busy effort, today (see
    ``Recorder._utilisation``): staff, admin, community used, grid used, grid capacity, and the
    effort policies added to the community (capacity less the staff's own problem effort)."""
    nc = n_staff.size
    staff_eff = np.empty(nc, dtype=np.float32)
    admin_eff = np.empty(nc, dtype=np.float32)
    own = np.empty(nc, dtype=np.float32)
    for i in range(nc):
        staff_eff[i] = n_staff[i] * capacity_per_staff
        tasks = min(admin_tasks[i], admin_cap[i])
        admin_eff[i] = min(np.float32(tasks * effort_per_task), staff_eff[i])
        own[i] = staff_eff[i] - admin_eff[i]
    comm = np.empty(n_comm)
    for j in range(n_comm):
        comm[j] = min(used[comm_lo + j], cap[comm_lo + j])
    grid = np.empty(n_grid)
    for j in range(n_grid):
        grid[j] = min(used[grid_lo + j], cap[grid_lo + j])
    added = _pairwise64(cap, comm_lo, n_comm) - _pairwise32(own, 0, nc)
    return (_pairwise32(staff_eff, 0, nc), _pairwise32(admin_eff, 0, nc),
            _pairwise64(comm, 0, n_comm), _pairwise64(grid, 0, n_grid), _pairwise64(cap, grid_lo, n_grid), added)


# --------------------------------------------------------------------------------------------
# handlers' capacity, participation
# --------------------------------------------------------------------------------------------
@_jit
def _put(out, at, part, extra):  # noqa: ANN001, ANN201
    """Write ``part (+ extra)`` into ``out`` from ``at`` (the sum in the parts' own precision)."""
    if extra.size:
        for i in range(part.size):
            out[at + i] = part[i] + extra[i]
    else:
        for i in range(part.size):
            out[at + i] = part[i]
    return at + part.size


@_jit
def capacity(n_workers, capacity_per_worker, firm_capacity, n_staff, capacity_per_staff, admin_tasks, admin_cap,
             effort_per_task, street_capacity, department_capacity, city_capacity, e_grid, e_property, e_community,
             e_street, e_department, e_city):  # noqa: ANN001, ANN201
    """Today's effort per handler, all levels concatenated (as ``HandlerTables.capacity``);
    ``e_*`` are the effort policies add per handler (empty: none)."""
    n = (n_workers.size + firm_capacity.size + n_staff.size + street_capacity.size + department_capacity.size
         + city_capacity.size)
    out = np.empty(n)
    grid = np.empty(n_workers.size, dtype=np.float32)
    for i in range(n_workers.size):
        grid[i] = n_workers[i] * capacity_per_worker
    comm = np.empty(n_staff.size, dtype=np.float32)
    for i in range(n_staff.size):
        staff = n_staff[i] * capacity_per_staff
        admin = min(np.float32(min(admin_tasks[i], admin_cap[i]) * effort_per_task), staff)
        comm[i] = staff - admin  # Communities.problem_capacity
    at = _put(out, 0, grid, e_grid)
    at = _put(out, at, firm_capacity, e_property)
    at = _put(out, at, comm, e_community)
    at = _put(out, at, street_capacity, e_street)
    at = _put(out, at, department_capacity, e_department)
    _put(out, at, city_capacity, e_city)
    return out


@_jit
def sum32(a, b):  # noqa: ANN001, ANN201
    """``float(a.sum()), float(b.sum())`` of two float32 arrays, as numpy sums them."""
    return _pairwise32(a, 0, a.size), _pairwise32(b, 0, b.size)


@_jit
def int_totals(a, b, c):  # noqa: ANN001, ANN201
    """Totals of three integer arrays (the ledger's arisen, resolved and abandoned counts)."""
    return a.sum(), b.sum(), c.sum()


@_jit
def max_value(a):  # noqa: ANN001, ANN201
    """``a.max()`` of a non-empty array."""
    top = a[0]
    for x in a:
        if x > top:
            top = x
    return top


@_jit
def max_product(a, b):  # noqa: ANN001, ANN201
    """``(a * b).max()`` (0 for empty arrays)."""
    top = a.dtype.type(0) * b.dtype.type(0)
    for i in range(a.size):
        x = a[i] * b[i]
        if i == 0 or x > top:
            top = x
    return top


@_jit
def participation_gain(satisfaction, trust, ids, gain_s, gain_t, acc):  # noqa: ANN001, ANN201
    """Each participation (repeated ids add up) lifts satisfaction and trust; both clipped."""
    scatter_add_scalar(satisfaction, ids, gain_s, acc)
    scatter_add_scalar(trust, ids, gain_t, acc)
    clip_at(satisfaction, ids)
    clip_at(trust, ids)


@_jit
def escalate_day(t, u, status, res, cat, sev, level, handler, t_arise, t_found, t_level, n_contacts, finder, flags,
                 dur_escalate, rate_escalate, deadline, next_level, top, expected_wait, rate_recontact,
                 no_recontact_flags, patience, rate_abandon, rate_abandon_latent, abandoned, flag_abandoned,
                 res_household, household_grid, grid_workers, res_compound, compound_firm, res_community, res_street,
                 authority, severity_mult, level_cat_mult, m_grid, m_property, m_community, m_street, m_department,
                 m_city, threshold, chains):  # noqa: ANN001, ANN201
    """The escalate phase in one pass: :func:`escalate`, then the rows that move up are placed at
    their next level (:func:`place`), then closed rows leave the pool (:func:`keep_rows`).

    Returns the number escalated, the number of repeat contacts, the residents of overdue rows,
    the residents whose found problems were given up, and the new number of rows.
    """
    up, n_again, late_res, quit_res = escalate(
        t, u, status, res, cat, sev, level, t_arise, t_found, t_level, n_contacts, flags, dur_escalate,
        rate_escalate, deadline, next_level, top, expected_wait, rate_recontact, no_recontact_flags, patience,
        rate_abandon, rate_abandon_latent, abandoned, flag_abandoned)
    if up.size:
        start = np.empty(up.size, dtype=np.int8)
        for j in range(up.size):
            start[j] = next_level[level[up[j]]]
        place(up, start, t, res, cat, sev, level, handler, t_level, res_household, household_grid, grid_workers,
              res_compound, compound_firm, res_community, res_street, authority, severity_mult, level_cat_mult,
              m_grid, m_property, m_community, m_street, m_department, m_city, threshold, chains, top)
    m = keep_rows(status, res, cat, sev, level, handler, t_arise, t_found, t_level, n_contacts, finder, flags)
    return up.size, n_again, late_res, quit_res, m


# --------------------------------------------------------------------------------------------
# fused phases: one call where the vectorised phase made several
# --------------------------------------------------------------------------------------------
@_jit
def arise_into(k, u, order, start, size, cat_cum, sev_cum, p_prevent, res_compound, res_ctype, arisen, arisen_ctype,
               t, n, b_res, b_cat, b_sev, b_status, b_level, b_handler, b_t_arise, b_t_found, b_t_level, b_n_contacts,
               b_finder, b_flags):  # noqa: ANN001, ANN201
    """:func:`arise`, the problems written into the pool's buffers from row ``n`` (the caller
    made room for every arrival); returns the number added and the number prevented."""
    res, cat, sev, n_prevented = arise(k, u, order, start, size, cat_cum, sev_cum, p_prevent, res_compound,
                                       res_ctype, arisen, arisen_ctype)
    append_latent(n, res, cat, sev, t, b_res, b_cat, b_sev, b_status, b_level, b_handler, b_t_arise, b_t_found,
                  b_t_level, b_n_contacts, b_finder, b_flags)
    return res.size, n_prevented


@_jit
def judge_day(satisfaction, expectation, trust, ids, perf, beta, alpha_s, alpha_e, alpha_t, overdue, loss_s, loss_t,
              acc):  # noqa: ANN001, ANN201
    """The judge phase: :func:`judge` for today's outcomes, then :func:`erode` for overdue problems
    (``loss_s`` 0: no erosion)."""
    if ids.size:
        judge(satisfaction, expectation, trust, ids, perf, beta, alpha_s, alpha_e, alpha_t, acc)
    if overdue.size and loss_s != 0:
        erode(satisfaction, trust, overdue, loss_s, loss_t, acc)


@_jit
def participate_day(n_att, community_start, community_size, u_att, cand, u_vol, top, rate, mult, satisfaction, trust,
                    volunteer_turns, gain_s, gain_t, acc, indptr, indices, rate_social, rate_drift, s_init,
                    t_init):  # noqa: ANN001, ANN201
    """The participate phase after its draws: event attendees (:func:`attendees`), volunteers
    among the candidates (:func:`accept_volunteers`), their gains (:func:`participation_gain`),
    then :func:`social_influence`. Returns the number of volunteers."""
    att = attendees(n_att, community_start, community_size, u_att)
    vols = accept_volunteers(cand, u_vol, top, rate, mult, trust)
    for r in vols:
        volunteer_turns[r] += 1
    ids = np.empty(att.size + vols.size, dtype=np.int64)
    ids[: att.size] = att
    ids[att.size:] = vols
    if ids.size:
        participation_gain(satisfaction, trust, ids, gain_s, gain_t, acc)
    social_influence(satisfaction, trust, indptr, indices, rate_social, rate_drift, s_init, t_init)
    return vols.size


@_jit
def record_row(table, r, status, level, arisen_cs, resolved_cs, abandoned_cs, satisfaction, trust, compound_start,
               compound_type, compound_size, found, prevented, staff_u, grid_u, volunteer_hours, cost_yuan,
               repeat_contacts, escalations):  # noqa: ANN001, ANN201
    """Write column ``r`` of the time series ``table`` (rows in ``results.SERIES`` order)."""
    arisen, resolved, abandoned = int_totals(arisen_cs, resolved_cs, abandoned_cs)
    latent, queued, backlog = pool_counts(status, level, N_LEVELS)
    s_mean, p10, t_mean, by_type = resident_stats(satisfaction, trust, compound_start, compound_type, compound_size,
                                                  3, 10_000)
    vals = (np.float64(arisen), np.float64(found), np.float64(resolved), np.float64(abandoned),
            np.float64(prevented), np.float64(status.size), np.float64(latent), np.float64(queued))
    i = 0
    for v in vals:
        table[i, r] = v
        i += 1
    for lv in range(N_LEVELS):
        table[i, r] = backlog[lv]
        i += 1
    table[i, r] = np.float64(resolved) / np.float64(arisen) if arisen else np.nan
    table[i + 1, r] = s_mean
    table[i + 2, r] = p10
    table[i + 3, r] = t_mean
    i += 4
    for k in range(3):
        table[i, r] = by_type[k]
        i += 1
    for v in (np.float64(staff_u), np.float64(grid_u), np.float64(volunteer_hours), np.float64(cost_yuan),
              np.float64(repeat_contacts), np.float64(escalations)):
        table[i, r] = v
        i += 1
    return i
