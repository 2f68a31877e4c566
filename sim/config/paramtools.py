"""Machinery for frozen, validated parameter dataclasses.

Every parameter set in govsim is a frozen dataclass deriving from :class:`Params`. Fields are
declared with :func:`param`, which records the allowed range, unit and seed source of the
default in the field metadata; validation runs in ``__post_init__`` so that parameters built
from a TOML file, a sweep, a Mesa keyword or plain Python are checked the same way.
Nested parameter sets are fields whose type is itself a :class:`Params` subclass; small
fixed-length vectors (one value per category, per severity, ...) are :class:`Vector`s and
inherit the range of the field that holds them.

The same machinery validates the other input files (sweeps, calibrations), whose tables need a
few more field types, each checked by its declared annotation:

=================================  ==============================================================
``bool``, ``int``, ``float``, ``str``  a scalar (``lo``, ``hi``, ``gt``, ``choices`` apply)
``int | float``                    a finite number kept as written (an integer stays an integer)
``X | None``                       optional: ``None`` (the key left out) or an ``X``
``Any``                            any plain value (checked by the owner's :meth:`Params.check`)
a :class:`Params` subclass         a nested table (partial tables keep the field's defaults)
``tuple[X, ...]``                  a list of scalars, or of ``Params`` tables (``[[name]]`` in TOML)
``dict[str, X]``                   a table with free-form keys (e.g. dotted scenario keys)
=================================  ==============================================================

A field whose default is :data:`REQUIRED` must be given. Any other tuple (the scenario's policy
specs) is left to its owner.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import numpy as np

from sim.config.inputfiles import MAX_TEXT, read_text, read_toml
from sim.errors import InputFileError, ParameterError

__all__ = ["REQUIRED", "Params", "Vector", "deep_merge", "load_table", "param", "read_text", "read_toml",
           "vector_param"]

P = TypeVar("P", bound="Params")


class _Required:
    """The type of :data:`REQUIRED`."""

    def __repr__(self) -> str:
        return "REQUIRED"


#: Default of a field that must be given: ``param(REQUIRED)``; leaving the key out is an error.
REQUIRED: Any = _Required()


def deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge of plain-data tables: ``top`` wins, nested tables merge; neither input changes."""
    out = dict(base)
    for k, v in top.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), dict) else v
    return out


def param(
    default: Any,
    *,
    lo: float | None = None,
    hi: float | None = None,
    gt: float | None = None,
    unit: str = "",
    source: str = "",
    choices: tuple[str, ...] | None = None,
    doc: str = "",
    plausible: tuple[float, float] | None = None,
) -> Any:
    """Declare a parameter field with its range, unit, seed source and one-line meaning.

    ``lo`` and ``hi`` are inclusive bounds (what a user may set), ``gt`` an exclusive lower
    bound; ``doc`` also completes the message when a :data:`REQUIRED` key is missing.
    ``plausible`` is the honest range of an assumed value (what the uncertainty analysis
    samples): absolute bounds for a scalar, a multiplicative factor applied to every element
    together for a vector or table field.
    """
    meta = {"lo": lo, "hi": hi, "gt": gt, "unit": unit, "source": source, "choices": choices, "doc": doc,
            "plausible": plausible}
    if plausible is not None:
        check_plausible(default, meta)
    if isinstance(default, Params):
        return field(default_factory=lambda: default, metadata=meta)
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata=meta)
    return field(default=default, metadata=meta)


def _scaled_extremes(value: Any, meta: Mapping[str, Any]) -> Iterator[tuple[str, float, Mapping[str, Any]]]:
    """Every element of a vector or table with the metadata (range) that applies to it."""
    if isinstance(value, Vector):
        for n in value.names:
            yield n, float(getattr(value, n)), meta
        return
    for f in dataclasses.fields(value):
        row = getattr(value, f.name)
        if isinstance(row, Params):
            for n, v, m in _scaled_extremes(row, f.metadata or meta):
                yield f"{f.name}.{n}", v, m


def check_plausible(default: Any, meta: Mapping[str, Any]) -> None:
    """A field's ``plausible`` range must contain its default and lie within its validation bounds.

    A scalar's range is absolute: ``lo <= default <= hi``, both ends allowed values. A vector's or
    table's range is a factor applied to every element together: ``0 < lo <= 1 <= hi``, and every
    element times ``lo`` and times ``hi`` allowed by the range of that element. Raises ValueError:
    a wrong declaration is a programming error, found when the class is defined.
    """
    pl = meta["plausible"]
    if not (isinstance(pl, tuple) and len(pl) == 2 and all(isinstance(x, (int, float)) for x in pl) and pl[0] <= pl[1]):
        raise ValueError(f"plausible must be a pair (lo, hi) of numbers with lo <= hi, got {pl!r}")
    lo, hi = float(pl[0]), float(pl[1])
    if isinstance(default, Params):
        if not 0 < lo <= 1 <= hi:
            raise ValueError(f"plausible factor {pl!r} of a vector or table must satisfy 0 < lo <= 1 <= hi")
        for name, v, m in _scaled_extremes(default, meta):
            for x in (v * lo, v * hi):
                try:
                    _check_range(name, x, m, False)
                except ParameterError as err:
                    raise ValueError(f"plausible factor {pl!r} takes {err.key} out of its range: {err.message}") from None
        return
    if isinstance(default, bool) or not isinstance(default, (int, float)):
        raise ValueError(f"plausible needs a numeric default, got {default!r}")
    if not lo <= default <= hi:
        raise ValueError(f"plausible range {pl!r} does not contain the default {default!r}")
    for x in (lo, hi):
        try:
            _check_range("plausible", x, meta, False)
        except ParameterError as err:
            raise ValueError(f"plausible range {pl!r} is not within the allowed range: {err.message}") from None


# ---------------------------------------------------------------------------------------------
# field kinds: what a field's annotation asks for
# ---------------------------------------------------------------------------------------------
_SCALARS = (bool, int, float, str)


@dataclass(frozen=True)
class _Kind:
    """How one field (or one element of a list or table) is checked."""

    kind: str  # scalar | number | any | params | list | tables | mapping | opaque
    typ: Any = None  # the scalar type or Params subclass; for list and mapping the elements' _Kind
    optional: bool = False

    def expected(self, name: str, meta: Mapping[str, Any]) -> str:
        """What a value of this kind is, with its range, for the message of a missing key."""
        if self.kind == "scalar" and self.typ in (int, float):
            return _expected_number(self.typ is int, meta)
        if self.kind == "scalar":
            return {bool: "true or false", str: "a string"}[self.typ]
        if self.kind == "number":
            return _expected_number(False, meta)
        return {"list": "a list", "tables": f"an array of tables [[{name}]]",
                "any": "a value"}.get(self.kind, "a table")


def _kind_of(typ: Any) -> _Kind:
    origin, args = typing.get_origin(typ), typing.get_args(typ)
    if origin in (typing.Union, types.UnionType):
        rest = tuple(a for a in args if a is not type(None))
        optional = len(rest) < len(args)
        if set(rest) == {int, float}:
            return _Kind("number", optional=optional)
        if len(rest) == 1 and optional:
            return dataclasses.replace(_kind_of(rest[0]), optional=True)
        raise TypeError(f"unsupported parameter type {typ!r}")  # programming error
    if typ is Any:
        return _Kind("any")
    if typ in _SCALARS:
        return _Kind("scalar", typ)
    if isinstance(typ, type) and issubclass(typ, Params):
        return _Kind("params", typ)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        if isinstance(args[0], type) and issubclass(args[0], Params):
            return _Kind("tables", args[0])
        try:
            return _Kind("list", _kind_of(args[0]))
        except TypeError:
            return _Kind("opaque")  # e.g. the scenario's policy specs, validated by their owner
    if origin in (dict, Mapping) and args and args[0] is str:
        return _Kind("mapping", _kind_of(args[1]))
    raise TypeError(f"unsupported parameter type {typ!r}")  # programming error


_PLANS: dict[type, dict[str, tuple[_Kind, Mapping[str, Any]]]] = {}


def _plan(cls: type) -> dict[str, tuple[_Kind, Mapping[str, Any]]]:
    """The kind and metadata of every field of ``cls``, in declaration order (computed once)."""
    plan = _PLANS.get(cls)
    if plan is None:
        hints = typing.get_type_hints(cls)
        plan = _PLANS[cls] = {f.name: (_kind_of(hints[f.name]), f.metadata) for f in dataclasses.fields(cls)}
    return plan


# ---------------------------------------------------------------------------------------------
# checking values
# ---------------------------------------------------------------------------------------------
def _expected_number(integer: bool, meta: Mapping[str, Any], noun: str = "") -> str:
    """What a field allows, range included: ``an integer >= 1``, ``a number in [0.0, 1.0]``, ``a number``.

    ``meta`` is the field's metadata (``lo``, ``hi``, ``gt``); ``noun`` replaces ``an integer`` /
    ``a number`` (``a finite number``).
    """
    noun = noun or ("an integer" if integer else "a number")
    lo, hi, gt = meta.get("lo"), meta.get("hi"), meta.get("gt")
    if lo is not None and hi is not None:
        return f"{noun} in [{lo}, {hi}]"
    if gt is not None:
        return f"{noun} > {gt}" + (f" and <= {hi}" if hi is not None else "")
    if lo is not None:
        return f"{noun} >= {lo}"
    if hi is not None:
        return f"{noun} <= {hi}"
    return noun


#: the largest magnitude of a number whose field declares no upper bound (no parameter needs more; a larger
#: one overflows the model's arithmetic into inf and NaN)
MAX_MAGNITUDE = 1e12


def _check_range(name: str, value: float, meta: Mapping[str, Any], integer: bool) -> None:
    lo, hi, gt = meta.get("lo"), meta.get("hi"), meta.get("gt")
    if hi is None and abs(value) > MAX_MAGNITUDE:
        raise ParameterError(name, f"{value!r} is too large; allowed: at most {MAX_MAGNITUDE:g} in magnitude",
                             value=value, allowed=f"at most {MAX_MAGNITUDE:g} in magnitude")
    if (lo is not None and value < lo) or (hi is not None and value > hi) or (gt is not None and value <= gt):
        allowed = _expected_number(integer, meta)
        raise ParameterError(name, f"{value!r} is out of range; allowed: {allowed}", value=value, allowed=allowed)


def _check_value(name: str, value: Any, typ: Any, meta: Mapping[str, Any]) -> Any:
    """Check one scalar field; return the value converted to its declared type."""
    choices = meta.get("choices")
    if typ is bool:
        if not isinstance(value, (bool, np.bool_)):
            raise ParameterError(name, f"expected true or false, got {value!r}")
        return bool(value)
    if typ is str:
        if not isinstance(value, str):
            raise ParameterError(name, f"expected a string, got {value!r}", value=value, allowed="a string")
        if choices is not None and value not in choices:
            raise ParameterError(name, f"{value!r} is not allowed; allowed: {', '.join(choices)}", value=value)
        if len(value) > MAX_TEXT:
            raise ParameterError(name, f"a string of {len(value):,} characters; allowed: at most {MAX_TEXT:,}",
                                 value=value)
        return value
    if typ in (int, float):
        expected = _expected_number(typ is int, meta)
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ParameterError(name, f"expected {expected}, got {value!r}", value=value, allowed=expected)
        if typ is int:
            if isinstance(value, (float, np.floating)) and not float(value).is_integer():
                raise ParameterError(name, f"expected {expected}, got {value!r}", value=value, allowed=expected)
            value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise ParameterError(name, f"expected {_expected_number(False, meta, 'a finite number')}, got {value!r}",
                                     value=value)
        _check_range(name, value, meta, typ is int)
        return value
    raise TypeError(f"unsupported parameter type {typ!r} for {name}")  # programming error


def _check_number(name: str, value: Any, meta: Mapping[str, Any]) -> int | float:
    """A finite number as written: an integer stays an integer (``int | float`` fields)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ParameterError(name, f"expected {_expected_number(False, meta)}, got {value!r}")
    number: int | float = int(value) if isinstance(value, (int, np.integer)) else float(value)
    if not math.isfinite(number):
        raise ParameterError(name, f"expected {_expected_number(False, meta, 'a finite number')}, got {number!r}")
    _check_range(name, number, meta, False)
    return number


def _check(name: str, value: Any, kind: _Kind, meta: Mapping[str, Any]) -> Any:
    """Check the value of one field of kind ``kind``; return it converted (lists become tuples)."""
    if value is None and kind.optional:
        return None
    k = kind.kind
    if k == "scalar":
        return _check_value(name, value, kind.typ, meta)
    if k == "number":
        return _check_number(name, value, meta)
    if k == "params":
        if not isinstance(value, kind.typ):
            raise ParameterError(name, f"expected a table of {kind.typ.__name__} keys, got {value!r}")
        if isinstance(value, Vector):
            try:
                value.check_elements(meta)
            except ParameterError as err:
                raise err.under(name) from None
        return value
    if k == "list":
        if not isinstance(value, (list, tuple)):
            raise ParameterError(name, f"expected a list, got {value!r}")
        return tuple(_check(f"{name}[{i}]", v, kind.typ, meta) for i, v in enumerate(value))
    if k == "tables":
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, kind.typ) for v in value):
            raise ParameterError(name, f"expected an array of tables [[{name}]], got {value!r}")
        return tuple(value)
    if k == "mapping":
        if not isinstance(value, Mapping):
            raise ParameterError(name, f"expected a table, got {value!r}")
        return {key: _check(f"{name}.{key}", v, kind.typ, meta) for key, v in value.items()}
    return value  # any, opaque


# ---------------------------------------------------------------------------------------------
# building values from plain data
# ---------------------------------------------------------------------------------------------
def _build_table(key: str, value: Any, typ: type[Params], default: Params | None) -> Params:
    """A nested table from plain data; a partial table keeps the keys of ``default`` it does not set."""
    if not isinstance(value, Mapping):
        raise ParameterError(key, f"expected a table with keys {', '.join(typ.field_names())}, got {value!r}")
    try:
        if default is not None:
            unknown = [k for k in value if k not in typ.field_names()]
            if unknown:
                raise unknown_key(typ, str(unknown[0]))
            value = deep_merge(default.to_dict(), value)
        return typ.from_dict(value)
    except ParameterError as err:
        raise err.under(key) from None


def _build(key: str, value: Any, kind: _Kind, f: dataclasses.Field[Any]) -> Any:
    """The value of field ``key`` from plain data: nested tables built, everything else as given."""
    if value is None and kind.optional:
        return None
    if kind.kind == "params":
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        return _build_table(key, value, kind.typ, default if isinstance(default, Params) else None)
    if kind.kind == "tables":
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, Mapping) for v in value):
            raise ParameterError(key, f"expected an array of tables [[{key}]], got {value!r}")
        return tuple(_build_table(f"{key}[{i}]", v, kind.typ, None) for i, v in enumerate(value))
    if kind.kind == "mapping" and kind.typ.kind == "params" and isinstance(value, Mapping):
        return {k: _build_table(f"{key}.{k}", v, kind.typ.typ, None) for k, v in value.items()}
    return value


def unknown_key(typ: type[Params], key: str) -> ParameterError:
    """The error for a key ``typ`` does not have: where it moved (``typ.moved``), else the keys it has."""
    moved = typ.moved.get(key)
    if moved is not None:
        return ParameterError(key, f"this key has moved: set {moved} instead")
    return ParameterError(key, f"unknown key; allowed: {', '.join(sorted(typ.field_names()))}")


@dataclass(frozen=True)
class Params:
    """Base of all parameter sets: frozen, validated on construction, unknown keys rejected."""

    #: keys that used to belong to this table, and the full key that holds them now (a clear error)
    moved: typing.ClassVar[Mapping[str, str]] = {}

    def __post_init__(self) -> None:
        for name, (kind, meta) in _plan(type(self)).items():
            value = getattr(self, name)
            if value is REQUIRED:
                doc = meta.get("doc")
                raise ParameterError(name, f"missing; expected {kind.expected(name, meta)}" + (f" ({doc})" if doc else ""))
            checked = _check(name, value, kind, meta)
            if checked is not value:
                object.__setattr__(self, name, checked)
        self.check()

    def check(self) -> None:
        """Cross-field checks; subclasses override and raise ParameterError."""

    # -- construction from plain data -------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> typing.Self:
        """Build from a (possibly nested) mapping; unknown keys and bad values raise ParameterError."""
        if not isinstance(data, Mapping):
            raise ParameterError("", f"expected a table, got {data!r}")
        plan = _plan(cls)
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key not in fields:
                raise unknown_key(cls, str(key))
            kwargs[key] = _build(key, value, plan[key][0], fields[key])
        try:
            return cls(**kwargs)
        except ParameterError:
            raise
        except TypeError as err:  # pragma: no cover - from_dict checked the keys already
            raise ParameterError("", str(err)) from None

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The names of the fields, in declaration order."""
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
            elif isinstance(value, dict):
                out[f.name] = {k: v.to_dict() if isinstance(v, Params) else v for k, v in value.items()}
            else:
                out[f.name] = value
        return out

    def replace_path(self, path: str, value: Any) -> typing.Self:
        """Return a copy with the parameter at dotted ``path`` set to ``value`` (validated)."""
        head, _, rest = path.partition(".")
        names = self.field_names()
        if head not in names:
            raise unknown_key(type(self), head)
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
        """Check every element against the range in ``meta`` (the holding field's metadata)."""
        for name in self.names:
            _check_value(name, getattr(self, name), float, meta)

    def array(self, dtype: Any = np.float64) -> np.ndarray:
        """The values in vocabulary order."""
        return np.array([getattr(self, n) for n in self.names], dtype=dtype)


def vector_param(cls: type[Vector], values: typing.Sequence[float], **meta: Any) -> Any:
    """Declare a vector-valued parameter field with the given default values."""
    return param(cls(*values), **meta)


# ---------------------------------------------------------------------------------------------
# input files
# ---------------------------------------------------------------------------------------------
def load_table(cls: type[P], data: Mapping[str, Any], source: str, error: type[InputFileError]) -> P:
    """``cls.from_dict(data)`` for the table of file ``source``: a bad key or value raises ``error``."""
    try:
        return cls.from_dict(data)
    except ParameterError as err:
        raise error.of(source, err) from None
