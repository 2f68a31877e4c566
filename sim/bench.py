"""``govsim bench``: set-up time, resident-steps per second and peak memory for standard cases.

Each case runs in a fresh child process (so its peak resident set size is its own, measured
with ``resource.getrusage``) pinned to one thread. The floors printed beside the figures are
the project's targets; the ratio column is measured rate over floor.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

@dataclass(frozen=True)
class Case:
    """A benchmark case: scenario overrides on the defaults, steps, and the speed floor."""

    name: str
    overrides: dict[str, Any]
    steps: int
    floor: float
    description: str


_DISTRICT: dict[str, Any] = {"world.n_streets": 8, "world.n_communities_per_street": 5, "world.n_compounds_per_community": 20}
_ALL_POLICIES = ("grid", "alliance", "street_empowerment", "whistle", "four_empowerments", "micro_projects", "one_core_many")

CASES: tuple[Case, ...] = (
    Case("community_10k", {"world.n_streets": 1, "world.n_communities_per_street": 1,
                           "world.n_compounds_per_community": 18}, 1095, 0.0,
         "one community of ~10,000 residents x 1,095 days"),
    Case("district_450k", _DISTRICT, 365, 5e6,
         "Jiyang-size district: 40 communities, ~450,000 residents (000) x 365 days"),
    Case("district_450k_all_policies", {**_DISTRICT, **{f"policies.{p}": {} for p in _ALL_POLICIES}}, 365, 3e6,
         "the same district with all seven policies switched on"),
)

QUICK_SCALE = {"community_10k": 4, "district_450k": 20, "district_450k_all_policies": 20}


def _child(name: str, quick: bool) -> dict[str, Any]:
    """Run one case in this process and return its figures (called in the child)."""
    import resource

    from .model import Model
    from .scenario import Scenario

    case = next(c for c in CASES if c.name == name)
    overrides = {k: v for k, v in case.overrides.items() if not k.startswith("policies.")}
    steps = case.steps
    if quick:
        overrides["world.n_compounds_per_community"] = max(1, overrides["world.n_compounds_per_community"] // QUICK_SCALE[name])
        steps = min(steps, 60)
    overrides["run.n_steps"] = steps
    policies = {k.split(".", 1)[1]: v for k, v in case.overrides.items() if k.startswith("policies.")}
    scenario = Scenario.from_dict({**Scenario(name=name).with_overrides(overrides).to_dict(), "policies": policies})
    t0 = time.perf_counter()
    model = Model(scenario, seed=1)
    setup_s = time.perf_counter() - t0
    res = model.run(steps, progress=False)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    n = model.world.n_residents
    return {
        "name": name, "residents": n, "steps": steps, "setup_s": round(setup_s, 3),
        "run_s": round(res.run_s, 3), "resident_steps_per_s": round(n * steps / res.run_s),
        "peak_rss_mb": round(peak_kb / 1024, 1), "floor_resident_steps_per_s": case.floor,
        "resolution_rate": round(res.summary["resolution_rate"], 4),
    }


def run_bench(quick: bool = False, cases: list[str] | None = None, echo: bool = True, to_stderr: bool = False) -> dict[str, Any]:
    """Run the cases, each in its own single-threaded child process; print a table."""
    names = [c.name for c in CASES]
    wanted = cases or names
    unknown = [c for c in wanted if c not in names]
    if unknown:
        from .cli import UserError

        raise UserError(f"unknown bench case {unknown[0]!r}; allowed: {', '.join(names)}")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out: list[dict[str, Any]] = []
    for name in wanted:
        code = f"import json,sys; from sim.bench import _child; print(json.dumps(_child({name!r}, {quick!r})))"
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"bench case {name} failed:\n{proc.stderr}")
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        out.append(row)
        if echo:
            floor = row["floor_resident_steps_per_s"]
            ratio = f"{row['resident_steps_per_s'] / floor:5.2f}x floor" if floor else "(no floor)"
            print(f"{row['name']:<16} {row['residents']:>9,} residents x {row['steps']:>5} steps  "
                  f"setup {row['setup_s']:6.2f} s  {row['resident_steps_per_s'] / 1e6:6.2f} M resident-steps/s "
                  f"{ratio}  peak {row['peak_rss_mb']:7.1f} MB", file=sys.stderr if to_stderr else sys.stdout, flush=True)
    return {"quick": quick, "python": sys.version.split()[0], "cases": out}
