"""Benchmark: the numpy core against the Mesa reference on the same scenario (``mesa_reference``).

Both run the baseline scenario on a world of about ``n_residents`` residents in this process,
in turn, each ``repeats`` times keeping the fastest. Only stepping is timed (not
world construction, nor loading the core's compiled kernels, which a short warm-up run does).
The core runs ``n_steps`` days for a stable timing; the reference, much slower, runs ``n_steps_reference``
days (default a third of ``n_steps``, at least 100 so that the problem pool has built up);
rates are compared in resident-steps per second. Each implementation draws its own world, so
the two resident counts differ a little; each rate uses its own count.
"""

from __future__ import annotations

import time
from typing import Any

from sim.config.paths import SCENARIO_DIR
from sim.core.scenario import load_scenario
from sim.errors import InputError

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
                    seed: int = 1, repeats: int = 3) -> dict[str, Any]:
    """Time both implementations on the same scenario; ``speedup`` = core rate / reference rate.

    Each implementation runs ``repeats`` times from a freshly built model (same seed, so the
    same work) and its fastest run is kept, as ``timeit`` does: the minimum is the best estimate
    of the cost on a machine that other processes disturb. Rates are resident-steps per second
    of wall-clock time (``*_cpu`` variants: process CPU time, also the minimum).
    """
    from sim.core.model import Model, warm_up
    from sim.reference import ReferenceModel

    if repeats < 1:
        raise InputError(f"repeats must be at least 1, got {repeats}")
    n_ref = n_steps_reference if n_steps_reference is not None else max(100, n_steps // 3)
    scenario = load_scenario(SCENARIO_DIR / "baseline.toml", bench_world(n_residents))

    warmup = warm_up()  # compiled kernels are loaded (or compiled, on a fresh install) on first use: not timed

    def timed(step_all: Any) -> tuple[float, float]:
        w0, c0 = time.perf_counter(), time.process_time()
        step_all()
        return time.perf_counter() - w0, time.process_time() - c0

    core_times, ref_times = [], []
    core_n = ref_n = 0
    for _ in range(repeats):  # interleaved, so that a slow spell of the machine hits both alike
        core = Model(scenario, seed=seed)
        core_n = int(core.world.n_residents)
        core_times.append(timed(lambda core=core: core.run(n_steps, progress=False)))
        ref = ReferenceModel(scenario, seed, record_series=True)
        ref_n = len(ref.residents)

        def steps(ref: Any = ref) -> None:
            for _ in range(n_ref):
                ref.step()

        ref_times.append(timed(steps))
    core_wall, core_cpu = min(w for w, _ in core_times), min(c for _, c in core_times)
    ref_wall, ref_cpu = min(w for w, _ in ref_times), min(c for _, c in ref_times)
    core_rate = core_n * n_steps / core_wall
    ref_rate = ref_n * n_ref / ref_wall
    return {
        "core_residents": core_n, "core_steps": n_steps, "core_seconds": core_wall, "core_warmup_seconds": warmup,
        "core_resident_steps_per_s": core_rate,
        "reference_residents": ref_n, "reference_steps": n_ref, "reference_seconds": ref_wall,
        "reference_resident_steps_per_s": ref_rate,
        "speedup": core_rate / ref_rate,
        "speedup_cpu": (core_n * n_steps / core_cpu) / (ref_n * n_ref / ref_cpu),
        "repeats": repeats,
        "core_seconds_each": [w for w, _ in core_times],
        "reference_seconds_each": [w for w, _ in ref_times],
    }

