"""Issue 15 (items 1-3): inputs validated before any work, one error path, outputs that never overwrite."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import pytest

from sim.cli import main
from sim.config.names import confined, safe_filename
from sim.core.resources import Limits, check_resources, estimate, parse_size
from sim.core.scenario import Scenario, dump_toml, load_scenario
from sim.errors import GovsimError, InputError, LimitError, OutputError, ScenarioError

TINY = """name = "tiny"
[run]
n_steps = 3
[world]
n_communities_per_street = 1
n_compounds_per_community = 1
"""


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.toml").write_text(TINY, encoding="utf-8")
    return tmp_path


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("govsim: error: "), err
    return err[0]


# ---- the error hierarchy and the CLI's one error path ----------------------------------------
def test_errors_carry_file_key_value_and_allowed(here: Path) -> None:
    (here / "bad.toml").write_text("[world]\nn_streets = 5000\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(here / "bad.toml")
    err = info.value
    assert isinstance(err, GovsimError)
    assert (err.file, err.key, err.value, err.allowed) == (str(here / "bad.toml"), "world.n_streets", 5000,
                                                          "an integer in [1, 1000]")


def test_debug_shows_the_traceback_and_argparse_errors_are_one_line(here: Path, capsys) -> None:
    assert "--steps" in one_line_error(capsys, ["run", "tiny.toml", "--steps", "x"])
    assert main(["--debug", "run", "missing.toml"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and err.rstrip().endswith("no such scenario file")
    assert main(["run", "missing.toml", "--debug"]) == 2  # after the command's name too
    assert "Traceback" in capsys.readouterr().err


def test_an_internal_error_is_one_line_with_exit_3(here: Path, capsys, monkeypatch) -> None:
    import sim.core.scenario

    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(sim.core.scenario, "load_scenario", broken)
    assert main(["run", "tiny.toml"]) == 3
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("govsim: internal error: ZeroDivisionError: boom")


def test_a_closed_stdout_ends_quietly(capsys) -> None:
    import argparse

    from sim.cli.common import dispatch

    def closed(args: argparse.Namespace) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    assert dispatch(argparse.Namespace(func=closed)) == 0
    assert capsys.readouterr().err == ""


# ---- input files -------------------------------------------------------------------------------
@pytest.mark.parametrize("make, fragment", [
    (lambda p: p.write_bytes(b'name = "\xff"\n'), "not UTF-8 text"),
    (lambda p: p.write_text("", encoding="utf-8"), "the file is empty"),
    (lambda p: p.write_text("# only a comment\n", encoding="utf-8"), "the file is empty"),
    (lambda p: p.write_text("a = " + "[" * 3000 + "]" * 3000 + "\n", encoding="utf-8"), "nested too deeply"),
    (lambda p: p.write_text("a = " + "[" * 40 + "]" * 40 + "\n", encoding="utf-8"), "nested too deeply"),
    (lambda p: p.write_text("x = 1\n" + "#" * (2 << 20), encoding="utf-8"), "bytes; allowed: a scenario file of at"),
    (lambda p: os.mkfifo(p), "not a regular file"),
    (lambda p: p.mkdir(), "a directory"),
    (lambda p: p.write_text('description = "' + "d" * 20_000 + '"\n', encoding="utf-8"), "a string longer than"),
    (lambda p: p.write_text("[problems]\nrate_arise = inf\n", encoding="utf-8"), "finite"),
    (lambda p: p.write_text("[costs]\nstaff_day = 1e308\n", encoding="utf-8"), "allowed"),
    (lambda p: p.write_text('name = ""\n', encoding="utf-8"), "empty; allowed: 1 to 200 characters"),
    (lambda p: p.write_text(f'name = "{"n" * 201}"\n', encoding="utf-8"), "201 characters long"),
    (lambda p: p.write_text('name = "a\\nb"\n', encoding="utf-8"), "control character"),
    (lambda p: p.write_text("[run]\nseed = 9223372036854775808\n", encoding="utf-8"), "run.seed"),
    (lambda p: p.write_text("[run]\nn_steps = 100001\n", encoding="utf-8"), "run.n_steps"),
])
def test_bad_scenario_files_fail_before_any_work_with_one_line(here: Path, capsys, make, fragment: str) -> None:
    make(here / "bad.toml")
    line = one_line_error(capsys, ["run", "bad.toml", "--quiet"])
    assert fragment in line and "bad.toml" in line, line
    assert not (here / "results").exists()  # no database, no directory


def test_dev_zero_is_refused_without_reading_it(here: Path, capsys) -> None:
    assert "not a regular file" in one_line_error(capsys, ["run", "/dev/zero"])


def test_a_long_extends_chain_is_refused(here: Path, capsys) -> None:
    for i in range(20):
        (here / f"c{i}.toml").write_text(f'extends = "{"tiny.toml" if i == 0 else f"c{i - 1}.toml"}"\n')
    assert "a chain of more than 16 files" in one_line_error(capsys, ["run", "c19.toml"])
    load_scenario(here / "c10.toml")  # 12 files: allowed


def test_large_or_odd_flag_values_fail_early(here: Path, capsys) -> None:
    assert "--seed" in one_line_error(capsys, ["run", "tiny.toml", "--seed", str(2**63)])
    assert "--steps" in one_line_error(capsys, ["run", "tiny.toml", "--steps", "100001"])
    assert "--max-memory" in one_line_error(capsys, ["run", "tiny.toml", "--max-memory", "lots"])
    assert "--scheduler" in one_line_error(capsys, ["sweep", "x.toml", "--scheduler", "not an address"])
    assert "in-memory" in one_line_error(capsys, ["sweep", "x.toml", "--db", "sqlite://"])
    assert not (here / "results").exists()


def test_more_workers_than_cpus_warns(here: Path, capsys) -> None:
    from sim.cli.common import check_workers

    check_workers((os.cpu_count() or 1) + 1)
    assert "govsim: warning: --workers" in capsys.readouterr().err
    with pytest.raises(InputError):
        check_workers(100_000)


# ---- the resource estimate ---------------------------------------------------------------------
def test_resource_estimate_refuses_above_the_caps_naming_how_to_raise_them() -> None:
    big = Scenario().with_overrides({"world.n_streets": 1000, "world.n_communities_per_street": 200})
    est = estimate(big)
    assert est.residents > 1e8 and est.memory > 100 * 2**30
    with pytest.raises(LimitError, match="--max-memory"):
        check_resources([est], 1, 1, Limits(8 * 2**30, None, None))
    with pytest.raises(LimitError, match="--allow-large"):
        check_resources([estimate(Scenario())], 2_000_000, 1, Limits(max_memory=None))
    check_resources([estimate(Scenario())], 2_000_000, 1, Limits(None, None, None))  # everything lifted
    assert parse_size("8G") == 8 * 2**30 and parse_size("512m") == 512 * 2**20
    assert Limits.from_environment("1G", env={}).max_memory == 2**30
    assert Limits.from_environment(None, True, env={"GOVSIM_MAX_MEMORY": "2G"}).max_runs is None


def test_a_district_of_a_century_is_refused_before_it_starts(here: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("GOVSIM_MAX_MEMORY", "1G")
    line = one_line_error(capsys, ["run", "tiny.toml", "--set", "world.n_streets=1000",
                                   "--set", "world.n_communities_per_street=200"])
    assert "memory" in line and "--max-memory" in line
    assert not (here / "results").exists()


def test_a_sweep_of_millions_of_experiments_is_refused_before_drawing_it(here: Path, capsys) -> None:
    (here / "s.toml").write_text('scenario = "tiny.toml"\noutcomes = ["resolution_rate"]\n[design]\n'
                                 'method = "latin_hypercube"\nn_samples = 5000000\n[uncertainties]\n'
                                 '"problems.rate_arise" = { low = 0.005, high = 0.009 }\n', encoding="utf-8")
    assert "5,000,000 experiments; allowed: at most" in one_line_error(capsys, ["sweep", "s.toml", "--dry-run"])
    text = (here / "s.toml").read_text().replace("5000000", "500000").replace("[design]", "replicates = 5\n[design]")
    (here / "s.toml").write_text(text, encoding="utf-8")
    line = one_line_error(capsys, ["sweep", "s.toml", "--dry-run"])
    assert "2,500,000 runs; allowed: at most" in line and "--allow-large" in line


# ---- names, paths, serialisers -----------------------------------------------------------------
def test_names_become_safe_file_names_confined_to_their_directory(tmp_path: Path) -> None:
    for name in ("../../x", "/etc/passwd", "..", "a/../../b", "C:\\evil", "\x00", "", "名字"):
        stem = safe_filename(name)
        assert stem and "/" not in stem and "\\" not in stem and not stem.startswith(".")
        assert confined(tmp_path, stem + ".html").parent == tmp_path
    with pytest.raises(OutputError):
        confined(tmp_path, "../x")


def test_a_traversal_calibration_name_is_refused_and_a_report_stem_confined(tmp_path: Path) -> None:
    from sim.report.html import Report

    assert Report("t", "../../evil", tmp_path).stem == "_evil"
    assert Report("t", "/abs/x", tmp_path).stem == "_abs_x"
    from sim.experiments.calibration_spec import CalibrationFile

    with pytest.raises(GovsimError, match="control character|allowed"):
        CalibrationFile.from_dict({"name": "a\nb", "base": "x.toml", "window_days": 5,
                                   "targets": [{"name": "t", "metric": "resolution_rate", "reported": 0.5}]})


def test_a_comparison_label_from_the_database_cannot_leave_the_report_directory(here: Path, capsys) -> None:
    db = f"sqlite:///{here / 'r.db'}"
    assert main(["run", "tiny.toml", "--quiet", "--db", db, "--label", "compare:../../escape"]) == 0
    capsys.readouterr()
    out = here / "deep" / "reports"
    assert main(["report", "compare:../../escape", "--out", str(out), "--db", db]) == 0
    written = [Path(p.strip()) for p in capsys.readouterr().out.split("report:")[1].split()]
    assert written and all(p.resolve().parent == out.resolve() for p in written), written
    assert not list(here.glob("escape*")) and not list((here / "deep").glob("escape*"))


def test_newlines_in_every_free_text_field_round_trip(here: Path) -> None:
    text = 'line one\nline "two"\n\ttab = [not a table]\n# not a comment'
    sc = Scenario().with_overrides({"description": text})
    back = Scenario.from_dict(tomllib.loads(sc.to_toml()))
    assert back.description == text and back.content_hash() == sc.content_hash()
    assert tomllib.loads(dump_toml({"a": {"b": text}, "c": [text]})) == {"a": {"b": text}, "c": [text]}
    db = f"sqlite:///{here / 'r.db'}"
    assert main(["run", "tiny.toml", "--quiet", "--db", db, "--label", text]) == 0
    from sim.store.database import ResultStore

    store = ResultStore(db, read_only=True)
    try:
        assert store.load_run(1).label == text
    finally:
        store.close()


def test_the_calibrated_scenario_header_keeps_a_multiline_description_as_comments() -> None:
    lines = [f"# {part}".rstrip() for h in ["Calibration x: a\n[world]\nn_streets = 9"] for part in h.splitlines()]
    assert tomllib.loads("\n".join(lines) + "\n") == {}


def test_json_output_is_strict(here: Path, capsys) -> None:
    from sim.cli.common import json_text

    assert json.loads(json_text({"a": float("nan"), "b": [float("inf")], "c": 1.5})) == {"a": None, "b": [None],
                                                                                         "c": 1.5}
    assert main(["run", "tiny.toml", "--quiet", "--json", "--db", f"sqlite:///{here / 'r.db'}"]) == 0
    json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))


# ---- export and readers ------------------------------------------------------------------------
@pytest.fixture
def swept(here: Path) -> Path:
    (here / "s.toml").write_text('scenario = "tiny.toml"\noutcomes = ["resolution_rate"]\nreplicates = 1\nsteps = 2\n',
                                 encoding="utf-8")
    db = here / "r.db"
    assert main(["sweep", "s.toml", "--workers=1", "--quiet", "--db", f"sqlite:///{db}"]) == 0
    return db


def test_export_refuses_the_database_it_reads_even_with_force(swept: Path, capsys) -> None:
    before = swept.read_bytes()
    for extra in ([], ["--force"]):
        line = one_line_error(capsys, ["export", "s", "--db", f"sqlite:///{swept}", "--out", str(swept), *extra])
        assert "results database being read" in line
    assert swept.read_bytes() == before


def test_export_refuses_an_existing_file_unless_force(swept: Path, here: Path, capsys) -> None:
    target = here / "keep.csv"
    target.write_text("precious\n")
    assert "--force" in one_line_error(capsys, ["export", "s", "--db", f"sqlite:///{swept}", "--out", str(target)])
    assert target.read_text() == "precious\n"
    assert main(["export", "s", "--db", f"sqlite:///{swept}", "--out", str(target), "--force"]) == 0
    assert target.read_text().startswith("sweep_id,")


def test_an_empty_sweep_id_matches_nothing(swept: Path, capsys) -> None:
    assert "empty sweep id" in one_line_error(capsys, ["export", "", "--db", f"sqlite:///{swept}"])


def test_readers_never_create_a_database_and_odd_ids_fail_cleanly(here: Path, capsys) -> None:
    for argv in (["report", "1"], ["export", "x"], ["sensitivity", "x"], ["report", "1", "--db", "sqlite:///n.db"]):
        assert "no such file" in one_line_error(capsys, argv)
    assert not (here / "results").exists() and not (here / "n.db").exists()
    db = f"sqlite:///{here / 'r.db'}"
    assert main(["run", "tiny.toml", "--quiet", "--db", db]) == 0
    for ref in ("99999999999999999999999", "²", "compare:../../x"):
        one_line_error(capsys, ["report", ref, "--db", db, "--out", "rep"])


# ---- sweep outcomes ----------------------------------------------------------------------------
def test_every_counter_a_policy_reports_is_declared() -> None:
    from helpers import REPO, SMALL

    from sim import policies
    from sim.core.model import Model
    from sim.core.scenario import load_scenario as load

    scenario = load(REPO / "scenarios" / "combined_reforms.toml").with_overrides({**SMALL, "run.n_steps": 120})
    summary = Model(scenario, seed=1).run(progress=False).summary
    names = [spec.name for spec in scenario.policies]
    assert len(names) >= 6
    reported = {k for k in summary for p in names if k.startswith(f"{p}_") and k[len(p) + 1:] in
                policies.get(p).counters}
    assert reported  # the run counts things ...
    model = Model(scenario, seed=1)
    model.run(progress=False)
    for key in model.policy_counters:  # ... and everything it counts is declared
        policy = next(p for p in names if key.startswith(f"{p}_"))
        assert key[len(policy) + 1:] in policies.get(policy).counters, key


def test_an_unknown_policy_outcome_is_refused_not_stored_as_zero(here: Path, capsys) -> None:
    (here / "s.toml").write_text('scenario = "tiny.toml"\noutcomes = ["grid_nonsense"]\n[constants]\n'
                                 '"policies.grid.enabled" = true\n', encoding="utf-8")
    line = one_line_error(capsys, ["sweep", "s.toml", "--dry-run"])
    assert "'grid_nonsense' is not a summary metric" in line
    (here / "s.toml").write_text('scenario = "tiny.toml"\noutcomes = ["grid_proxy_services"]\n[constants]\n'
                                 '"policies.grid.enabled" = true\n', encoding="utf-8")
    assert main(["sweep", "s.toml", "--dry-run"]) == 0


def test_a_sweep_is_sized_by_its_largest_world(here: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("GOVSIM_MAX_MEMORY", "1G")
    (here / "s.toml").write_text('scenario = "tiny.toml"\noutcomes = ["resolution_rate"]\n[levers]\n'
                                 '"world.n_streets" = { choices = [1, 1000] }\n', encoding="utf-8")
    line = one_line_error(capsys, ["sweep", "s.toml", "--dry-run", "--workers", "1"])
    assert "of memory" in line and "--max-memory" in line
    text = (here / "s.toml").read_text().replace("[1, 1000]", "[1, 2]")
    (here / "s.toml").write_text(text, encoding="utf-8")
    assert main(["sweep", "s.toml", "--dry-run", "--workers", "1"]) == 0
