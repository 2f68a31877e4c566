"""sim.core.scenario: loading and validating scenario files, extends, overrides, hashing, TOML output."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from helpers import BASELINE, write

from sim import Scenario, ScenarioError, load_scenario
from sim.config.params import ProblemParams, RunParams, WorldParams
from sim.config.taxonomy import LEVELS
from sim.errors import ParameterError


def field_range(cls: type, name: str) -> tuple[Any, Any]:
    meta = {f.name: f for f in dataclasses.fields(cls)}[name].metadata
    return meta["lo"], meta["hi"]


# ---- validation errors -----------------------------------------------------------------------------
LO, HI = field_range(WorldParams, "n_compounds_per_community")
STREETS = "an integer in [{}, {}]".format(*field_range(WorldParams, "n_streets"))
RATE = "a number in [{}, {}]".format(*field_range(ProblemParams, "rate_arise"))
STEPS = "an integer in [{}, {}]".format(*field_range(RunParams, "n_steps"))

#: (file text, dotted key, fragments the message must contain: what is wrong / what is allowed)
BAD_FILES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "unknown_top_level_key": ('n_streets = 1\n', "n_streets", ("unknown key; allowed:", "world", "handling")),
    "unknown_nested_key": ('[world]\nn_strets = 1\n', "world.n_strets", ("unknown key; allowed:", "n_streets")),
    "unknown_vector_element": ('[problems.dur_patience]\nhuge = 3\n', "problems.dur_patience.huge",
                               ("unknown key; allowed: big, major, small, trivial",)),
    "string_for_int": ('[world]\nn_streets = "2"\n', "world.n_streets", (f"expected {STREETS}, got '2'",)),
    "float_for_int": ('[world]\nn_streets = 1.5\n', "world.n_streets", (f"expected {STREETS}, got 1.5",)),
    "bool_for_number": ('[problems]\nrate_arise = true\n', "problems.rate_arise", (f"expected {RATE}, got True",)),
    "bool_for_int": ('[run]\nn_steps = false\n', "run.n_steps", (f"expected {STEPS}, got False",)),
    "number_for_bool": ('[handling]\nadmin_to_department = 1\n', "handling.admin_to_department",
                        ("expected true or false",)),
    "negative_count": ('[world]\nn_compounds_per_community = -3\n', "world.n_compounds_per_community",
                       ("-3 is out of range", f"allowed: an integer in [{LO}, {HI}]")),
    "probability_above_one": ('[party]\np_find_on_contact = 1.5\n', "party.p_find_on_contact",
                              ("1.5 is out of range", "allowed: a number in [0.0, 1.0]")),
    "probability_in_vector": ('[problems.rate_self_report]\nbig = -0.1\n', "problems.rate_self_report.big",
                              ("out of range", "[0.0, 1.0]")),
    "authority_table": ('[handling.authority.street]\nsafety = 2.0\n', "handling.authority.street.safety",
                        ("out of range", "[0.0, 1.0]")),
    "shares_not_summing_to_one": ('[world.p_compound_type]\nold = 0.5\nmature = 0.4\nnew = 0.3\n',
                                  "world.p_compound_type", ("must sum to 1", "1.2")),
    "table_expected": ('world = 3\n', "world", ("expected a table",)),
    "unknown_policy": ('[policies.telepathy]\nstrength = 1\n', "policies.telepathy",
                       ("unknown policy", "allowed:", "grid", "whistle")),
    "unknown_policy_parameter": ('[policies.whistle]\ndeadline_streets = 3\n', "policies.whistle.deadline_streets",
                                 ("unknown key; allowed:", "deadline_street")),
    "bad_policy_value": ('[policies.whistle]\ndeadline_street = 0\n', "policies.whistle.deadline_street",
                         ("out of range",)),
    "unknown_entry_level": ('[handling.entry_level]\nbig = "mayor"\n', "handling.entry_level.big",
                            ("'mayor' is not allowed; allowed: " + ", ".join(LEVELS),)),
    "top_level_below_community": ('[handling]\ntop_level = "grid"\n', "handling.top_level",
                                  ("allowed: community, street, department, city",)),
    "extends_not_a_string": ('extends = 3\n', "extends", ("expected a path",)),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_scenario_file_names_file_key_and_what_is_allowed(tmp_path: Path, case: str) -> None:
    text, key, fragments = BAD_FILES[case]
    path = write(tmp_path / f"{case}.toml", text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    err = info.value
    msg = str(err)
    assert "\n" not in msg
    assert err.key == key
    assert msg.startswith(f"{path}: {key}: "), msg
    for fragment in fragments:
        assert fragment in msg, (fragment, msg)


def test_invalid_toml_names_file_and_position(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.toml", 'name = "x"\n[world\nn_streets = 1\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: ") and "not valid TOML" in msg and "line 2" in msg


def test_missing_scenario_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(path) in str(info.value) and "no such scenario file" in str(info.value)


def test_a_file_that_is_not_utf8_names_the_byte_and_its_position(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('name = "Stra\u00dfe"\n'.encode("latin-1"))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert (info.value.source, info.value.key) == (str(path), "")
    assert info.value.message == "not UTF-8 text (byte 0xdf at position 12); allowed: a UTF-8 text file"


def test_govsim_run_of_a_file_that_is_not_utf8_exits_2_with_one_line(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from sim.cli import main

    path = tmp_path / "latin1.toml"
    path.write_bytes(b"name = \"caf\xe9\"\n")
    db = tmp_path / "x.db"
    assert main(["run", str(path), "--steps", "5", "--db", f"sqlite:///{db}"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"govsim: error: {path}: not UTF-8 text (byte 0xe9 at position 11); allowed: a UTF-8 text file\n"
    assert not db.exists()


def test_circular_extends(tmp_path: Path) -> None:
    a = write(tmp_path / "a.toml", 'extends = "b.toml"\nname = "a"\n')
    write(tmp_path / "b.toml", 'extends = "a.toml"\nname = "b"\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(a)
    assert info.value.key == "extends"
    assert "circular" in str(info.value) and str(a) in str(info.value)
    me = write(tmp_path / "me.toml", 'extends = "me.toml"\n')
    with pytest.raises(ScenarioError, match="circular"):
        load_scenario(me)


def test_extends_to_a_missing_file_raises_scenario_error(tmp_path: Path) -> None:
    write(tmp_path / "child.toml", 'extends = "missing.toml"\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path / "child.toml")
    assert "missing.toml" in str(info.value) and "\n" not in str(info.value)


def test_extends_to_a_missing_file_names_the_extending_file_and_key(tmp_path: Path) -> None:
    child = write(tmp_path / "child.toml", 'extends = "missing.toml"\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(child)
    assert info.value.key == "extends"
    assert str(child) in str(info.value) and "missing.toml" in str(info.value)


def test_overrides_errors_name_the_file_and_key() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(BASELINE, {"community.n_staff_per_10k": -1.0})
    assert info.value.key == "community.n_staff_per_10k" and str(BASELINE) in str(info.value)
    with pytest.raises(ScenarioError) as info:
        load_scenario(BASELINE, {"community.n_staf_per_10k": 1.0})
    assert info.value.key == "community.n_staf_per_10k"


# ---- extends and defaults -------------------------------------------------------------------------
def test_extends_overrides_only_what_is_written(tmp_path: Path) -> None:
    base = load_scenario(BASELINE)
    child = write(tmp_path / "sub" / "child.toml",
                  f'extends = "{Path("..") / "base.toml"}"\nname = "child"\n'
                  '[community]\nn_staff_per_10k = 30.0\n[world.p_compound_type]\nold = 0.5\nmature = 0.2\n')
    write(tmp_path / "base.toml", BASELINE.read_text(encoding="utf-8"))
    sc = load_scenario(child)
    assert sc.name == "child"
    assert sc.community.n_staff_per_10k == 30.0
    assert sc.world.p_compound_type.array().tolist() == [0.5, 0.2, base.world.p_compound_type.new]
    expected = base.with_overrides({"name": "child", "community.n_staff_per_10k": 30.0,
                                    "world.p_compound_type.old": 0.5, "world.p_compound_type.mature": 0.2})
    assert sc == expected


def test_extends_chains_of_three(tmp_path: Path) -> None:
    write(tmp_path / "a.toml", '[world]\nn_streets = 2\nn_communities_per_street = 3\n')
    write(tmp_path / "b.toml", 'extends = "a.toml"\n[world]\nn_communities_per_street = 5\n')
    c = write(tmp_path / "c.toml", 'extends = "b.toml"\nname = "c"\n')
    sc = load_scenario(c)
    assert (sc.world.n_streets, sc.world.n_communities_per_street, sc.name) == (2, 5, "c")


def test_partial_vector_table_keeps_other_defaults(tmp_path: Path) -> None:
    """A vector table that sets some elements keeps the defaults of the others (was: zeros)."""
    default = Scenario().handling.severity_mult
    path = write(tmp_path / "x.toml", f'extends = "{BASELINE}"\n[handling.severity_mult]\nbig = 0.5\n')
    sc = load_scenario(path)
    assert sc.handling.severity_mult.big == 0.5
    assert sc.handling.severity_mult.trivial == default.trivial
    assert sc.handling.severity_mult.major == default.major


def test_vector_example_from_docs_loads(tmp_path: Path) -> None:
    path = write(tmp_path / "x.toml", '[problems.dur_patience]\nbig = 60\n')
    sc = load_scenario(path)
    assert sc.problems.dur_patience.big == 60
    assert sc.problems.dur_patience.trivial == Scenario().problems.dur_patience.trivial


def test_baseline_loads_and_passes_validation() -> None:
    sc = load_scenario(BASELINE)
    assert sc.name == "baseline"
    assert sc.policies == ()
    assert sc.policy("whistle") is None


def test_float_with_integral_value_is_accepted_as_int(tmp_path: Path) -> None:
    """Documented leniency: an integral float (from a sweep) is converted to int."""
    sc = load_scenario(write(tmp_path / "x.toml", '[world]\nn_streets = 2.0\n'))
    assert sc.world.n_streets == 2 and type(sc.world.n_streets) is int


# ---- overrides ------------------------------------------------------------------------------------
def test_with_overrides_validates_and_names_the_dotted_key() -> None:
    sc = Scenario().with_overrides({"policies.whistle.enabled": True})
    cases = {
        "world.n_streets": (0, "world.n_streets", "out of range"),
        "party.p_find_on_contact": (1.01, "party.p_find_on_contact", "[0.0, 1.0]"),
        "handling.entry_level.small": ("boss", "handling.entry_level.small", "allowed:"),
        "problems.dur_patience.big": (0.5, "problems.dur_patience.big", "out of range"),
        "world.p_compound_type.old": (0.9, "world.p_compound_type", "sum to 1"),
        "world.n_strets": (1, "world.n_strets", "no such parameter"),
        "worlds.n_streets": (1, "worlds.n_streets", "no such parameter"),
        "policies.whistle.deadline_street": (-1.0, "policies.whistle.deadline_street", "out of range"),
        "policies.whistle.nope": (1.0, "policies.whistle.nope", "unknown key"),
        "policies.nope.x": (1.0, "policies.nope", "unknown policy"),
    }
    for path, (value, key, fragment) in cases.items():
        with pytest.raises(ParameterError) as info:
            sc.with_overrides({path: value})
        assert info.value.key == key, (path, info.value)
        assert fragment in info.value.message, (path, info.value)


def test_with_overrides_returns_a_new_scenario() -> None:
    sc = Scenario()
    new = sc.with_overrides({"community.n_staff_per_10k": 30.0, "handling.authority.street.safety": 0.9,
                             "policies.whistle.deadline_street": 9.0, "policies.whistle.enabled": True})
    assert new.community.n_staff_per_10k == 30.0 and sc.community.n_staff_per_10k != 30.0
    assert new.handling.authority.street.safety == 0.9
    assert new.policy("whistle").deadline_street == 9.0 and sc.policy("whistle") is None
    # everything not overridden is unchanged
    assert dataclasses.replace(new, community=sc.community, handling=sc.handling, policies=()) == sc
    with pytest.raises(dataclasses.FrozenInstanceError):
        new.name = "x"  # type: ignore[misc]


def test_policy_enabled_with_defaults() -> None:
    sc = Scenario().with_overrides({"policies.whistle": {}})
    assert [p.name for p in sc.policies] == ["whistle"]
    assert sc.policy("whistle") == type(sc.policy("whistle"))()


def test_to_dict_from_dict_round_trip_with_policies() -> None:
    sc = Scenario().with_overrides({"name": "x", "world.n_streets": 2, "policies.grid.n_workers_per_grid": 2.0,
                                    "policies.grid.enabled": True, "policies.whistle": {},
                                    "policies.alliance.enabled": False})
    assert [p.name for p in sc.policies] == ["grid", "whistle"] and [p.name for p in sc.policies_off] == ["alliance"]
    again = Scenario.from_dict(sc.to_dict())
    assert again == sc
    assert again.content_hash() == sc.content_hash()


def test_to_toml_round_trip(tmp_path: Path) -> None:
    for sc in (load_scenario(BASELINE),
               Scenario().with_overrides({"description": 'quotes " and 中文', "policies.whistle.city_level": False,
                                          "policies.grid.n_workers_per_grid": 1.5, "policies.whistle.enabled": True,
                                          "policies.grid.enabled": True, "reform.start_day": 30}),
               Scenario().with_overrides({"policies.grid": {"enabled": False, "n_workers_per_grid": 3.0}})):
        path = write(tmp_path / "full.toml", sc.to_toml())
        assert load_scenario(path) == sc


# ---- content hash ---------------------------------------------------------------------------------
def test_content_hash_is_stable_and_ignores_the_seed() -> None:
    a, b = Scenario(), Scenario()
    assert a.content_hash() == b.content_hash()
    assert len(a.content_hash()) == 64 and int(a.content_hash(), 16) >= 0
    assert a.with_overrides({"run.seed": 99}).content_hash() == a.content_hash()
    assert load_scenario(BASELINE).content_hash() == load_scenario(BASELINE).content_hash()


@pytest.mark.parametrize(("key", "value"), [
    ("name", "other"),
    ("run.n_steps", 100),
    ("run.record_every", 2),
    ("world.n_streets", 2),
    ("world.p_compound_type.old", 0.2),
    ("problems.rate_arise", 0.01),
    ("handling.authority.city.admin", 0.5),
    ("handling.entry_level.trivial", "community"),
    ("community.n_staff_per_10k", 19.0),
    ("residents.rate_trust", 0.02),
    ("policies.whistle", {}),
])
def test_content_hash_changes_with_any_parameter(key: str, value: Any) -> None:
    base = Scenario()
    overrides = {key: value}
    if key == "world.p_compound_type.old":
        overrides["world.p_compound_type.mature"] = 0.5
    assert base.with_overrides(overrides).content_hash() != base.content_hash()


def test_content_hash_changes_with_policy_parameters() -> None:
    a = Scenario().with_overrides({"policies.whistle": {}})
    b = Scenario().with_overrides({"policies.whistle.enabled": True, "policies.whistle.deadline_street": 16.0})
    assert a.content_hash() != b.content_hash()
