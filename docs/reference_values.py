"""Regenerate docs/model.md §9.3: the baseline's reference values for docking a re-implementation.

Runs ``scenarios/baseline.toml`` as shipped (a year of warm-up, then the recorded days) for seeds
1-10 and prints the markdown table of §9.3 (mean and sample standard deviation over the ten
replicates; each replicate draws its own world). Usage, from the repository root::

    python docs/reference_values.py > /tmp/table.md
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import numpy as np

from sim import Model
from sim.config.taxonomy import CHILD
from sim.core.scenario import load_scenario

SEEDS = range(1, 11)

#: Rows of the table: label, then one function per figure from (model, summary) to a number.
Row = tuple[str, tuple[Callable[[Model, dict[str, float]], float], ...]]


def _key(name: str) -> Callable[[Model, dict[str, float]], float]:
    return lambda _m, s: s[name]


def _keys(label: str, *names: str) -> Row:
    return label, tuple(_key(n) for n in names)


ROWS: tuple[Row, ...] = (
    ("residents", (lambda m, _s: m.world.res_household.size,)),
    ("households / compounds / grids / firms", (
        lambda m, _s: m.world.household_start.size, lambda m, _s: m.world.compound_type.size,
        lambda m, _s: m.grids.grid_size.size, lambda m, _s: m.world.firm_compound.size)),
    ("share of children", (lambda m, _s: float(np.mean(m.world.res_group == CHILD)),)),
    ("mean degree; party members; share of residents; `n_links` per resident", (
        lambda m, _s: float(np.diff(m.world.social_indptr).mean()), lambda m, _s: m.world.party_ids.size,
        lambda m, _s: m.world.party_ids.size / m.world.res_household.size,
        lambda m, _s: float(m.party.n_links.mean()))),
    _keys("`problems_arisen`", "problems_arisen"),
    _keys("`problems_found` / `_resolved` / `_abandoned`", "problems_found", "problems_resolved", "problems_abandoned"),
    _keys("`problems_pending`", "problems_pending"),
    _keys("`reporting_rate` / `self_report_rate`", "reporting_rate", "self_report_rate"),
    _keys("`resolution_rate`", "resolution_rate"),
    _keys("`abandonment_rate` / `abandonment_rate_big`", "abandonment_rate", "abandonment_rate_big"),
    _keys("`days_to_resolution_median` / `_p90` / `_median_big`", "days_to_resolution_median",
          "days_to_resolution_p90", "days_to_resolution_median_big"),
    _keys("`share_resolved_grid` / `_property` / `_community` / `_street` / `_department` / `_city`",
          *(f"share_resolved_{lv}" for lv in ("grid", "property", "community", "street", "department", "city"))),
    _keys("`share_found_self_report` / `_grid_visit` / `_party_link` / `_policy`",
          *(f"share_found_{f}" for f in ("self_report", "grid_visit", "party_link", "policy"))),
    _keys("`resolution_rate_` sanitation / parking / dispute / care / safety / property / admin / health",
          *(f"resolution_rate_{c}" for c in ("sanitation", "parking", "dispute", "care", "safety", "property",
                                             "admin", "health"))),
    _keys("`resolution_rate_old` / `_mature` / `_new`", "resolution_rate_old", "resolution_rate_mature",
          "resolution_rate_new"),
    _keys("`repeat_contacts_per_resolved`", "repeat_contacts_per_resolved"),
    _keys("`escalations`", "escalations"),
    _keys("`satisfaction_mean` / `satisfaction_p10` / `trust_mean` / `efficacy_mean`", "satisfaction_mean",
          "satisfaction_p10", "trust_mean", "efficacy_mean"),
    _keys("`satisfaction_old` / `_mature` / `_new`", "satisfaction_old", "satisfaction_mature", "satisfaction_new"),
    _keys("`trust_old` / `_mature` / `_new`", "trust_old", "trust_mature", "trust_new"),
    _keys("`staff_utilisation` / `grid_utilisation`", "staff_utilisation", "grid_utilisation"),
    _keys("`volunteer_hours`", "volunteer_hours"),
    _keys("`cost_yuan`", "cost_yuan"),
)


def _fmt(x: float) -> str:
    """Three significant figures, thousands separated."""
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def main() -> None:
    """Run the ten replicates and print the table."""
    sc = load_scenario("scenarios/baseline.toml")
    values: list[list[list[float]]] = [[[] for _ in fs] for _, fs in ROWS]
    for seed in SEEDS:
        model = Model(sc, seed=seed)
        summary = model.run(sc.run.n_steps, progress=False).summary
        for i, (_, fs) in enumerate(ROWS):
            for j, f in enumerate(fs):
                values[i][j].append(float(f(model, summary)))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"<!-- docs/reference_values.py at {commit}, seeds {SEEDS.start}-{SEEDS.stop - 1} -->")
    print("| quantity | mean | sd |\n|---|---|---|")
    for (label, _), cols in zip(ROWS, values, strict=True):
        means = " / ".join(_fmt(float(np.mean(v))) for v in cols)
        sds = " / ".join(_fmt(float(np.std(v, ddof=1))) for v in cols)
        print(f"| {label} | {means} | {sds} |")


if __name__ == "__main__":
    sys.exit(main())
