"""What a run, comparison, sweep or calibration will cost, checked against the machine before it starts.

:func:`estimate` gives the expected number of residents of a scenario, the memory of one run
(residents, recorded days and the process's fixed cost) and the work (resident-days).
:func:`check_resources` refuses, with one :class:`~sim.errors.LimitError` naming the estimate, the
cap and how to raise it, a job whose memory (runs in parallel x memory of one run) exceeds the
memory cap, or whose number of runs or total resident-days exceed their caps.

The caps (:class:`Limits`) default to 80% of the memory available now, 1,000,000 runs and 10^12
resident-days (about a day of one core), and are set by the environment variables
``GOVSIM_MAX_MEMORY`` (bytes, or with a K/M/G/T suffix), ``GOVSIM_MAX_RUNS`` and
``GOVSIM_MAX_RESIDENT_DAYS``; the command line's ``--max-memory SIZE`` and ``--allow-large``
(no cap on runs or resident-days) override them.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sim.errors import InputError, LimitError

if TYPE_CHECKING:
    from sim.core.scenario import Scenario

__all__ = ["Estimate", "Limits", "check_resources", "estimate", "parse_size"]

#: memory per resident during a run (bytes): about 600 measured with tracemalloc, with margin for problems
BYTES_PER_RESIDENT = 2048
#: memory per recorded day (bytes): the series table and the per-day accumulators, with margin
BYTES_PER_DAY = 1024
#: the fixed memory of a process running simulations (Python, numpy, numba's kernels)
BYTES_PER_PROCESS = 200 << 20
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


def parse_size(text: str, what: str = "a memory size") -> int:
    """Bytes from ``"8G"``, ``"512M"``, ``"1.5T"`` or ``"1000000"``; :class:`InputError` otherwise."""
    m = _SIZE.match(str(text))
    if not m:
        raise InputError(f"{what} {text!r}: expected a size such as 512M, 8G or 1T", value=text,
                         allowed="a size such as 512M, 8G or 1T")
    value = float(m.group(1)) * {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}[m.group(2).lower()]
    if not (math.isfinite(value) and 1 <= value <= 2**62):
        raise InputError(f"{what} {text!r}: expected a size from 1 byte to 4 EiB", value=text)
    return int(value)


def _gib(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB" if n >= 2**30 else f"{n / 2**20:,.0f} MiB"


@dataclass(frozen=True)
class Limits:
    """The caps a job is checked against (see the module docstring); None: no cap."""

    max_memory: int | None
    max_runs: int | None = 1_000_000
    max_resident_days: float | None = 1e12
    memory_source: str = "set cap"

    @classmethod
    def from_environment(cls, max_memory: str | None = None, allow_large: bool = False,
                         env: Mapping[str, str] | None = None) -> Limits:
        """The caps from ``env`` (default: ``os.environ``), ``max_memory`` and ``allow_large`` overriding."""
        env = os.environ if env is None else env
        source = "--max-memory" if max_memory else "GOVSIM_MAX_MEMORY"
        raw = max_memory or env.get("GOVSIM_MAX_MEMORY")
        if raw:
            memory: int | None = parse_size(raw, source)
        else:
            import psutil

            memory, source = int(psutil.virtual_memory().available * 0.8), "80% of this machine's available memory"
        runs: int | None = int(_env_number(env, "GOVSIM_MAX_RUNS", 1_000_000))
        days: float | None = _env_number(env, "GOVSIM_MAX_RESIDENT_DAYS", 1e12)
        if allow_large:
            runs = days = None
        return cls(memory, runs, days, source)


def _env_number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 1):
        raise InputError(f"environment variable {name}={raw!r}: expected a positive number", value=raw)
    return value


@dataclass(frozen=True)
class Estimate:
    """The expected size of one run of a scenario."""

    residents: float
    days: int  # simulated days, warm-up included
    memory: int  # bytes of one run in its own process

    @property
    def resident_days(self) -> float:
        """Residents x days of one run: the work, about 10^7 a second on one core."""
        return self.residents * self.days


def estimate(scenario: Scenario, n_steps: int | None = None) -> Estimate:
    """The expected residents, days and memory of one run of ``scenario`` (``n_steps`` overriding its own)."""
    w = scenario.world
    shares = w.p_compound_type.array()
    per_compound = float((shares / shares.sum() * w.n_buildings_per_compound.array()
                          * w.n_households_per_building.array() * w.n_residents_per_household.array()).sum())
    residents = w.n_streets * w.n_communities_per_street * w.n_compounds_per_community * per_compound
    steps = scenario.run.n_steps if n_steps is None else n_steps
    days = steps + scenario.reform.dur_warmup
    rows = -(-steps // scenario.run.record_every) + steps
    memory = BYTES_PER_PROCESS + residents * BYTES_PER_RESIDENT + rows * BYTES_PER_DAY
    return Estimate(residents, days, int(min(memory, 2**62)))


def check_resources(estimates: Sequence[Estimate], runs_each: int, workers: int, limits: Limits,
                    what: str = "the job") -> None:
    """Refuse (:class:`LimitError`) a job of ``runs_each`` runs of every estimate, ``workers`` at a time.

    The memory is that of the largest run times the runs in parallel (``workers``, at most the runs).
    """
    n_runs = runs_each * len(estimates)
    if not estimates or n_runs < 1:
        return
    big = max(estimates, key=lambda e: e.memory)
    parallel = max(1, min(workers, n_runs))
    need = big.memory * parallel
    if limits.max_runs is not None and n_runs > limits.max_runs:
        raise LimitError(f"{what} has {n_runs:,} runs; allowed: at most {limits.max_runs:,} (raise the cap with "
                         "--allow-large or GOVSIM_MAX_RUNS)", value=n_runs)
    work = sum(e.resident_days for e in estimates) * runs_each
    if limits.max_resident_days is not None and work > limits.max_resident_days:
        raise LimitError(f"{what} needs about {work:,.3g} resident-days of simulation ({big.residents:,.0f} "
                         f"residents x {big.days:,} days x {n_runs:,} runs); allowed: at most "
                         f"{limits.max_resident_days:,.3g} (raise the cap with --allow-large or "
                         "GOVSIM_MAX_RESIDENT_DAYS)", value=work)
    if limits.max_memory is not None and need > limits.max_memory:
        per = f"{parallel} runs at once x " if parallel > 1 else ""
        raise LimitError(f"{what} needs about {_gib(need)} of memory ({per}{_gib(big.memory)}: "
                         f"{big.residents:,.0f} residents x {big.days:,} days); allowed: at most "
                         f"{_gib(limits.max_memory)} ({limits.memory_source}); use fewer workers or residents, "
                         "or raise the cap with --max-memory SIZE or GOVSIM_MAX_MEMORY", value=need)
