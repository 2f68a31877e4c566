"""Docking of the reference model against the numpy core: scenarios, replicates, comparison table.

Both implementations run the same scenario with seeds 1..n (each draws its own world and its own
random numbers); a metric docks if the difference of the replicate means is within ``z_max``
combined standard errors ``sqrt(se_core² + se_ref²)``, or, if it has zero variance in both,
if the means are equal within 1e-9. :func:`run_replicates` runs them, :func:`dock` compares one
scenario's replicates and :func:`docking_table` formats the comparison (``tests/test_docking.py``
prints it for every docking scenario).
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Any

from sim.config.paths import SCENARIO_DIR
from sim.config.taxonomy import LEVELS
from sim.core.scenario import Scenario, load_scenario
from sim.experiments.runner import run_tasks

#: A scaled-down baseline world of about 2,300 residents: one community of 8 compounds with half
#: the buildings of the baseline, and administrative tasks halved so that the community keeps the
#: baseline's problem capacity per resident (8 tasks a day would leave a 2,300-resident community
#: almost no capacity).
DOCKING_WORLD: dict[str, Any] = {
    "world.n_communities_per_street": 1,
    "world.n_compounds_per_community": 8,
    "world.n_buildings_per_compound.old": 3,
    "world.n_buildings_per_compound.mature": 4,
    "world.n_buildings_per_compound.new": 5,
    "community.rate_admin_tasks": 4.0,
    "reform.start_day": 0,  # docking compares the reforms' mechanics from day 0 (the shipped files start a year later)
    "reform.dur_warmup": 0,
}

#: Docking scenarios: scenario file and overrides (``policies.<name>.enabled`` switches a policy on
#: with its defaults). The last starts the alliance on day 120 after a 60-day warm-up (§7.12).
DOCKING_SCENARIOS: dict[str, tuple[str, dict[str, Any]]] = {
    "baseline": ("baseline.toml", {}),
    "grid": ("baseline.toml", {"policies.grid.enabled": True, "policies.grid.proxy_service": True}),
    "alliance": ("baseline.toml", {"policies.alliance.enabled": True, "policies.alliance.n_units": 7}),
    "street_empowerment+whistle": ("bazhong_street_whistle.toml", {}),
    "alliance_from_day_120": ("sanya_jiyang_1plusN.toml", {"reform.start_day": 120, "reform.dur_warmup": 60}),
}

#: Metrics that must dock (the test asserts them) and metrics only shown.
DOCKED_METRICS: tuple[str, ...] = (
    "resolution_rate", "satisfaction_mean", "days_to_resolution_median",
    *(f"share_resolved_{lvl}" for lvl in LEVELS),
)
SHOWN_METRICS: tuple[str, ...] = ("trust_mean", "abandonment_rate", "share_found_proactive", "n_residents",
                                  "problems_carried", "satisfaction_mean_change", "resolution_rate_30d_change",
                                  "reporting_rate", "self_report_rate")


def docking_scenario(name: str, n_steps: int = 365) -> Scenario:
    """The docking scenario ``name`` on the docking world."""
    path, extra = DOCKING_SCENARIOS[name]
    return load_scenario(SCENARIO_DIR / path, {**DOCKING_WORLD, **extra, "run.n_steps": n_steps})


Job = tuple[str, str, int, int]  # implementation, scenario name, seed, n_steps
JobResult = tuple[str, str, int, dict[str, float], float]  # the job's first three, summary, CPU seconds


def run_one(job: Job) -> JobResult:
    """Run one replicate: (implementation, scenario name, seed, n_steps) -> summary and seconds."""
    impl, name, seed, n_steps = job
    scenario = docking_scenario(name, n_steps)
    start = time.process_time()
    if impl == "core":
        from sim.core.model import run_scenario

        summary = dict(run_scenario(scenario, seed=seed, n_steps=n_steps, progress=False).summary)
    else:
        from sim.reference import run_reference

        summary = run_reference(scenario, seed, n_steps)
    return impl, name, seed, summary, time.process_time() - start


def _run_job(_shared: None, job: Job) -> JobResult:
    """:func:`run_one` as the runner's work."""
    return run_one(job)


Summaries = dict[str, dict[str, list[dict[str, float]]]]


def run_replicates(names: list[str], n_reps: int = 20, n_steps: int = 365,
                   workers: int = 2) -> tuple[Summaries, dict[str, float]]:
    """Summaries ``out[scenario][impl]`` (one per seed 1..n_reps) and CPU seconds per implementation."""
    jobs = [(impl, name, seed, n_steps) for impl in ("reference", "core") for name in names
            for seed in range(1, n_reps + 1)]  # reference first: the long jobs start early
    out: Summaries = {n: {"core": [], "reference": []} for n in names}
    cpu: dict[str, float] = {"core": 0.0, "reference": 0.0}
    results = run_tasks(_run_job, jobs, workers=workers, preload=("sim.reference",))
    for impl, name, _seed, summary, seconds in sorted(results, key=lambda r: r[2]):
        out[name][impl].append(summary)
        cpu[impl] += seconds
    return out, cpu


@dataclass(frozen=True)
class Row:
    """One metric's comparison."""

    metric: str
    core: float
    reference: float
    diff: float
    se: float
    z: float
    ok: bool
    docked: bool


def _mean_se(values: list[float]) -> tuple[float, float]:
    vals = [float(v) for v in values]  # a NaN propagates and fails the comparison
    m = statistics.fmean(vals)
    se = statistics.stdev(vals) / math.sqrt(len(vals)) if len(vals) > 1 else math.nan
    return m, se


def dock(core: list[dict[str, float]], ref: list[dict[str, float]], z_max: float = 3.0) -> list[Row]:
    """Comparison rows for the docked and the shown metrics (a missing value counts as 0)."""
    rows = []
    for metric in (*DOCKED_METRICS, *SHOWN_METRICS):
        mc, sc = _mean_se([s.get(metric, 0.0) for s in core])
        mr, sr = _mean_se([s.get(metric, 0.0) for s in ref])
        se = math.sqrt(sc**2 + sr**2)
        diff = mr - mc
        if se > 0:
            z = diff / se
            ok = abs(z) <= z_max
        else:
            z = 0.0 if abs(diff) <= 1e-9 else math.inf
            ok = abs(diff) <= 1e-9
        rows.append(Row(metric, mc, mr, diff, se, z, ok, metric in DOCKED_METRICS))
    return rows


def docking_table(name: str, rows: list[Row], n_reps: int) -> str:
    """The comparison as a fixed-width text table."""
    lines = [f"docking: {name} ({n_reps} replicates each; ok iff |z| <= 3, z = diff / combined SE)",
             f"{'metric':28s} {'core':>10s} {'reference':>10s} {'diff':>10s} {'comb. SE':>9s} {'z':>7s}  ok"]
    for r in rows:
        mark = ("yes" if r.ok else "NO") if r.docked else "(shown)"
        lines.append(f"{r.metric:28s} {r.core:10.4f} {r.reference:10.4f} {r.diff:10.4f} {r.se:9.4f} {r.z:7.2f}  {mark}")
    return "\n".join(lines)

