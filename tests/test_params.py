"""sim.config.params: the model's parameter dataclasses: defaults valid, frozen, every value sourced."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterator

import pytest

from sim import policies
from sim.config.parameter_table import iter_parameters, parameter_table
from sim.config.params import EntryLevel, WorldParams
from sim.config.paramtools import Params, Vector
from sim.config.taxonomy import LEVELS, SEVERITIES
from sim.config.vectors import ByCompoundType, Table
from sim.core.scenario import Scenario
from sim.errors import ParameterError


def params_classes() -> list[tuple[str, type[Params]]]:
    """The Scenario class and every registered policy's parameter class, with their dotted prefixes."""
    return [("", Scenario)] + [(f"policies.{n}.", policies.get(n).Params) for n in policies.available()]


def walk(cls: type[Params], prefix: str, inherited: str) -> Iterator[tuple[str, dataclasses.Field, str, bool]]:
    """Yield (dotted key, field, source inherited from the enclosing field, is_nested) for every
    field except the tuple of policy specs (policies have their own classes, walked separately)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        typ = hints[f.name]
        if typing.get_origin(typ) is tuple:
            continue
        nested = isinstance(typ, type) and issubclass(typ, Params)
        yield prefix + f.name, f, inherited, nested
        if nested:
            own = (f.metadata or {}).get("source") or ""
            yield from walk(typ, f"{prefix}{f.name}.", own or inherited)


@pytest.mark.parametrize(("prefix", "cls"), params_classes(), ids=lambda x: getattr(x, "__name__", x) or "Scenario")
def test_every_parameter_has_a_source(prefix: str, cls: type[Params]) -> None:
    """Each scalar field names its seed source in its metadata, or is an element of a vector/table
    whose enclosing field does (elements inherit the source, as ``govsim params`` shows)."""
    missing = []
    n_scalars = 0
    for key, f, inherited, nested in walk(cls, prefix, ""):
        if nested:
            continue
        n_scalars += 1
        if not (f.metadata or {}).get("source") and not inherited:
            missing.append(key)
    assert n_scalars > 0
    assert missing == [], f"parameters without a source: {missing}"


def test_top_level_scalars_and_tables_name_their_source() -> None:
    """Every field of every section (``world.*``, ``handling.*``, ...) has its own source; only
    vector elements and table rows rely on the field that holds them."""
    missing = []
    for section in dataclasses.fields(Scenario):
        typ = typing.get_type_hints(Scenario)[section.name]
        if not (isinstance(typ, type) and issubclass(typ, Params)):
            continue
        for f in dataclasses.fields(typ):
            if not (f.metadata or {}).get("source"):
                missing.append(f"{section.name}.{f.name}")
    assert missing == []


def test_parameter_table_lists_every_scalar_with_a_source() -> None:
    rows = list(iter_parameters(Scenario()))
    keys = [r["key"] for r in rows]
    assert len(keys) == len(set(keys))
    assert [r["key"] for r in rows if not r["source"]] == []
    # every scalar reachable from Scenario is listed, and its default is the dataclass default
    sc = Scenario()
    for r in rows:
        assert sc.get_path(r["key"]) == r["default"]
    scalars = [k for k, _, _, nested in walk(Scenario, "", "") if not nested]
    assert sorted(keys) == sorted(scalars)
    table = parameter_table(Scenario())
    assert "`world.n_streets`" in table and "`handling.entry_level.big`" in table


def all_instances(obj: Params, key: str = "") -> Iterator[tuple[str, Params]]:
    yield key or type(obj).__name__, obj
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, Params):
            yield from all_instances(value, f"{key}.{f.name}" if key else f.name)


def test_defaults_pass_validation_and_every_table_is_frozen() -> None:
    sc = Scenario()
    assert Scenario.from_dict(sc.to_dict()) == sc  # defaults re-validate
    for _, cls in params_classes():
        cls()  # defaults construct (and so validate)
    n = 0
    for _key, obj in all_instances(sc):
        first = dataclasses.fields(obj)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, first, getattr(obj, first))
        n += 1
    assert n > 20


def test_vector_defaults_lie_in_the_range_of_their_field() -> None:
    """Defaults of vector elements are within the lo/hi of the field holding the vector."""
    bad = []
    for key, f, _, _nested in walk(Scenario, "", ""):
        meta = f.metadata or {}
        default = Scenario().get_path(key)
        if isinstance(default, Vector):
            for name in default.names:
                v = getattr(default, name)
                if (meta.get("lo") is not None and v < meta["lo"]) or (meta.get("hi") is not None and v > meta["hi"]):
                    bad.append(f"{key}.{name}")
    assert bad == []


def test_world_cross_checks() -> None:
    with pytest.raises(ParameterError) as info:
        WorldParams(p_compound_type=ByCompoundType(0.5, 0.5, 0.5))
    assert info.value.key == "p_compound_type" and "sum to 1" in info.value.message
    with pytest.raises(ParameterError) as info:
        WorldParams(p_elderly=ByCompoundType(0.35, 0.95, 0.1))
    assert info.value.key == "p_elderly.mature"


def test_entry_level_codes_follow_the_vocabulary() -> None:
    e = EntryLevel(trivial="grid", small="street", big="city", major="community")
    assert e.codes().tolist() == [LEVELS.index(x) for x in ("grid", "street", "city", "community")]
    assert len(e.codes()) == len(SEVERITIES)


def test_every_table_has_one_field_per_row_in_vocabulary_order() -> None:
    """A Table's fields are its rows, in order (``matrix()`` stacks them by ``rows``)."""
    from sim.config import params

    tables = [v for v in vars(params).values() if isinstance(v, type) and issubclass(v, Table) and v is not Table]
    assert {t.__name__ for t in tables} == {"Authority", "CategoryMultByCompound", "CategoryWeightsByGroup",
                                           "SeverityByCategory"}
    for t in tables:
        assert t.field_names() == t.rows, t.__name__
        assert t().matrix().shape == (len(t.rows), len(getattr(t(), t.rows[0]).names))
