"""Statistics of a comparison with parameter uncertainty: percentile intervals, P(beats), P(best), drivers.

Pure functions on per-replicate arrays, kept apart from :mod:`sim.experiments.uncertainty` (which
runs the scenarios) so they can be checked on hand-made numbers. Each replicate is one parameter
draw plus one seed, so the spread of the replicate values is the model's answer's spread over
both the plausible parameter ranges and the model's own randomness.

* interval: the central 95% percentile interval of the replicate values (``numpy.percentile``,
  linear interpolation), NOT a confidence interval of the mean: it does not shrink with more
  replicates; with ``n`` replicates its ends are estimated from few values (n = 20: the 2.5% end
  lies between the lowest two);
* P(beats): the share of paired replicates in which a scenario is better than the baseline in
  the outcome's direction (:data:`OUTCOME_DIRECTION`), a tie counting one half;
* P(best): the share of replicates in which a scenario is the best of all compared (ties split);
* drivers: Spearman's rank correlation of each parameter's draw with the paired difference; with
  ``n`` replicates ``|rho|`` below the two-sided 5% critical value (exact permutation value up to
  8 replicates: 0.74 at n = 8; above, the t approximation ``t / sqrt(n - 2 + t^2)`` with
  ``t = t_{0.975, n-2}``: 0.44 at n = 20) is within noise; as one parameter in 20 without any
  effect exceeds it, a driver is called strong only beyond the Bonferroni-corrected value for the
  number of parameters drawn (110 parameters: 0.98 at n = 8, 0.71 at n = 20). With 4 replicates
  no rank correlation can be told from chance (even |rho| = 1 has probability 1/12).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["DRIVER_METRICS", "OUTCOME_DIRECTION", "drivers", "p_beats", "p_best", "percentile_summary", "rho_critical"]

#: +1: higher is better, -1: lower is better, 0: no better direction (P(beats), P(best) undefined).
OUTCOME_DIRECTION: dict[str, int] = {
    "resolution_rate": 1,
    "days_to_resolution_median": -1,
    "days_to_resolution_median_big": -1,
    "abandonment_rate": -1,
    "share_found_proactive": 1,
    "repeat_contacts_per_resolved": -1,
    "satisfaction_mean": 1,
    "satisfaction_p10": 1,
    "satisfaction_old": 1,
    "satisfaction_mature": 1,
    "satisfaction_new": 1,
    "trust_mean": 1,
    "staff_utilisation": 0,
    "volunteer_hours": 1,
    "cost_yuan": -1,
}
LEVEL = 0.95
#: Outcomes whose drivers the text and the report list (``to_dict`` has every outcome's).
DRIVER_METRICS: tuple[str, ...] = ("resolution_rate", "days_to_resolution_median", "satisfaction_mean",
                                   "trust_mean", "cost_yuan")


def percentile_summary(x: np.ndarray, level: float = LEVEL) -> tuple[float, float, float, int]:
    """Mean, central ``level`` percentile interval and count of the finite values of ``x``."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan, math.nan, math.nan, 0
    q = 100 * (1 - level) / 2
    lo, hi = np.percentile(x, [q, 100 - q])
    return float(x.mean()), float(lo), float(hi), int(x.size)


def p_beats(diff: np.ndarray, direction: int) -> float:
    """Share of the finite paired differences in which the scenario is better (ties count one half)."""
    d = np.asarray(diff, dtype=np.float64)
    d = d[np.isfinite(d)]
    if direction == 0 or d.size == 0:
        return math.nan
    s = np.sign(d) * direction
    return float(((s > 0).sum() + 0.5 * (s == 0).sum()) / d.size)


def p_best(values: np.ndarray, direction: int) -> np.ndarray:
    """Per scenario (rows of ``values``, scenarios x replicates): share of replicates in which it is best.

    Replicates with a non-finite value in any scenario are left out; a tie for best splits that
    replicate equally among the tied scenarios.
    """
    v = np.asarray(values, dtype=np.float64)
    keep = np.isfinite(v).all(axis=0)
    if direction == 0 or not keep.any():
        return np.full(v.shape[0], math.nan)
    v = v[:, keep] * direction
    best = v == v.max(axis=0, keepdims=True)
    return (best / best.sum(axis=0, keepdims=True)).sum(axis=1) / v.shape[1]


def rho_critical(n: int, level: float = LEVEL) -> float:
    """Two-sided critical |rho| of a rank correlation of ``n`` pairs; NaN when no |rho| can reach ``level``.

    Exact for ``n`` up to :data:`EXACT_MAX_N` (the permutation distribution of Spearman's rho
    without ties: the smallest c with P(|rho| >= c) <= 1 - level), the t approximation above it.
    NaN below 4 pairs, or when even |rho| = 1 is too likely by chance (2 / n! > 1 - level: 4
    replicates can never show a driver at 5%, 6 cannot pass a Bonferroni level for 110 parameters).
    """
    if n < 4 or 2.0 / math.factorial(n) > 1 - level:
        return math.nan
    if n <= EXACT_MAX_N:
        return _exact_rho_critical(n, 1 - level)
    from scipy import stats

    t = float(stats.t.ppf(0.5 + level / 2, n - 2))
    return t / math.sqrt(n - 2 + t * t)


#: rounding allowance when comparing a computed rho with an exact critical value
_RHO_EPS = 1e-9

#: up to this many pairs :func:`rho_critical` enumerates every permutation (8! = 40,320)
EXACT_MAX_N = 8


@functools.lru_cache(maxsize=64)
def _exact_rho_critical(n: int, alpha: float) -> float:
    """Smallest |rho| whose two-sided permutation probability is at most ``alpha`` (no ties)."""
    perms = np.array(list(itertools.permutations(range(n))), dtype=np.int64)
    d2 = ((perms - np.arange(n)) ** 2).sum(axis=1)
    rho = np.round(np.abs(1.0 - 6.0 * d2 / (n * (n * n - 1))), 12)
    values, counts = np.unique(rho, return_counts=True)
    tail = np.cumsum(counts[::-1])[::-1] / perms.shape[0]  # P(|rho| >= value)
    return float(values[np.flatnonzero(tail <= alpha)[0]])


def drivers(draws: np.ndarray, names: Sequence[str], diff: np.ndarray, top: int = 5) -> list[dict[str, Any]]:
    """The ``top`` parameters whose draws are most rank-correlated with the paired difference ``diff``.

    ``draws``: replicates x parameters. Each item: parameter, rho (Spearman), abs_rho, noise (True
    when ``|rho|`` is below :func:`rho_critical` for the number of finite pairs: one parameter in 20
    that has no effect still passes it, so with many parameters the top ones often do), strong
    (``|rho|`` beyond the Bonferroni-corrected critical value, level ``1 - 0.05 / parameters``:
    unlikely to be chance even among them all). Parameters that did not vary, and a difference
    that does not vary, give no driver.
    """
    from scipy import stats

    d = np.asarray(diff, dtype=np.float64)
    ok = np.isfinite(d)
    n = int(ok.sum())
    if n < 3 or np.ptp(d[ok]) == 0:
        return []
    crit = rho_critical(n)
    strong = rho_critical(n, 1 - (1 - LEVEL) / max(len(names), 1))
    out: list[dict[str, Any]] = []
    for j, name in enumerate(names):
        x = np.asarray(draws[ok, j], dtype=np.float64)
        if np.ptp(x) == 0:
            continue
        rho = float(stats.spearmanr(x, d[ok]).statistic)
        if math.isfinite(rho):
            out.append({"parameter": name, "rho": rho, "abs_rho": abs(rho),
                        "noise": not (math.isfinite(crit) and abs(rho) >= crit - _RHO_EPS),
                        "strong": math.isfinite(strong) and abs(rho) >= strong - _RHO_EPS})
    out.sort(key=lambda r: (-float(r["abs_rho"]), str(r["parameter"])))
    return out[:top]
