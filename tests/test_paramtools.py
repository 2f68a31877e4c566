"""sim.config.paramtools: frozen, validated parameter dataclasses (types, ranges, choices, nesting, paths)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sim.config.paramtools import REQUIRED, Params, Vector, deep_merge, load_table, param, read_toml, vector_param
from sim.config.vectors import BySeverity, Table
from sim.errors import ParameterError, SweepError


@dataclass(frozen=True)
class Inner(Params):
    """A nested table for the tests."""

    k: int = param(2, lo=0, hi=5, source="test")


@dataclass(frozen=True)
class Grid2(Table):
    """A table of two rows for the tests."""

    rows = ("a", "b")
    a: BySeverity = param(BySeverity(1, 2, 3, 4), lo=0.0, hi=10.0)
    b: BySeverity = param(BySeverity(5, 6, 7, 8), lo=0.0, hi=10.0)


@dataclass(frozen=True)
class Toy(Params):
    """A parameter set exercising every kind of field."""

    n: int = param(3, lo=1, hi=10, source="test")
    x: float = param(0.5, lo=0.0, hi=1.0, source="test")
    flag: bool = param(False, source="test")
    kind: str = param("a", choices=("a", "b"), source="test")
    v: BySeverity = vector_param(BySeverity, (1, 2, 3, 4), lo=1.0, hi=100.0, source="test")
    inner: Inner = param(Inner(), source="test")
    table: Grid2 = param(Grid2(), source="test")

    def check(self) -> None:
        if self.n > 5 and self.flag:
            raise ParameterError("flag", "only allowed with n <= 5")


def test_defaults_validate_and_fields_are_frozen() -> None:
    toy = Toy()
    assert (toy.n, toy.x, toy.flag, toy.kind) == (3, 0.5, False, "a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        toy.n = 4  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        toy.v.big = 9.0  # type: ignore[misc]


@pytest.mark.parametrize(("kwargs", "key", "fragment"), [
    ({"n": 0}, "n", "0 is out of range; allowed: an integer in [1, 10]"),
    ({"n": 11}, "n", "out of range"),
    ({"n": 2.5}, "n", "expected an integer in [1, 10], got 2.5"),
    ({"n": "3"}, "n", "expected an integer in [1, 10], got '3'"),
    ({"n": True}, "n", "expected an integer in [1, 10], got True"),
    ({"x": -0.01}, "x", "allowed: a number in [0.0, 1.0]"),
    ({"x": float("nan")}, "x", "expected a finite number in [0.0, 1.0], got nan"),
    ({"x": False}, "x", "expected a number in [0.0, 1.0], got False"),
    ({"x": None}, "x", "expected a number in [0.0, 1.0], got None"),
    ({"flag": 1}, "flag", "expected true or false, got 1"),
    ({"kind": "c"}, "kind", "'c' is not allowed; allowed: a, b"),
    ({"kind": 1}, "kind", "expected a string"),
    ({"inner": {"k": 1}}, "inner", "expected a table of Inner keys"),
    ({"n": 6, "flag": True}, "flag", "only allowed with n <= 5"),  # cross-field check()
])
def test_bad_values_raise_parameter_error_naming_the_key(kwargs: dict, key: str, fragment: str) -> None:
    with pytest.raises(ParameterError) as info:
        Toy(**kwargs)
    assert info.value.key == key
    assert fragment in info.value.message
    assert str(info.value) == f"{key}: {info.value.message}"
    assert "\n" not in str(info.value)


def test_values_are_converted_to_the_declared_type() -> None:
    toy = Toy(n=4.0, x=1, flag=np.bool_(True))
    assert toy.n == 4 and type(toy.n) is int
    assert toy.x == 1.0 and type(toy.x) is float
    assert toy.flag is True
    toy = Toy(n=np.int64(5), x=np.float32(0.25))
    assert type(toy.n) is int and type(toy.x) is float and toy.x == 0.25


def test_vector_elements_take_the_range_of_the_field_holding_them() -> None:
    with pytest.raises(ParameterError) as info:
        Toy(v=BySeverity(1, 2, 0.5, 4))  # big < lo=1
    assert info.value.key == "v.big"
    assert "allowed: a number in [1.0, 100.0]" in info.value.message
    assert Toy(v=BySeverity(1, 2, 3, 100)).v.array().tolist() == [1, 2, 3, 100]
    # a bare vector carries no range of its own
    assert BySeverity(-5, 0, 0, 0).trivial == -5


def test_table_rows_are_range_checked() -> None:
    with pytest.raises(ParameterError) as info:
        Toy.from_dict({"table": {"b": {"trivial": 1, "small": 2, "big": 11, "major": 1}}})
    assert info.value.key == "table.b.big"
    np.testing.assert_array_equal(Grid2().matrix(), [[1, 2, 3, 4], [5, 6, 7, 8]])


def test_from_dict_nested_and_errors_carry_dotted_keys() -> None:
    toy = Toy.from_dict({"n": 7, "inner": {"k": 4}, "v": {"trivial": 2, "small": 3, "big": 4, "major": 5}})
    assert toy.n == 7 and toy.inner.k == 4 and toy.v.array().tolist() == [2, 3, 4, 5]
    cases = [
        ({"nn": 1}, "nn", "unknown key; allowed: flag, inner, kind, n, table, v, x"),
        ({"inner": {"kk": 1}}, "inner.kk", "unknown key; allowed: k"),
        ({"inner": {"k": 9}}, "inner.k", "allowed: an integer in [0, 5]"),
        ({"inner": 3}, "inner", "expected a table with keys k, got 3"),
        ({"v": {"huge": 1}}, "v.huge", "unknown key"),
    ]
    for data, key, fragment in cases:
        with pytest.raises(ParameterError) as info:
            Toy.from_dict(data)
        assert info.value.key == key, data
        assert fragment in info.value.message, (data, info.value.message)
    with pytest.raises(ParameterError):
        Toy.from_dict([("n", 1)])  # type: ignore[arg-type]


def test_to_dict_from_dict_round_trip() -> None:
    toy = Toy(n=2, x=0.25, flag=True, kind="b", v=BySeverity(5, 6, 7, 8), inner=Inner(k=1))
    data = toy.to_dict()
    assert data["v"] == {"trivial": 5.0, "small": 6.0, "big": 7.0, "major": 8.0}
    assert data["inner"] == {"k": 1}
    assert data["table"]["a"]["major"] == 4.0
    assert Toy.from_dict(data) == toy


def test_parameter_error_under_prefixes_the_key() -> None:
    err = ParameterError("n", "bad")
    assert err.under("world").key == "world.n"
    assert err.under("").key == "n"
    assert ParameterError("", "bad").under("world").key == "world"
    assert str(err.under("a.b")) == "a.b.n: bad"


def test_param_metadata_is_recorded() -> None:
    f = {f.name: f for f in dataclasses.fields(Toy)}
    assert f["n"].metadata["lo"] == 1 and f["n"].metadata["hi"] == 10
    assert f["kind"].metadata["choices"] == ("a", "b")
    assert all(f[name].metadata["source"] == "test" for name in f)


def test_get_path_and_replace_path() -> None:
    toy = Toy()
    assert toy.get_path("inner.k") == 2
    assert toy.get_path("v.big") == 3.0
    new = toy.replace_path("inner.k", 5)
    assert new.inner.k == 5 and toy.inner.k == 2  # a copy; the original is unchanged
    assert toy.replace_path("v.major", 50.0).v.major == 50.0
    with pytest.raises(ParameterError) as info:
        toy.get_path("inner.kk")
    assert info.value.key == "inner.kk"
    with pytest.raises(ParameterError) as info:
        toy.replace_path("nn", 1)
    assert info.value.key == "nn"
    with pytest.raises(ParameterError) as info:
        toy.replace_path("inner.k", 9)
    assert "out of range" in info.value.message


def test_replace_path_error_names_the_dotted_key_once() -> None:
    with pytest.raises(ParameterError) as info:
        Toy().replace_path("inner.k", 9)
    assert info.value.key == "inner.k"
    with pytest.raises(ParameterError) as info:
        Toy().replace_path("n", 0)
    assert info.value.key == "n"


def test_vector_array_is_in_vocabulary_order() -> None:
    v = BySeverity(major=4, big=3, small=2, trivial=1)
    assert v.array().tolist() == [1.0, 2.0, 3.0, 4.0]
    assert v.array(np.float32).dtype == np.float32
    assert issubclass(BySeverity, Vector)


def test_partial_tables_keep_the_fields_defaults() -> None:
    toy = Toy.from_dict({"v": {"big": 50}, "table": {"b": {"small": 9}}, "inner": {}})
    assert toy.v.array().tolist() == [1.0, 2.0, 50.0, 4.0]
    np.testing.assert_array_equal(toy.table.matrix(), [[1, 2, 3, 4], [5, 9, 7, 8]])
    assert toy.inner == Inner()


# ---------------------------------------------------------------------------------------------
# the field kinds of input files (sweeps, calibrations): required keys, numbers as written,
# optional values, lists, arrays of tables and free-form tables
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row(Params):
    """One row of an array of tables, or one entry of a free-form table."""

    low: int | float = param(REQUIRED, doc="the lower bound")
    high: int | float | None = param(None, gt=0.0)


@dataclass(frozen=True)
class FileLike(Params):
    """A file's top-level table exercising every input-file kind."""

    path: str = param(REQUIRED, doc="a path")
    size: int | None = param(None, lo=1)
    names: tuple[str, ...] = param((), choices=("a", "b", "c"))
    anything: tuple[Any, ...] | None = param(None)
    rows: tuple[Row, ...] = param(())
    table: dict[str, Row] = param({})
    plain: dict[str, Any] = param({})
    counts: dict[str, int] = param({}, lo=0)


def test_input_file_kinds_build_from_plain_data() -> None:
    f = FileLike.from_dict({"path": "x", "names": ["a", "c"], "anything": [1, "b", [2]],
                            "rows": [{"low": 1}, {"low": 0.5, "high": 2}],
                            "table": {"world.n_streets": {"low": 2, "high": 3.5}},
                            "plain": {"a.b": [1, 2]}, "counts": {"k": 2.0}})
    assert f.size is None and f.names == ("a", "c") and f.anything == (1, "b", [2])
    assert f.rows == (Row(1), Row(0.5, 2)) and type(f.rows[0].low) is int and type(f.rows[1].low) is float
    assert f.table == {"world.n_streets": Row(2, 3.5)} and f.plain == {"a.b": [1, 2]}
    assert f.counts == {"k": 2} and type(f.counts["k"]) is int
    assert f.to_dict()["rows"] == [{"low": 1, "high": None}, {"low": 0.5, "high": 2}]
    assert f.to_dict()["table"] == {"world.n_streets": {"low": 2, "high": 3.5}}
    assert FileLike.from_dict({"path": "x", "table": {}}).table == {}
    assert FileLike(path="y").table is not FileLike(path="z").table  # a fresh dict per instance


@pytest.mark.parametrize(("data", "key", "message"), [
    ({}, "path", "missing; expected a string (a path)"),
    ({"path": "x", "size": 0}, "size", "0 is out of range; allowed: an integer >= 1"),
    ({"path": "x", "names": "a"}, "names", "expected a list, got 'a'"),
    ({"path": "x", "names": ["a", "d"]}, "names[1]", "'d' is not allowed; allowed: a, b, c"),
    ({"path": "x", "rows": {"low": 1}}, "rows", "expected an array of tables [[rows]], got {'low': 1}"),
    ({"path": "x", "rows": [{"low": 1}, {}]}, "rows[1].low", "missing; expected a number (the lower bound)"),
    ({"path": "x", "rows": [{"low": 1, "hgh": 2}]}, "rows[0].hgh", "unknown key; allowed: high, low"),
    ({"path": "x", "rows": [{"low": float("inf")}]}, "rows[0].low", "expected a finite number, got inf"),
    ({"path": "x", "rows": [{"low": True}]}, "rows[0].low", "expected a number, got True"),
    ({"path": "x", "rows": [{"low": 1, "high": 0}]}, "rows[0].high", "0 is out of range; allowed: a number > 0.0"),
    ({"path": "x", "table": {"a.b": 3}}, "table.a.b", "expected a table with keys low, high, got 3"),
    ({"path": "x", "table": {"a.b": {"low": "1"}}}, "table.a.b.low", "expected a number, got '1'"),
    ({"path": "x", "table": 3}, "table", "expected a table, got 3"),
    ({"path": "x", "counts": {"k": -1}}, "counts.k", "-1 is out of range; allowed: an integer >= 0"),
])
def test_input_file_kinds_name_the_dotted_key(data: dict, key: str, message: str) -> None:
    with pytest.raises(ParameterError) as info:
        FileLike.from_dict(data)
    assert (info.value.key, info.value.message) == (key, message)


def test_deep_merge_merges_nested_tables_and_changes_neither_input() -> None:
    base = {"a": {"x": 1, "y": {"z": 2}}, "b": [1]}
    top = {"a": {"y": {"w": 3}}, "b": [2], "c": {"d": 4}}
    assert deep_merge(base, top) == {"a": {"x": 1, "y": {"z": 2, "w": 3}}, "b": [2], "c": {"d": 4}}
    assert base == {"a": {"x": 1, "y": {"z": 2}}, "b": [1]} and top["a"] == {"y": {"w": 3}}


def test_read_toml_and_load_table_raise_the_files_error(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('path = "p"\n[[rows]]\nlow = 1\n', encoding="utf-8")
    assert load_table(FileLike, read_toml(good, "test", SweepError), str(good), SweepError).rows == (Row(1),)
    bad = tmp_path / "bad.toml"
    bad.write_text("path = [\n", encoding="utf-8")
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'path = "\xe4"\n')
    cases = [(tmp_path / "none.toml", "", "no such test file"), (bad, "", "not valid TOML ("),
             (tmp_path, "", "a directory; allowed: a test file"), (latin, "", "not UTF-8 text (byte 0xe4 at position 8)")]
    for path, key, message in cases:
        with pytest.raises(SweepError) as info:
            read_toml(path, "test", SweepError)
        assert info.value.source == str(path) and info.value.key == key and info.value.message.startswith(message)
    with pytest.raises(SweepError) as info:
        load_table(FileLike, {"rows": [{"low": 1, "high": -1}]}, "f.toml", SweepError)
    assert str(info.value) == "f.toml: rows[0].high: -1 is out of range; allowed: a number > 0.0"
