"""The generic runner: the same results in task order whatever the number of workers, failures
reported per task, a dead worker reported, an abandoned run's tasks never seen by the next run,
signals held back during a commit, a function run in a fresh interpreter."""

from __future__ import annotations

import argparse
import os
import signal
import time
from pathlib import Path

import pytest

from sim.cli.common import EXIT_FAILED, dispatch
from sim.errors import InputError, WorkerError
from sim.experiments.runner import (
    TICK,
    ProcessExecutor,
    SerialExecutor,
    StopSignals,
    call_in_new_process,
    gather,
    make_executor,
    map_tasks,
    run_tasks,
)


def _power(shared: int, task: int) -> tuple[int, int]:
    if task == 5:
        raise ArithmeticError("five")
    return task, task**shared


def _slow_power(shared: int, task: int) -> tuple[int, int]:
    time.sleep(0.05 * (6 - task % 7))  # early tasks finish last
    return _power(shared, task)


def _after_next(marker_dir: str, task: int) -> int:
    """Task 0 finishes only after task 2 has run, the others at once.

    Two workers: while one holds task 0, the other runs task 1, puts its result on the pool's result
    queue and only then takes task 2, so task 1's result is queued before task 0's (waiting for task
    1's own marker left a window between its marker and its result, and the test failed under load).
    """
    here = Path(marker_dir)
    end = time.monotonic() + 30
    while task == 0 and not (here / "2").exists() and time.monotonic() < end:
        time.sleep(0.01)
    (here / str(task)).touch()
    return task * task


def _after_go(marker_dir: str, task: int) -> int:
    """Task 0 finishes only once the caller has written a ``go`` marker; the others at once."""
    here = Path(marker_dir)
    end = time.monotonic() + 30
    while task == 0 and not (here / "go").exists() and time.monotonic() < end:
        time.sleep(0.01)
    return task * task


def _die(shared: None, task: int) -> int:
    if task == 2:
        os._exit(3)  # as the out-of-memory killer would end it
    return task


def _first_fails(shared: None, task: int) -> tuple[str, int]:
    if task == 0:
        raise ArithmeticError("zero")
    time.sleep(0.3)  # still running (or queued) when task 0 has failed
    return "r", task


def test_run_tasks_returns_results_in_task_order_whatever_the_workers() -> None:
    tasks = [3, 1, 4, 1, 9, 2, 6]
    one = run_tasks(_slow_power, tasks, 2, workers=1)
    two = run_tasks(_slow_power, tasks, 2, workers=2)
    assert one == two == [(t, t**2) for t in tasks]


def test_tasks_finishing_out_of_order_come_in_completion_or_task_order(tmp_path: Path) -> None:
    tasks = list(range(6))
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
    # task 0 finishes only after the caller has had another task's result: completion order puts it later
    # (task 0 waiting for task 2's marker instead failed under load: a busy caller saw 0 and 1 done at once)
    results = map_tasks(_after_go, tasks, str(tmp_path / "a"), workers=2)
    first, _ = next(results)
    (tmp_path / "a" / "go").touch()
    done = [first] + [task for task, _ in results]
    assert sorted(done) == tasks and first != 0  # completion order
    ordered = list(map_tasks(_after_next, tasks, str(tmp_path / "b"), workers=2, ordered=True))
    assert ordered == [(t, t * t) for t in tasks]  # task 1 finished first, task 0 still comes first


def test_map_tasks_yields_each_failure_with_its_task() -> None:
    got = dict(map_tasks(_power, range(8), 3, workers=2))
    assert sorted(got) == list(range(8))
    assert isinstance(got[5], ArithmeticError) and str(got[5]) == "five"
    assert all(got[t] == (t, t**3) for t in range(8) if t != 5)
    with pytest.raises(ArithmeticError, match="five"):
        run_tasks(_power, range(8), 3, workers=1)


def _zero_after_go(shared: None, task: tuple[str, int]) -> int:
    """``_after_go`` with the marker directory in the task: ``(directory, n)``."""
    return _after_go(*task)


def test_tick_s_yields_a_tick_each_time_no_result_came_for_that_long(tmp_path: Path) -> None:
    """Task 1 finishes at once, task 0 only once three ticks came: ticks ``tick_s`` apart between the two results,
    in completion and in task order (task 1's result held meanwhile); none unless asked, none in this process."""
    ex = ProcessExecutor(_zero_after_go, None, workers=2)
    try:
        ex.start()
        for ordered in (False, True):
            here = str(tmp_path / str(ordered))
            Path(here).mkdir()
            got: list[tuple[object, float]] = []
            for item in ex.run([(here, 0), (here, 1)], ordered=ordered, tick_s=0.2):
                got.append((item, time.monotonic()))
                if sum(i is TICK for i, _ in got) == 3:
                    Path(here, "go").touch()
            items = [i for i, _ in got]
            results = [((here, 1), 1), ((here, 0), 0)]  # in completion order
            assert [i for i in items if i is not TICK] == (results[::-1] if ordered else results)
            assert items.count(TICK) >= 3 and items[-1] is not TICK, items  # the ticks came before task 0's result
            ticks = [t for i, t in got if i is TICK]
            assert all(0.19 <= b - a < 2.0 for a, b in zip(ticks, ticks[1:], strict=False)), ticks
        assert TICK not in list(ex.run([(here, 0), (here, 1)]))  # no tick_s: no tick
    finally:
        ex.close(cancel=True)
    assert list(SerialExecutor(_power, 2).run([1, 2], tick_s=1e-9)) == [(1, (1, 1)), (2, (2, 4))]
    with pytest.raises(InputError, match="tick_s must be a number of seconds > 0, got 0"):
        next(SerialExecutor(_power, 2).run([1], tick_s=0))


@pytest.mark.parametrize("make", [lambda: ProcessExecutor(_first_fails, None, workers=2),
                                  lambda: SerialExecutor(_first_fails)], ids=["processes", "serial"])
def test_an_abandoned_run_leaves_nothing_for_the_next_run(make) -> None:
    ex = make()
    try:
        with pytest.raises(ArithmeticError, match="zero"):
            gather(ex, [0, 1, 2, 3])  # raises on task 0 while 1, 2, 3 are in flight
        assert gather(ex, [10, 11]) == [("r", 10), ("r", 11)]
    finally:
        ex.close(cancel=True)


def test_a_dead_worker_is_a_worker_error_and_the_cli_exits_1_with_one_line(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(WorkerError, match="died unexpectedly"):
        run_tasks(_die, range(4), workers=2)

    command = argparse.Namespace(func=lambda args: len(run_tasks(_die, range(4), workers=2)))
    assert dispatch(command) == EXIT_FAILED == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("govsim: error: a worker process died"), err


@pytest.mark.parametrize("workers", [0, -1])
def test_fewer_than_one_worker_is_an_input_error(workers: int) -> None:
    with pytest.raises(InputError, match=f"workers must be at least 1 .*got {workers}"):
        make_executor(_power, 2, workers=workers)
    with pytest.raises(InputError, match="workers must be at least 1"):
        run_tasks(_power, [1], 2, workers=workers)


def test_stop_signals_wait_for_the_critical_block_then_stop() -> None:
    before = signal.getsignal(signal.SIGTERM)
    stored = []
    with pytest.raises(KeyboardInterrupt), StopSignals() as stop:
        with stop.critical():
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            stored.append(1)  # the commit ends although both signals arrived during it
        stored.append(2)  # never reached: the signal takes effect when the block ends
    assert stored == [1] and signal.getsignal(signal.SIGTERM) is before
    with pytest.raises(KeyboardInterrupt), StopSignals():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)


def test_call_in_new_process_keeps_its_arguments_off_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bench child gets a PostgreSQL URL: its password must not show in the process list (``ps``)."""
    import subprocess

    url = "postgresql+psycopg://govsim:s3cret-pw@db.example/govsim"
    seen: list[list[str]] = []
    real = subprocess.run
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: seen.append(list(cmd)) or real(cmd, **kw))
    assert call_in_new_process("builtins", "str", url) == url  # it still reaches the function
    assert len(seen) == 1 and not any("s3cret" in part for part in seen[0])


def test_call_in_new_process_returns_the_json_result() -> None:
    assert call_in_new_process("os.path", "join", "a", "b") == "a/b"
    with pytest.raises(RuntimeError, match="no_such_function"):
        call_in_new_process("os.path", "no_such_function")
