"""govsim bench: the cases run in child processes and report consistent figures (not speed floors:
speed is measured by the benchmark itself, never asserted by a timed unit test)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sim.bench.cases import CASES, RATIO_CASES, run_bench, thread_counts
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
    # memory: the base (interpreter, imports, kernels, after warm_up) and what each resident adds to it
    assert 0 < core["base_rss_mb"] <= core["peak_rss_mb"] and core["max_peak_mb"] == 0.0
    per_resident = (core["peak_rss_mb"] - core["base_rss_mb"]) * 2**20 / core["residents"]
    assert core["bytes_per_resident"] == pytest.approx(per_resident, abs=0.1 * 2**20 / core["residents"] + 1)
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
