"""govsim bench: the cases run in child processes and report consistent figures (not speed floors:
speed is measured by the benchmark itself, never asserted by a timed unit test)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from sim.bench.cases import CASES, RATIO_CASES, case_lines, run_bench, thread_counts
from sim.errors import InputError


def test_quick_json_reports_a_model_case_and_the_mesa_reference_ratio() -> None:
    proc = subprocess.run([sys.executable, "-m", "sim", "bench", "--quick", "--json", "--case", "community_10k",
                           "--case", "mesa_reference"], capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    rows = {row["name"]: row for row in report["cases"]}
    assert list(rows) == ["community_10k", "mesa_reference"]
    core = rows["community_10k"]
    assert core["resident_steps_per_s"] == pytest.approx(core["residents"] * core["steps"] / core["run_s"], rel=1e-3)
    assert 0.0 < core["resolution_rate"] <= 1.0 and core["peak_rss_mb"] > 0
    # memory: the base (the process after warm_up) is that of a process that ran a tiny model, far from nothing
    assert 50 < core["base_rss_mb"] and core["bytes_per_resident"] >= 0 and core["max_peak_mb"] == 0.0
    # the one-thread run, then one on every core (numba's parallel loops): same seed, same results
    assert core["threads"] == 1
    assert [more["threads"] for more in core["more_threads"]] == thread_counts()[1:]
    for more in core["more_threads"]:
        assert more["resolution_rate"] == core["resolution_rate"] and more["resident_steps_per_s"] > 0
    ref = rows["mesa_reference"]
    for impl in ("core", "reference"):
        assert ref[f"{impl}_residents"] > 1000 and ref[f"{impl}_steps"] > 0 and ref[f"{impl}_seconds"] > 0
        rate = ref[f"{impl}_residents"] * ref[f"{impl}_steps"] / ref[f"{impl}_seconds"]
        assert ref[f"{impl}_resident_steps_per_s"] == pytest.approx(rate, rel=1e-3)
    assert ref["speedup"] == pytest.approx(ref["core_resident_steps_per_s"] / ref["reference_resident_steps_per_s"],
                                           rel=1e-3)
    assert ref["floor_speedup"] == 50.0
    # the human-readable lines went to stderr, one per case, with the floor verdict
    assert "mesa_reference" in proc.stderr and "floor" in proc.stderr


def test_unknown_case_is_one_clear_error_listing_the_cases() -> None:
    with pytest.raises(InputError) as err:
        run_bench(quick=True, cases=["no_such_case"])
    for name in [c.name for c in CASES] + list(RATIO_CASES):
        assert name in str(err.value)


@pytest.mark.parametrize(("peak", "verdict"), [(1958.0, "meets the 3,072 MB target"), (3100.0, "ABOVE the 3,072 MB target")])
def test_a_case_with_a_memory_target_prints_its_verdict(peak: float, verdict: str) -> None:
    """The city case's line says whether its peak is within its memory target; a case without one says nothing."""
    city = next(c for c in CASES if c.name == "city_3m")
    assert city.max_peak_mb == 3072.0
    row = {"name": "city_3m", "residents": 3_079_862, "steps": 365, "setup_s": 7.3, "resident_steps_per_s": 2e7,
           "threads": 1, "peak_rss_mb": peak, "base_rss_mb": 195.0, "bytes_per_resident": 600,
           "floor_resident_steps_per_s": 0.0, "max_peak_mb": city.max_peak_mb, "more_threads": []}
    line = case_lines(row)[0]
    assert line.endswith(verdict) and "base 195 MB + 600 B a resident" in line
    assert "target" not in case_lines({**row, "max_peak_mb": 0.0})[0]


@pytest.mark.parametrize(("in_process", "speedup", "overhead_verdict", "speedup_verdict"),
                         [(1.36, 1.86, "both meet the target < 2%", "meets the 1.85x target"),
                          (2.4, 1.82, "both do NOT meet the target < 2%", "BELOW the 1.85x target")])
def test_sweep_lines_print_each_target_beside_its_figure(in_process: float, speedup: float, overhead_verdict: str,
                                                         speedup_verdict: str) -> None:
    """The sweep's overhead line judges both overheads against 2%; the throughput line its speedup against 1.85x."""
    from sim.bench.sweep import OVERHEAD_TARGET_PCT, SPEEDUP_TARGET, sweep_lines

    assert (OVERHEAD_TARGET_PCT, SPEEDUP_TARGET) == (2.0, 1.85)
    run = {"run_s": 0.24, "overhead_ms": 3.3, "store_ms": 1.8}
    figures = {"overhead": {"residents": 2039, "steps": 365, "target_pct": 2.0,
                            "in_process": {**run, "overhead_pct": in_process},
                            "one_worker_process": {**run, "overhead_pct": 1.43}},
               "throughput": {"runs_per_min_1": 264.0, "runs_per_min_2": 264.0 * speedup, "speedup": speedup,
                              "target_speedup": 1.85}}
    overhead, throughput = sweep_lines(figures)
    assert overhead.endswith(overhead_verdict) and f"({in_process:.2f}%" in overhead and "PostgreSQL" not in overhead
    assert throughput.endswith(f"({speedup_verdict})") and f"speedup {speedup:.2f}x" in throughput
    for on_pg, verdict in ((1.8, "all meet" if in_process < 2 else "do NOT all meet"), (2.1, "do NOT all meet")):
        figures["overhead"]["in_process_postgresql"] = {**run, "overhead_pct": on_pg}  # govsim bench --postgres URL
        overhead = sweep_lines(figures)[0]
        assert overhead.endswith(f"; {verdict} the target < 2%") and f"on PostgreSQL ({on_pg:.2f}%" in overhead


@pytest.mark.parametrize(("url", "says"), [("sqlite:///x.db", "not a PostgreSQL URL"), ("::", "not a valid database URL"),
                                           ("sqlite://", "in-memory")])
def test_bench_refuses_a_postgres_url_it_cannot_use_before_any_case_runs(url: str, says: str,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from sim.cli import main

    assert main(["bench", "--case", "sweep", "--postgres", url]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and says in err


@pytest.mark.parametrize(("peak", "verdict"), [(110.0, "meets the 120 MB target"), (179.3, "ABOVE the 120 MB target")])
def test_the_small_run_case_prints_its_fresh_process_peak_against_120_mb(peak: float, verdict: str) -> None:
    """Issue 16's small run: the peak of a fresh process, beside the 120 MB target; its speed has no floor."""
    small = next(c for c in CASES if c.name == "community_5k")
    assert small.fresh and small.max_peak_mb == 120.0 and small.floor == 0.0 and small.steps == 30
    row = {"name": "community_5k", "residents": 5417, "steps": 30, "setup_s": 0.09, "resident_steps_per_s": 4.8e5,
           "threads": 1, "peak_rss_mb": peak, "base_rss_mb": 98.9, "bytes_per_resident": 15572,
           "floor_resident_steps_per_s": 0.0, "max_peak_mb": small.max_peak_mb, "fresh": True,
           "more_threads": [{"threads": 2, "resident_steps_per_s": 5.1e5, "peak_rss_mb": peak}]}
    first, more = case_lines(row)
    assert first.endswith(verdict) and "imports 99 MB, then numba's start" in first and "B a resident" not in first
    assert "kernels load in the run: no floor" in first and "no floor" in more


def test_the_small_run_case_is_the_community_closest_to_5400_residents() -> None:
    """Its compound count is the one whose world (the bench's seed) is closest to 5,400 residents."""
    from sim.bench.cases import case_scenario
    from sim.core.model import Model

    small = next(c for c in CASES if c.name == "community_5k")
    k = small.overrides["world.n_compounds_per_community"]

    def residents(compounds: int) -> int:
        case = dataclasses.replace(small, overrides={**small.overrides, "world.n_compounds_per_community": compounds})
        return Model(case_scenario(case, quick=False)[0], seed=1).world.n_residents

    sizes = {c: residents(c) for c in (k - 1, k, k + 1)}
    assert min(sizes, key=lambda c: abs(sizes[c] - 5400)) == k and abs(sizes[k] - 5400) < 100


def test_a_fresh_case_measures_a_process_without_warm_up() -> None:
    """The fresh case's base is the imports alone: numba's start and the kernels come after it, inside the run."""
    row = run_bench(quick=True, cases=["community_5k"])["cases"][0]
    assert row["fresh"] and row["max_peak_mb"] == 0.0 and row["floor_resident_steps_per_s"] == 0.0
    # after warm_up the run would add a few MB; numba's start alone is tens of MB
    assert row["peak_rss_mb"] - row["base_rss_mb"] > 30
    assert [more["resolution_rate"] for more in row["more_threads"]] == [row["resolution_rate"]] * len(row["more_threads"])


@pytest.mark.parametrize(("name", "rate", "verdict"),
                         [("district_450k", 24.1e6, "BELOW the 40 M one-thread target (0.60x)"),
                          ("district_450k", 41e6, "meets the 40 M one-thread target (1.02x)"),
                          ("community_10k", 16.5e6, "BELOW the 30 M one-thread target (0.55x)")])
def test_model_cases_print_issue_16s_speed_target_beside_the_figure(name: str, rate: float, verdict: str) -> None:
    """The district and the small community are judged against their one-thread targets; no target on --quick rows."""
    case = next(c for c in CASES if c.name == name)
    row = {"name": name, "residents": 456_891, "steps": 365, "setup_s": 1.0, "resident_steps_per_s": rate,
           "threads": 1, "peak_rss_mb": 453.0, "base_rss_mb": 180.0, "bytes_per_resident": 600,
           "floor_resident_steps_per_s": case.floor, "target_resident_steps_per_s": case.target, "max_peak_mb": 0.0,
           "more_threads": []}
    line = case_lines(row)[0]
    assert line.endswith(verdict)
    assert "target" not in case_lines({**row, "target_resident_steps_per_s": 0.0})[0]


@pytest.mark.parametrize(("speedup", "verdict"), [(55.0, "(meets the 50x floor; BELOW the 200x target)"),
                                                   (210.0, "(meets the 50x floor; meets the 200x target)"),
                                                   (45.0, "(BELOW the 50x floor; BELOW the 200x target)")])
def test_the_mesa_ratio_prints_its_floor_and_its_target(speedup: float, verdict: str) -> None:
    from sim.bench.cases import MESA_REFERENCE_TARGET

    row = {"name": "mesa_reference", "core_residents": 5000, "core_steps": 365, "core_resident_steps_per_s": 12.3e6,
           "reference_residents": 5000, "reference_steps": 365, "reference_resident_steps_per_s": 12.3e6 / speedup,
           "speedup": speedup, "floor_speedup": 50.0, "target_speedup": MESA_REFERENCE_TARGET}
    assert case_lines(row)[0].endswith(verdict)


def test_the_shared_days_case_runs_both_ways_and_finds_the_same_runs() -> None:
    """``shared_days`` (quick): one comparison with the days shared, one without; the same runs, bit for bit.

    Its speed is the bench's figure, not this test's: the test checks what the row says and that it is computed.
    """
    from sim.bench.shared import bench_shared, shared_lines

    row = bench_shared(quick=True, replicates=2, repeats=1)
    assert row["identical"] is True
    assert (row["scenarios"], row["replicates"], row["steps"], row["warmup"], row["reform_day"]) == (6, 2, 120, 60, 60)
    assert row["speedup"] == round(row["separate_s"] / row["shared_s"], 4)
    line = shared_lines({**row, "identical": False})[0]
    assert "DIFFERENT runs" in line and "first 120 days" in line
