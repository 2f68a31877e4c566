"""Machinery for frozen, validated parameter dataclasses.

Every parameter set in govsim is a frozen dataclass deriving from :class:`Params`. Fields are
declared with :func:`param`, which records the allowed range, unit and seed source of the
default in the field metadata; validation runs in ``__post_init__`` so that parameters built
from a TOML file, a sweep, a Mesa keyword or plain Python are checked the same way.
Nested parameter sets are fields whose type is itself a :class:`Params` subclass; small
fixed-length vectors (one value per category, per severity, ...) are :class:`Vector`s and
inherit the range of the field that holds them.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from functools import cache
from typing import Any, ClassVar, TypeVar

import numpy as np

from sim.errors import ParameterError

P = TypeVar("P", bound="Params")




def _merge(base: dict[str, Any], top: typing.Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge of plain-data tables: ``top`` wins, nested tables merge."""
    out = dict(base)
    for k, v in top.items():
        out[k] = _merge(out[k], v) if isinstance(v, typing.Mapping) and isinstance(out.get(k), dict) else v
    return out


def param(
    default: Any,
    *,
    lo: float | None = None,
    hi: float | None = None,
    unit: str = "",
    source: str = "",
    choices: tuple[str, ...] | None = None,
    doc: str = "",
) -> Any:
    """Declare a parameter field with its range, unit, seed source and one-line meaning."""
    meta = {"lo": lo, "hi": hi, "unit": unit, "source": source, "choices": choices, "doc": doc}
    if isinstance(default, Params):
        return field(default_factory=lambda: default, metadata=meta)
    return field(default=default, metadata=meta)


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _describe_range(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f"a number in [{lo}, {hi}]"
    if lo is not None:
        return f"a number >= {lo}"
    if hi is not None:
        return f"a number <= {hi}"
    return "a number"


def _check_value(name: str, value: Any, typ: Any, meta: Any) -> Any:
    """Check one scalar field; return the value converted to its declared type."""
    lo, hi, choices = meta.get("lo"), meta.get("hi"), meta.get("choices")
    if typ is bool:
        if not isinstance(value, (bool, np.bool_)):
            raise ParameterError(name, f"expected true or false, got {value!r}")
        return bool(value)
    if typ is str:
        if not isinstance(value, str):
            raise ParameterError(name, f"expected a string, got {value!r}")
        if choices is not None and value not in choices:
            raise ParameterError(name, f"{value!r} is not allowed; allowed: {', '.join(choices)}")
        return value
    if typ in (int, float):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            kind = "an integer" if typ is int else "a number"
            raise ParameterError(name, f"expected {kind}, got {value!r}")
        if typ is int:
            if isinstance(value, (float, np.floating)) and not float(value).is_integer():
                raise ParameterError(name, f"expected an integer, got {value!r}")
            value = int(value)
        else:
            value = float(value)
            if math.isnan(value):
                raise ParameterError(name, "expected a number, got nan")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            allowed = _describe_range(lo, hi)
            if typ is int:
                allowed = allowed.replace("a number", "an integer")
            raise ParameterError(name, f"{value!r} is out of range; allowed: {allowed}")
        return value
    raise TypeError(f"unsupported parameter type {typ!r} for {name}")  # programming error


@dataclass(frozen=True)
class Params:
    """Base of all parameter sets: frozen, validated on construction, unknown keys rejected."""

    def __post_init__(self) -> None:
        hints = _hints(type(self))
        for f in dataclasses.fields(self):
            typ = hints[f.name]
            value = getattr(self, f.name)
            if isinstance(typ, type) and issubclass(typ, Params):
                if not isinstance(value, typ):
                    raise ParameterError(f.name, f"expected a table of {typ.__name__} keys, got {value!r}")
                if issubclass(typ, Vector):
                    try:
                        value.check_elements(f.metadata)
                    except ParameterError as err:
                        raise err.under(f.name) from None
                continue
            if typing.get_origin(typ) is tuple:
                continue  # tuples (policy specs) are validated by their owner
            object.__setattr__(self, f.name, _check_value(f.name, value, typ, f.metadata))
        self.check()

    def check(self) -> None:
        """Cross-field checks; subclasses override and raise ParameterError."""

    # -- construction from plain data -------------------------------------------------------
    @classmethod
    def from_dict(cls, data: typing.Mapping[str, Any]) -> typing.Self:
        """Build from a (possibly nested) mapping; unknown keys and bad values raise ParameterError."""
        if not isinstance(data, typing.Mapping):
            raise ParameterError("", f"expected a table, got {data!r}")
        hints = _hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key not in fields:
                raise ParameterError(str(key), f"unknown key; allowed: {', '.join(sorted(fields))}")
            typ = hints[key]
            if isinstance(typ, type) and issubclass(typ, Params):
                if not isinstance(value, typing.Mapping):
                    raise ParameterError(key, f"expected a table with keys {', '.join(typ.field_names())}, got {value!r}")
                # a partial table keeps the field's own defaults for the keys it does not set
                f = fields[key]
                default = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
                try:
                    if isinstance(default, Params):
                        unknown = [k for k in value if k not in typ.field_names()]
                        if unknown:
                            raise ParameterError(str(unknown[0]), f"unknown key; allowed: {', '.join(sorted(typ.field_names()))}")
                        value = _merge(default.to_dict(), value)
                    kwargs[key] = typ.from_dict(value)
                except ParameterError as err:
                    raise err.under(key) from None
            else:
                kwargs[key] = value
        try:
            return cls(**kwargs)
        except ParameterError:
            raise
        except TypeError as err:  # pragma: no cover - from_dict checked the keys already
            raise ParameterError("", str(err)) from None

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    def to_dict(self) -> dict[str, Any]:
        """Nested plain-data form, suitable for TOML/JSON and for hashing."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Params):
                out[f.name] = value.to_dict()
            elif isinstance(value, tuple):
                out[f.name] = [v.to_dict() if isinstance(v, Params) else v for v in value]
            else:
                out[f.name] = value
        return out

    def replace_path(self, path: str, value: Any) -> typing.Self:
        """Return a copy with the parameter at dotted ``path`` set to ``value`` (validated)."""
        head, _, rest = path.partition(".")
        names = self.field_names()
        if head not in names:
            raise ParameterError(head, f"unknown key; allowed: {', '.join(sorted(names))}")
        current = getattr(self, head)
        if rest and not isinstance(current, Params):
            raise ParameterError(path, f"{head} is a value, not a table")
        try:  # errors from the nested table are keyed relative to it
            if rest:
                new = current.replace_path(rest, value)
            elif isinstance(current, Params) and isinstance(value, typing.Mapping):
                new = type(current).from_dict(value)
            else:
                new = value
        except ParameterError as err:
            raise err.under(head) from None
        return dataclasses.replace(self, **{head: new})  # errors here are keyed relative to self

    def get_path(self, path: str) -> Any:
        """Return the value at dotted ``path``."""
        obj: Any = self
        for part in path.split("."):
            if not isinstance(obj, Params) or part not in obj.field_names():
                raise ParameterError(path, "no such parameter")
            obj = getattr(obj, part)
        return obj


@dataclass(frozen=True)
class Vector(Params):
    """A fixed-length vector of floats with one named field per element.

    The range that applies to every element is taken from the metadata of the field holding
    the vector, so ``dur_patience: BySeverity = param(..., lo=1)`` checks all four severities.
    """

    names: ClassVar[tuple[str, ...]] = ()

    def check_elements(self, meta: Any) -> None:
        for name in self.names:
            _check_value(name, getattr(self, name), float, meta)

    def array(self, dtype: Any = np.float64) -> np.ndarray:
        """The values in vocabulary order."""
        return np.array([getattr(self, n) for n in self.names], dtype=dtype)


def vector_param(cls: type[Vector], values: typing.Sequence[float], **meta: Any) -> Any:
    """Declare a vector-valued parameter field with the given default values."""
    return param(cls(*values), **meta)
