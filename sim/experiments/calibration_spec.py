"""Calibration files: what to fit, to which reported figures, under which assumptions.

A calibration file is TOML (paths relative to the file)::

    name = "bazhong"
    description = "Street empowerment and whistle-blowing, Bazhong (002)"
    base = "../bazhong_street_whistle.toml"   # the scenario to calibrate
    window_days = 365          # days simulated: the period the reported figures cover
    replicates = 4             # replicates per evaluation (the same seeds at every evaluation)
    check_replicates = 8       # fresh replicates for the fit table after calibration
    seed = 1                   # root seed of both sets of replicate seeds

    [overrides]                # applied to the base before fitting, e.g. a world of the reported size
    world.n_communities_per_street = 2

    [optimizer]
    method = "nelder-mead"     # or "powell"
    max_evaluations = 40       # budget of evaluations (each runs `replicates` runs)
    xatol = 0.01               # convergence in parameters, as a share of each parameter's range
    fatol = 0.001              # convergence in the objective

    [[targets]]
    name = "whistle_resolved_share"
    metric = "flag_whistle_resolved / whistle_entered"   # a summary metric, or + - * / of metrics
    reported = 0.6316
    figure = "360 resolved of 570 whistled"               # the figure as the seed gives it
    tolerance = 0.1            # relative error counted as one unit in the objective
    weight = 1.0               # 0: reported and compared, not fitted
    per = "communities"        # optional: the figure is for `reported_units` of these ...
    reported_units = 73        # ... and is rescaled to the model world's count (run by run)
    source = "002: ..."
    assumption = "..."

    [[parameters]]
    key = "handling.capacity_city_per_10k"
    lo = 0.02
    hi = 1.0
    initial = 0.3              # default: the base scenario's value
    log = true                 # search on a log scale

The file's tables are validated by :class:`CalibrationFile` (a :class:`Params`, like a
scenario's); then the base scenario is loaded with the overrides and the window, and each fitted
parameter is checked against it. Every error is one line naming the file and the key
(``targets[1].metric``), raised as :class:`~sim.errors.CalibrationError`. Besides the run
summary (``sim.core.results``), metrics include the world's structure (:data:`STRUCTURE_METRICS`).
"""

from __future__ import annotations

import ast
import dataclasses
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sim.config.names import check_name
from sim.config.paramtools import REQUIRED, Params, Vector, load_table, param, read_toml
from sim.core.scenario import Scenario, load_scenario
from sim.errors import CalibrationError, ParameterError, ScenarioError

#: Structural metrics added to every run's summary: counts in the model world after set-up.
STRUCTURE_METRICS: tuple[str, ...] = (
    "n_households", "n_compounds", "n_communities", "n_streets", "n_grids", "n_grid_workers",
    "n_party_members", "grid_visits_per_worker_per_month",
)
#: ``per`` choices: the unit a reported figure is counted over, and the metric counting it.
PER_METRIC: dict[str, str] = {
    "residents": "n_residents", "households": "n_households", "compounds": "n_compounds",
    "communities": "n_communities", "streets": "n_streets", "grids": "n_grids", "days": "n_steps",
}
METHODS: tuple[str, ...] = ("nelder-mead", "powell")


@dataclass(frozen=True)
class Metric:
    """A summary metric or a + - * / expression of metrics (numbers allowed)."""

    text: str
    tree: ast.Expression = dataclasses.field(repr=False, compare=False)
    names: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Metric:
        """Parse ``text``; ValueError says what is not allowed in it."""
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError:
            raise ValueError(f"{text!r} is not an expression of metric names with + - * / and parentheses") from None
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant):
                if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                    raise ValueError(f"{text!r}: only numbers and metric names are allowed, got {node.value!r}")
            elif not isinstance(node, (ast.Expression, ast.Name, ast.BinOp, ast.UnaryOp, ast.Add, ast.Sub, ast.Mult, ast.Div,
                                       ast.USub, ast.UAdd, ast.Load)):
                raise ValueError(f"{text!r}: only metric names, numbers, + - * / and parentheses are allowed")
        found = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Name)), key=lambda n: n.col_offset)
        names = list(dict.fromkeys(n.id for n in found))  # in the order they are written
        if not names:
            raise ValueError(f"{text!r} names no metric")
        return cls(text.strip(), tree, tuple(names))

    def evaluate(self, values: Mapping[str, np.ndarray]) -> np.ndarray:
        """The expression over arrays of metric values (one per replicate); x/0 gives NaN."""
        def ev(node: ast.AST) -> Any:
            if isinstance(node, ast.Expression):
                return ev(node.body)
            if isinstance(node, ast.Name):
                return np.asarray(values[node.id], dtype=np.float64)
            if isinstance(node, ast.Constant):
                assert isinstance(node.value, (int, float))  # parse() allows numbers only
                return float(node.value)
            if isinstance(node, ast.UnaryOp):
                return -ev(node.operand) if isinstance(node.op, ast.USub) else ev(node.operand)
            assert isinstance(node, ast.BinOp)
            a, b = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Add):
                return a + b
            if isinstance(node.op, ast.Sub):
                return a - b
            if isinstance(node.op, ast.Mult):
                return a * b
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(np.asarray(b) == 0, np.nan, a / np.where(np.asarray(b) == 0, 1.0, b))

        return np.asarray(ev(self.tree), dtype=np.float64)


@dataclass(frozen=True)
class Target:
    """A reported figure the model should reproduce."""

    name: str
    metric: Metric
    reported: float
    figure: str
    tolerance: float
    weight: float
    per: str | None
    reported_units: float | None
    source: str
    assumption: str

    @property
    def fitted(self) -> bool:
        """Whether the target counts in the objective (weight > 0)."""
        return self.weight > 0

    def values(self, runs: Mapping[str, np.ndarray]) -> np.ndarray:
        """The metric per replicate, rescaled to the reported population when ``per`` is set."""
        v = self.metric.evaluate(runs)
        if self.per is not None:
            units = np.asarray(runs[PER_METRIC[self.per]], dtype=np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                v = v * float(self.reported_units or 0.0) / units  # per is set: so is reported_units
        return v


@dataclass(frozen=True)
class FitParameter:
    """A parameter to fit: dotted key, bounds, initial value, search scale."""

    key: str
    lo: float
    hi: float
    initial: float
    log: bool
    integer: bool

    def to_unit(self, value: float) -> float:
        """The optimiser's coordinate of ``value``: 0 at lo, 1 at hi (on a log scale if ``log``)."""
        if self.log:
            return math.log(value / self.lo) / math.log(self.hi / self.lo)
        return (value - self.lo) / (self.hi - self.lo)

    def clip(self, value: float) -> float | int:
        """``value`` within the bounds, as the parameter's type."""
        x = min(max(value, self.lo), self.hi)
        return round(x) if self.integer else float(x)

    def from_unit(self, u: float) -> float | int:
        """The value at the optimiser's coordinate ``u`` (clipped to [0, 1]), as the parameter's type."""
        u = min(max(float(u), 0.0), 1.0)
        x = self.lo * (self.hi / self.lo) ** u if self.log else self.lo + u * (self.hi - self.lo)
        x = min(max(x, self.lo), self.hi)
        return round(x) if self.integer else float(x)


@dataclass(frozen=True)
class CalibrationSpec:
    """A validated calibration file."""

    path: Path
    name: str
    description: str
    base_path: Path
    scenario: Scenario  # the base with the overrides and the window applied
    overrides: dict[str, Any]  # dotted key -> value, including run.n_steps (the window)
    window_days: int
    replicates: int
    check_replicates: int
    seed: int
    method: str
    max_evaluations: int
    xatol: float
    fatol: float
    targets: tuple[Target, ...]
    parameters: tuple[FitParameter, ...]

    @property
    def metric_names(self) -> tuple[str, ...]:
        """Every metric the targets read (with the unit counts of ``per``)."""
        out: list[str] = []
        for t in self.targets:
            for n in (*t.metric.names, *((PER_METRIC[t.per],) if t.per else ())):
                if n not in out:
                    out.append(n)
        return tuple(out)

    def error(self, key: str, message: str) -> CalibrationError:
        """The error to raise for ``key`` of this file (checks made after loading, e.g. of metric names)."""
        return CalibrationError(str(self.path), key, message)


# ---------------------------------------------------------------------------------------------
# parameter lookup
# ---------------------------------------------------------------------------------------------
def parameter_info(scenario: Scenario, key: str) -> tuple[type, float | None, float | None, Any]:
    """Declared type, allowed range (lo, hi) and current value of the parameter at dotted ``key``.

    Raises ParameterError when the key does not exist, names a table, or a policy that is not
    switched on in ``scenario``.
    """
    parts = key.split(".")
    obj: Any = scenario
    if parts[0] == "policies":
        if len(parts) < 3:
            raise ParameterError(key, "expected policies.<policy>.<parameter>")
        obj = scenario.policy(parts[1])
        if obj is None:
            on = ", ".join(s.name for s in scenario.policies) or "none"
            raise ParameterError(key, f"policy {parts[1]!r} is not switched on in the base scenario (on: {on})")
        parts = parts[2:]
    meta: Mapping[str, Any] = {}
    typ: Any = None
    for part in parts:
        if not isinstance(obj, Params) or part not in obj.field_names():
            raise ParameterError(key, "no such parameter")
        if not isinstance(obj, Vector):  # a vector's elements share the range of the field holding it
            meta = next(f for f in dataclasses.fields(obj) if f.name == part).metadata
            typ = typing.get_type_hints(type(obj))[part]
        else:
            typ = float
        obj = getattr(obj, part)
    if isinstance(obj, Params):
        raise ParameterError(key, f"is a table ({', '.join(obj.field_names())}), not a number")
    if typ not in (int, float):
        raise ParameterError(key, f"is not a number ({obj!r}); only numeric parameters can be fitted")
    return typ, meta.get("lo"), meta.get("hi"), obj


# ---------------------------------------------------------------------------------------------
# the file's tables
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OptimizerTable(Params):
    """The ``[optimizer]`` table: the method (case-insensitive), its budget and its tolerances."""

    method: str = param("nelder-mead", choices=METHODS)
    max_evaluations: int = param(40, lo=1, hi=1_000_000, doc="evaluations, each of `replicates` runs")
    xatol: int | float = param(0.01, gt=0.0, doc="convergence in parameters, as a share of each one's range")
    fatol: int | float = param(1e-3, gt=0.0, doc="convergence in the objective")

    def __post_init__(self) -> None:
        if isinstance(self.method, str):
            object.__setattr__(self, "method", self.method.lower())
        super().__post_init__()


@dataclass(frozen=True)
class TargetTable(Params):
    """One ``[[targets]]`` table: a reported figure, the metric it is compared with, and how."""

    name: str | None = param(None, doc="default: the metric")
    metric: str = param(REQUIRED, doc="a summary metric, or + - * / of metrics")
    reported: int | float = param(REQUIRED, doc="the reported figure")
    figure: str = param("")
    tolerance: int | float = param(0.1, gt=0.0, doc="relative error counted as one unit in the objective")
    weight: int | float = param(1.0, lo=0.0, doc="0: reported and compared, not fitted")
    per: str | None = param(None, choices=tuple(PER_METRIC))
    reported_units: int | float | None = param(None, gt=0.0, doc="how many `per` units the figure counts")
    source: str = param("")
    assumption: str = param("")

    def check(self) -> None:
        """The metric parses; the figure is not 0; ``reported_units`` goes with ``per``."""
        try:
            Metric.parse(self.metric)
        except ValueError as err:
            raise ParameterError("metric", str(err)) from None
        if self.reported == 0:
            raise ParameterError("reported", "must not be 0: errors are relative to the reported figure")
        if self.per is not None and self.reported_units is None:
            raise ParameterError("reported_units", "missing; expected a number")
        if self.per is None and self.reported_units is not None:
            raise ParameterError("reported_units", "only with per = \"...\" (the unit the figure is counted over)")

    def target(self) -> Target:
        """The target this table describes."""
        metric = Metric.parse(self.metric)
        return Target(
            name=self.name if self.name is not None else metric.text, metric=metric, reported=float(self.reported),
            figure=self.figure, tolerance=float(self.tolerance), weight=float(self.weight), per=self.per,
            reported_units=None if self.reported_units is None else float(self.reported_units), source=self.source,
            assumption=self.assumption,
        )


@dataclass(frozen=True)
class ParameterTable(Params):
    """One ``[[parameters]]`` table: a scenario parameter to fit, its bounds, start and search scale."""

    key: str = param(REQUIRED, doc="a dotted scenario key")
    lo: int | float = param(REQUIRED)
    hi: int | float = param(REQUIRED)
    initial: int | float | None = param(None, doc="default: the base scenario's value")
    log: bool = param(False, doc="search on a log scale")

    def check(self) -> None:
        """The bounds in order (and positive on a log scale); the start within them."""
        if not self.lo < self.hi:
            raise ParameterError("hi", f"must be above lo ({self.lo:g}), got {self.hi:g}")
        if self.log and self.lo <= 0:
            raise ParameterError("log", f"a log scale needs lo > 0, got lo = {self.lo:g}")
        if self.initial is not None and not self.lo <= self.initial <= self.hi:
            raise ParameterError("initial", f"{self.initial:g} is outside the bounds [{self.lo:g}, {self.hi:g}]")


@dataclass(frozen=True)
class CalibrationFile(Params):
    """A calibration file as written: its keys, their types and ranges (see the module docstring)."""

    name: str = param(REQUIRED)
    description: str = param("")
    base: str = param(REQUIRED, doc="the path of the scenario to calibrate, relative to this file")
    window_days: int = param(REQUIRED, lo=1, hi=100_000, unit="days", doc="the period the reported figures cover")
    replicates: int = param(4, lo=1, hi=100_000)
    check_replicates: int = param(8, lo=2, hi=100_000)
    seed: int = param(1, lo=0, hi=2**63 - 1)
    overrides: dict[str, Any] = param({}, doc="parameters set in the base before fitting")
    optimizer: OptimizerTable = param(OptimizerTable())
    targets: tuple[TargetTable, ...] = param(())
    parameters: tuple[ParameterTable, ...] = param(())

    def check(self) -> None:
        """A valid name; at least one target, names and keys given once, no more parameters than fitted targets."""
        check_name("name", self.name)
        if not self.targets:
            raise ParameterError("targets", "at least one [[targets]] table is needed")
        names = [t.target().name for t in self.targets]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ParameterError(f"targets[{i}].name", f"{name!r} is used by another target")
        if "run.n_steps" in self.flat_overrides:
            raise ParameterError("overrides.run.n_steps", "set the period with window_days instead")
        keys = [p.key for p in self.parameters]
        for i, key in enumerate(keys):
            if key in keys[:i]:
                raise ParameterError(f"parameters[{i}].key", f"{key!r} is fitted twice")
            if key in self.flat_overrides:
                raise ParameterError(f"parameters[{i}].key", f"{key!r} is also set in [overrides]")
        n_fitted = sum(t.weight > 0 for t in self.targets)
        if len(self.parameters) > n_fitted:
            raise ParameterError("parameters", f"{len(self.parameters)} parameters but only {n_fitted} targets with "
                                               "weight > 0: the fit would not be identified")

    @property
    def flat_overrides(self) -> dict[str, Any]:
        """The overrides as ``{dotted key: value}`` (nested TOML tables flattened)."""
        return _flatten(self.overrides)


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in table.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, Mapping):
            out.update(_flatten(v, key))
        else:
            out[key] = v
    return out


# ---------------------------------------------------------------------------------------------
# loading, step by step
# ---------------------------------------------------------------------------------------------
def load_calibration(path: str | Path) -> CalibrationSpec:
    """Read and validate a calibration file; :class:`CalibrationError` names the file and the key."""
    path = Path(path)
    src = str(path)
    data = read_toml(path, "calibration", CalibrationError)
    file = load_table(CalibrationFile, {"name": path.stem, **data}, src, CalibrationError)
    base_path = path.parent / file.base
    scenario, overrides = _scenario(src, base_path, file)
    params = tuple(_fit_parameter(src, f"parameters[{i}]", t, scenario) for i, t in enumerate(file.parameters))
    opt = file.optimizer
    return CalibrationSpec(
        path=path, name=file.name, description=file.description, base_path=base_path, scenario=scenario,
        overrides=overrides, window_days=file.window_days, replicates=file.replicates,
        check_replicates=file.check_replicates, seed=file.seed, method=opt.method, max_evaluations=opt.max_evaluations,
        xatol=float(opt.xatol), fatol=float(opt.fatol), targets=tuple(t.target() for t in file.targets),
        parameters=params,
    )


def _scenario(src: str, base_path: Path, file: CalibrationFile) -> tuple[Scenario, dict[str, Any]]:
    """The base scenario with the overrides and the window applied; the overrides with run.n_steps."""
    if not base_path.is_file():
        raise CalibrationError(src, "base", f"no such scenario file {str(base_path)!r}")
    try:
        scenario = load_scenario(base_path)
    except ScenarioError as err:
        raise CalibrationError(src, "base", str(err)) from None
    overrides = file.flat_overrides
    for key, value in overrides.items():
        try:
            if key.startswith("policies."):
                parameter_info(scenario, key)  # never switch a policy on silently
            scenario = scenario.with_overrides({key: value})
        except ParameterError as err:
            raise CalibrationError(src, f"overrides.{key}", err.message) from None
    overrides["run.n_steps"] = file.window_days
    return scenario.with_overrides({"run.n_steps": file.window_days}), overrides


def _fit_parameter(src: str, where: str, table: ParameterTable, scenario: Scenario) -> FitParameter:
    """The parameter to fit, checked against the scenario: it exists, is a number, and its bounds are allowed."""
    key, lo, hi = table.key, float(table.lo), float(table.hi)
    try:
        typ, lo_allowed, hi_allowed, current = parameter_info(scenario, key)
    except ParameterError as err:
        raise CalibrationError(src, f"{where}.key", f"{key!r}: {err.message}") from None
    if lo_allowed is not None and lo < lo_allowed:
        raise CalibrationError(src, f"{where}.lo", f"{lo:g} is below the smallest value {key} allows ({lo_allowed:g})")
    if hi_allowed is not None and hi > hi_allowed:
        raise CalibrationError(src, f"{where}.hi", f"{hi:g} is above the largest value {key} allows ({hi_allowed:g})")
    if table.initial is not None:
        initial = float(table.initial)
    else:
        initial = float(current) if lo <= float(current) <= hi else (lo + hi) / 2
    p = FitParameter(key, lo, hi, initial, table.log, typ is int)
    for label, v in (("lo", lo), ("hi", hi), ("initial", initial)):
        try:  # cross-field checks (shares summing to 1, ...) at the bounds
            scenario.with_overrides({key: p.from_unit(p.to_unit(v))})
        except ParameterError as err:
            raise CalibrationError(src, f"{where}.{label}", f"{key} = {v:g} is not allowed: {err.message}") from None
    return p


__all__ = [
    "PER_METRIC",
    "STRUCTURE_METRICS",
    "CalibrationFile",
    "CalibrationSpec",
    "FitParameter",
    "Metric",
    "ParameterTable",
    "Target",
    "TargetTable",
    "load_calibration",
    "parameter_info",
]
