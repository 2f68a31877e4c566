"""Counters of the reference model (docs/model.md §2.4) and its outputs (§9)."""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING

import numpy as np

from sim.config.taxonomy import (
    CATEGORIES,
    COMPOUND_TYPES,
    FINDERS,
    FLAGS,
    GRID_VISIT,
    LATENT,
    LEVELS,
    N_CATEGORIES,
    N_FINDERS,
    N_LEVELS,
    N_SEVERITIES,
    PARTY_LINK,
    QUEUED,
    SELF_REPORT,
)
from sim.core.results import SERIES
from sim.core.windows import pre_post_summary, trailing_mean, trailing_ratio

if TYPE_CHECKING:
    from sim.reference.model import ReferenceModel


def _ratio(a: float, b: float) -> float:
    return float(a) / float(b) if b else math.nan


def quantile_days(hist: Counter[int], q: float) -> float:
    """Smallest whole number of days d such that at least a share q of waits are <= d."""
    n = sum(hist.values())
    if n == 0:
        return math.nan
    cum = 0
    for d in sorted(hist):
        cum += hist[d]
        if cum >= q * n:
            return float(d)
    return float(max(hist))


class Ledger:
    """Cumulative counts from t = 0."""

    def __init__(self) -> None:
        grid = [[0] * N_SEVERITIES for _ in range(N_CATEGORIES)]
        self.arisen = [row[:] for row in grid]
        self.resolved = [row[:] for row in grid]
        self.abandoned = [row[:] for row in grid]
        self.arisen_ctype = [0, 0, 0]
        self.resolved_ctype = [0, 0, 0]
        self.resolved_level = [0] * N_LEVELS
        self.found = 0
        self.found_by = [0] * N_FINDERS
        self.days_hist: list[Counter[int]] = [Counter() for _ in range(N_SEVERITIES)]
        self.flag_resolved = [0] * len(FLAGS)
        self.flag_abandoned = [0] * len(FLAGS)
        self.prevented = 0
        self.escalations = 0
        self.contacts_resolved = 0
        self.repeat_contacts = 0
        self.staff_busy = 0.0
        self.staff_available = 0.0
        self.grid_busy = 0.0
        self.grid_available = 0.0
        self.policy: dict[str, float] = {}

    def total(self, table: list[list[int]]) -> int:
        """Sum of a category × severity table."""
        return sum(sum(row) for row in table)

    def add_flags(self, counts: list[int], flags: int) -> None:
        """Count one problem in every flag bit it carries."""
        for b in range(len(FLAGS)):
            if flags >> b & 1:
                counts[b] += 1


def _p10_binned(values: list[float], bins: int = 10_000) -> float:
    """10th percentile binned as §9.1: first bin whose cumulative count reaches 0.1 n."""
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, max(0, int(v * bins)))] += 1
    need = 0.1 * len(values)
    cum = 0
    for k, c in enumerate(counts):
        cum += c
        if cum >= need:
            return (k + 0.5) / bins
    return math.nan


def _by_ctype(model: ReferenceModel, attr: str) -> list[float]:
    sums = [0.0, 0.0, 0.0]
    ns = [0, 0, 0]
    for r in model.residents:
        sums[r.ctype] += getattr(r, attr)
        ns[r.ctype] += 1
    return [s / n if n else math.nan for s, n in zip(sums, ns)]


def series_row(model: ReferenceModel) -> dict[str, float]:
    """One row of the time series (§9.1)."""
    led = model.ledger
    pool = model.problems
    arisen = led.total(led.arisen)
    resolved = led.total(led.resolved)
    row: dict[str, float] = {
        "arisen": arisen, "found": led.found, "resolved": resolved, "abandoned": led.total(led.abandoned),
        "prevented": led.prevented, "pending": len(pool),
        "pending_latent": sum(1 for p in pool if p.status == LATENT),
        "pending_queued": sum(1 for p in pool if p.status == QUEUED),
    }
    backlog = [0] * N_LEVELS
    for p in pool:
        if p.status == QUEUED:
            backlog[p.level] += 1
    for lvl, name in enumerate(LEVELS):
        row[f"backlog_{name}"] = backlog[lvl]
    sat = [r.S for r in model.residents]
    row["resolution_rate"] = _ratio(resolved, arisen)
    row["satisfaction_mean"] = sum(sat) / len(sat)
    row["satisfaction_p10"] = _p10_binned(sat)
    row["trust_mean"] = sum(r.T for r in model.residents) / len(sat)
    for name, v in zip(COMPOUND_TYPES, _by_ctype(model, "S")):
        row[f"satisfaction_{name}"] = v
    row["staff_utilisation"] = model.today_staff_utilisation
    row["grid_utilisation"] = model.today_grid_utilisation
    row["volunteer_hours"] = model.volunteer_hours
    row["cost_yuan"] = model.cost_yuan
    row["repeat_contacts"] = led.repeat_contacts
    row["escalations"] = led.escalations
    row.update(_window_row(model))
    row["self_reported"] = model.self_reported_today
    row["unreported_pending"] = sum(1 for p in pool if p.status == LATENT and p.t_found < 0 and not p.closed)
    assert set(row) == set(SERIES)
    return row


def _window_row(model: ReferenceModel) -> dict[str, float]:
    """The windowed series of today's row (§9.1): over the last 30 days (today is already in ``series_t``)."""
    day = model.series_t[-1]
    return {"resolution_rate_30d": trailing_ratio(np.array(model.resolved_cum), np.array(model.closed_cum), day),
            "satisfaction_mean_30d": trailing_mean(np.array(model.satisfaction_day), day),
            "trust_mean_30d": trailing_mean(np.array(model.trust_day), day)}


def reform_summary(model: ReferenceModel) -> dict[str, float]:
    """Carried problems (after a warm-up) and the pre/post windows of a reform date (§7.12, §9.2)."""
    out: dict[str, float] = {}
    if model.dur_warmup:
        out["problems_carried"] = model.problems_carried
    if model.reform_day > 0:
        out["reform_start_day"] = model.reform_day
        if model.record_series:
            series = {k: np.array(v, dtype=np.float64) for k, v in model.series.items()}
            out.update(pre_post_summary(np.array(model.series_t), series, model.reform_day,
                                        model.sc.reform.dur_window))
    return out


def summary(model: ReferenceModel) -> dict[str, float]:
    """End-of-run summary (§9.2)."""
    led = model.ledger
    arisen = led.total(led.arisen)
    resolved = led.total(led.resolved)
    abandoned = led.total(led.abandoned)
    out: dict[str, float] = {
        "n_residents": len(model.residents), "n_steps": model.t,
        "problems_arisen": arisen, "problems_found": led.found, "problems_resolved": resolved,
        "problems_pending": len(model.problems), "problems_abandoned": abandoned,
        "problems_prevented": led.prevented,
        "resolution_rate": _ratio(resolved, arisen), "abandonment_rate": _ratio(abandoned, arisen),
    }
    all_days: Counter[int] = Counter()
    for h in led.days_hist:
        all_days.update(h)
    big: Counter[int] = Counter()
    for h in led.days_hist[2:]:
        big.update(h)
    out["days_to_resolution_median"] = quantile_days(all_days, 0.5)
    out["days_to_resolution_p90"] = quantile_days(all_days, 0.9)
    out["days_to_resolution_median_big"] = quantile_days(big, 0.5)
    out["abandonment_rate_big"] = _ratio(sum(sum(r[2:]) for r in led.abandoned), sum(sum(r[2:]) for r in led.arisen))
    for lvl, name in enumerate(LEVELS):
        out[f"share_resolved_{name}"] = _ratio(led.resolved_level[lvl], resolved)
    for f, name in enumerate(FINDERS):
        out[f"share_found_{name}"] = _ratio(led.found_by[f], led.found)
    out["share_found_proactive"] = _ratio(led.found_by[GRID_VISIT] + led.found_by[PARTY_LINK], led.found)
    out["reporting_rate"] = _ratio(led.found, arisen)
    out["self_report_rate"] = _ratio(led.found_by[SELF_REPORT], arisen)
    out["repeat_contacts_per_resolved"] = _ratio(led.contacts_resolved - resolved, resolved)
    out["contacts_per_resolved"] = _ratio(led.contacts_resolved, resolved)
    for c, name in enumerate(CATEGORIES):
        out[f"resolution_rate_{name}"] = _ratio(sum(led.resolved[c]), sum(led.arisen[c]))
    sat = [r.S for r in model.residents]
    out["satisfaction_mean"] = sum(sat) / len(sat)
    out["trust_mean"] = sum(r.T for r in model.residents) / len(sat)
    out["efficacy_mean"] = sum(r.F for r in model.residents) / len(sat)
    out["satisfaction_p10"] = float(np.percentile(np.array(sat), 10))
    s_ct, t_ct = _by_ctype(model, "S"), _by_ctype(model, "T")
    for k, name in enumerate(COMPOUND_TYPES):
        out[f"satisfaction_{name}"] = s_ct[k]
        out[f"trust_{name}"] = t_ct[k]
        out[f"resolution_rate_{name}"] = _ratio(led.resolved_ctype[k], led.arisen_ctype[k])
    out["volunteer_hours"] = model.volunteer_hours
    out["staff_utilisation"] = _ratio(led.staff_busy, led.staff_available)
    out["grid_utilisation"] = _ratio(led.grid_busy, led.grid_available)
    out["cost_yuan"] = model.cost_yuan
    out["escalations"] = led.escalations
    for b, name in enumerate(FLAGS[:7]):  # the eighth bit, "other", is not reported
        out[f"flag_{name}_resolved"] = led.flag_resolved[b]
        out[f"flag_{name}_abandoned"] = led.flag_abandoned[b]
    out.update(led.policy)
    out.update(reform_summary(model))
    return {k: float(v) for k, v in out.items()}


def day_cost(model: ReferenceModel) -> float:
    """Yuan today (§7.9): pay, events, staff-days spent and every policy's cost.

    Pay of the pre-reform grid roles and the community staff; staff-days streets, departments and
    the city spent on residents' problems.
    """
    c = model.sc.costs
    pay = (model.n_grid_roles * c.pay_grid_worker
           + sum(cm.n_staff for cm in model.communities) * c.pay_community_staff) / 30.0
    staff_days = (sum(s.used for s in model.streets) * c.cost_street_staff_day
                  + sum(d.used for d in model.departments) * c.cost_department_staff_day
                  + model.city.used * c.cost_city_staff_day)
    return pay + model.events_today * c.cost_event + staff_days + sum(p.cost_per_day(model) for p in model.policies)


def book_utilisation(model: ReferenceModel) -> tuple[float, float]:
    """Add today's community staff's and grid workers' busy and available effort to the ledger; today's shares."""
    led = model.ledger
    busy = sum(min(cm.used, cm.capacity()) + cm.admin_effort() for cm in model.communities)
    avail = sum(cm.staff_effort() + cm.extra for cm in model.communities)
    g_busy = sum(min(g.used, g.capacity()) for g in model.grids)
    g_avail = sum(g.capacity() for g in model.grids)
    led.staff_busy += busy
    led.staff_available += avail
    led.grid_busy += g_busy
    led.grid_available += g_avail
    return (busy / avail if avail else math.nan), (g_busy / g_avail if g_avail else math.nan)
