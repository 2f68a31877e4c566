"""Windowed outcomes and pre/post-reform windows (docs/model.md §7.12 and §9).

The cumulative series (``resolution_rate`` = resolved / arisen since day 0) barely move when a
reform starts a year into a run; the windowed series look at the last :data:`WINDOW_DAYS` days:

* ``resolution_rate_30d``: problems resolved over problems closed (resolved + abandoned) in the
  last 30 days. Closed, not arisen, is the denominator: it stays in [0, 1] when a reform clears a
  backlog (more resolved than arise), it is the share of the window's outcomes that were
  resolutions, and in a steady state (pending problems not growing) it equals resolved / arisen;
* ``satisfaction_mean_30d``, ``trust_mean_30d``: the mean of the daily means over the last 30
  days (every day's, whatever ``run.record_every``).

For a reform that starts on day ``s > 0`` (``reform.start_day``), :func:`pre_post` gives each
outcome's pre-reform mean (the ``dur_window`` days before ``s``), its post-reform mean (the last
``dur_window`` days of the run, from ``s`` on), the change, and the days after ``s`` at which the
series, smoothed by a centred 30-day moving mean, first covers 50% and 90% of the change (NaN if
it never does, or if there is no change).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["PRE_POST_OUTCOMES", "PRE_POST_STATS", "WINDOW_DAYS", "WINDOW_SERIES", "centred_mean", "pre_post",
           "pre_post_summary", "trailing_mean", "trailing_ratio"]

#: width of the windowed series and of the smoothing of the days to 50% / 90% (days)
WINDOW_DAYS = 30
#: the windowed time series, recorded beside the cumulative ones
WINDOW_SERIES: tuple[str, ...] = ("resolution_rate_30d", "satisfaction_mean_30d", "trust_mean_30d")
#: outcomes given pre/post windows in the summary (``<outcome>_pre`` ...)
PRE_POST_OUTCOMES: tuple[str, ...] = ("resolution_rate_30d", "satisfaction_mean", "trust_mean",
                                      "satisfaction_mean_30d", "trust_mean_30d")
#: the statistics of each outcome's pre/post windows, as summary key suffixes
PRE_POST_STATS: tuple[str, ...] = ("pre", "post", "change", "t50", "t90")


def trailing_ratio(num_cum: np.ndarray, den_cum: np.ndarray, day: int, width: int = WINDOW_DAYS) -> float:
    """``(num over the last width days) / (den over them)`` on ``day``; NaN when the denominator is 0.

    ``num_cum[d + 1]`` and ``den_cum[d + 1]`` are the cumulative counts at the end of day ``d``
    (``[0]`` is 0, before day 0); the window is days ``day - width + 1 .. day`` (shorter at the start).
    """
    lo = max(0, day + 1 - width)
    den = den_cum[day + 1] - den_cum[lo]
    return float(num_cum[day + 1] - num_cum[lo]) / float(den) if den else math.nan


def trailing_mean(x_day: np.ndarray, day: int, width: int = WINDOW_DAYS) -> float:
    """Mean of the daily values ``x_day[d]`` over days ``day - width + 1 .. day`` (shorter at the start)."""
    return float(np.mean(x_day[max(0, day + 1 - width):day + 1]))


def centred_mean(t: np.ndarray, x: np.ndarray, width: int = WINDOW_DAYS) -> np.ndarray:
    """Each recorded value replaced by the mean of the finite values within ``width / 2`` days of it."""
    half = width // 2
    ok = np.isfinite(x)
    cs = np.concatenate([[0.0], np.cumsum(np.where(ok, x, 0.0))])
    cn = np.concatenate([[0], np.cumsum(ok)])
    lo = np.searchsorted(t, t - half, side="left")
    hi = np.searchsorted(t, t + half, side="right")
    n = cn[hi] - cn[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (cs[hi] - cs[lo]) / np.maximum(n, 1), np.nan)


def _nanmean(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else math.nan


def pre_post(t: np.ndarray, x: np.ndarray, start: int, dur_window: int, width: int = WINDOW_DAYS) -> dict[str, float]:
    """Pre/post-reform statistics of one series recorded on days ``t`` (see the module docstring).

    Keys: ``pre``, ``post``, ``change`` (post - pre) and ``t50``, ``t90`` (days after ``start``).
    """
    t = np.asarray(t, dtype=np.int64)
    x = np.asarray(x, dtype=np.float64)
    nan = math.nan
    if t.size == 0 or start <= 0:
        return dict.fromkeys(PRE_POST_STATS, nan)
    pre = _nanmean(x[(t >= start - dur_window) & (t < start)])
    post = _nanmean(x[(t > t[-1] - dur_window) & (t >= start)])
    change = post - pre
    out = {"pre": pre, "post": post, "change": change, "t50": nan, "t90": nan}
    if not math.isfinite(change) or change == 0.0:
        return out
    after = t >= start
    with np.errstate(invalid="ignore"):
        covered = (centred_mean(t, x, width)[after] - pre) / change
    for q in (50, 90):
        hit = np.flatnonzero(covered >= q / 100.0)
        if hit.size:
            out[f"t{q}"] = float(t[after][hit[0]] - start)
    return out


def pre_post_summary(t: np.ndarray, series: dict[str, np.ndarray], start: int, dur_window: int) -> dict[str, float]:
    """``<outcome>_<stat>`` for every outcome of :data:`PRE_POST_OUTCOMES` present in ``series``."""
    out: dict[str, float] = {}
    for name in PRE_POST_OUTCOMES:
        if name in series:
            for stat, value in pre_post(t, series[name], start, dur_window).items():
                out[f"{name}_{stat}"] = value
    return out
