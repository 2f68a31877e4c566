"""The unit of every summary metric, and the one convention for shares: 0-1 everywhere.

Shares (resolution rate, shares resolved or found, utilisation) and scores (satisfaction, trust,
efficacy) are on 0-1 in tables, figures and JSON alike; ``pp`` (percentage points) appears only in
the cost per satisfaction point (1 pp = 0.01 of satisfaction). :func:`metric_unit` gives a
metric's unit from its name; :func:`is_count` says whether its values are whole numbers (counts
of problems, residents, days...), which JSON outputs print as integers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

__all__ = ["COUNT_UNITS", "SCORE", "SHARE", "is_count", "json_summary", "json_value", "metric_unit", "units_of"]

SHARE = "share (0-1)"
SCORE = "score (0-1)"
#: units whose values are whole numbers
COUNT_UNITS = frozenset({"residents", "problems", "days", "day", "count", "events", "units", "compounds", "turns",
                         "services"})

_EXACT: dict[str, str] = {
    "n_residents": "residents",
    "n_steps": "days",
    "reform_start_day": "day",
    "volunteer_hours": "hours",
    "cost_yuan": "yuan",
    "escalations": "count",
    "repeat_contacts_per_resolved": "contacts per resolved problem",
    "contacts_per_resolved": "contacts per resolved problem",
    "staff_utilisation": SHARE,
    "grid_utilisation": SHARE,
}
#: (pattern on the name, unit), the first match wins
_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), u) for p, u in (
    (r"_t(50|90)$", "days"),                      # days after the reform until the series covered 50/90%
    (r"days_to_|^wait_days_", "days"),           # days to resolution; days waited at the level of resolution
    (r"^backlog_", "problems"),                   # problems queued at a level at the end of the run
    (r"^utilisation_", SHARE),                    # effort spent over effort available, by level
    (r"^problems_|^flag_|_found(_early)?$", "problems"),
    (r"(^|_)(satisfaction|trust|efficacy)(_|$)", SCORE),
    (r"(^|_)(resolution|abandonment|reporting|self_report)_rate|^share_", SHARE),
    (r"_events$", "events"),
    (r"_units_(allied|left)$", "units"),
    (r"_yuan$", "yuan"),
    (r"_staff_days$", "staff-days"),
    (r"_hours(_offered)?$", "hours"),
    (r"_compounds$", "compounds"),
    (r"_turns$", "turns"),
    (r"_services$", "services"),
))


def metric_unit(name: str) -> str:
    """The unit of summary metric ``name`` (``count`` for a policy counter the rules do not name)."""
    if name in _EXACT:
        return _EXACT[name]
    base = re.sub(r"_(pre|post|change)$", "", name)  # a reform window has its metric's unit
    if base in _EXACT:
        return _EXACT[base]
    for pattern, unit in _RULES:
        if pattern.search(base):
            return unit
    return "count"


def is_count(name: str) -> bool:
    """Whether the values of metric ``name`` are whole numbers: a count, or a number of days (not a median or mean)."""
    return (metric_unit(name) in COUNT_UNITS and "days_to_" not in name
            and not name.endswith(("_change", "_pre", "_post", "_median")))


def units_of(names: Iterable[str]) -> dict[str, str]:
    """``{name: unit}`` for the metrics ``names`` (what JSON outputs carry as ``units``)."""
    return {n: metric_unit(n) for n in names}


def json_value(name: str, value: float | int | None) -> float | int | None:
    """``value`` of metric ``name`` for JSON: None for NaN, an int for a whole-number count, else as it is."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if is_count(name) and float(value).is_integer():
        return int(value)
    return value


def json_summary(summary: Mapping[str, float]) -> dict[str, float | int | None]:
    """A run's summary for JSON: :func:`json_value` of each metric."""
    return {k: json_value(k, v) for k, v in summary.items()}
