"""Sweep designs: factors, the design matrix (scipy.stats.qmc / SALib samplers), run seeds, overrides.

See :mod:`sim.experiments.sweep.spec` for the sweep file format. Sampled designs draw rows in the unit cube and
map each coordinate to a factor value (:meth:`Factor.from_unit`); a full factorial lists every
combination of the factors' value grids (:meth:`Factor.grid`), last factor fastest.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim import policies as policy_registry
from sim.core.scenario import PolicySpec, Scenario
from sim.errors import ParameterError

__all__ = ["DESIGNS", "DESIGN_KEY", "Factor", "apply_overrides", "design_matrix", "expand", "run_seed", "scale_targets"]

DESIGNS: tuple[str, ...] = ("full_factorial", "latin_hypercube", "sobol", "morris")
#: spawn key of the design's random stream (distinct from the 2-element run keys (e, r) and CRN keys (r,))
DESIGN_KEY = 0x5EED_DE51


def run_seed(root: int, experiment: int, replicate: int, common_random_numbers: bool = False) -> int:
    """The seed of one run (see the module docstring)."""
    key = (int(replicate),) if common_random_numbers else (int(experiment), int(replicate))
    return int(np.random.SeedSequence(int(root), spawn_key=key).generate_state(1)[0])


def apply_overrides(base: Scenario, overrides: Mapping[str, Any]) -> Scenario:
    """``base`` with ``{"dotted.key": value}`` set and validated; equals ``base.with_overrides``.

    Much cheaper than ``with_overrides`` (which rebuilds the whole scenario from plain data):
    only the dataclasses on the path are replaced (and validated). ``policies.<name>.<key>``
    switches a policy on with its defaults if the base does not have it, appended last, as
    ``with_overrides`` does. Raises :class:`ParameterError` naming the key.
    """
    sc = base
    for path, value in overrides.items():
        parts = path.split(".")
        if parts[0] != "policies":
            sc = sc.replace_path(path, value)
            continue
        if len(parts) < 3 or not all(parts):
            raise ParameterError(path, "expected policies.<name>.<parameter>")
        name, rest = parts[1], ".".join(parts[2:])
        specs = list(sc.policies)
        pos = next((i for i, s in enumerate(specs) if s.name == name), None)
        if pos is None:
            try:
                cls = policy_registry.get(name)
            except KeyError as err:
                message = str(err.args[0]).replace(f"policy {name!r}", "policy")
                raise ParameterError(f"policies.{name}", message) from None
            specs.append(PolicySpec(name, cls.Params.from_dict({})))
            pos = len(specs) - 1
        try:
            params = specs[pos].params.replace_path(rest, value)
        except ParameterError as err:
            raise err.under(f"policies.{name}") from None
        specs[pos] = PolicySpec(name, params)
        sc = dataclasses.replace(sc, policies=tuple(specs))
    return sc


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


@dataclass(frozen=True)
class Factor:
    """One varied scenario key: a range ``[low, high]`` (integer or real) or a list of choices."""

    key: str
    kind: str  # "uncertainties" | "levers"
    low: float | int | None = None
    high: float | int | None = None
    choices: tuple[Any, ...] | None = None
    levels: int | None = None  # full factorial points of a range (None: the design's)
    scale: bool = False  # the value multiplies the base value(s) at ``key``

    @property
    def name(self) -> str:
        """The factor's name in the store, the export and the analysis."""
        return f"scale({self.key})" if self.scale else self.key

    @property
    def integer(self) -> bool:
        return self.choices is None and isinstance(self.low, int) and isinstance(self.high, int)

    @property
    def label(self) -> str:
        return f"{self.kind}.{self.key}"

    def from_unit(self, u: float) -> Any:
        """The value at unit coordinate ``u`` in [0, 1]."""
        if self.choices is not None:
            return self.choices[min(int(u * len(self.choices)), len(self.choices) - 1)]
        assert self.low is not None and self.high is not None
        if self.integer:
            span = int(self.high) - int(self.low)
            return self.low + min(int(u * (span + 1)), span)
        return float(self.low) + float(u) * (float(self.high) - float(self.low))

    def grid(self, default_levels: int) -> list[Any]:
        """The full-factorial values: every choice, or ``levels`` evenly spaced points of the range."""
        if self.choices is not None:
            return list(self.choices)
        assert self.low is not None and self.high is not None
        n = self.levels or default_levels
        points = np.linspace(float(self.low), float(self.high), n)
        if self.integer:
            return sorted({round(float(p)) for p in points})
        return [float(f"{p:.12g}") for p in points]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "kind": self.kind}
        if self.choices is not None:
            out["choices"] = list(self.choices)
        else:
            out.update(low=self.low, high=self.high, integer=self.integer)
            if self.levels is not None:
                out["levels"] = self.levels
            if self.scale:
                out["scale"] = True
        out["name"] = self.name
        return out


def expand(factors: tuple[Factor, ...] | list[Factor], params: Mapping[str, Any],
            scaled: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in factors:
        value = params[f.name]
        if f.scale:
            out.update({k: base * float(value) for k, base in scaled[f.key].items()})
        else:
            out[f.key] = value
    return out


def scale_targets(base: Scenario, key: str) -> dict[str, float]:
    """The real values a ``scale`` factor multiplies: the parameter at ``key`` or each in its table."""
    from sim.config.paramtools import Params

    parts = key.split(".")
    obj: Any = base
    if parts[0] == "policies" and len(parts) >= 3:
        try:
            obj = base.policy(parts[1]) or policy_registry.get(parts[1]).Params.from_dict({})
        except KeyError:
            raise ParameterError(key, "no such policy") from None
        parts = parts[2:]
    for part in parts:
        if not isinstance(obj, Params) or part not in obj.field_names():
            raise ParameterError(key, "no such parameter")
        obj = getattr(obj, part)
    values = {key: obj} if not isinstance(obj, Params) else {f"{key}.{n}": getattr(obj, n) for n in obj.field_names()}
    if not values or not all(isinstance(v, float) for v in values.values()):
        raise ParameterError(key, "scale = true needs a real-valued parameter or a table of them")
    return values


def design_matrix(factors: list[Factor], method: str, n: int | None, levels: int, second_order: bool,
                  seed: int) -> tuple[np.ndarray | None, tuple[tuple[Any, ...], ...]]:
    """The design: unit-cube rows for sampled designs, value grids for a full factorial."""
    if method == "full_factorial":
        return None, tuple(tuple(f.grid(levels)) for f in factors)
    assert n is not None
    d = len(factors)
    ss = np.random.SeedSequence(seed, spawn_key=(DESIGN_KEY,))
    if method == "latin_hypercube":
        import inspect

        from scipy.stats import qmc

        rng = np.random.Generator(np.random.PCG64(ss))
        kw = "rng" if "rng" in inspect.signature(qmc.LatinHypercube).parameters else "seed"
        matrix = qmc.LatinHypercube(d=d, **{kw: rng}).random(n)
    else:
        problem = {"num_vars": d, "names": [f.name for f in factors], "bounds": [[0.0, 1.0]] * d}
        salib_seed = int(ss.generate_state(1)[0])
        if method == "sobol":
            from SALib.sample import sobol as sobol_sample

            matrix = sobol_sample.sample(problem, n, calc_second_order=second_order, scramble=True, seed=salib_seed)
        else:
            from SALib.sample import morris as morris_sample

            matrix = morris_sample.sample(problem, n, num_levels=levels, seed=salib_seed)
    matrix = np.clip(np.asarray(matrix, dtype=np.float64), 0.0, 1.0)
    return matrix, ()
