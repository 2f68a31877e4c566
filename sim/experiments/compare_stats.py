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
    "LEVEL",
    "STAT_COLUMNS",
    "fieller_ratio_ci",
    "paired_cost_effectiveness",
    "paired_summary",
    "replicate_seeds",
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


def paired_cost_effectiveness(cost_diff: np.ndarray, outcome_diff: np.ndarray, level: float = LEVEL) -> dict[str, Any]:
    """Mean paired cost difference per unit of mean paired outcome difference, with Fieller's interval.

    Pairs with NaN on either side are left out. Keys, in order: n_pairs, cost_diff,
    outcome_diff_pp (the means; the outcome difference is passed in percentage points), ratio,
    ci_low, ci_high, status: ``ok`` (bounded CI), ``unbounded`` (gain not significant) or
    ``no_gain`` (mean outcome difference not positive; ratio and interval NaN).
    """
    ok = np.isfinite(cost_diff) & np.isfinite(outcome_diff)
    mdc = float(cost_diff[ok].mean()) if ok.any() else math.nan
    mdo = float(outcome_diff[ok].mean()) if ok.any() else math.nan
    if not mdo > 0:
        ratio, lo, hi, status = math.nan, math.nan, math.nan, "no_gain"
    else:
        ratio, lo, hi, bounded = fieller_ratio_ci(cost_diff, outcome_diff, level)
        status = "ok" if bounded else "unbounded"
    return {"n_pairs": int(ok.sum()), "cost_diff": mdc, "outcome_diff_pp": mdo,
            "ratio": ratio, "ci_low": lo, "ci_high": hi, "status": status}
