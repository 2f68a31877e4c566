"""Regression baselines: every shipped scenario and one sweep give exactly the pinned numbers.

The files under ``tests/baselines/`` hold, for each scenario of ``scenarios/`` (seed 1, 730 daily
steps), its content hash, every value of the summary and a sha256 of every time series; and for
the shipped sweep, a digest of its whole design and the kept outcomes of its first runs. The test
compares exactly: a number that moves without a reason is a bug.

A baseline changes only through ``pytest tests/test_baselines.py --update-baselines``, which
rewrites the files; the change then needs a line in ``CHANGELOG.md`` saying what moved and why.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sim import load_scenario, run_scenario

REPO = Path(__file__).resolve().parent.parent
BASELINES = Path(__file__).resolve().parent / "baselines"
SCENARIOS = sorted((REPO / "scenarios").glob("*.toml"))
SWEEP = REPO / "scenarios" / "sweeps" / "grid_alliance_empowerment.toml"
SEED = 1
N_STEPS = 730  # the shipped reform date is day 365 (after a year of warm-up): a year before it, a year after
#: runs of the sweep whose outcomes are pinned (the first experiments of its design, every replicate)
N_SWEEP_EXPERIMENTS = 6


def _digest(values: np.ndarray) -> str:
    """sha256 of an array's dtype, shape and bytes (bit-for-bit identity)."""
    arr = np.ascontiguousarray(values)
    h = hashlib.sha256(f"{arr.dtype.str}{arr.shape}".encode())
    h.update(arr.tobytes())
    return h.hexdigest()


def _floats(summary: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in sorted(summary.items())}


def scenario_baseline(path: Path) -> dict[str, Any]:
    """The pinned figures of one scenario file: hash, summary and time-series digests."""
    scenario = load_scenario(path)
    res = run_scenario(scenario, seed=SEED, n_steps=N_STEPS)
    return {
        "scenario": path.relative_to(REPO).as_posix(),
        "seed": SEED,
        "n_steps": N_STEPS,
        "content_hash": scenario.content_hash(),
        "summary": _floats(res.summary),
        "t": _digest(res.t),
        "timeseries_sha256": {k: _digest(v) for k, v in sorted(res.timeseries.items())},
    }


def sweep_baseline(path: Path) -> dict[str, Any]:
    """The pinned figures of a sweep: its design's digest and the outcomes of its first runs."""
    from sim.experiments.sweep.run import run_context
    from sim.experiments.sweep.spec import load_sweep
    from sim.experiments.sweep.work import Task, execute

    spec = load_sweep(path)
    design = [spec.overrides(e) for e in range(spec.n_experiments)]
    ctx = run_context(spec)
    runs = []
    for e in range(N_SWEEP_EXPERIMENTS):
        for r in range(spec.replicates):
            out = execute(ctx, Task(e, r, spec.seed_of(e, r), spec.overrides(e)))
            runs.append({"experiment": e, "replicate": r, "seed": out.seed, "scenario_hash": out.scenario_hash,
                         "summary": _floats(out.summary),
                         "timeseries_sha256": {k: _digest(v) for k, v in sorted(out.timeseries.items())}})
    return {
        "sweep": path.relative_to(REPO).as_posix(),
        "n_experiments": spec.n_experiments,
        "replicates": spec.replicates,
        "design_sha256": hashlib.sha256(json.dumps(design, sort_keys=True).encode()).hexdigest(),
        "runs": runs,
    }


def _check(name: str, computed: dict[str, Any], update: bool) -> None:
    file = BASELINES / f"{name}.json"
    if update:
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(json.dumps(computed, indent=1, sort_keys=True) + "\n")
        pytest.skip(f"baseline {file.name} rewritten: add a CHANGELOG.md line saying what changed and why")
    assert file.exists(), f"no baseline {file}: create it with pytest tests/test_baselines.py --update-baselines"
    pinned = json.loads(file.read_text())
    _assert_same(pinned, computed, name)


def _assert_same(pinned: Any, computed: Any, where: str) -> None:
    """Exact comparison that names the first value that moved (NaN equals NaN)."""
    if isinstance(pinned, dict):
        assert isinstance(computed, dict) and sorted(pinned) == sorted(computed), \
            f"{where}: keys differ: {sorted(set(pinned) ^ set(computed))}"
        for k in pinned:
            _assert_same(pinned[k], computed[k], f"{where}.{k}")
    elif isinstance(pinned, list):
        assert isinstance(computed, list) and len(pinned) == len(computed), f"{where}: length differs"
        for i, (a, b) in enumerate(zip(pinned, computed)):
            _assert_same(a, b, f"{where}[{i}]")
    elif isinstance(pinned, float) and math.isnan(pinned):
        assert isinstance(computed, float) and math.isnan(computed), f"{where}: pinned NaN, now {computed!r}"
    else:
        assert pinned == computed, f"{where}: pinned {pinned!r}, now {computed!r}"


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_baseline(path: Path, update_baselines: bool) -> None:
    """Seed 1, 730 steps (reform on day 365): the summary and every time series exactly as pinned."""
    _check(f"scenario_{path.stem}", scenario_baseline(path), update_baselines)


def test_sweep_baseline(update_baselines: bool) -> None:
    """The shipped sweep's design and its first runs' outcomes exactly as pinned."""
    _check(f"sweep_{SWEEP.stem}", sweep_baseline(SWEEP), update_baselines)


def test_every_shipped_scenario_is_pinned() -> None:
    """A new scenario file needs a baseline; a removed one leaves no stale file behind."""
    expected = {f"scenario_{p.stem}.json" for p in SCENARIOS} | {f"sweep_{SWEEP.stem}.json"}
    assert {p.name for p in BASELINES.glob("*.json")} == expected
