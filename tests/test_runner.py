"""The generic runner: the same results in task order whatever the number of workers, failures
reported per task, a dead worker reported, a function run in a fresh interpreter."""

from __future__ import annotations

import os

import pytest

from sim.experiments.runner import WorkerDied, call_in_new_process, map_tasks, run_tasks


def _power(shared: int, task: int) -> tuple[int, int]:
    if task == 5:
        raise ArithmeticError("five")
    return task, task**shared


def _die(shared: None, task: int) -> int:
    if task == 2:
        os._exit(3)  # as the out-of-memory killer would end it
    return task


def test_run_tasks_returns_results_in_task_order_whatever_the_workers() -> None:
    tasks = [3, 1, 4, 1, 9, 2, 6]
    one = run_tasks(_power, tasks, 2, workers=1)
    two = run_tasks(_power, tasks, 2, workers=2)
    assert one == two == [(t, t**2) for t in tasks]


def test_map_tasks_yields_each_failure_with_its_task() -> None:
    got = dict(map_tasks(_power, range(8), 3, workers=2))
    assert sorted(got) == list(range(8))
    assert isinstance(got[5], ArithmeticError) and str(got[5]) == "five"
    assert all(got[t] == (t, t**3) for t in range(8) if t != 5)
    ordered = [task for task, _ in map_tasks(_power, range(8), 3, workers=2, ordered=True)]
    assert ordered == list(range(8))
    with pytest.raises(ArithmeticError, match="five"):
        run_tasks(_power, range(8), 3, workers=1)


def test_a_dead_worker_is_reported() -> None:
    with pytest.raises(WorkerDied, match="died unexpectedly"):
        run_tasks(_die, range(4), workers=2)


def test_call_in_new_process_returns_the_json_result() -> None:
    assert call_in_new_process("os.path", "join", "a", "b") == "a/b"
    with pytest.raises(RuntimeError, match="no_such_function"):
        call_in_new_process("os.path", "no_such_function")
