"""Outputs: the per-step time series, the end-of-run summary, and the Results object.

Metric names are stable: they are the columns of the DataFrame, the keys of the JSON summary
and the names stored in the database. Counts are cumulative from step 0 unless named
``pending``/``backlog``; rates and means are as of the recorded step; the ``_30d`` series are
over the last 30 days (:mod:`sim.core.windows`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.config.taxonomy import (
    CATEGORIES,
    COMMUNITY,
    COMPOUND_TYPES,
    FINDERS,
    FLAGS,
    GRID,
    GRID_VISIT,
    LEVELS,
    PARTY_LINK,
    QUEUED,
    SELF_REPORT,
    SEVERITIES,
)
from sim.core.accounting import LevelLoad
from sim.core.kernels.recording import P10_BINS, record_day, unrecorded_day, utilisation
from sim.core.kernels.state import Fields, SeriesRows, WindowRows
from sim.core.windows import WINDOW_DAYS, WINDOW_SERIES, pre_post_summary

if TYPE_CHECKING:
    import pandas as pd

    from sim.core.model import Model
    from sim.core.scenario import Scenario
    from sim.core.world import World

SERIES: tuple[str, ...] = (
    "arisen", "found", "resolved", "abandoned", "prevented", "pending", "pending_latent", "pending_queued",
    *(f"backlog_{lvl}" for lvl in LEVELS),
    "resolution_rate", "satisfaction_mean", "satisfaction_p10", "trust_mean",
    *(f"satisfaction_{ct}" for ct in COMPOUND_TYPES),
    "staff_utilisation", "grid_utilisation", "volunteer_hours", "cost_yuan", "repeat_contacts", "escalations",
    *WINDOW_SERIES,
    "self_reported", "unreported_pending",
)


def series_rows() -> SeriesRows:
    """The row of each series of :data:`SERIES` in the recorder's table, by name, for the record kernel."""
    at = {name: i for i, name in enumerate(SERIES)}
    by_name = {name: at[name] for name in SeriesRows._fields if name in at}
    return SeriesRows(**by_name, backlog=np.array([at[f"backlog_{lvl}"] for lvl in LEVELS]),
                      satisfaction_by_ctype=np.array([at[f"satisfaction_{ct}"] for ct in COMPOUND_TYPES]))


def window_rows() -> WindowRows:
    """The row of each windowed series (:data:`~sim.core.windows.WINDOW_SERIES`) in the table, by name."""
    return WindowRows(**{name: SERIES.index(name) for name in WindowRows._fields})


_SERIES_ROWS: Fields = tuple(series_rows())
_WINDOW_ROWS: Fields = tuple(window_rows())


def quantile_from_hist(hist: np.ndarray, q: float) -> float:
    """The q-quantile (lower) of integer values given their histogram; nan if empty."""
    total = hist.sum()
    if total == 0:
        return float("nan")
    return float(np.searchsorted(np.cumsum(hist), q * total))


def p10_binned(values: np.ndarray, bins: int = P10_BINS) -> float:
    """10th percentile of values in [0, 1], to 1/bins, by a counting pass (no O(n log n) sort)."""
    counts = np.bincount(np.minimum((values * bins).astype(np.int64), bins - 1), minlength=bins)
    k = int(np.searchsorted(np.cumsum(counts), 0.1 * values.size))
    return (k + 0.5) / bins


def ratio(a: float, b: float) -> float:
    """``a / b`` as floats, nan when ``b`` is 0."""
    return float(a) / float(b) if b else float("nan")


def mean_by_ctype(world: World, values: np.ndarray) -> np.ndarray:
    """Mean of a per-resident array by compound type (compounds are contiguous id ranges); nan for a type with none."""
    per_compound = np.add.reduceat(values.astype(np.float64), world.compound_start)
    sums = np.bincount(world.compound_type, weights=per_compound, minlength=len(COMPOUND_TYPES))
    counts = np.bincount(world.compound_type, weights=world.compound_size, minlength=len(COMPOUND_TYPES))
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts


class Recorder:
    """Writes the time series into preallocated arrays and computes the summary."""

    def __init__(self, model: Model, n_steps: int, record_every: int) -> None:
        self.model = model
        self.record_every = record_every
        self.n_steps = n_steps
        self._alloc(n_steps)
        self.staff_effort_total = 0.0
        self.staff_busy_total = 0.0
        self.grid_effort_total = 0.0
        self.grid_busy_total = 0.0
        #: effort and capacity per level, waits at the level of resolution (docs/model.md §7.9)
        self.load = LevelLoad()
        w = model.world
        self._compounds: Fields = (w.compound_start, w.compound_type, w.compound_size)  # Compounds
        self._self_reported_before = 0  # problems self-reported up to yesterday

    def _alloc(self, n_steps: int) -> None:
        n_rows = -(-n_steps // self.record_every) + 1
        self.t = np.full(n_rows, -1, dtype=np.int64)
        #: one row per series (SERIES order), one column per recorded step; ``data`` views its rows
        self._table = np.full((len(SERIES), n_rows), np.nan)
        self.data = {name: self._table[i] for i, name in enumerate(SERIES)}
        self.rows = 0
        #: cumulative resolved and closed (resolved + abandoned) at the end of each day d, at [d + 1]
        self._resolved_cum = np.zeros(n_steps + 2, dtype=np.int64)
        self._closed_cum = np.zeros(n_steps + 2, dtype=np.int64)
        #: mean satisfaction and trust of each day d, at [d]
        self._satisfaction_day = np.zeros(n_steps + 1)
        self._trust_day = np.zeros(n_steps + 1)

    def extend(self, n_steps: int) -> None:
        """Make room for a run continued beyond the scenario's n_steps."""
        old_t, old, rows = self.t, self.data, self.rows
        old_days = self._day_counts()
        self.n_steps = n_steps
        self._alloc(n_steps)
        self.t[:rows] = old_t[:rows]
        for k in SERIES:
            self.data[k][:rows] = old[k][:rows]
        self.rows = rows
        for new, old_day in zip(self._day_counts(), old_days, strict=True):
            new[:old_day.size] = old_day

    def utilisation(self) -> tuple[float, float]:
        """Today's staff and grid utilisation (busy effort over effort), added to the run's totals."""
        m = self.model
        used = m.effort_used
        if used is None:  # nothing handled yet
            return float(m.communities.staff_effort().sum()), float((m.grids.n_workers * m.grid_worker_capacity).sum())
        off = m.handlers.level_offset
        # staff effort, admin effort, min(used, capacity) summed over communities and grids, the grids'
        # capacity, and the effort policies added to the communities (capacity less the staff's own)
        staff, admin, comm_used, grid_used, grid_cap, added = utilisation(
            m.handlers.community_staff(), used, m.handlers.capacity(), off[COMMUNITY], m.world.n_communities,
            off[GRID], m.grids.n,
        )
        staff += added
        self.staff_effort_total += staff
        self.staff_busy_total += comm_used + admin
        self.grid_effort_total += grid_cap
        self.grid_busy_total += grid_used
        return (comm_used + admin) / staff if staff else float("nan"), grid_used / grid_cap if grid_cap else float("nan")

    def _day_counts(self) -> Fields:
        """What the windows read, by day, as the kernels take it (``DayCounts``)."""
        return self._resolved_cum, self._closed_cum, self._satisfaction_day, self._trust_day

    def start_counts(self) -> None:
        """Take the ledger as it stands as yesterday's totals (after a warm-up: the carried problems)."""
        self._self_reported_before = int(self.model.ledger.found_by[SELF_REPORT])

    def record(self, t: int, by_level: np.ndarray | None = None) -> None:
        """Account the day (clock ``t``); write a row every ``record_every`` recorded days.

        ``by_level``: today's ``Handlers.spent_by_level`` if the caller has it.
        """
        staff_u, grid_u = self.utilisation()
        self.load.day(self.model.handlers.spent_by_level() if by_level is None else by_level)
        self_total = int(self.model.ledger.found_by[SELF_REPORT])
        self_today, self._self_reported_before = self_total - self._self_reported_before, self_total
        m, led = self.model, self.model.ledger
        day = t - m.dur_warmup
        if day + 2 > self._resolved_cum.size:  # stepping past the scenario's n_steps: grow
            self.extend(2 * self.n_steps)
        if day % self.record_every != 0:  # the windows' daily counts and means (a recorded day has them in its row)
            unrecorded_day(led.counts(), m.residents.state(), self._day_counts(), day)
            return
        if self.rows >= self.t.size:
            self.extend(2 * self.n_steps)
        r = self.rows
        self.t[r] = day
        # cumulative counts; pending rows by status and level; resolution rate; satisfaction mean (as
        # ndarray.mean(dtype=float64)), 10th percentile (as p10_binned) and by compound type (as
        # mean_by_ctype); trust mean; utilisation; volunteer hours; cost; repeat contacts; escalations;
        # then the windowed series (sim.core.windows)
        totals = (led.found, led.prevented, staff_u, grid_u, m.volunteer_hours, m.cost_yuan, led.repeat_contacts,
                  led.escalations, self_today)  # DayTotals
        record_day(self._table, r, _SERIES_ROWS, _WINDOW_ROWS, m.problems.cols, led.counts(), m.residents.state(),
                   self._compounds, totals, self._day_counts(), day, WINDOW_DAYS)
        self.rows = r + 1

    def summary(self) -> dict[str, float]:
        """End-of-run outcomes (see docs/model.md, "Outputs")."""
        m, led = self.model, self.model.ledger
        arisen, resolved, abandoned = int(led.arisen.sum()), int(led.resolved.sum()), int(led.abandoned.sum())
        out: dict[str, float] = {
            "n_residents": m.world.n_residents,
            "n_steps": m.t,
            "problems_arisen": arisen,
            "problems_found": led.found,
            "problems_resolved": resolved,
            "problems_pending": m.problems.n,
            "problems_abandoned": abandoned,
            "problems_prevented": led.prevented,
            "resolution_rate": ratio(resolved, arisen),
            "abandonment_rate": ratio(abandoned, arisen),
        }
        hist = led.days_hist.sum(axis=0)
        out["days_to_resolution_median"] = quantile_from_hist(hist, 0.5)
        out["days_to_resolution_p90"] = quantile_from_hist(hist, 0.9)
        big = led.days_hist[SEVERITIES.index("big"):].sum(axis=0)
        out["days_to_resolution_median_big"] = quantile_from_hist(big, 0.5)
        out["abandonment_rate_big"] = ratio(led.abandoned[:, 2:].sum(), led.arisen[:, 2:].sum())
        for i, lvl in enumerate(LEVELS):
            out[f"share_resolved_{lvl}"] = ratio(led.resolved_level[i], resolved)
        for i, f in enumerate(FINDERS):
            out[f"share_found_{f}"] = ratio(led.found_by[i], led.found)
        out["share_found_proactive"] = ratio(led.found_by[GRID_VISIT] + led.found_by[PARTY_LINK], led.found)
        # latent demand: the share of arisen problems brought to the government, by any channel / by the resident
        out["reporting_rate"] = ratio(led.found, arisen)
        out["self_report_rate"] = ratio(led.found_by[SELF_REPORT], arisen)
        # "running again" (000): contacts beyond the first report, per resolved problem
        out["repeat_contacts_per_resolved"] = ratio(led.contacts_resolved - resolved, resolved)
        out["contacts_per_resolved"] = ratio(led.contacts_resolved, resolved)
        for i, c in enumerate(CATEGORIES):
            out[f"resolution_rate_{c}"] = ratio(led.resolved[i].sum(), led.arisen[i].sum())
        s, tr = m.residents.satisfaction, m.residents.trust
        out["satisfaction_mean"] = float(s.mean(dtype=np.float64))
        out["satisfaction_p10"] = float(np.percentile(s, 10))
        out["trust_mean"] = float(tr.mean(dtype=np.float64))
        out["efficacy_mean"] = float(m.residents.efficacy.mean(dtype=np.float64))
        for i, ct in enumerate(COMPOUND_TYPES):
            out[f"satisfaction_{ct}"] = float(mean_by_ctype(m.world, s)[i])
            out[f"trust_{ct}"] = float(mean_by_ctype(m.world, tr)[i])
            out[f"resolution_rate_{ct}"] = ratio(led.resolved_ctype[i], led.arisen_ctype[i])
        out["volunteer_hours"] = m.volunteer_hours
        out["staff_utilisation"] = ratio(self.staff_busy_total, self.staff_effort_total)
        out["grid_utilisation"] = ratio(self.grid_busy_total, self.grid_effort_total)
        out["cost_yuan"] = m.cost_yuan
        out.update({f"cost_{k}_yuan": v for k, v in m.cost_ledger.items()})
        out.update(self.load.summary())
        pool = m.problems
        queued = np.bincount(pool.level[pool.status == QUEUED], minlength=len(LEVELS))
        out.update({f"backlog_{lvl}_end": float(queued[i]) for i, lvl in enumerate(LEVELS)})  # queued at the end
        out["escalations"] = led.escalations
        for i, flag in enumerate(FLAGS[:-1]):  # the last bit is spare
            out[f"flag_{flag}_resolved"] = led.flag_resolved[i]
            out[f"flag_{flag}_abandoned"] = led.flag_abandoned[i]
        out.update(m.policy_counters)
        out.update(self._reform_summary())
        return {k: float(v) for k, v in out.items()}

    def _reform_summary(self) -> dict[str, float]:
        """Warm-up and reform-date outcomes: only for a run that has them (docs/model.md §7.12)."""
        m, out = self.model, {}
        if m.dur_warmup:
            out["problems_carried"] = float(m.problems_carried)
        start = m.reform_day
        if start > 0:
            out["reform_start_day"] = float(start)
            rows = self.rows
            series = {k: v[:rows] for k, v in self.data.items()}
            out.update(pre_post_summary(self.t[:rows], series, start, m.scenario.reform.dur_window))
        return out

    def results(self, started: datetime, finished: datetime, run_s: float) -> Results:
        """The run's time series so far, its summary and provenance."""
        m = self.model
        rows = self.rows
        return Results(
            scenario=m.scenario, seed=m.seed, t=self.t[:rows].copy(),
            timeseries={k: v[:rows].copy() for k, v in self.data.items()},
            summary=self.summary(), started_at=started, finished_at=finished,
            setup_s=m.setup_s, run_s=run_s,
        )


@dataclass
class Results:
    """What a run produced: time series (numpy arrays), summary, provenance."""

    scenario: Scenario
    seed: int
    t: np.ndarray
    timeseries: dict[str, np.ndarray]
    summary: dict[str, float]
    started_at: datetime
    finished_at: datetime
    setup_s: float
    run_s: float
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dataframe(self) -> pd.DataFrame:
        """Time series as a DataFrame indexed by step ``t``."""
        import pandas as pd

        return pd.DataFrame(self.timeseries, index=pd.Index(self.t, name="t"))

    def summary_series(self) -> pd.Series:
        """Summary as a pandas Series."""
        import pandas as pd

        return pd.Series(self.summary, name=self.scenario.name)
