"""The ``shared_days`` bench case: a comparison whose scenarios share their days before the reform date.

The baseline and the five case scenarios that differ from it only in their policies, one community,
the baseline's four years after a year of warm-up, the reform date a year in: compared with the
days shared (:mod:`sim.core.branching`) and without, in this process, alternately, the fastest of
each kept. The row also says whether both gave the same runs (they must: bit for bit).
"""

from __future__ import annotations

import time
from typing import Any

#: the case scenarios that differ from the baseline in their policies only (sanya_jiyang_1plusN changes the world)
SHARING_FILES = ("baseline.toml", "bazhong_street_whistle.toml", "combined_reforms.toml",
                 "gaoxian_four_empowerments.toml", "huiji_micro_projects.toml", "luohu_one_core.toml")


def bench_shared(quick: bool = False, replicates: int = 2, repeats: int = 2) -> dict[str, Any]:
    """Seconds of the comparison with and without shared days, and their ratio (``speedup``)."""
    from sim.config.paths import SCENARIO_DIR
    from sim.core.model import warm_up
    from sim.experiments.compare import compare

    warm_up()
    overrides: dict[str, Any] = {"world.n_communities_per_street": 1}
    if quick:
        overrides.update({"world.n_compounds_per_community": 2, "run.n_steps": 120, "reform.dur_warmup": 60,
                          "reform.start_day": 60})
    files = [SCENARIO_DIR / f for f in SHARING_FILES]
    best = {True: float("inf"), False: float("inf")}
    runs = {}
    for _ in range(repeats):
        for share in (True, False):
            t0 = time.perf_counter()
            comp = compare(files, replicates=replicates, workers=1, progress=False, overrides=overrides,
                           share_prefix=share)
            best[share] = min(best[share], time.perf_counter() - t0)
            runs[share] = comp.runs
    sc = comp.scenarios[0] if comp.scenarios else None
    shared_s, separate_s = round(best[True], 6), round(best[False], 6)  # the ratio of the times the row shows
    return {
        "scenarios": len(files), "replicates": replicates, "residents": int(runs[True]["n_residents"].iloc[0]),
        "steps": int(runs[True]["n_steps"].iloc[0]), "warmup": sc.reform.dur_warmup if sc else 0,
        "reform_day": sc.reform.start_day if sc else 0, "shared_s": shared_s,
        "separate_s": separate_s, "speedup": round(separate_s / shared_s, 4),
        "identical": bool(runs[True].equals(runs[False])), "repeats": repeats,
    }


def shared_lines(row: dict[str, Any]) -> list[str]:
    """The case's line in the bench table."""
    same = "the same runs" if row["identical"] else "DIFFERENT runs"
    return [f"{'shared_days':<16} {row['scenarios']} scenarios sharing their first "
            f"{row['warmup'] + row['reform_day']:,} days x {row['replicates']} replicates, {row['residents']:,} "
            f"residents x {row['steps']:,} steps, in this process: {row['separate_s']:.2f} s run apart, "
            f"{row['shared_s']:.2f} s sharing them ({row['speedup']:.2f}x; {same})"]
