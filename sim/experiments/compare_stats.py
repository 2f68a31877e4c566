"""Statistics of a scenario comparison: replicate seeds, t-intervals, paired differences, Fieller ratios.

Pure functions on numbers and arrays, kept apart from :mod:`sim.experiments.compare` (which runs the
scenarios and holds the :class:`~sim.experiments.compare.Comparison`) so they can be used and tested without
running a model; :mod:`sim.experiments.calibrate` and :mod:`sim.report.data` use them too. The methods are
described in the "Statistics" section of :mod:`sim.experiments.compare`. Everything here is re-exported by
:mod:`sim.experiments.compare`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "CE_OUTCOMES",
    "CE_STATUS",
    "LEVEL",
    "STAT_COLUMNS",
    "ce_status",
    "fieller_ratio_ci",
    "paired_cost_effectiveness",
    "paired_summary",
    "replicate_seeds",
    "spread_cost_effectiveness",
    "t_interval",
]

#: Confidence level of every interval (95%).
LEVEL = 0.95
#: Statistics of one (scenario, metric) cell besides ``n``: mean and interval, paired difference and interval.
STAT_COLUMNS: tuple[str, ...] = ("mean", "ci_low", "ci_high", "diff", "diff_ci_low", "diff_ci_high")


def replicate_seeds(root_seed: int, replicates: int) -> list[int]:
    """Seed of each replicate: ``SeedSequence(root_seed).spawn(replicates)[r].generate_state(1)[0]``."""
    return [int(ss.generate_state(1)[0]) for ss in np.random.SeedSequence(int(root_seed)).spawn(int(replicates))]


def t_interval(x: Any, axis: int = 0, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean and ``level`` t-interval along ``axis`` over the finite values; also their count.

    With fewer than two finite values the interval is NaN; with zero spread it is [mean, mean].
    """
    from scipy import stats

    x = np.asarray(x, dtype=np.float64)
    ok = np.isfinite(x)
    n = ok.sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, x, 0.0).sum(axis=axis) / n
        dev = np.where(ok, x - np.expand_dims(mean, axis), 0.0)
        var = (dev**2).sum(axis=axis) / (n - 1)
        df = np.where(n >= 2, n - 1, np.nan)
        half = stats.t.ppf(0.5 + level / 2, df) * np.sqrt(var / n)
    half = np.where(n >= 2, half, np.nan)
    return mean, mean - half, mean + half, n


def fieller_ratio_ci(num: Any, den: Any, level: float = LEVEL) -> tuple[float, float, float, bool]:
    """Ratio of means ``mean(num) / mean(den)`` of paired samples with Fieller's ``level`` interval.

    The interval is the set of ratios ``rho`` for which the paired t-test of ``num - rho * den``
    does not reject zero. It is bounded (returned with ``True``) only if ``mean(den)`` is
    significantly different from zero; otherwise the bounds are NaN and the flag is False.
    Pairs with a NaN on either side are left out.
    """
    from scipy import stats

    a, b = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    n = a.size
    if n == 0 or b.mean() == 0:
        return math.nan, math.nan, math.nan, False
    ma, mb = float(a.mean()), float(b.mean())
    ratio = ma / mb
    if n < 2:
        return ratio, math.nan, math.nan, False
    cov = np.cov(a, b, ddof=1) / n  # covariance matrix of the two means
    v11, v12, v22 = float(cov[0, 0]), float(cov[0, 1]), float(cov[1, 1])
    t2 = float(stats.t.ppf(0.5 + level / 2, n - 1)) ** 2
    qa = mb * mb - t2 * v22
    if qa <= 0:  # the denominator is not significantly non-zero: the set is unbounded
        return ratio, math.nan, math.nan, False
    qb = -2.0 * (ma * mb - t2 * v12)
    qc = ma * ma - t2 * v11
    disc = max(qb * qb - 4.0 * qa * qc, 0.0)
    root = math.sqrt(disc)
    lo, hi = (-qb - root) / (2.0 * qa), (-qb + root) / (2.0 * qa)
    return ratio, lo, hi, True


def paired_summary(values: np.ndarray, base: np.ndarray | None, level: float = LEVEL) -> dict[str, Any]:
    """Mean and t-interval of ``values``, and of the paired differences ``values - base``.

    Keys, in order: n, mean, ci_low, ci_high, n_pairs, diff, diff_ci_low, diff_ci_high. ``values``
    and ``base`` are per-replicate arrays ordered by replicate; ``base=None`` (the baseline
    itself) gives no difference (``n_pairs`` 0, NaN). A pair with NaN on either side is left out.
    """
    mean, lo, hi, n = t_interval(values, level=level)
    row: dict[str, Any] = {"n": int(n), "mean": float(mean), "ci_low": float(lo), "ci_high": float(hi)}
    if base is None:
        row.update(n_pairs=0, diff=math.nan, diff_ci_low=math.nan, diff_ci_high=math.nan)
    else:
        d = values - base  # NaN where either side is undefined: that pair is left out
        dm, dlo, dhi, dn = t_interval(d, level=level)
        row.update(n_pairs=int(dn), diff=float(dm), diff_ci_low=float(dlo), diff_ci_high=float(dhi))
    return row


#: outcomes of the cost-effectiveness ratios: the factor from the summary's value to the unit, and the unit
CE_OUTCOMES: dict[str, tuple[float, str]] = {
    "satisfaction_mean": (100.0, "percentage point of mean satisfaction (0.01 on 0-1)"),
    "problems_resolved": (1.0, "problem resolved"),
}
#: |mean outcome difference| at or below this (in the outcome's unit: pp, problems) counts as no difference
EFFECT_TOL = 1e-9
#: what each status of a cost-effectiveness row means (reports print it)
CE_STATUS: dict[str, str] = {
    "ok": "costs more, gains more: yuan per unit gained, bounded interval",
    "unbounded": "costs more, gains more on average but the gain is not significant: interval unbounded",
    "dominant": "gains more for no more cost: no ratio (the reform dominates the baseline)",
    "dominated": "gains nothing (or loses) for no less cost: no ratio (the baseline dominates)",
    "cheaper_less_effective": "costs less and gains nothing (or loses): no ratio (a saving bought with outcome)",
}


def ce_status(cost_diff: float, effect_diff: float, tol: float = EFFECT_TOL) -> str:
    """Quadrant of a reform's mean paired (cost, effect) difference: see :data:`CE_STATUS` ("ok" for costs more, gains more).

    An effect within ``tol`` of 0 counts as none, so a ratio is never taken to a difference of ~0.
    """
    gains = effect_diff > tol
    if gains:
        return "dominant" if cost_diff <= 0 else "ok"
    return "cheaper_less_effective" if cost_diff < 0 else "dominated"


def paired_cost_effectiveness(cost_diff: np.ndarray, outcome_diff: np.ndarray, level: float = LEVEL) -> dict[str, Any]:
    """Mean paired cost difference per unit of mean paired outcome difference, with Fieller's interval.

    Pairs with NaN on either side are left out. Keys, in order: n_pairs, cost_diff,
    outcome_diff (the means, in the outcome's unit: percentage points of satisfaction,
    problems resolved), ratio, ci_low, ci_high, status (:func:`ce_status`; ``ok`` becomes
    ``unbounded`` when the gain is not significant). Only ``ok`` and ``unbounded`` have a ratio:
    a reform that gains nothing, or gains for no extra cost, has none (NaN).
    """
    ok = np.isfinite(cost_diff) & np.isfinite(outcome_diff)
    mdc = float(cost_diff[ok].mean()) if ok.any() else math.nan
    mdo = float(outcome_diff[ok].mean()) if ok.any() else math.nan
    ratio, lo, hi = math.nan, math.nan, math.nan
    if not ok.any():
        status = "dominated"
    else:
        status = ce_status(mdc, mdo)
    if status == "ok":
        ratio, lo, hi, bounded = fieller_ratio_ci(cost_diff, outcome_diff, level)
        status = "ok" if bounded else "unbounded"
    return {"n_pairs": int(ok.sum()), "cost_diff": mdc, "outcome_diff": mdo,
            "ratio": ratio, "ci_low": lo, "ci_high": hi, "status": status}


def spread_cost_effectiveness(cost_diff: np.ndarray, outcome_diff: np.ndarray, level: float = LEVEL) -> dict[str, Any]:
    """Cost-effectiveness over replicates that each draw parameters (``compare --uncertainty``).

    The ratio is that of the mean paired differences (status as :func:`ce_status`); its range is
    the central ``level`` percentile range of the per-replicate ratios over the replicates in
    which the reform costs more and gains (the others have no ratio); ``p_<status>`` is the share
    of replicates in each quadrant. Keys: n_pairs, cost_diff, outcome_diff, ratio, lo, hi,
    status, p_ok, p_dominant, p_dominated, p_cheaper_less_effective.
    """
    ok = np.isfinite(cost_diff) & np.isfinite(outcome_diff)
    dc, de = np.asarray(cost_diff, dtype=np.float64)[ok], np.asarray(outcome_diff, dtype=np.float64)[ok]
    mdc = float(dc.mean()) if dc.size else math.nan
    mde = float(de.mean()) if de.size else math.nan
    status = ce_status(mdc, mde) if dc.size else "dominated"
    each = [ce_status(c, e) for c, e in zip(dc, de, strict=True)]
    shares = {f"p_{s}": (each.count(s) / len(each) if each else math.nan)
              for s in ("ok", "dominant", "dominated", "cheaper_less_effective")}
    ratio, lo, hi = math.nan, math.nan, math.nan
    if status == "ok":
        ratio = mdc / mde
        pos = np.array([s == "ok" for s in each], dtype=bool)
        if pos.any():
            q = 100 * (1 - level) / 2
            lo, hi = (float(v) for v in np.percentile(dc[pos] / de[pos], [q, 100 - q]))
    return {"n_pairs": int(dc.size), "cost_diff": mdc, "outcome_diff": mde, "ratio": ratio, "lo": lo, "hi": hi,
            "status": status, **shares}
