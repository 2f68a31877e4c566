"""sim.cli: ``govsim run`` output and storage, and one-line errors with exit code 2 that write nothing."""

from __future__ import annotations

import contextlib
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import BASELINE, write

from sim import Model, load_scenario
from sim.cli import main
from sim.cli.run import _fmt
from sim.store.database import ResultStore


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def db_url(path: Path) -> str:
    return f"sqlite:///{path}"


def nan_to_none(summary: dict[str, float]) -> dict[str, float | None]:
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in summary.items()}


# ---- govsim run ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_json_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict], list[str]]:
    db = tmp_path_factory.mktemp("cli") / "runs.db"
    outs, raw = [], []
    for _ in range(2):  # module-scoped, so stdout is captured by redirection rather than capsys
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            rc = main(["run", str(BASELINE), "--steps", "30", "--seed", "1", "--db", db_url(db), "--json"])
        assert rc == 0
        raw.append(buf.getvalue())
        outs.append(json.loads(buf.getvalue()))
    return db, outs, raw


def test_run_json_prints_one_object_with_the_summary(two_json_runs) -> None:
    db, outs, raw = two_json_runs
    assert raw[0].count("\n") == 1 and raw[0].endswith("\n")  # one line, one object
    first = outs[0]
    assert first["scenario"] == "baseline" and first["seed"] == 1 and first["run_id"] == 1
    assert first["db"] == db_url(db)
    # the same run through the Python API gives the same summary, bit for bit
    model = Model(load_scenario(BASELINE, {"run.n_steps": 30}), seed=1)
    expected = nan_to_none(model.run(30).summary)
    assert first["summary"] == expected
    assert first["summary"]["n_steps"] == 30


def test_run_twice_gives_identical_summaries(two_json_runs) -> None:
    _, outs, _ = two_json_runs
    assert outs[1]["run_id"] == 2
    assert outs[0]["summary"] == outs[1]["summary"]


def test_runs_are_stored_with_hash_and_seed(two_json_runs) -> None:
    db, outs, _ = two_json_runs
    scenario_hash = load_scenario(BASELINE, {"run.n_steps": 30}).content_hash()
    with ResultStore(db_url(db)) as store:
        runs = store.list_runs()
        assert [r["id"] for r in runs] == [1, 2]
        for r in runs:
            assert r["scenario_hash"] == scenario_hash
            assert r["seed"] == 1 and r["n_steps"] == 30 and r["scenario_name"] == "baseline"
        for run_id, out in zip((1, 2), outs):
            rec = store.load_run(run_id)
            assert nan_to_none(dict(rec.summary)) == out["summary"]
            assert rec.t.tolist() == list(range(30))
            assert load_scenario(write(db.parent / "stored.toml", rec.scenario_text)) == \
                load_scenario(BASELINE, {"run.n_steps": 30})


def test_run_prints_a_summary_table(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc, out, err = run_cli(capsys, "run", str(BASELINE), "--steps", "20", "--seed", "2", "--db",
                           db_url(tmp_path / "t.db"), "--set", "community.n_staff_per_10k=30")
    assert rc == 0
    sc = load_scenario(BASELINE, {"community.n_staff_per_10k": 30.0, "run.n_steps": 20})
    summary = Model(sc, seed=2).run(20).summary
    lines = [line for line in out.splitlines() if line.strip().startswith("resolution_rate ")]
    assert len(lines) == 1
    assert lines[0].split()[1] == _fmt(summary["resolution_rate"])
    assert lines[0].endswith("  share (0-1)")  # every value with its unit
    assert "stored as run 1" in out
    with ResultStore(db_url(tmp_path / "t.db")) as store:
        assert store.list_runs()[0]["scenario_hash"] == sc.content_hash()


def test_params_lists_every_parameter(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run_cli(capsys, "params")
    assert rc == 0
    for key in ("world.n_streets", "handling.entry_level.big", "community.households_per_grid.old"):
        assert f"`{key}`" in out


# ---- errors --------------------------------------------------------------------------------------
BAD = {
    "nested_unknown_key": ('[world]\nn_strets = 1\n', "world.n_strets"),
    "wrong_type": ('[world]\nn_streets = "one"\n', "world.n_streets"),
    "out_of_range": ('[party]\np_find_on_contact = 2.0\n', "party.p_find_on_contact"),
    "unknown_policy": ('[policies.telepathy]\n', "policies.telepathy"),
    "unknown_level": ('[handling.entry_level]\nsmall = "mayor"\n', "handling.entry_level.small"),
    "bad_toml": ('[world\n', "not valid TOML"),
    "circular_extends": ('extends = "bad.toml"\n', "extends"),
}


def assert_one_line_error(rc: int, out: str, err: str, *fragments: str) -> None:
    assert rc == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("govsim: error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_scenario_exits_2_with_one_line_and_writes_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                               case: str) -> None:
    text, key = BAD[case]
    path = write(tmp_path / "bad.toml", text)
    db = tmp_path / "x.db"
    rc, out, err = run_cli(capsys, "run", str(path), "--steps", "5", "--db", db_url(db))
    assert_one_line_error(rc, out, err, str(path), key)
    assert not db.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


@pytest.mark.parametrize(("override", "key"), [
    ("world.n_strets=2", "world.n_strets"),
    ("community.n_staff_per_10k=-5", "community.n_staff_per_10k"),
    ("handling.top_level=mayor", "handling.top_level"),
    ("nonsense", "--set"),
])
def test_bad_set_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path, override: str, key: str) -> None:
    db = tmp_path / "x.db"
    rc, out, err = run_cli(capsys, "run", str(BASELINE), "--steps", "5", "--db", db_url(db), "--set", override)
    assert_one_line_error(rc, out, err, key)
    assert not db.exists()


def test_missing_scenario_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc, out, err = run_cli(capsys, "run", str(tmp_path / "nope.toml"), "--db", db_url(tmp_path / "x.db"))
    assert_one_line_error(rc, out, err, "nope.toml", "no such scenario file")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("url", ["notaurl", "foo://bar", "sqlite:///{tmp}/missing_dir/x.db", "sqlite:///{tmp}/a_file/x.db"])
def test_broken_db_url_exits_2_with_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path, url: str) -> None:
    (tmp_path / "a_file").write_text("not a directory")
    url = url.format(tmp=tmp_path)
    rc, out, err = run_cli(capsys, "run", str(BASELINE), "--steps", "5", "--db", url)
    assert_one_line_error(rc, out, err, "cannot open results database")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_govsim_subprocess_error(tmp_path: Path) -> None:
    """The installed command: one stderr line, exit code 2, no traceback, no database."""
    path = write(tmp_path / "bad.toml", '[world]\nn_strets = 1\n')
    db = tmp_path / "x.db"
    exe = Path(sys.executable).parent / "govsim"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "sim"]
    proc = subprocess.run([*cmd, "run", str(path), "--steps", "5", "--db", db_url(db)],
                          capture_output=True, text=True, timeout=120)
    assert_one_line_error(proc.returncode, proc.stdout, proc.stderr, str(path), "world.n_strets", "allowed:")
    assert not db.exists()


@pytest.mark.parametrize("argv", [["--steps", "0"], ["--seed", "-1"]])
def test_bad_numbers_on_the_command_line_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                 argv: list[str]) -> None:
    db = tmp_path / "x.db"
    rc, out, err = run_cli(capsys, "run", str(BASELINE), *argv, "--db", db_url(db))
    assert_one_line_error(rc, out, err, argv[0])
    assert not db.exists()


def test_scenario_accepted_by_validation_does_not_crash_the_cli(capsys: pytest.CaptureFixture[str],
                                                               tmp_path: Path) -> None:
    path = write(tmp_path / "thirds.toml", f'extends = "{BASELINE}"\n[world.p_compound_type]\n'
                                           'old = 0.3333333\nmature = 0.3333333\nnew = 0.3333333\n')
    db = tmp_path / "x.db"
    try:
        rc, out, err = run_cli(capsys, "run", str(path), "--steps", "3", "--db", db_url(db))
    except Exception as exc:  # an uncaught exception is the bug
        pytest.fail(f"govsim run raised {exc!r}")
    if rc == 2:  # rejected as a user error: one line naming the key, nothing written
        assert_one_line_error(rc, out, err, "world.p_compound_type")
        assert not db.exists()
    else:
        assert rc == 0
