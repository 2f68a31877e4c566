"""``govsim bench``: set-up time, resident-steps per second and peak memory for standard cases.

Each case runs in a fresh child process (so its peak resident set size is its own, measured
with :func:`~sim.bench.rss.peak_rss_kb`) pinned to one thread; a model case runs again in another child on
every core (numba's parallel loops, :func:`thread_counts`), and its row gives both. The floors
printed beside the figures are the project's targets, compared with the one-thread figure; the
ratio column is measured rate over floor. :func:`run_bench` returns
the figures; :func:`case_lines` formats a case's figures as the table's lines.

A model case calls :func:`~sim.core.model.warm_up` before its clock (no kernel loads or compiles
inside the timed run), except a ``fresh`` case: its figure is the peak of a fresh process running
that case alone, and warm_up would load every kernel, the run's and the others'.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # a bench child imports this module: it loads only what its case needs
    from sim.core.scenario import Scenario


@dataclass(frozen=True)
class Case:
    """A benchmark case: scenario overrides on the defaults, steps, and the speed floor."""

    name: str
    overrides: dict[str, Any]
    steps: int
    floor: float
    description: str
    #: the target for the case's peak memory in MB (0: none)
    max_peak_mb: float = 0.0
    #: a fresh process, no warm_up: its peak is what the run needs (its kernels load inside the run,
    #: so its speed is not comparable with the other cases' and it has no floor)
    fresh: bool = False
    #: issue 16's target for the one-thread speed in resident-steps/s (0: none); the floor is what must not regress
    target: float = 0.0


_DISTRICT: dict[str, Any] = {"world.n_streets": 8, "world.n_communities_per_street": 5, "world.n_compounds_per_community": 20}
_ALL_POLICIES = ("grid", "alliance", "street_empowerment", "whistle", "four_empowerments", "micro_projects", "one_core_many")

CASES: tuple[Case, ...] = (
    Case("community_10k", {"world.n_streets": 1, "world.n_communities_per_street": 1,
                           "world.n_compounds_per_community": 18}, 1095, 0.0,
         "one community of ~10,000 residents x 1,095 days", target=30e6),
    Case("district_450k", _DISTRICT, 365, 20e6,
         "Jiyang-size district: 40 communities, ~450,000 residents (000) x 365 days", target=40e6),
    Case("district_450k_all_policies", {**_DISTRICT, **{f"policies.{p}": {} for p in _ALL_POLICIES}}, 365, 3e6,
         "the same district with all seven policies switched on", target=40e6),
    Case("city_3m", {"world.n_streets": 35, "world.n_communities_per_street": 5, "world.n_compounds_per_community": 30},
         365, 0.0, "a city of ~3,080,000 residents (Bazhong's scale, 002) x 365 days, in at most 3 GB", 3072.0),
    # issue 16's small run: 8 compounds are the default world closest to 5,400 residents (5,417 with seed 1)
    Case("community_5k", {"world.n_streets": 1, "world.n_communities_per_street": 1,
                          "world.n_compounds_per_community": 8}, 30, 0.0,
         "one community of ~5,400 residents x 30 days in a fresh process, in at most 120 MB", 120.0, fresh=True),
)

QUICK_SCALE = {"community_10k": 4, "district_450k": 20, "district_450k_all_policies": 20, "city_3m": 30,
               "community_5k": 2}


def thread_counts() -> list[int]:
    """Threads a model case runs with: 1, and every core of the machine if it has more."""
    cores = os.cpu_count() or 1
    return [1] if cores == 1 else [1, cores]


def case_scenario(case: Case, quick: bool) -> tuple[Scenario, int]:
    """The case's scenario and its days (fewer compounds and at most 60 days with ``quick``)."""
    from sim.core.scenario import Scenario

    overrides = {k: v for k, v in case.overrides.items() if not k.startswith("policies.")}
    steps = case.steps
    if quick:
        compounds = overrides["world.n_compounds_per_community"]
        overrides["world.n_compounds_per_community"] = max(1, compounds // QUICK_SCALE[case.name])
        steps = min(steps, 60)
    overrides["run.n_steps"] = steps
    policies = {k.split(".", 1)[1]: v for k, v in case.overrides.items() if k.startswith("policies.")}
    scenario = Scenario.from_dict({**Scenario(name=case.name).with_overrides(overrides).to_dict(), "policies": policies})
    return scenario, steps


def case_figures(name: str, quick: bool) -> dict[str, Any]:
    """Run the model case ``name`` in this process and return its figures (a bench child calls it).

    Numba's parallel loops use ``NUMBA_NUM_THREADS`` threads (set by :func:`run_bench`); the row
    says how many ran. The base memory is the peak before the model is built: after warm_up
    (interpreter, imports, numba's start, every kernel), or for a ``fresh`` case after the imports alone.
    """
    import numba

    from sim.bench.rss import peak_rss_kb
    from sim.core.model import Model, warm_up

    case = next(c for c in CASES if c.name == name)
    scenario, steps = case_scenario(case, quick)
    if not case.fresh:
        warm_up()  # load the compiled kernels (compile them on a fresh install): a one-off per process
    base_kb = peak_rss_kb()
    t0 = time.perf_counter()
    model = Model(scenario, seed=1)
    setup_s = time.perf_counter() - t0
    res = model.run(steps, progress=False)
    peak_kb = peak_rss_kb()
    n = model.world.n_residents
    return {
        "name": name, "residents": n, "steps": steps, "threads": numba.get_num_threads(), "setup_s": round(setup_s, 6),
        "run_s": round(res.run_s, 6), "resident_steps_per_s": round(n * steps / res.run_s),
        "peak_rss_mb": round(peak_kb / 1024, 1), "base_rss_mb": round(base_kb / 1024, 1),
        "bytes_per_resident": round((peak_kb - base_kb) * 1024 / n), "floor_resident_steps_per_s": case.floor,
        "target_resident_steps_per_s": 0.0 if quick else case.target,
        # a memory target holds for the case's full size, not for --quick
        "max_peak_mb": 0.0 if quick else case.max_peak_mb, "resolution_rate": round(res.summary["resolution_rate"], 4),
        "fresh": case.fresh,
    }


#: Cases that compare two ways of doing the same work rather than measure one model run.
#: ``mesa_reference``: the numpy core against the plain-Mesa reference model (sim/reference) on the
#: baseline at 5,000 residents, one process; floor: the core at least 50x faster.
#: ``sweep``: per-run overhead of a sweep, runs per minute with 1 and 2 workers, coordinator memory.
#: ``shared_days``: a comparison of scenarios sharing their first days, with and without running them once.
RATIO_CASES: tuple[str, ...] = ("mesa_reference", "sweep", "shared_days")
MESA_REFERENCE_FLOOR = 50.0
#: issue 16's target for that ratio
MESA_REFERENCE_TARGET = 200.0


def reference_figures(quick: bool) -> dict[str, Any]:
    """The ``mesa_reference`` case's figures (a bench child calls it)."""
    from sim.bench.reference import bench_reference

    n_residents, steps = (2000, 60) if quick else (5000, 365)
    row = bench_reference(n_residents, steps, n_steps_reference=None if not quick else 60)
    # seconds to the microsecond, so rates recomputed from the JSON agree with the printed ones
    return {"name": "mesa_reference", **{k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()},
            "floor_speedup": MESA_REFERENCE_FLOOR, "target_speedup": 0.0 if quick else MESA_REFERENCE_TARGET}


def sweep_figures(quick: bool, postgres_url: str | None = None) -> dict[str, Any]:
    """The ``sweep`` case's figures (a bench child calls it); ``postgres_url``: also store in that database."""
    from sim.bench.sweep import bench_sweep

    return {"name": "sweep", **bench_sweep(quick=quick, postgres_url=postgres_url)}


def shared_figures(quick: bool) -> dict[str, Any]:
    """The ``shared_days`` case's figures (a bench child calls it)."""
    from sim.bench.shared import bench_shared

    return {"name": "shared_days", **bench_shared(quick=quick)}


def case_lines(row: dict[str, Any]) -> list[str]:
    """The table's line (or lines) of a finished case: its figures against its floor."""
    if row["name"] == "mesa_reference":
        ok = "meets" if row["speedup"] >= row["floor_speedup"] else "BELOW"
        target = row.get("target_speedup", 0.0)
        aim = f"; {'meets' if row['speedup'] >= target else 'BELOW'} the {target:.0f}x target" if target else ""
        return [f"{'mesa_reference':<16} core {row['core_residents']:,} residents x {row['core_steps']} steps "
                f"{row['core_resident_steps_per_s'] / 1e6:.2f} M resident-steps/s; Mesa reference "
                f"{row['reference_residents']:,} x {row['reference_steps']} steps "
                f"{row['reference_resident_steps_per_s'] / 1e3:.1f} k resident-steps/s; speedup "
                f"{row['speedup']:,.0f}x ({ok} the {row['floor_speedup']:.0f}x floor{aim})"]
    if row["name"] == "sweep":
        from sim.bench.sweep import sweep_lines

        return sweep_lines(row)
    if row["name"] == "shared_days":
        from sim.bench.shared import shared_lines

        return shared_lines(row)
    return _model_lines(row)


def _model_lines(row: dict[str, Any]) -> list[str]:
    """A model case's lines: one thread, then every core; a ``fresh`` case's base is its imports alone."""
    floor, fresh = row["floor_resident_steps_per_s"], row.get("fresh", False)

    def ratio(rate: float) -> str:
        if floor:
            return f"{rate / floor:5.2f}x floor"
        return "(fresh process, kernels load in the run: no floor)" if fresh else "(no floor)"

    base = (f"imports {row['base_rss_mb']:.0f} MB, then numba's start, the run's kernels and the model" if fresh
            else f"base {row['base_rss_mb']:.0f} MB + {row['bytes_per_resident']:,} B a resident")
    lines = [f"{row['name']:<16} {row['residents']:>9,} residents x {row['steps']:>5} steps  "
             f"setup {row['setup_s']:6.2f} s  {row['resident_steps_per_s'] / 1e6:6.2f} M resident-steps/s "
             f"at {row['threads']} thread{'s' if row['threads'] > 1 else ''} {ratio(row['resident_steps_per_s'])}  "
             f"peak {row['peak_rss_mb']:7.1f} MB ({base})"]
    target = row.get("target_resident_steps_per_s", 0.0)
    if target:
        ok = "meets" if row["resident_steps_per_s"] >= target else "BELOW"
        lines[0] += f"; {ok} the {target / 1e6:.0f} M one-thread target ({row['resident_steps_per_s'] / target:.2f}x)"
    if row["max_peak_mb"]:
        ok = "meets" if row["peak_rss_mb"] <= row["max_peak_mb"] else "ABOVE"
        lines[0] += f"; {ok} the {row['max_peak_mb']:,.0f} MB target"
    for more in row.get("more_threads", []):
        lines.append(f"{'':<16} {'':>9}{'':>21}{'':>18}{more['resident_steps_per_s'] / 1e6:6.2f} M resident-steps/s "
                     f"at {more['threads']} threads {ratio(more['resident_steps_per_s'])} "
                     f"({more['resident_steps_per_s'] / row['resident_steps_per_s']:.2f}x "
                     f"one thread)  peak {more['peak_rss_mb']:7.1f} MB")
    return lines


def run_bench(quick: bool = False, cases: Sequence[str] | None = None,
              on_row: Callable[[dict[str, Any]], None] | None = None, postgres_url: str | None = None) -> dict[str, Any]:
    """Run the cases (all by default), each in its own single-threaded child process.

    Returns ``{"quick", "python", "cases": [one row of figures per case]}``; ``on_row`` gets each
    row as soon as its case has finished (:func:`case_lines` formats it). A model case's row has the
    one-thread figures, and under ``more_threads`` those of a run on every core (same seed, same
    results: the parallel loops are bit-identical for any thread count). Before a ``fresh`` case,
    another child runs warm_up, so the measured ones load cached kernels and compile nothing.
    ``postgres_url``: the ``sweep`` case also measures its overhead storing in that PostgreSQL database.
    """
    from sim.experiments.runner import call_in_new_process

    names = [c.name for c in CASES] + list(RATIO_CASES)
    wanted = list(cases or names)
    unknown = [c for c in wanted if c not in names]
    if unknown:
        from sim.errors import InputError

        raise InputError(f"unknown bench case {unknown[0]!r}; allowed: {', '.join(names)}")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out: list[dict[str, Any]] = []
    for name in wanted:
        func = {"mesa_reference": "reference_figures", "sweep": "sweep_figures",
                "shared_days": "shared_figures"}.get(name, "case_figures")
        args = {"mesa_reference": (quick,), "sweep": (quick, postgres_url), "shared_days": (quick,)}.get(name, (name, quick))
        if name in RATIO_CASES:
            row = call_in_new_process("sim.bench.cases", func, *args, env={**env, "NUMBA_NUM_THREADS": "1"},
                                      what=f"bench case {name}")
        else:
            if next(c for c in CASES if c.name == name).fresh:
                call_in_new_process("sim.core.model", "warm_up", env=env, what=f"warm_up before bench case {name}")
            runs = [call_in_new_process("sim.bench.cases", func, *args, env={**env, "NUMBA_NUM_THREADS": str(k)},
                                        what=f"bench case {name} on {k} thread(s)") for k in thread_counts()]
            row = {**runs[0], "more_threads": [{k: r[k] for k in ("threads", "run_s", "resident_steps_per_s",
                                                                 "peak_rss_mb", "base_rss_mb", "bytes_per_resident",
                                                                 "resolution_rate")} for r in runs[1:]]}
        out.append(row)
        if on_row is not None:
            on_row(row)
    return {"quick": quick, "python": sys.version.split()[0], "cases": out}
