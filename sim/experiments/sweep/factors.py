"""Sweep factors: the scenario keys a sweep varies, as written in the file and as the design uses them.

A factor table in ``[uncertainties]`` or ``[levers]`` (:class:`FactorTable`) is a range ``{low,
high}`` (integers if both bounds are), optionally with ``levels`` for a full factorial and
``scale = true`` (a multiplier of the base scenario's value(s) at the key), or a list of
``choices``. :class:`Factor` is the validated factor with its key; :func:`expand` turns factor
values into the scenario keys they set. See :mod:`sim.experiments.sweep.spec` for the file format.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim import policies as policy_registry
from sim.config.paramtools import Params, param
from sim.core.scenario import Scenario
from sim.errors import ParameterError

__all__ = ["Factor", "FactorTable", "expand", "scale_targets"]


@dataclass(frozen=True)
class FactorTable(Params):
    """One factor as written: ``{low = .., high = ..}`` (optionally ``levels``, ``scale``) or ``{choices = [..]}``."""

    low: int | float | None = param(None, doc="lower bound of the range")
    high: int | float | None = param(None, doc="upper bound of the range")
    levels: int | None = param(None, lo=2, hi=10_000, doc="full factorial points of the range (default: the design's)")
    choices: tuple[Any, ...] | None = param(None, doc="the values to choose from, instead of a range")
    scale: bool = param(False, doc="the range multiplies the base scenario's value(s) at the key")

    def check(self) -> None:
        """A range or choices, not both; a range's bounds in order; choices distinct plain values."""
        if self.choices is None:
            if self.low is None or self.high is None:
                raise ParameterError("", "expected both low and high (or choices)")
            if not self.low < self.high:
                raise ParameterError("", f"low ({self.low}) must be below high ({self.high})")
            return
        if self.scale:
            raise ParameterError("scale", "scale applies to a range {low, high}, not to choices")
        if self.low is not None or self.high is not None or self.levels is not None:
            raise ParameterError("", "give either choices or low/high, not both")
        if not self.choices:
            raise ParameterError("choices", "expected a non-empty list of values, got []")
        for c in self.choices:
            if not isinstance(c, (str, int, float, bool)):
                raise ParameterError("choices", f"expected numbers, strings or booleans, got {c!r}")
        if len({json.dumps(c) for c in self.choices}) != len(self.choices):
            raise ParameterError("choices", "values must be distinct")


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

    @classmethod
    def from_table(cls, key: str, kind: str, table: FactorTable) -> Factor:
        """The factor of a validated table; a scaled range is real-valued whatever its bounds."""
        if table.choices is not None:
            return cls(key, kind, choices=table.choices)
        low, high = table.low, table.high
        assert low is not None and high is not None  # FactorTable.check: a range has both bounds
        if table.scale or not (isinstance(low, int) and isinstance(high, int)):
            low, high = float(low), float(high)
        return cls(key, kind, low=low, high=high, levels=table.levels, scale=table.scale)

    @property
    def name(self) -> str:
        """The factor's name in the store, the export and the analysis."""
        return f"scale({self.key})" if self.scale else self.key

    @property
    def integer(self) -> bool:
        """Whether the factor is a range of integers."""
        return self.choices is None and isinstance(self.low, int) and isinstance(self.high, int)

    @property
    def label(self) -> str:
        """The factor's dotted key in the sweep file (``levers.<key>``), for messages."""
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
        """The factor as plain data, for the normalised spec the sweep id hashes."""
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


def expand(factors: Sequence[Factor], params: Mapping[str, Any],
           scaled: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
    """The scenario keys set by factor values ``{factor name: value}``; a scale factor sets each key it scales."""
    out: dict[str, Any] = {}
    for f in factors:
        value = params[f.name]
        if f.scale:
            out.update({k: base * float(value) for k, base in scaled[f.key].items()})
        else:
            out[f.key] = value
    return out


def scale_targets(base: Scenario, key: str) -> dict[str, float]:
    """The real values a ``scale`` factor multiplies: the parameter at ``key`` or each in its table.

    A policy the base does not switch on is read at its defaults (the factor switches it on).
    """
    parts = key.split(".")
    owner: Params = base
    path = key
    if parts[0] == "policies" and len(parts) >= 3:
        try:
            owner = base.policy(parts[1]) or policy_registry.get(parts[1]).Params.from_dict({})
        except KeyError:
            raise ParameterError(key, "no such policy") from None
        path = ".".join(parts[2:])
    try:
        obj = owner.get_path(path)
    except ParameterError:
        raise ParameterError(key, "no such parameter") from None
    values = {key: obj} if not isinstance(obj, Params) else {f"{key}.{n}": getattr(obj, n) for n in obj.field_names()}
    if not values or not all(isinstance(v, float) for v in values.values()):
        raise ParameterError(key, "scale = true needs a real-valued parameter or a table of them")
    return values
