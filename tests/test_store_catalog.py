"""Finding stored results: ``govsim list``, ``govsim report latest``, the default store, read-only commands."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import BASELINE, SMALL_FILE
from test_sweep_support import write_sweep

from sim.cli import main
from sim.store.database import ResultStore
from sim.store.location import DB_ENV, FALLBACK_DB_URL, default_db, project_root

REPO = Path(__file__).resolve().parent.parent


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """One store holding a single run, a comparison (weekly series) and a sweep, made through the CLI."""
    d = tmp_path_factory.mktemp("catalog")
    small = d / "small.toml"
    small.write_text(SMALL_FILE.format(base=BASELINE.as_posix(), name="small"), encoding="utf-8")
    url = f"sqlite:///{d / 'c.db'}"
    assert main(["run", str(small), "--steps", "15", "--label", "first", "--db", url, "--quiet", "--json"]) == 0
    assert main(["compare", str(small), str(small), "--replicates", "2", "--steps", "15", "--workers", "1",
                 "--series-every", "7", "--db", url, "--quiet", "--json", "--out", str(d / "figs")]) == 0
    sweep = write_sweep(d, name="cat", steps=10, record_every=5, replicates=1,
                        design={"method": "full_factorial", "levels": 2},
                        levers={"policies.alliance.n_units": {"low": 0, "high": 6}})
    assert main(["sweep", str(sweep), "--db", url, "--workers", "1", "--quiet"]) == 0
    return {"dir": d, "url": url}


def test_list_json_lists_what_a_run_a_comparison_and_a_sweep_stored(
        stored: dict[str, object], capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    rc, out, _ = run_cli(capsys, "list", "--json", "--db", str(stored["url"]))
    assert rc == 0
    data = json.loads(out)
    assert data["db"] == stored["url"] and data["units"]["steps"] == "days"
    [run] = data["runs"]
    assert (run["id"], run["label"], run["scenario"], run["seed"], run["steps"]) == (1, "first", "small", 1, 15)
    [comp] = data["comparisons"]
    assert comp["label"] == f"compare:{comp['id']}" and comp["runs"] == 4 and comp["steps"] == 15
    assert comp["scenario"] == ["small"] and len(comp["seed"]) == 2
    [sweep] = data["sweeps"]
    assert sweep["id"].startswith("cat-") and sweep["runs"] == sweep["runs_planned"] == 4 and sweep["steps"] == 10
    with ResultStore(str(stored["url"]), read_only=True) as store:
        rows = {r["id"]: r for r in store.list_runs()}
        single = store.timeseries_frame(1)
        weekly = [store.timeseries_frame(i) for i, r in rows.items() if r["label"] == comp["label"]]
    assert len(rows) == 1 + 4 + 4
    assert run["size"] == single.shape[0] * (single.shape[1] - 1)  # recorded days x metrics
    # the comparison stored every 7th recorded day and the last one
    t = single["t"].to_numpy()
    kept = [int(x) for x in t if x % 7 == 0 or x == t[-1]]
    assert len(weekly) == 4 and all(w["t"].tolist() == kept for w in weekly)
    assert comp["size"] == 4 * len(kept) * (single.shape[1] - 1)
    for kind in ("runs", "comparisons", "sweeps"):
        rc, out, _ = run_cli(capsys, "list", kind, "--json", "--db", str(stored["url"]))
        assert rc == 0 and list(json.loads(out)) == ["db", "units", kind]


def test_list_table_and_report_latest(stored: dict[str, object], capsys: pytest.CaptureFixture[str],
                                      tmp_path: Path) -> None:
    capsys.readouterr()
    rc, out, _ = run_cli(capsys, "list", "--db", str(stored["url"]))
    assert rc == 0
    assert out.startswith(f"results database {stored['url']}\n")
    assert "runs (1; govsim report <id>):" in out and "sweeps (1;" in out and "first" in out
    rc, out, err = run_cli(capsys, "report", "latest", "--db", str(stored["url"]), "--out", str(tmp_path))
    assert rc == 0, err
    assert "govsim sweep cat-" in next(tmp_path.glob("*_report.html")).read_text(encoding="utf-8")


def test_report_in_an_empty_directory_names_the_store_and_creates_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    for argv in (["report", "1"], ["list"], ["list", "--json"], ["report", "latest"], ["export", "x"],
                 ["sensitivity", "x"]):
        rc, out, err = run_cli(capsys, *argv)
        assert rc == 2 and out == "", argv
        assert err == (f"govsim: error: results database '{FALLBACK_DB_URL}': no such file "
                       f"'{tmp_path / 'results' / 'govsim.db'}', nothing is stored there (--db URL or the GOVSIM_DB "
                       f"environment variable name another store)\n"), argv
    assert tree(tmp_path) == []
    missing = tmp_path / "elsewhere.db"
    monkeypatch.setenv(DB_ENV, str(missing))
    rc, _, err = run_cli(capsys, "report", "1")
    assert rc == 2 and f"'sqlite:///{missing}'" in err
    assert tree(tmp_path) == []


def test_read_only_store_without_govsim_tables_is_refused(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "other.db"
    sqlite3.connect(db).close()
    with pytest.raises(Exception, match="holds no govsim results"):
        ResultStore(f"sqlite:///{db}", read_only=True)
    assert sqlite3.connect(db).execute("SELECT name FROM sqlite_master").fetchall() == []


def test_report_latest_of_an_empty_store_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'e.db'}"
    ResultStore(url).close()
    rc, _, err = run_cli(capsys, "report", "latest", "--db", url)
    assert rc == 2 and err == f"govsim: error: results database '{url}': holds no runs, comparisons or sweeps yet\n"


def test_default_store_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # inside the checkout, from any subdirectory: the checkout's results/govsim.db
    for start in (REPO, REPO / "notebooks", REPO / "sim" / "store"):
        assert project_root(start) == REPO
        assert default_db({}, start).url == f"sqlite:///{REPO / 'results' / 'govsim.db'}"
    # elsewhere: results/govsim.db under the current directory
    assert project_root(tmp_path) is None
    assert default_db({}, tmp_path).url == FALLBACK_DB_URL
    # another project's pyproject.toml does not count
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "other"\n', encoding="utf-8")
    assert project_root(tmp_path) is None
    # GOVSIM_DB: a URL as given, a path made absolute
    assert default_db({DB_ENV: "postgresql+psycopg://u@h/db"}, tmp_path).url == "postgresql+psycopg://u@h/db"
    monkeypatch.chdir(tmp_path)
    assert default_db({DB_ENV: "x/my.db"}).url == f"sqlite:///{tmp_path / 'x' / 'my.db'}"


def test_govsim_db_is_shared_by_every_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "shared.db"
    monkeypatch.setenv(DB_ENV, str(db))
    with ResultStore() as store:  # what a notebook does
        assert store.url == f"sqlite:///{db}"
    monkeypatch.chdir(tmp_path / "..")
    rc, out, _ = run_cli(capsys, "list", "--json")
    assert rc == 0 and json.loads(out)["db"] == f"sqlite:///{db}"
    assert os.path.isfile(db)
