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
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sim.config.taxonomy import FLAGS
from sim.core.results import SERIES
from sim.core.scenario import Scenario, load_scenario
from sim.errors import ParameterError, ScenarioError
from sim.experiments.sweep.design import (
    DESIGN_KEY,
    DESIGNS,
    Factor,
    _is_number,
    apply_overrides,
    design_matrix,
    expand,
    run_seed,
    scale_targets,
)

__all__ = [
    "DESIGNS", "DESIGN_KEY", "Factor", "SweepSpec", "apply_overrides", "load_sweep", "run_seed",
]

_TOP_KEYS = ("name", "description", "scenario", "steps", "record_every", "replicates", "seed", "outcomes",
             "timeseries", "common_random_numbers", "design", "constants", "uncertainties", "levers")
_DESIGN_KEYS = ("method", "n_samples", "levels", "second_order")
_FACTOR_KEYS = ("low", "high", "levels", "choices", "scale")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
_MAX_EXPERIMENTS = 10_000_000


@dataclass(frozen=True, eq=False)
class SweepSpec:
    """A validated sweep: base scenario, factors, design matrix, seeds and outcomes."""

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
    #: sampled designs: (E, D) unit-cube rows; full factorial: None (rows are computed on demand)
    matrix: np.ndarray | None
    grids: tuple[tuple[Any, ...], ...]  # full factorial value lists, one per factor
    scaled: dict[str, dict[str, float]]  # scale factors: key -> {dotted key: base value}

    # ---- experiments ----------------------------------------------------------------------
    @property
    def n_experiments(self) -> int:
        if self.matrix is not None:
            return int(self.matrix.shape[0])
        return int(np.prod([len(g) for g in self.grids], dtype=np.int64)) if self.grids else 1

    @property
    def n_runs(self) -> int:
        return self.n_experiments * self.replicates

    def parameters(self, i: int) -> dict[str, Any]:
        """The factor values of experiment ``i`` as ``{factor name: value}`` (plain Python values)."""
        if self.matrix is not None:
            return {f.name: f.from_unit(float(u)) for f, u in zip(self.factors, self.matrix[i])}
        if not self.factors:
            return {}
        idx = np.unravel_index(int(i), tuple(len(g) for g in self.grids))
        return {f.name: g[int(j)] for f, g, j in zip(self.factors, self.grids, idx)}

    def overrides(self, i: int) -> dict[str, Any]:
        """The scenario keys experiment ``i`` sets (scale factors expanded to their keys)."""
        return expand(self.factors, self.parameters(i), self.scaled)

    def sample(self, i: int) -> list[float] | None:
        """The unit-cube design row of experiment ``i`` (None for a full factorial)."""
        return None if self.matrix is None else [float(u) for u in self.matrix[i]]

    def scenario(self, i: int) -> Scenario:
        return apply_overrides(self.base, self.overrides(i))

    def seed_of(self, experiment: int, replicate: int) -> int:
        return run_seed(self.seed, experiment, replicate, self.common_random_numbers)

    def pairs(self, done: set[tuple[int, int]] | frozenset[tuple[int, int]] = frozenset()) -> Iterator[tuple[int, int]]:
        """(experiment, replicate) pairs in order, skipping ``done`` (lazily: no list of all runs)."""
        for e in range(self.n_experiments):
            for r in range(self.replicates):
                if (e, r) not in done:
                    yield e, r

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
        blob = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()

    @property
    def sweep_id(self) -> str:
        return f"{self.name}-{self.spec_hash[:10]}"

    def policies_used(self) -> set[str]:
        names = {s.name for s in self.base.policies}
        names |= {f.key.split(".")[1] for f in self.factors if f.key.startswith("policies.")}
        return names


# ---------------------------------------------------------------------------------------------
# loading and validation
# ---------------------------------------------------------------------------------------------
class _Errors:
    """Raises ScenarioError naming the sweep file and the key."""

    def __init__(self, source: str) -> None:
        self.source = source

    def __call__(self, key: str, message: str) -> ScenarioError:
        return ScenarioError(self.source, key, message)


def _int(err: _Errors, data: Mapping[str, Any], key: str, default: int | None, lo: int, where: str = "") -> int | None:
    value = data.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise err(where + key, f"expected an integer >= {lo}, got {value!r}")
    if value < lo:
        raise err(where + key, f"{value} is out of range; allowed: an integer >= {lo}")
    return int(value)


def _check_table(err: _Errors, data: Any, where: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise err(where, f"expected a table, got {data!r}")
    for key in data:
        if key not in allowed:
            raise err(f"{where}.{key}" if where else key, f"unknown key; allowed: {', '.join(allowed)}")
    return data


def _check_key(err: _Errors, section: str, key: str) -> None:
    if not isinstance(key, str) or "." not in key or not all(key.split(".")):
        raise err(f"{section}.{key}", "expected a dotted scenario key such as world.n_streets (see `govsim params`)")
    if key.split(".")[0] == "run":
        raise err(f"{section}.{key}", "run.* is set by the sweep itself (steps, record_every, seed)")


def _parse_factor(err: _Errors, kind: str, key: str, table: Any) -> Factor:
    where = f"{kind}.{key}"
    if not isinstance(table, Mapping):
        raise err(where, f"expected {{low = .., high = ..}} or {{choices = [..]}}, got {table!r}")
    _check_table(err, table, where, _FACTOR_KEYS)
    scale = table.get("scale", False)
    if not isinstance(scale, bool):
        raise err(f"{where}.scale", "expected true or false")
    if "choices" in table:
        if scale:
            raise err(f"{where}.scale", "scale applies to a range {low, high}, not to choices")
        if "low" in table or "high" in table or "levels" in table:
            raise err(where, "give either choices or low/high, not both")
        choices = table["choices"]
        if not isinstance(choices, list) or not choices:
            raise err(f"{where}.choices", f"expected a non-empty list of values, got {choices!r}")
        for c in choices:
            if not isinstance(c, (str, int, float, bool)):
                raise err(f"{where}.choices", f"expected numbers, strings or booleans, got {c!r}")
        if len({json.dumps(c) for c in choices}) != len(choices):
            raise err(f"{where}.choices", "values must be distinct")
        return Factor(key, kind, choices=tuple(choices))
    if "low" not in table or "high" not in table:
        raise err(where, "expected both low and high (or choices)")
    low, high = table["low"], table["high"]
    for name, v in (("low", low), ("high", high)):
        if not _is_number(v) or (isinstance(v, float) and not math.isfinite(v)):
            raise err(f"{where}.{name}", f"expected a finite number, got {v!r}")
    if not low < high:
        raise err(where, f"low ({low}) must be below high ({high})")
    if scale or not (isinstance(low, int) and isinstance(high, int)):
        low, high = float(low), float(high)
    levels = _int(err, table, "levels", None, 2, where + ".")
    return Factor(key, kind, low=low, high=high, levels=levels, scale=scale)


def load_sweep(path: str | Path, *, check_outcomes: bool = True) -> SweepSpec:
    """Read and validate a sweep file; every experiment's parameters are checked before returning.

    Raises :class:`ScenarioError` with one line naming the sweep (or scenario) file and the key.
    """
    path = Path(path)
    src = str(path)
    err = _Errors(src)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise err("", "no such sweep file") from None
    except OSError as exc:
        raise err("", f"cannot read file ({exc.strerror or exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise err("", f"not valid TOML ({exc})") from None
    _check_table(err, data, "", _TOP_KEYS)

    name = data.get("name", path.stem)
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise err("name", f"expected 1-80 letters, digits, '_', '-' or '.', got {name!r}")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise err("description", "expected a string")
    scen = data.get("scenario")
    if not isinstance(scen, str) or not scen:
        raise err("scenario", "expected the path of the base scenario file, relative to the sweep file")
    scenario_path = path.parent / scen

    constants = data.get("constants", {})
    if not isinstance(constants, Mapping):
        raise err("constants", "expected a table of dotted scenario keys and values")
    for key in constants:
        _check_key(err, "constants", key)
    factors: list[Factor] = []
    seen: dict[str, str] = {}
    for kind in ("uncertainties", "levers"):
        table = data.get(kind, {})
        if not isinstance(table, Mapping):
            raise err(kind, "expected a table of dotted scenario keys")
        for key, spec in table.items():
            _check_key(err, kind, key)
            if key in seen:
                raise err(f"{kind}.{key}", f"already given in [{seen[key]}]")
            if key in constants:
                raise err(f"{kind}.{key}", "also fixed in [constants]")
            seen[key] = kind
            factors.append(_parse_factor(err, kind, key, spec))

    design_t = _check_table(err, data.get("design", {}), "design", _DESIGN_KEYS)
    method = design_t.get("method", "full_factorial")
    if method not in DESIGNS:
        raise err("design.method", f"{method!r} is not allowed; allowed: {', '.join(DESIGNS)}")
    second_order = design_t.get("second_order", False)
    if not isinstance(second_order, bool):
        raise err("design.second_order", "expected true or false")
    if second_order and method != "sobol":
        raise err("design.second_order", "only the sobol design has second-order indices")
    levels = _int(err, design_t, "levels", 4 if method == "morris" else 3, 2, "design.")
    assert levels is not None
    n_samples = _int(err, design_t, "n_samples", None, 1, "design.")
    if method == "full_factorial":
        if n_samples is not None:
            raise err("design.n_samples", "a full factorial runs every combination; use levels")
    else:
        if n_samples is None:
            raise err("design.n_samples", f"the {method} design needs n_samples")
        if not factors:
            raise err("design.method", f"the {method} design needs at least one factor in [uncertainties] or [levers]")
        per = [f.label for f in factors if f.levels is not None]
        if per:
            raise err(f"{per[0]}.levels", "levels per factor apply to the full_factorial design only")
        if method == "sobol" and n_samples & (n_samples - 1):
            raise err("design.n_samples", f"the sobol design needs a power of 2 (e.g. 16, 64), got {n_samples}")
        if method == "sobol" and second_order and len(factors) < 2:
            raise err("design.second_order", "second-order indices need at least two factors")

    replicates = _int(err, data, "replicates", 1, 1)
    seed = _int(err, data, "seed", 1, 0)
    assert replicates is not None and seed is not None
    if seed >= 2**63:
        raise err("seed", "expected an integer below 2**63")
    crn = data.get("common_random_numbers", False)
    if not isinstance(crn, bool):
        raise err("common_random_numbers", "expected true or false")

    base = load_scenario(scenario_path)  # ScenarioError names the scenario file and key
    steps = _int(err, data, "steps", base.run.n_steps, 1)
    record_every = _int(err, data, "record_every", base.run.record_every, 1)
    assert steps is not None and record_every is not None
    try:
        base = base.with_overrides({**constants, "run.n_steps": steps, "run.record_every": record_every})
    except ParameterError as exc:
        raise err(f"constants.{exc.key}" if not exc.key.startswith("run.") else exc.key, exc.message) from None

    # each factor's bounds and choices alone, then every experiment (combinations included)
    scaled: dict[str, dict[str, float]] = {}
    for f in factors:
        if f.scale:
            try:
                scaled[f.key] = scale_targets(base, f.key)
            except ParameterError as exc:
                raise err(f.label, exc.message) from None
        values = list(f.choices) if f.choices is not None else [("low", f.low), ("high", f.high)]
        for item in values:
            what, value = item if isinstance(item, tuple) else ("choices", item)
            try:
                apply_overrides(base, expand([f], {f.name: value}, scaled))
            except ParameterError as exc:
                unknown = exc.message.startswith(("unknown", "no such"))
                raise err(f"{f.label}.{what}" if exc.key == f.key and not unknown else f.label,
                          f"{exc.key}: {exc.message}" if f.scale else exc.message) from None

    matrix, grids = design_matrix(factors, method, n_samples, levels, second_order, seed)
    spec = SweepSpec(
        path=src, name=name, description=description, scenario_path=str(scenario_path), base=base,
        constants=dict(constants), factors=tuple(factors), design=method, n_samples=n_samples, levels=levels,
        second_order=second_order, replicates=replicates, seed=seed, steps=steps, record_every=record_every,
        outcomes=(), timeseries=(), common_random_numbers=crn, matrix=matrix, grids=grids, scaled=scaled,
    )
    if spec.n_experiments > _MAX_EXPERIMENTS:
        raise err("design", f"{spec.n_experiments:,} experiments; at most {_MAX_EXPERIMENTS:,} are allowed")
    for i in range(spec.n_experiments):
        params = spec.parameters(i)
        try:
            apply_overrides(base, spec.overrides(i))
        except ParameterError as exc:
            factor = next((f for f in factors if exc.key == f.key or exc.key.startswith(f.key + ".")), None)
            where = factor.label if factor else exc.key
            raise err(where, f"experiment {i} ({json.dumps(params)}): {exc.message}") from None

    outcomes, series = _outcomes(err, data, spec, check_outcomes)
    return dataclasses.replace(spec, outcomes=outcomes, timeseries=series)


def _known_metrics(spec: SweepSpec) -> set[str]:
    """Summary metrics a run of this sweep always produces (a one-day run of a tiny world)."""
    from sim.core.model import Model

    tiny = {"world.n_streets": 1, "world.n_communities_per_street": 1, "world.n_compounds_per_community": 1,
            "run.n_steps": 1}
    first = spec.scenario(0)
    try:
        scenario = apply_overrides(first, tiny)
        return set(Model(scenario, seed=1).run(1, progress=False).summary)
    except Exception:  # noqa: BLE001 - a policy may need a bigger world: one day of the real one
        return set(Model(apply_overrides(first, {"run.n_steps": 1}), seed=1).run(1, progress=False).summary)


def dynamic_metric(name: str, policy_names: set[str]) -> bool:
    """Metrics present only once non-zero: flag counts and policy counters (0 when absent)."""
    if name.startswith("flag_") and any(name in (f"flag_{f}_resolved", f"flag_{f}_abandoned") for f in FLAGS):
        return True
    return any(name.startswith(f"{p}_") for p in policy_names)


def _outcomes(err: _Errors, data: Mapping[str, Any], spec: SweepSpec,
              check: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    raw = data.get("outcomes")
    if raw is None:
        raise err("outcomes", "expected a list of summary metric names to keep, e.g. [\"resolution_rate\"]")
    if not isinstance(raw, list) or not raw or not all(isinstance(o, str) for o in raw):
        raise err("outcomes", f"expected a non-empty list of summary metric names, got {raw!r}")
    if len(set(raw)) != len(raw):
        raise err("outcomes", "names must be distinct")
    if check:
        known = _known_metrics(spec)
        pols = spec.policies_used()
        for o in raw:
            if o not in known and not dynamic_metric(o, pols):
                allowed = ", ".join(sorted(known))
                extra = f" or <policy>_<counter> of {', '.join(sorted(pols))}" if pols else ""
                raise err("outcomes", f"'{o}' is not a summary metric of these runs; allowed: {allowed}{extra}")
    series_raw = data.get("timeseries", [o for o in raw if o in SERIES])
    if not isinstance(series_raw, list) or not all(isinstance(s, str) for s in series_raw):
        raise err("timeseries", "expected a list of time-series names (may be empty)")
    for s in series_raw:
        if s not in SERIES:
            raise err("timeseries", f"'{s}' is not a time series; allowed: {', '.join(SERIES)}")
    return tuple(raw), tuple(dict.fromkeys(series_raw))
