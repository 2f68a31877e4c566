"""Docking: the Mesa reference model (sim/reference, written from docs/model.md) against the core.

For the baseline, three policy scenarios and one with a reform date and a warm-up, on a
~2,300-resident world, 365 days, seeds 1..20 of each implementation: every docked metric's replicate means must agree within 3 combined standard
errors (equality within 1e-9 for a metric with zero variance in both). The comparison table is
printed to the terminal whether or not pytest captures output.
"""

from __future__ import annotations

import pytest

from sim.experiments.docking import DOCKING_SCENARIOS, dock, docking_table, run_replicates

N_REPS = 20
N_STEPS = 365


@pytest.fixture(scope="module")
def docking_runs() -> dict:
    """All replicates of all scenarios, both implementations, on two worker processes."""
    runs, _cpu = run_replicates(list(DOCKING_SCENARIOS), N_REPS, N_STEPS, workers=2)
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("name", list(DOCKING_SCENARIOS))
def test_docking(name: str, docking_runs: dict, capsys: pytest.CaptureFixture[str]) -> None:
    runs = docking_runs[name]
    assert len(runs["core"]) == len(runs["reference"]) == N_REPS
    rows = dock(runs["core"], runs["reference"])
    with capsys.disabled():
        print("\n" + docking_table(name, rows, N_REPS))
    failed = [r.metric for r in rows if r.docked and not r.ok]
    assert not failed, f"{name}: metrics do not dock: {failed}"
