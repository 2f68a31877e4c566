"""The fuzzer's machinery: run ``govsim ARGV`` in this process on malformed input and judge the outcome.

Every case runs in a fresh directory (the working directory while it runs), with small caps
(``GOVSIM_MAX_*``) so that an input that is valid stays a tiny job, and a time limit (SIGALRM).
A case passes when govsim exits 0 (with strict JSON on stdout when ``--json`` was given) or 2
with exactly one line ``govsim: error: ...`` on stderr (warning lines aside) and, after a
failure, no new file or directory in the case's directory. :data:`COUNTS` tallies the outcomes
by input kind for the long profile's report.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import signal
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from sim.cli import main

#: outcomes by input kind: (kind, "ok" | "error" | "traceback" | "hang" | "memory" | "files_left" | ...) -> count
COUNTS: Counter[tuple[str, str]] = Counter()
#: a small base scenario (one compound, a few hundred residents) that cases may extend
SMALL_BASE = """name = "tiny"
[run]
n_steps = 5
[world]
n_streets = 1
n_communities_per_street = 1
n_compounds_per_community = 1
"""
#: the caps of every case: a valid input stays a job of well under a second
CAPS = {"GOVSIM_MAX_MEMORY": "1G", "GOVSIM_MAX_RUNS": "6", "GOVSIM_MAX_RESIDENT_DAYS": "20000"}
TIME_LIMIT_S = 30
#: the most this process's peak resident memory may grow over one case
MEMORY_LIMIT_KB = 1_500_000


class Hang(BaseException):
    """A case ran past its time limit (a BaseException: govsim's error path must not swallow it)."""


def _on_alarm(signum: int, frame: object) -> None:
    raise Hang()


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _strict_json(text: str) -> None:
    def refuse(name: str) -> None:
        raise ValueError(f"non-JSON constant {name}")

    for line in text.strip().splitlines()[-1:]:
        data = json.loads(line, parse_constant=refuse)
        summary = data.get("summary") if isinstance(data, dict) else None
        if isinstance(summary, dict) and summary.get("n_residents"):  # a run: its outcomes are numbers
            for key in ("satisfaction_mean", "trust_mean", "cost_yuan"):
                if summary.get(key) is None:
                    raise ValueError(f"{key} is null (NaN or infinite) in a run of {summary['n_residents']} residents")


@contextlib.contextmanager
def case_dir() -> Iterator[Path]:
    """A fresh directory holding ``tiny.toml``, the working directory while the case runs."""
    old = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="govsim-fuzz-") as tmp:
        root = Path(tmp)
        (root / "tiny.toml").write_text(SMALL_BASE, encoding="utf-8")
        os.chdir(root)
        try:
            yield root
        finally:
            os.chdir(old)


def run_case(kind: str, root: Path, argv: Sequence[str], extra_check: Callable[[], None] | None = None) -> str:
    """Run ``govsim argv`` in ``root`` and assert the outcome is acceptable; return "ok" or "error"."""
    before = _tree(root)
    out, err = io.StringIO(), io.StringIO()
    saved = {k: os.environ.get(k) for k in CAPS}
    os.environ.update(CAPS)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    old_handler = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(TIME_LIMIT_S)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(list(argv))
    except Hang:
        COUNTS[kind, "hang"] += 1
        raise AssertionError(f"{kind}: govsim {list(argv)} ran longer than {TIME_LIMIT_S} s") from None
    except MemoryError:
        COUNTS[kind, "memory"] += 1
        raise
    except BaseException:
        COUNTS[kind, "traceback"] += 1
        raise
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old_handler)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak
    stderr = [line for line in err.getvalue().splitlines() if not line.startswith("govsim: warning:")]
    outcome = _judge(kind, argv, rc, stderr, out.getvalue(), grown)
    if outcome == "error":
        left = _tree(root) - before
        if left:
            COUNTS[kind, "files_left"] += 1
            raise AssertionError(f"{kind}: govsim {list(argv)} failed but left {sorted(left)}")
    elif extra_check is not None:
        extra_check()
    COUNTS[kind, outcome] += 1
    return outcome


def _judge(kind: str, argv: Sequence[str], rc: int, stderr: list[str], stdout: str, grown_kb: int) -> str:
    where = f"{kind}: govsim {list(argv)}"
    if grown_kb > MEMORY_LIMIT_KB:
        COUNTS[kind, "memory"] += 1
        raise AssertionError(f"{where}: peak memory grew by {grown_kb / 1024:,.0f} MiB")
    if rc == 0:
        if "--json" in argv and "--dry-run" not in argv or ("--dry-run" in argv and "--json" in argv):
            try:
                _strict_json(stdout)
            except ValueError as exc:
                COUNTS[kind, "bad_output"] += 1
                raise AssertionError(f"{where}: exit 0 but stdout is not strict JSON ({exc}): {stdout[-300:]!r}") from None
        return "ok"
    if rc == 2 and len(stderr) == 1 and stderr[0].startswith("govsim: error: "):
        return "error"
    COUNTS[kind, "traceback" if rc == 3 else "bad_exit"] += 1
    raise AssertionError(f"{where}: exit {rc}, stderr {stderr!r}")
