"""A fuzzer of govsim's inputs (issue 15): malformed scenario, sweep and calibration files, ``--set``
values, numeric flags, database URLs and ids, run through ``govsim`` in this process.

Every case must end in exit 0 with valid output or exit 2 with one line, within a time and memory
limit, leaving no file behind (tests/fuzzing.py). Two profiles of the same strategies:

* fast (these ``test_fuzz_*``, in every pytest run): about 300 cases, derandomized, well under a minute;
* long (``test_fuzz_long_*``, marker ``fuzz_long``, deselected by default): >= 5,000 cases::

      pytest -m fuzz_long tests/test_fuzz.py -p no:cacheprovider -s -n0   # prints the counts by input kind
      GOVSIM_FUZZ_EXAMPLES=3000 pytest -m fuzz_long ...                # more cases per input kind
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from fuzzing import COUNTS, case_dir, run_case
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FAST = settings(max_examples=45, derandomize=True, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))
#: cases per input kind of the long profile (7 kinds: 5,040 by default); GOVSIM_FUZZ_EXAMPLES sets it
LONG = settings(max_examples=int(os.environ.get("GOVSIM_FUZZ_EXAMPLES", "720")), derandomize=False, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))

# ---- values ------------------------------------------------------------------------------------
NASTY_TEXT = st.sampled_from(["", " ", "\n", "a\nb", "../../x", "/etc/passwd", "x" * 300, "\x00", "名字", "\ud7ff",
                              "compare:../../y", "'; DROP TABLE runs; --", "\"quoted\"", "a\tb", "C:\\x"])
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 2**31, 2**63 - 1, 2**63, 2**64, 10**18, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 1e-308, 0.5, 1.5, float("inf"), float("nan")]),
)
SCALARS = st.one_of(NUMBERS, st.booleans(), NASTY_TEXT, st.text(max_size=30))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=8)
SCENARIO_KEYS = ["name", "description", "run.n_steps", "run.seed", "run.record_every", "world.n_streets",
                 "world.n_communities_per_street", "world.n_compounds_per_community", "world.p_party_member",
                 "world.n_residents_per_household.old", "problems.rate_arise", "handling.authority", "costs",
                 "reform.start_day", "reform.dur_warmup", "policies.grid.households_per_grid",
                 "policies.alliance.n_units", "policies.nope.x", "policies.grid.enabled", "unknown", "run", "world",
                 "costs.pay_grid_worker", "handling.capacity_street_per_10k", "residents.init_concentration",
                 "handling.effort.big", "policies.alliance.dur_needs_list", "problems.dur_patience.small"]


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        *head, last = key.split(".")
        for part in head:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[last] = value
    return out


def _toml(data: dict[str, Any]) -> bytes:
    try:
        return tomli_w.dumps(data).encode("utf-8", "surrogatepass")
    except (TypeError, ValueError):
        return repr(data).encode("utf-8", "surrogatepass")


@st.composite
def scenario_files(draw: st.DrawFn) -> bytes:
    """Bytes of a scenario file: structured (keys near the real ones) or raw."""
    kind = draw(st.sampled_from(["structured", "structured", "structured", "raw", "deep", "text"]))
    if kind == "raw":
        return draw(st.binary(max_size=200))
    if kind == "text":
        return draw(st.text(max_size=200)).encode("utf-8", "surrogatepass")
    if kind == "deep":
        n = draw(st.integers(min_value=10, max_value=5000))
        bracket = draw(st.sampled_from(["[", "{a="]))
        close = "]" if bracket == "[" else "}"
        return f"a = {bracket * n}1{close * n}\n".encode()
    flat = draw(st.dictionaries(st.sampled_from(SCENARIO_KEYS), VALUES, max_size=4))
    data = _nest(flat)
    if draw(st.booleans()):
        data["extends"] = draw(st.sampled_from(["tiny.toml", "tiny.toml", "case.toml", "missing.toml", "/dev/zero",
                                                ".", 3, "../../../../etc/passwd"]))
    return _toml(data)


def _write_special(root: Path, name: str, special: str, content: bytes) -> str:
    """The input as a file, or a special path: a FIFO, /dev/zero, a directory, a long extends chain."""
    path = root / name
    if special == "fifo":
        os.mkfifo(path)
    elif special == "devzero":
        return "/dev/zero"
    elif special == "directory":
        path.mkdir()
    elif special == "chain":
        n = len(content) % 40 + 2
        for i in range(n):
            parent = "tiny.toml" if i == 0 else f"c{i - 1}.toml"
            (root / f"c{i}.toml").write_text(f'extends = "{parent}"\n', encoding="utf-8")
        path.write_text(f'extends = "c{n - 1}.toml"\n', encoding="utf-8")
    else:
        path.write_bytes(content)
    return name


SPECIALS = st.sampled_from(["file"] * 12 + ["fifo", "devzero", "directory", "chain"])


def _scenario_case(content: bytes, special: str) -> None:
    with case_dir() as root:
        name = _write_special(root, "case.toml", special, content)
        run_case("scenario", root, ["run", name, "--json", "--quiet", "--db", "sqlite:///out.db"])


# ---- sweep files -------------------------------------------------------------------------------
FACTOR = st.one_of(
    st.fixed_dictionaries({"low": NUMBERS, "high": NUMBERS}),
    st.fixed_dictionaries({"choices": st.lists(SCALARS, max_size=4)}),
    st.fixed_dictionaries({"low": NUMBERS, "high": NUMBERS, "levels": NUMBERS}),
    VALUES,
)
FACTOR_KEYS = st.sampled_from(["problems.rate_arise", "world.n_streets", "policies.grid.households_per_grid",
                               "run.n_steps", "nope.key", "", "policies.alliance.n_units", "handling.authority"])


@st.composite
def sweep_files(draw: st.DrawFn) -> bytes:
    """Bytes of a sweep file around the tiny base scenario."""
    if draw(st.integers(0, 5)) == 0:
        return draw(st.binary(max_size=200))
    if draw(st.booleans()):
        return draw(mutated(VALID_SWEEP, ["name", "scenario", "steps", "replicates", "seed", "outcomes",
                                          "design.method", "design.n_samples", "design.levels",
                                          "uncertainties.problems.rate_arise", "levers", "constants",
                                          "record_every", "common_random_numbers"]))
    data: dict[str, Any] = {"scenario": draw(st.sampled_from(["tiny.toml"] * 4 + ["missing.toml", "", "/dev/zero"]))}
    optional = {"name": NASTY_TEXT, "replicates": NUMBERS, "seed": NUMBERS, "steps": NUMBERS,
                "record_every": NUMBERS, "outcomes": st.lists(st.sampled_from(["resolution_rate", "nope", ""]),
                                                              max_size=3),
                "design": st.fixed_dictionaries({"method": st.sampled_from(["full_factorial", "latin_hypercube",
                                                                            "sobol", "morris", "x"])},
                                                optional={"n_samples": NUMBERS, "levels": NUMBERS,
                                                          "second_order": st.booleans()}),
                "uncertainties": st.dictionaries(FACTOR_KEYS, FACTOR, max_size=3),
                "levers": st.dictionaries(FACTOR_KEYS, FACTOR, max_size=2),
                "constants": st.dictionaries(FACTOR_KEYS, VALUES, max_size=2)}
    for key, strategy in optional.items():
        if draw(st.booleans()):
            data[key] = draw(strategy)
    data.setdefault("outcomes", ["resolution_rate"])
    return _toml(data)


# ---- calibration files -------------------------------------------------------------------------
VALID_CALIBRATION: dict[str, Any] = {
    "name": "cal", "base": "tiny.toml", "window_days": 3, "replicates": 1, "check_replicates": 2,
    "optimizer": {"max_evaluations": 1},
    "targets": [{"name": "rr", "metric": "resolution_rate", "reported": 0.5, "tolerance": 0.2}],
    "parameters": [{"key": "problems.rate_arise", "lo": 0.005, "hi": 0.009}]}
VALID_SWEEP: dict[str, Any] = {
    "scenario": "tiny.toml", "steps": 2, "replicates": 1, "outcomes": ["resolution_rate"],
    "design": {"method": "latin_hypercube", "n_samples": 2},
    "uncertainties": {"problems.rate_arise": {"low": 0.005, "high": 0.009}}}


@st.composite
def mutated(draw: st.DrawFn, valid: dict[str, Any], keys: list[str]) -> bytes:
    """A valid file with zero to two keys (top-level or one level down) replaced by fuzz values or removed."""
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in valid.items()}
    for _ in range(draw(st.integers(0, 2))):
        key = draw(st.sampled_from(keys))
        head, _, tail = key.partition(".")
        node = data.get(head) if tail else data
        if tail and not isinstance(node, dict):
            continue
        name = tail or head
        if draw(st.integers(0, 4)) == 0:
            node.pop(name, None)  # type: ignore[union-attr]
        else:
            node[name] = draw(VALUES)  # type: ignore[index]
    return _toml(data)


@st.composite
def calibration_files(draw: st.DrawFn) -> bytes:
    """Bytes of a calibration file around the tiny base scenario."""
    if draw(st.integers(0, 5)) == 0:
        return draw(st.binary(max_size=200))
    if draw(st.booleans()):
        return draw(mutated(VALID_CALIBRATION, ["name", "description", "base", "window_days", "replicates",
                                                "check_replicates", "seed", "optimizer.max_evaluations",
                                                "optimizer.method", "targets", "parameters", "overrides"]))
    data: dict[str, Any] = {"name": draw(st.one_of(NASTY_TEXT, st.just("cal"))),
                            "base": draw(st.sampled_from(["tiny.toml"] * 4 + ["missing.toml", "/dev/zero"])),
                            "window_days": draw(st.one_of(st.integers(1, 5), NUMBERS))}
    optional = {"description": NASTY_TEXT, "replicates": st.one_of(st.just(1), NUMBERS),
                "check_replicates": st.one_of(st.just(2), NUMBERS), "seed": NUMBERS,
                "overrides": st.dictionaries(FACTOR_KEYS, VALUES, max_size=2),
                "optimizer": st.fixed_dictionaries({}, optional={"method": st.sampled_from(["nelder-mead", "x"]),
                                                                 "max_evaluations": st.one_of(st.just(1), NUMBERS)}),
                "targets": st.lists(st.fixed_dictionaries(
                    {"name": NASTY_TEXT, "metric": st.sampled_from(["resolution_rate", "a / b", "", "x"]),
                     "reported": NUMBERS},
                    optional={"tolerance": NUMBERS, "weight": NUMBERS, "source": NASTY_TEXT}), max_size=2),
                "parameters": st.lists(st.fixed_dictionaries(
                    {"key": FACTOR_KEYS, "lo": NUMBERS, "hi": NUMBERS}, optional={"log": st.booleans()}), max_size=2)}
    for key, strategy in optional.items():
        if draw(st.booleans()):
            data[key] = draw(strategy)
    return _toml(data)


# ---- command-line values -----------------------------------------------------------------------
FLAG_TEXT = st.one_of(st.integers(-(2**70), 2**70).map(str), st.sampled_from(
    ["", "abc", "1e3", "1.5", "-0", "0x10", "nan", "inf", "9" * 40, " 3", "٣", "²"]), st.text(max_size=6))
SET_VALUES = st.one_of(FLAG_TEXT, st.sampled_from(["true", "[1,2]", "{a=1}", '"x\\ny"', "1e308", "-1e308", "inf",
                                                   "nan", "\"\"", "1979-05-27", "'''a'''"]))
SET_KEYS = st.one_of(st.sampled_from(SCENARIO_KEYS), st.text(max_size=12))
URLS = st.one_of(
    st.sampled_from(["sqlite://", "sqlite:///:memory:", "sqlite:///nodir/x.db", "sqlite:///.", "sqlite:///tiny.toml",
                     "sqlite:////dev/zero", "postgresql+psycopg://u:secret@127.0.0.1:1/db", "mysql://x", "foo://",
                     "", "://", "sqlite:///ok.db?timeout=abc", "postgresql://u@[::1", "http://example.com",
                     "sqlite:///" + "x" * 300, "sqlite:///a\x00b.db"]),
    st.text(max_size=30), st.text(max_size=20).map(lambda s: "sqlite:///" + s))
IDS = st.one_of(st.sampled_from(["", "1", "0", "-1", "99999999999999999999999", "compare:", "compare:../../x",
                                 "../../x", "²", "٣", "tiny", "%", "_", "\\", "1 ", " 1"]), st.text(max_size=20),
                st.integers(-(2**70), 2**70).map(str))


def _set_case(key: str, value: str) -> None:
    with case_dir() as root:
        run_case("set", root, ["run", "tiny.toml", "--json", "--quiet", "--db", "sqlite:///out.db",
                               "--set", f"{key}={value}"])


def _flags_case(command: str, steps: str, seed: str, replicates: str, workers: str) -> None:
    with case_dir() as root:
        if command == "run":
            argv = ["run", "tiny.toml", f"--steps={steps}", f"--seed={seed}", "--quiet", "--json",
                    "--db", "sqlite:///out.db"]
        else:
            argv = ["compare", "tiny.toml", "tiny.toml", f"--steps={steps}", f"--seed={seed}",
                    f"--replicates={replicates}", f"--workers={workers}", "--quiet", "--json",
                    "--db", "sqlite:///out.db", "--out", "figs"]
        run_case("flags", root, argv)


def _url_case(command: str, url: str) -> None:
    with case_dir() as root:
        (root / "s.toml").write_text('scenario = "tiny.toml"\noutcomes = ["resolution_rate"]\nreplicates = 1\n'
                                     'steps = 2\n', encoding="utf-8")
        argv = {"run": ["run", "tiny.toml", "--steps=2", "--quiet", f"--db={url}"],
                "sweep": ["sweep", "s.toml", "--workers=1", "--quiet", f"--db={url}"],
                "report": ["report", "1", "--out", "rep", f"--db={url}"],
                "export": ["export", "s", f"--db={url}"]}[command]
        run_case("url", root, argv)


@pytest.fixture(scope="module")
def stored_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results database holding one tiny run and one tiny sweep (read, never written, by the id cases)."""
    from fuzzing import SMALL_BASE

    from sim.cli import main

    root = tmp_path_factory.mktemp("fuzzdb")
    (root / "tiny.toml").write_text(SMALL_BASE, encoding="utf-8")
    (root / "s.toml").write_text('scenario = "tiny.toml"\noutcomes = ["resolution_rate"]\nreplicates = 1\nsteps = 2\n'
                                 '[design]\nmethod = "latin_hypercube"\nn_samples = 2\n[uncertainties]\n'
                                 '"problems.rate_arise" = { low = 0.005, high = 0.009 }\n', encoding="utf-8")
    db = root / "db.sqlite"
    assert main(["run", str(root / "tiny.toml"), "--quiet", "--db", f"sqlite:///{db}"]) == 0
    assert main(["sweep", str(root / "s.toml"), "--workers=1", "--quiet", "--db", f"sqlite:///{db}"]) == 0
    return db


def _id_case(db: Path, command: str, ref: str) -> None:
    digest = _digest(db)
    with case_dir() as root:
        argv = {"report": ["report", ref, "--out", "rep", "--db", f"sqlite:///{db}"],
                "export": ["export", ref, "--db", f"sqlite:///{db}", "--out", "x.csv"],
                "sensitivity": ["sensitivity", ref, "--db", f"sqlite:///{db}", "--out", "sens"]}[command]
        run_case("id", root, argv)
    assert _digest(db) == digest, "the database read by report/export/sensitivity changed"


def _digest(db: Path) -> tuple[int, ...]:
    with sqlite3.connect(db) as conn:
        return tuple(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("runs", "sweeps", "summary"))


def _file_case(kind: str, command: Callable[[str], list[str]], content: bytes, special: str) -> None:
    with case_dir() as root:
        name = _write_special(root, "case.toml", special, content)
        run_case(kind, root, command(name))


def _sweep_argv(name: str) -> list[str]:
    return ["sweep", name, "--workers=1", "--quiet", "--json", "--db", "sqlite:///out.db"]


def _calibration_argv(name: str) -> list[str]:
    return ["calibrate", name, "--workers=1", "--quiet", "--out", "cal/"]


# ---- the fast profile --------------------------------------------------------------------------
@FAST
@given(content=scenario_files(), special=SPECIALS)
def test_fuzz_scenario_files(content: bytes, special: str) -> None:
    _scenario_case(content, special)


@FAST
@given(content=sweep_files(), special=SPECIALS, dry=st.booleans())
def test_fuzz_sweep_files(content: bytes, special: str, dry: bool) -> None:
    _file_case("sweep", lambda n: _sweep_argv(n) + (["--dry-run"] if dry else []), content, special)


@FAST
@given(content=calibration_files(), special=SPECIALS)
def test_fuzz_calibration_files(content: bytes, special: str) -> None:
    _file_case("calibration", _calibration_argv, content, special)


@FAST
@given(key=SET_KEYS, value=SET_VALUES)
def test_fuzz_set_values(key: str, value: str) -> None:
    _set_case(key, value)


@FAST
@given(command=st.sampled_from(["run", "compare"]), steps=FLAG_TEXT, seed=FLAG_TEXT,
       replicates=st.one_of(st.just("2"), FLAG_TEXT), workers=st.one_of(st.just("1"), FLAG_TEXT))
def test_fuzz_numeric_flags(command: str, steps: str, seed: str, replicates: str, workers: str) -> None:
    _flags_case(command, steps, seed, replicates, workers)


@FAST
@given(command=st.sampled_from(["run", "sweep", "report", "export"]), url=URLS)
def test_fuzz_database_urls(command: str, url: str) -> None:
    _url_case(command, url)


@FAST
@given(command=st.sampled_from(["report", "export", "sensitivity"]), ref=IDS)
def test_fuzz_ids(stored_db: Path, command: str, ref: str) -> None:
    _id_case(stored_db, command, ref)


# ---- the long profile (pytest -m fuzz_long) ----------------------------------------------------
@pytest.mark.fuzz_long
@LONG
@given(content=scenario_files(), special=SPECIALS)
def test_fuzz_long_scenario_files(content: bytes, special: str) -> None:
    _scenario_case(content, special)


@pytest.mark.fuzz_long
@LONG
@given(content=sweep_files(), special=SPECIALS, dry=st.booleans())
def test_fuzz_long_sweep_files(content: bytes, special: str, dry: bool) -> None:
    _file_case("sweep", lambda n: _sweep_argv(n) + (["--dry-run"] if dry else []), content, special)


@pytest.mark.fuzz_long
@LONG
@given(content=calibration_files(), special=SPECIALS)
def test_fuzz_long_calibration_files(content: bytes, special: str) -> None:
    _file_case("calibration", _calibration_argv, content, special)


@pytest.mark.fuzz_long
@LONG
@given(key=SET_KEYS, value=SET_VALUES)
def test_fuzz_long_set_values(key: str, value: str) -> None:
    _set_case(key, value)


@pytest.mark.fuzz_long
@LONG
@given(command=st.sampled_from(["run", "compare"]), steps=FLAG_TEXT, seed=FLAG_TEXT,
       replicates=st.one_of(st.just("2"), FLAG_TEXT), workers=st.one_of(st.just("1"), FLAG_TEXT))
def test_fuzz_long_numeric_flags(command: str, steps: str, seed: str, replicates: str, workers: str) -> None:
    _flags_case(command, steps, seed, replicates, workers)


@pytest.mark.fuzz_long
@LONG
@given(command=st.sampled_from(["run", "sweep", "report", "export"]), url=URLS)
def test_fuzz_long_database_urls(command: str, url: str) -> None:
    _url_case(command, url)


@pytest.mark.fuzz_long
@LONG
@given(command=st.sampled_from(["report", "export", "sensitivity"]), ref=IDS)
def test_fuzz_long_ids(stored_db: Path, command: str, ref: str) -> None:
    _id_case(stored_db, command, ref)


@pytest.mark.fuzz_long
def test_fuzz_long_report_counts() -> None:
    """Print the long profile's counts by input kind (run last: pytest keeps the file's order)."""
    kinds = sorted({k for k, _ in COUNTS})
    for kind in kinds:
        row = {o: n for (k, o), n in COUNTS.items() if k == kind}
        print(f"fuzz {kind}: {sum(row.values())} cases: {row}")
    bad = {key: n for key, n in COUNTS.items() if key[1] not in ("ok", "error")}
    assert not bad, bad


def test_fuzz_judge_rejects_tracebacks_two_lines_and_files_left(monkeypatch: pytest.MonkeyPatch) -> None:
    """The judge itself: a clean error passes; an internal error, two lines or a file left behind fail a case."""
    import fuzzing

    with case_dir() as root:
        assert run_case("selftest", root, ["run", "missing.toml"]) == "error"

    def leaves_file(argv: list[str]) -> int:
        Path("left.txt").write_text("x")
        print("govsim: error: x", file=sys.stderr)
        return 2

    def two_lines(argv: list[str]) -> int:
        print("govsim: error: a\nb", file=sys.stderr)
        return 2

    def internal(argv: list[str]) -> int:
        print("govsim: internal error: x", file=sys.stderr)
        return 3

    def bad_json(argv: list[str]) -> int:
        print('{"x": NaN}')
        return 0

    cases = ((leaves_file, "left"), (two_lines, "exit 2"), (internal, "exit 3"), (bad_json, "strict JSON"))
    for fake, match in cases:
        monkeypatch.setattr(fuzzing, "main", fake)
        with case_dir() as root, pytest.raises(AssertionError, match=match):
            run_case("selftest", root, ["run", "--json"])
    for key in [k for k in COUNTS if k[0] == "selftest"]:
        del COUNTS[key]
