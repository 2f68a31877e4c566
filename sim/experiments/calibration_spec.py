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

Every error is one line naming the file and the key (``targets[1].metric``), raised as
:class:`~sim.core.scenario.ScenarioError`. Besides the run summary (``sim.core.results``), metrics
include the world's structure (:data:`STRUCTURE_METRICS`).
"""

from __future__ import annotations

import ast
import dataclasses
import math
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sim.config.paramtools import Params, Vector
from sim.core.scenario import Scenario, load_scenario
from sim.errors import ParameterError, ScenarioError

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

_TOP = {"name", "description", "base", "window_days", "replicates", "check_replicates", "seed", "overrides",
        "optimizer", "targets", "parameters"}
_OPTIMIZER = {"method", "max_evaluations", "xatol", "fatol"}
_TARGET = {"name", "metric", "reported", "figure", "tolerance", "weight", "per", "reported_units", "source",
           "assumption"}
_PARAMETER = {"key", "lo", "hi", "initial", "log"}


@dataclass(frozen=True)
class Metric:
    """A summary metric or a + - * / expression of metrics (numbers allowed)."""

    text: str
    tree: ast.Expression = dataclasses.field(repr=False, compare=False)
    names: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Metric:
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError:
            raise ValueError(f"{text!r} is not an expression of metric names with + - * / and parentheses") from None
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant):
                if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                    raise ValueError(f"{text!r}: only numbers and metric names are allowed, got {node.value!r}")  # noqa: TRY004
            elif not isinstance(node, (ast.Expression, ast.Name, ast.BinOp, ast.UnaryOp, ast.Add, ast.Sub, ast.Mult, ast.Div,
                                       ast.USub, ast.UAdd, ast.Load)):
                raise ValueError(f"{text!r}: only metric names, numbers, + - * / and parentheses are allowed")  # noqa: TRY004
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
        return self.weight > 0

    def values(self, runs: Mapping[str, np.ndarray]) -> np.ndarray:
        """The metric per replicate, rescaled to the reported population when ``per`` is set."""
        v = self.metric.evaluate(runs)
        if self.per is not None:
            units = np.asarray(runs[PER_METRIC[self.per]], dtype=np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                v = v * float(self.reported_units) / units  # type: ignore[arg-type]
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
        if self.log:
            return math.log(value / self.lo) / math.log(self.hi / self.lo)
        return (value - self.lo) / (self.hi - self.lo)

    def clip(self, value: float) -> float | int:
        """``value`` within the bounds, as the parameter's type."""
        x = min(max(value, self.lo), self.hi)
        return round(x) if self.integer else float(x)

    def from_unit(self, u: float) -> float | int:
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

    def error(self, key: str, message: str) -> ScenarioError:
        return ScenarioError(str(self.path), key, message)


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
# loading
# ---------------------------------------------------------------------------------------------
def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in table.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, Mapping):
            out.update(_flatten(v, key))
        else:
            out[key] = v
    return out


class _Reader:
    """Typed access to a TOML table with one-line errors naming the file and key."""

    def __init__(self, src: str, table: Mapping[str, Any], where: str, allowed: set[str]) -> None:
        self.src, self.t, self.where = src, table, where
        for k in table:
            if k not in allowed:
                raise self.err(k, f"unknown key; allowed: {', '.join(sorted(allowed))}")

    def err(self, key: str, message: str) -> ScenarioError:
        return ScenarioError(self.src, f"{self.where}{key}", message)

    def number(self, key: str, default: float | None = None, *, integer: bool = False,
               lo: float | None = None, gt: float | None = None) -> float:
        if key not in self.t:
            if default is None:
                raise self.err(key, "missing; expected a number")
            return default
        v = self.t[key]
        kind = "an integer" if integer else "a number"
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and not float(v).is_integer()):
            raise self.err(key, f"expected {kind}, got {v!r}")
        if not math.isfinite(v):
            raise self.err(key, f"expected a finite number, got {v!r}")
        if lo is not None and v < lo:
            raise self.err(key, f"{v!r} is out of range; allowed: {kind} >= {lo:g}")
        if gt is not None and v <= gt:
            raise self.err(key, f"{v!r} is out of range; allowed: {kind} > {gt:g}")
        return int(v) if integer else float(v)

    def text(self, key: str, default: str | None = None) -> str:
        if key not in self.t:
            if default is None:
                raise self.err(key, "missing; expected a string")
            return default
        v = self.t[key]
        if not isinstance(v, str):
            raise self.err(key, f"expected a string, got {v!r}")
        return v

    def tables(self, key: str) -> list[Mapping[str, Any]]:
        v = self.t.get(key, [])
        if not isinstance(v, list) or not all(isinstance(x, Mapping) for x in v):
            raise self.err(key, f"expected an array of tables [[{key}]]")
        return v


def load_calibration(path: str | Path) -> CalibrationSpec:
    """Read and validate a calibration file; :class:`ScenarioError` names the file and the key."""
    path = Path(path)
    src = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(src, "", "no such calibration file") from None
    except OSError as err:
        raise ScenarioError(src, "", f"cannot read file ({err.strerror})") from None
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(src, "", f"not valid TOML ({err})") from None
    top = _Reader(src, data, "", _TOP)
    name = top.text("name", path.stem)
    base_rel = top.text("base")
    base_path = (path.parent / base_rel)
    if not base_path.is_file():
        raise top.err("base", f"no such scenario file {str(base_path)!r}")
    try:
        base = load_scenario(base_path)
    except ScenarioError as err:
        raise top.err("base", str(err)) from None
    window = int(top.number("window_days", integer=True, lo=1))
    replicates = int(top.number("replicates", 4, integer=True, lo=1))
    check = int(top.number("check_replicates", 8, integer=True, lo=2))
    seed = int(top.number("seed", 1, integer=True, lo=0))

    raw_over = data.get("overrides", {})
    if not isinstance(raw_over, Mapping):
        raise top.err("overrides", "expected a table [overrides] of parameters to set")
    overrides = _flatten(raw_over)
    scenario = base
    for key, value in overrides.items():
        try:
            if key.startswith("policies."):
                parameter_info(scenario, key)  # never switch a policy on silently
            scenario = scenario.with_overrides({key: value})
        except ParameterError as err:
            raise top.err(f"overrides.{key}", err.message) from None
    if "run.n_steps" in overrides:
        raise top.err("overrides.run.n_steps", "set the period with window_days instead")
    overrides["run.n_steps"] = window
    scenario = scenario.with_overrides({"run.n_steps": window})

    opt_raw = data.get("optimizer", {})
    if not isinstance(opt_raw, Mapping):
        raise top.err("optimizer", "expected a table [optimizer]")
    opt = _Reader(src, opt_raw, "optimizer.", _OPTIMIZER)
    method = opt.text("method", "nelder-mead").lower()
    if method not in METHODS:
        raise opt.err("method", f"{method!r} is not allowed; allowed: {', '.join(METHODS)}")
    max_eval = int(opt.number("max_evaluations", 40, integer=True, lo=1))
    xatol = opt.number("xatol", 0.01, gt=0.0)
    fatol = opt.number("fatol", 1e-3, gt=0.0)

    targets = []
    for i, raw in enumerate(top.tables("targets")):
        r = _Reader(src, raw, f"targets[{i}].", _TARGET)
        try:
            metric = Metric.parse(r.text("metric"))
        except ValueError as err:
            raise r.err("metric", str(err)) from None
        reported = r.number("reported")
        if reported == 0:
            raise r.err("reported", "must not be 0: errors are relative to the reported figure")
        per = r.t.get("per")
        units = None
        if per is not None:
            if not isinstance(per, str) or per not in PER_METRIC:
                raise r.err("per", f"{per!r} is not allowed; allowed: {', '.join(PER_METRIC)}")
            units = r.number("reported_units", gt=0.0)
        elif "reported_units" in r.t:
            raise r.err("reported_units", "only with per = \"...\" (the unit the figure is counted over)")
        tname = r.text("name", metric.text)
        if any(t.name == tname for t in targets):
            raise r.err("name", f"{tname!r} is used by another target")
        targets.append(Target(
            name=tname, metric=metric, reported=reported, figure=r.text("figure", ""),
            tolerance=r.number("tolerance", 0.1, gt=0.0), weight=r.number("weight", 1.0, lo=0.0),
            per=per, reported_units=units, source=r.text("source", ""), assumption=r.text("assumption", ""),
        ))
    if not targets:
        raise top.err("targets", "at least one [[targets]] table is needed")

    params: list[FitParameter] = []
    for i, raw in enumerate(top.tables("parameters")):
        r = _Reader(src, raw, f"parameters[{i}].", _PARAMETER)
        key = r.text("key")
        if any(p.key == key for p in params):
            raise r.err("key", f"{key!r} is fitted twice")
        if key in overrides:
            raise r.err("key", f"{key!r} is also set in [overrides]")
        try:
            typ, lo_allowed, hi_allowed, current = parameter_info(scenario, key)
        except ParameterError as err:
            raise r.err("key", f"{key!r}: {err.message}") from None
        lo, hi = r.number("lo"), r.number("hi")
        if not lo < hi:
            raise r.err("hi", f"must be above lo ({lo:g}), got {hi:g}")
        if lo_allowed is not None and lo < lo_allowed:
            raise r.err("lo", f"{lo:g} is below the smallest value {key} allows ({lo_allowed:g})")
        if hi_allowed is not None and hi > hi_allowed:
            raise r.err("hi", f"{hi:g} is above the largest value {key} allows ({hi_allowed:g})")
        log = r.t.get("log", False)
        if not isinstance(log, bool):
            raise r.err("log", f"expected true or false, got {log!r}")
        if log and lo <= 0:
            raise r.err("log", f"a log scale needs lo > 0, got lo = {lo:g}")
        default_initial = float(current) if lo <= float(current) <= hi else (lo + hi) / 2
        initial = r.number("initial", default_initial)
        if not lo <= initial <= hi:
            raise r.err("initial", f"{initial:g} is outside the bounds [{lo:g}, {hi:g}]")
        p = FitParameter(key, lo, hi, initial, log, typ is int)
        for label, v in (("lo", lo), ("hi", hi), ("initial", initial)):
            try:  # cross-field checks (shares summing to 1, ...) at the bounds
                scenario.with_overrides({key: p.from_unit(p.to_unit(v))})
            except ParameterError as err:
                raise r.err(label, f"{key} = {v:g} is not allowed: {err.message}") from None
        params.append(p)
    n_fitted = sum(t.fitted for t in targets)
    if len(params) > n_fitted:
        raise top.err("parameters", f"{len(params)} parameters but only {n_fitted} targets with weight > 0: "
                                    "the fit would not be identified")
    return CalibrationSpec(
        path=path, name=name, description=top.text("description", ""), base_path=base_path, scenario=scenario,
        overrides=overrides, window_days=window, replicates=replicates, check_replicates=check, seed=seed,
        method=method, max_evaluations=max_eval, xatol=xatol, fatol=fatol, targets=tuple(targets),
        parameters=tuple(params),
    )


__all__ = [
    "PER_METRIC",
    "STRUCTURE_METRICS",
    "CalibrationSpec",
    "FitParameter",
    "Metric",
    "Target",
    "load_calibration",
    "parameter_info",
]
