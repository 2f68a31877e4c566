"""Benchmark: the numpy core against the Mesa reference on the same scenario (``mesa_reference``).

Both run the baseline scenario on a world of about ``n_residents`` residents in this process,
one after the other. Only stepping is timed (not world construction). The core runs
``n_steps`` days for a stable timing; the reference, much slower, runs ``n_steps_reference``
days (default a third of ``n_steps``, at least 100 so that the problem pool has built up);
rates are compared in resident-steps per second. Each implementation draws its own world, so
the two resident counts differ a little; each rate uses its own count.
"""

from __future__ import annotations

import time
from typing import Any

from ..scenario import load_scenario
from .docking import SCENARIO_DIR

#: Expected residents of one baseline compound (0.3 old × 248 + 0.4 mature × 461 + 0.3 new × 1,080).
RESIDENTS_PER_COMPOUND = 583.0
#: Compounds per community in the baseline.
COMPOUNDS_PER_COMMUNITY = 8


def bench_world(n_residents: int) -> dict[str, Any]:
    """World overrides giving about ``n_residents`` residents with baseline-sized compounds."""
    n_compounds = max(1, round(n_residents / RESIDENTS_PER_COMPOUND))
    n_communities = max(1, round(n_compounds / COMPOUNDS_PER_COMMUNITY))
    return {"world.n_communities_per_street": n_communities,
            "world.n_compounds_per_community": max(1, round(n_compounds / n_communities))}


def bench_reference(n_residents: int = 5000, n_steps: int = 365, n_steps_reference: int | None = None,
                    seed: int = 1) -> dict[str, float]:
    """Time both implementations on the same scenario; ``speedup`` = core rate / reference rate.

    Rates are resident-steps per second of wall-clock time (``*_cpu`` variants: process CPU time).
    """
    from .. import Model
    from . import ReferenceModel

    n_ref = n_steps_reference if n_steps_reference is not None else max(100, n_steps // 3)
    scenario = load_scenario(SCENARIO_DIR / "baseline.toml", bench_world(n_residents))

    # compiled kernels are loaded (or compiled, on a fresh install) on first use: not timed
    w0 = time.perf_counter()
    Model(load_scenario(SCENARIO_DIR / "baseline.toml", bench_world(600)), seed=seed).run(3, progress=False)
    warmup = time.perf_counter() - w0
    core = Model(scenario, seed=seed)
    core_n = int(core.world.n_residents)
    w0, c0 = time.perf_counter(), time.process_time()
    core.run(n_steps, progress=False)
    core_wall, core_cpu = time.perf_counter() - w0, time.process_time() - c0

    ref = ReferenceModel(scenario, seed, record_series=True)
    ref_n = len(ref.residents)
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n_ref):
        ref.step()
    ref_wall, ref_cpu = time.perf_counter() - w0, time.process_time() - c0

    core_rate = core_n * n_steps / core_wall
    ref_rate = ref_n * n_ref / ref_wall
    core_rate_cpu = core_n * n_steps / core_cpu
    ref_rate_cpu = ref_n * n_ref / ref_cpu
    return {
        "core_residents": core_n, "core_steps": n_steps, "core_seconds": core_wall, "core_warmup_seconds": warmup,
        "core_resident_steps_per_s": core_rate,
        "reference_residents": ref_n, "reference_steps": n_ref, "reference_seconds": ref_wall,
        "reference_resident_steps_per_s": ref_rate,
        "speedup": core_rate / ref_rate,
        "speedup_cpu": core_rate_cpu / ref_rate_cpu,
    }


if __name__ == "__main__":
    import json
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    print(json.dumps(bench_reference(n), indent=1))
