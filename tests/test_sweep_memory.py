"""The coordinator's memory does not grow with the number of runs: after 500 vs after 2,000 runs."""

from __future__ import annotations

from sim.bench.sweep import measure_memory


def test_coordinator_peak_memory_is_flat_from_500_to_2000_runs() -> None:
    mem = measure_memory((500, 2000), workers=2)  # one sweep of 2,000 tiny runs in a fresh process
    early, late = mem["500"], mem["2000"]
    print(mem)
    # results stream into the store: after 4x the runs the peaks are (almost) the same; holding
    # every result (summary, series, provenance: a few KB each) would add megabytes to the heap
    assert late["heap_peak_kb"] < 1.2 * early["heap_peak_kb"] + 256, mem
    assert late["rss_peak_mb"] - early["rss_peak_mb"] < 10, mem
