"""Sweep files: experiments over scenario parameters in XLRM form, validated before anything runs.

A sweep file (TOML) names a base scenario, the factors to vary and the outcomes to keep::

    name = "grid_alliance_empowerment"
    scenario = "../baseline.toml"      # relative to this file
    steps = 365                        # days per run (default: the scenario's run.n_steps)
    record_every = 30                  # keep every 30th day of the time series
    replicates = 2                     # runs per experiment, each with its own seed
    seed = 20240501                    # root seed of every run's seed
    outcomes = ["resolution_rate", "satisfaction_mean", "cost_yuan"]   # summary metrics kept

    [design]
    method = "sobol"                   # full_factorial | latin_hypercube | sobol | morris
    n_samples = 16                     # LHS points; Sobol base N (a power of 2); Morris trajectories

    [constants]                        # fixed overrides for every experiment
    "world.n_communities_per_street" = 2

    [uncertainties]                    # X: what we do not control
    "problems.rate_arise" = { low = 0.005, high = 0.008 }

    [levers]                           # L: what a reform sets
    "policies.alliance.n_units" = { low = 0, high = 14 }           # integers: both bounds integers
    "handling.top_level" = { choices = ["department", "city"] }
    "policies.grid.households_per_grid" = { low = 0.5, high = 2.0, scale = true }  # x every element

Keys are dotted scenario keys (``govsim params``; ``policies.<name>.<key>`` switches the policy
on). Ranges are ``{low, high}`` (integers if both bounds are; full factorial takes ``levels``
evenly spaced points, per factor or ``design.levels``, default 3) or ``{choices = [...]}``.
With ``scale = true`` a range is a multiplier of the base scenario's value(s) at the key: a real
parameter or a table of them (e.g. one value per compound type); such a factor is named
``scale(<key>)`` in the store and the exported table.

Designs: ``full_factorial`` (every combination, in file order, last factor fastest);
``latin_hypercube`` (``scipy.stats.qmc.LatinHypercube``, ``n_samples`` points); ``sobol``
(SALib's Saltelli/Sobol' sample, ``N * (D + 2)`` experiments, ``N * (2D + 2)`` with
``second_order = true``) and ``morris`` (SALib's Morris trajectories, ``n_samples * (D + 1)``
experiments on a ``levels``-point grid, default 4), which ``govsim sensitivity`` analyses.
Sampled designs draw in the unit cube, then map each coordinate ``u`` to a value: ``low + u *
(high - low)`` for real ranges, the ``floor(u * k)``-th of the ``k`` integers or choices
otherwise. The design's own random numbers come from ``SeedSequence(seed, spawn_key=(DESIGN_KEY,))``.

Seeds: the run of experiment ``e``, replicate ``r`` uses
``int(numpy.random.SeedSequence(seed, spawn_key=(e, r)).generate_state(1)[0])``, which equals
``SeedSequence(seed).spawn(E)[e].spawn(R)[r]`` — so results never depend on the number of
workers or the order runs finish. With ``common_random_numbers = true`` every experiment's
replicate ``r`` uses ``SeedSequence(seed, spawn_key=(r,))`` instead (the seeds of ``govsim
compare``), so experiments differ only by their parameters.

The sweep id is ``<name>-<10 hex digits>`` of a hash of the normalised spec (the base scenario's
content included, comments and ``description`` not), so running the same file again resumes
the same sweep.

Loading is a few steps: the file's tables are validated by :class:`SweepFile` (a :class:`Params`,
like a scenario's), the base scenario is loaded with the constants applied, the factors are
checked at their bounds, the design (:mod:`sim.experiments.sweep.design`) is drawn and every
experiment is validated, then the outcomes are checked against a one-day run. Each step raises
:class:`~sim.errors.SweepError`: one line with the file, the dotted key and what is allowed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sim.config.paramtools import REQUIRED, Params, load_table, param, read_toml
from sim.config.taxonomy import FLAGS
from sim.core.results import SERIES
from sim.core.scenario import Scenario, apply_overrides, load_scenario
from sim.errors import LimitError, ParameterError, ScenarioError, SweepError
from sim.experiments.sweep.design import DESIGNS, Design, make_design, run_seed
from sim.experiments.sweep.factors import Factor, FactorTable, expand, scale_targets

__all__ = ["DesignTable", "SweepFile", "SweepSpec", "dynamic_metric", "load_sweep"]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
_MAX_EXPERIMENTS = 1_000_000
_FACTOR_KINDS = ("uncertainties", "levers")


# ---------------------------------------------------------------------------------------------
# the file's tables
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DesignTable(Params):
    """The ``[design]`` table: the design and its size."""

    method: str = param("full_factorial", choices=DESIGNS)
    n_samples: int | None = param(None, lo=1, hi=10_000_000, doc="LHS points; Sobol base N (a power of 2); Morris trajectories")
    levels: int | None = param(None, lo=2, hi=10_000, doc="full factorial points per range (default 3); Morris grid (default 4)")
    second_order: bool = param(False, doc="sobol: also the samples for second-order indices")

    def check(self) -> None:
        """Each design's own keys: n_samples for sampled designs, a power of 2 for Sobol."""
        if self.second_order and self.method != "sobol":
            raise ParameterError("second_order", "only the sobol design has second-order indices")
        if self.method == "full_factorial":
            if self.n_samples is not None:
                raise ParameterError("n_samples", "a full factorial runs every combination; use levels")
            return
        if self.n_samples is None:
            raise ParameterError("n_samples", f"the {self.method} design needs n_samples")
        if self.method == "sobol" and self.n_samples & (self.n_samples - 1):
            raise ParameterError("n_samples", f"the sobol design needs a power of 2 (e.g. 16, 64), got {self.n_samples}")

    @property
    def n_levels(self) -> int:
        """The levels, or the design's default (4 for Morris, 3 otherwise)."""
        if self.levels is not None:
            return self.levels
        return 4 if self.method == "morris" else 3


@dataclass(frozen=True)
class SweepFile(Params):
    """A sweep file as written: its keys, their types and ranges (see the module docstring)."""

    name: str = param(REQUIRED, doc="1-80 letters, digits, '_', '-' or '.'")
    description: str = param("")
    scenario: str = param(REQUIRED, doc="the path of the base scenario file, relative to the sweep file")
    steps: int | None = param(None, lo=1, hi=100_000, unit="days", doc="days per run (default: the scenario's run.n_steps)")
    record_every: int | None = param(None, lo=1, unit="days", doc="default: the scenario's run.record_every")
    replicates: int = param(1, lo=1, hi=1_000_000)
    seed: int = param(1, lo=0, hi=2**63 - 1)
    outcomes: tuple[str, ...] = param(REQUIRED, doc='summary metric names to keep, e.g. ["resolution_rate"]')
    timeseries: tuple[str, ...] | None = param(None, doc="time series to keep (default: the outcomes that are)")
    common_random_numbers: bool = param(False)
    design: DesignTable = param(DesignTable())
    constants: dict[str, Any] = param({}, doc="dotted scenario keys and values, fixed in every experiment")
    uncertainties: dict[str, FactorTable] = param({}, doc="dotted scenario keys and their ranges")
    levers: dict[str, FactorTable] = param({}, doc="dotted scenario keys and their ranges")

    def check(self) -> None:
        """Name, outcomes and series; every key a dotted scenario key given once; the design fits the factors."""
        if not _NAME_RE.match(self.name):
            raise ParameterError("name", f"expected 1-80 letters, digits, '_', '-' or '.', got {self.name!r}")
        if not self.scenario:
            raise ParameterError("scenario", "expected the path of the base scenario file, relative to the sweep file")
        if not self.outcomes:
            raise ParameterError("outcomes", "expected a non-empty list of summary metric names, got []")
        if len(set(self.outcomes)) != len(self.outcomes):
            raise ParameterError("outcomes", "names must be distinct")
        for s in self.timeseries or ():
            if s not in SERIES:
                raise ParameterError("timeseries", f"'{s}' is not a time series; allowed: {', '.join(SERIES)}")
        for key in self.constants:
            _check_key("constants", key)
        seen: dict[str, str] = {}
        for kind in _FACTOR_KINDS:
            for key in getattr(self, kind):
                _check_key(kind, key)
                if key in seen:
                    raise ParameterError(f"{kind}.{key}", f"already given in [{seen[key]}]")
                if key in self.constants:
                    raise ParameterError(f"{kind}.{key}", "also fixed in [constants]")
                seen[key] = kind
        self._check_design()

    def _check_design(self) -> None:
        method = self.design.method
        if method == "full_factorial":
            return
        tables = {f"{kind}.{key}": t for kind in _FACTOR_KINDS for key, t in getattr(self, kind).items()}
        if not tables:
            raise ParameterError("design.method", f"the {method} design needs at least one factor in [uncertainties] "
                                                  "or [levers]")
        per = [label for label, t in tables.items() if t.levels is not None]
        if per:
            raise ParameterError(f"{per[0]}.levels", "levels per factor apply to the full_factorial design only")
        if method == "sobol" and self.design.second_order and len(tables) < 2:
            raise ParameterError("design.second_order", "second-order indices need at least two factors")

    @property
    def series(self) -> tuple[str, ...]:
        """The time series to keep: as given, else the outcomes that are time series."""
        names = self.timeseries if self.timeseries is not None else [o for o in self.outcomes if o in SERIES]
        return tuple(dict.fromkeys(names))

    def factors(self) -> tuple[Factor, ...]:
        """The factors, uncertainties first, each in file order."""
        return tuple(Factor.from_table(key, kind, t) for kind in _FACTOR_KINDS for key, t in getattr(self, kind).items())


def _check_key(section: str, key: str) -> None:
    if "." not in key or not all(key.split(".")):
        raise ParameterError(f"{section}.{key}", "expected a dotted scenario key such as world.n_streets "
                                                 "(see `govsim params`)")
    if key.split(".")[0] == "run":
        raise ParameterError(f"{section}.{key}", "run.* is set by the sweep itself (steps, record_every, seed)")


# ---------------------------------------------------------------------------------------------
# the validated sweep
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class SweepSpec:
    """A validated sweep: base scenario, factors, design, seeds and outcomes."""

    path: str
    name: str
    description: str
    scenario_path: str
    base: Scenario  # constants and run.n_steps / run.record_every applied
    constants: dict[str, Any]
    factors: tuple[Factor, ...]
    design: str
    n_samples: int | None
    levels: int
    second_order: bool
    replicates: int
    seed: int
    steps: int
    record_every: int
    outcomes: tuple[str, ...]
    timeseries: tuple[str, ...]
    common_random_numbers: bool
    experiments: Design
    scaled: dict[str, dict[str, float]]  # scale factors: key -> {dotted key: base value}

    # ---- experiments ----------------------------------------------------------------------
    @property
    def matrix(self) -> np.ndarray | None:
        """Sampled designs: the (E, D) unit-cube rows; a full factorial: None."""
        return self.experiments.matrix

    @property
    def n_experiments(self) -> int:
        """The number of experiments."""
        return self.experiments.n_experiments

    @property
    def n_runs(self) -> int:
        """The number of runs: experiments x replicates."""
        return self.n_experiments * self.replicates

    def parameters(self, i: int) -> dict[str, Any]:
        """The factor values of experiment ``i`` as ``{factor name: value}`` (plain Python values)."""
        return self.experiments.parameters(i)

    def overrides(self, i: int) -> dict[str, Any]:
        """The scenario keys experiment ``i`` sets (scale factors expanded to their keys)."""
        return expand(self.factors, self.parameters(i), self.scaled)

    def sample(self, i: int) -> list[float] | None:
        """The unit-cube design row of experiment ``i`` (None for a full factorial)."""
        return self.experiments.sample(i)

    def scenario(self, i: int) -> Scenario:
        """The scenario of experiment ``i``."""
        return apply_overrides(self.base, self.overrides(i), switch_on=True)

    def seed_of(self, experiment: int, replicate: int) -> int:
        """The seed of one run (see the module docstring)."""
        return run_seed(self.seed, experiment, replicate, self.common_random_numbers)

    @property
    def shares_prefix(self) -> bool:
        """Whether the runs of a replicate share their days before the reform date (:mod:`sim.core.branching`).

        So they do under common random numbers when every factor is a policy's parameter and there are
        days to share (a warm-up, or a reform date after day 0): workers then run those days once per
        replicate, and the runs are handed out replicate by replicate.
        """
        from sim.core.branching import prefix_key

        return (self.common_random_numbers and all(f.key.startswith("policies.") for f in self.factors)
                and prefix_key(self.base, also=self.policies_used()) is not None)

    def pairs(self, done: set[tuple[int, int]] | frozenset[tuple[int, int]] = frozenset()) -> Iterator[tuple[int, int]]:
        """(experiment, replicate) pairs in order, skipping ``done`` (lazily: no list of all runs).

        Experiment by experiment; replicate by replicate when runs share days (:attr:`shares_prefix`).
        """
        by_replicate = self.shares_prefix
        outer, inner = (self.replicates, self.n_experiments) if by_replicate else (self.n_experiments, self.replicates)
        for a in range(outer):
            for b in range(inner):
                pair = (b, a) if by_replicate else (a, b)
                if pair not in done:
                    yield pair

    # ---- identity ---------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The normalised spec (what the sweep id hashes, and what ``sweeps.spec`` stores)."""
        return {
            "name": self.name, "base_scenario_hash": self.base.content_hash(), "constants": self.constants,
            "factors": [f.to_json() for f in self.factors], "design": self.design, "n_samples": self.n_samples,
            "levels": self.levels, "second_order": self.second_order, "replicates": self.replicates,
            "seed": self.seed, "steps": self.steps, "record_every": self.record_every,
            "outcomes": list(self.outcomes), "timeseries": list(self.timeseries),
            "common_random_numbers": self.common_random_numbers,
        }

    @functools.cached_property
    def spec_hash(self) -> str:
        """sha256 of the normalised spec."""
        blob = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()

    @property
    def sweep_id(self) -> str:
        """``<name>-<10 hex digits of the spec hash>``: the same file resumes the same sweep."""
        return f"{self.name}-{self.spec_hash[:10]}"

    def policies_used(self) -> set[str]:
        """The policies of the base scenario and those the factors switch on."""
        names = {s.name for s in self.base.policies}
        names |= {f.key.split(".")[1] for f in self.factors if f.key.startswith("policies.")}
        return names


# ---------------------------------------------------------------------------------------------
# loading, step by step
# ---------------------------------------------------------------------------------------------
def load_sweep(path: str | Path, *, check_outcomes: bool = True, max_runs: int | None = None) -> SweepSpec:
    """Read and validate a sweep file; every experiment's parameters are checked before returning.

    Raises :class:`SweepError` with one line naming the sweep file and the key (a bad base
    scenario: the key ``scenario`` and the scenario's own error). The number of experiments (at
    most 1,000,000) and of runs (at most ``max_runs``: :class:`~sim.errors.LimitError`) is checked
    before the design is drawn.
    """
    path = Path(path)
    src = str(path)
    file = load_table(SweepFile, {"name": path.stem, **read_toml(path, "sweep", SweepError)}, src, SweepError)
    base = _base_scenario(src, path.parent / file.scenario, file)
    factors = file.factors()
    scaled = _check_factors(src, base, factors)
    design = file.design
    _check_size(src, factors, design, file.replicates, max_runs)
    spec = SweepSpec(
        path=src, name=file.name, description=file.description, scenario_path=str(path.parent / file.scenario),
        base=base, constants=dict(file.constants), factors=factors, design=design.method,
        n_samples=design.n_samples, levels=design.n_levels, second_order=design.second_order,
        replicates=file.replicates, seed=file.seed, steps=base.run.n_steps, record_every=base.run.record_every,
        outcomes=file.outcomes, timeseries=file.series, common_random_numbers=file.common_random_numbers,
        experiments=make_design(factors, design.method, design.n_samples, design.n_levels, design.second_order,
                                file.seed),
        scaled=scaled,
    )
    _check_experiments(src, spec)
    if check_outcomes:
        _check_outcomes(src, spec)
    return spec


def _base_scenario(src: str, scenario_path: Path, file: SweepFile) -> Scenario:
    """The base scenario with the constants, the days per run and the recording interval applied."""
    try:
        base = load_scenario(scenario_path)
    except ScenarioError as exc:
        raise SweepError(src, "scenario", str(exc)) from None
    steps = file.steps if file.steps is not None else base.run.n_steps
    record_every = file.record_every if file.record_every is not None else base.run.record_every
    try:
        return base.with_overrides({**file.constants, "run.n_steps": steps, "run.record_every": record_every})
    except ParameterError as exc:
        raise SweepError(src, exc.key if exc.key.startswith("run.") else f"constants.{exc.key}", exc.message) from None


def _check_factors(src: str, base: Scenario, factors: tuple[Factor, ...]) -> dict[str, dict[str, float]]:
    """Each factor alone at its bounds (or each choice); returns the base values of the scale factors."""
    scaled: dict[str, dict[str, float]] = {}
    for f in factors:
        if f.scale:
            try:
                scaled[f.key] = scale_targets(base, f.key)
            except ParameterError as exc:
                raise SweepError(src, f.label, exc.message) from None
        values = list(f.choices) if f.choices is not None else [("low", f.low), ("high", f.high)]
        for item in values:
            what, value = item if isinstance(item, tuple) else ("choices", item)
            try:
                apply_overrides(base, expand([f], {f.name: value}, scaled), switch_on=True)
            except ParameterError as exc:
                unknown = exc.message.startswith(("unknown", "no such"))
                raise SweepError(src, f"{f.label}.{what}" if exc.key == f.key and not unknown else f.label,
                                 f"{exc.key}: {exc.message}" if f.scale else exc.message) from None
    return scaled


def planned_experiments(factors: tuple[Factor, ...], method: str, n_samples: int | None, levels: int,
                        second_order: bool) -> int:
    """The number of experiments a design will have, computed without drawing it."""
    d = len(factors)
    if method == "full_factorial":
        return math.prod(len(f.choices) if f.choices is not None else (f.levels or levels) for f in factors)
    n = n_samples or 0
    if method == "sobol":
        return n * (2 * d + 2 if second_order else d + 2)
    if method == "morris":
        return n * (d + 1)
    return n


def _check_size(src: str, factors: tuple[Factor, ...], design: Any, replicates: int, max_runs: int | None) -> None:
    """Refuse a design too large to draw or to run, before drawing it."""
    n = planned_experiments(factors, design.method, design.n_samples, design.n_levels, design.second_order)
    if n > _MAX_EXPERIMENTS:
        raise SweepError(src, "design", f"{n:,} experiments; allowed: at most {_MAX_EXPERIMENTS:,}", value=n)
    if max_runs is not None and n * replicates > max_runs:
        raise LimitError(f"{src}: {n:,} experiments x {replicates:,} replicates = {n * replicates:,} runs; allowed: "
                         f"at most {max_runs:,} (raise the cap with --allow-large or GOVSIM_MAX_RUNS)",
                         file=src, key="replicates", value=n * replicates)


def _check_experiments(src: str, spec: SweepSpec) -> None:
    """Every experiment's scenario is valid (combinations of factor values included)."""
    if spec.n_experiments > _MAX_EXPERIMENTS:
        raise SweepError(src, "design", f"{spec.n_experiments:,} experiments; at most {_MAX_EXPERIMENTS:,} are allowed")
    for i in range(spec.n_experiments):
        try:
            apply_overrides(spec.base, spec.overrides(i), switch_on=True)
        except ParameterError as exc:
            factor = next((f for f in spec.factors if exc.key == f.key or exc.key.startswith(f.key + ".")), None)
            where = factor.label if factor else exc.key
            raise SweepError(src, where, f"experiment {i} ({json.dumps(spec.parameters(i))}): {exc.message}") from None


def _known_metrics(spec: SweepSpec) -> set[str]:
    """Summary metrics a run of this sweep always produces (a one-day run of a tiny world)."""
    from sim.core.model import Model

    tiny = {"world.n_streets": 1, "world.n_communities_per_street": 1, "world.n_compounds_per_community": 1,
            "run.n_steps": 1}
    first = spec.scenario(0)
    try:
        scenario = apply_overrides(first, tiny, switch_on=True)
        return set(Model(scenario, seed=1).run(1, progress=False).summary)
    except Exception:  # any failure: a policy may need a bigger world, so one day of the real one decides
        return set(Model(apply_overrides(first, {"run.n_steps": 1}), seed=1).run(1, progress=False).summary)


def dynamic_metric(name: str, policy_names: set[str]) -> bool:
    """Metrics present only once non-zero: flag counts and policy counters (0 when absent)."""
    if name.startswith("flag_") and any(name in (f"flag_{f}_resolved", f"flag_{f}_abandoned") for f in FLAGS):
        return True
    from sim import policies

    return any(name == f"{p}_{c}" for p in policy_names for c in policies.get(p).counters)


def _check_outcomes(src: str, spec: SweepSpec) -> None:
    """Every outcome is a summary metric of these runs (or a flag or policy counter that may be absent)."""
    known = _known_metrics(spec)
    pols = spec.policies_used()
    for o in spec.outcomes:
        if o not in known and not dynamic_metric(o, pols):
            allowed = ", ".join(sorted(known))
            extra = f" or <policy>_<counter> of {', '.join(sorted(pols))}" if pols else ""
            raise SweepError(src, "outcomes", f"'{o}' is not a summary metric of these runs; allowed: {allowed}{extra}")
