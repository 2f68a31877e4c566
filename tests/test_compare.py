"""govsim compare / sim.experiments.compare: common random numbers, CIs checked against scipy, workers, DB, CLI errors."""

from __future__ import annotations

import json
import math
import re
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import SMALL_FILE, user_policy_module
from scipy import stats

from sim.cli import main
from sim.experiments.compare import MAIN_METRICS, Comparison, compare, prepare
from sim.experiments.compare_stats import fieller_ratio_ci, replicate_seeds, t_interval

ROOT = Path(__file__).resolve().parents[1]
STEPS, R, ROOT_SEED = 30, 4, 7
METRICS = [m for m, _ in MAIN_METRICS]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("scenarios")
    out = {}
    for key, base, name in (("small", "baseline.toml", "small"),
                            ("whistle", "bazhong_street_whistle.toml", "small_whistle")):
        out[key] = d / f"{key}.toml"
        out[key].write_text(SMALL_FILE.format(base=(ROOT / "scenarios" / base).as_posix(), name=name), encoding="utf-8")
    out["bad"] = d / "bad.toml"
    out["bad"].write_text(f'extends = "{out["small"].as_posix()}"\n[world]\nn_streets = -1\n', encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def comp(files: dict[str, Path]) -> Comparison:
    """baseline, a real policy variant, and the baseline again (an identical copy)."""
    return compare([files["small"], files["whistle"], files["small"]], replicates=R, steps=STEPS, seed=ROOT_SEED,
                   workers=1, progress=False)


def test_seeds_are_common_random_numbers(comp: Comparison) -> None:
    expected = [int(np.random.SeedSequence(ROOT_SEED).spawn(R)[r].generate_state(1)[0]) for r in range(R)]
    assert comp.seeds == expected == replicate_seeds(ROOT_SEED, R)
    assert len(set(expected)) == R
    for label in comp.labels:
        rows = comp.runs[comp.runs["scenario"] == label].sort_values("replicate")
        assert rows["seed"].tolist() == expected
        assert rows["replicate"].tolist() == list(range(R))
    assert comp.labels == ["small", "small_whistle", "small #2"]
    assert replicate_seeds(ROOT_SEED, R + 3)[:R] == expected  # more replicates keep the first seeds


def test_same_arrivals_in_every_scenario_of_a_replicate(comp: Comparison) -> None:
    """Problems arising (before prevention) are drawn from the seed's arrival stream alone."""
    def arrivals(label: str, r: int) -> np.ndarray:
        return comp.series[label]["arisen"][r] + comp.series[label]["prevented"][r]

    for r in range(R):
        first = arrivals(comp.labels[0], r)
        assert first[-1] > 0
        for label in comp.labels[1:]:
            np.testing.assert_array_equal(arrivals(label, r), first)
    assert len({arrivals(comp.baseline, r)[-1] for r in range(R)}) > 1  # replicates differ
    # ...while the policy variant does handle them differently
    assert not np.array_equal(comp.values("small_whistle", "resolution_rate"), comp.values("small", "resolution_rate"))


def test_mean_ci_matches_scipy(comp: Comparison) -> None:
    table = comp.table()
    checked = 0
    for label in comp.labels:
        for metric in METRICS:
            x = comp.runs.loc[comp.runs["scenario"] == label, metric].to_numpy(dtype=float)
            x = x[np.isfinite(x)]
            got = table.loc[metric, label]
            assert got["mean"] == pytest.approx(np.mean(x), rel=1e-12, abs=1e-15)
            if x.size >= 2 and np.std(x) > 0:
                lo, hi = stats.t.interval(0.95, x.size - 1, loc=np.mean(x), scale=stats.sem(x))
                assert (got["ci_low"], got["ci_high"]) == pytest.approx((lo, hi), rel=1e-9, abs=1e-12), (label, metric)
                checked += 1
    assert checked > 30


def test_paired_diff_ci_matches_scipy(comp: Comparison) -> None:
    table = comp.table()
    base = comp.runs[comp.runs["scenario"] == comp.baseline].sort_values("replicate")
    var = comp.runs[comp.runs["scenario"] == "small_whistle"].sort_values("replicate")
    checked = 0
    for metric in METRICS:
        a, b = var[metric].to_numpy(dtype=float), base[metric].to_numpy(dtype=float)
        ok = np.isfinite(a) & np.isfinite(b)
        got = table.loc[metric, "small_whistle"]
        if ok.sum() >= 2 and np.std(a[ok] - b[ok]) > 0:
            ci = stats.ttest_rel(a[ok], b[ok]).confidence_interval(0.95)
            assert got["diff"] == pytest.approx(np.mean(a[ok] - b[ok]), rel=1e-12, abs=1e-15)
            assert (got["diff_ci_low"], got["diff_ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-9, abs=1e-12)
            checked += 1
    assert checked >= 10
    # the policy's paired CI is narrower than an unpaired one would be for a CRN-correlated metric
    a, b = var["trust_mean"].to_numpy(), base["trust_mean"].to_numpy()
    welch = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    paired = table.loc["trust_mean", "small_whistle"]
    assert paired["diff_ci_high"] - paired["diff_ci_low"] < (welch.high - welch.low) / 2


def test_identical_copy_has_zero_paired_difference(comp: Comparison) -> None:
    table = comp.table()
    for metric in METRICS:
        np.testing.assert_array_equal(comp.values("small #2", metric), comp.values("small", metric))
        row = table.loc[metric, "small #2"]
        if math.isfinite(row["mean"]):
            assert row["diff"] == 0.0 and row["diff_ci_low"] == 0.0 and row["diff_ci_high"] == 0.0, metric
    # whereas the replicates themselves vary: the zero is pairing, not a degenerate sample
    sat = table.loc["satisfaction_mean", "small #2"]
    assert sat["ci_high"] - sat["ci_low"] > 1e-4


def test_results_identical_whatever_the_number_of_workers(files: dict[str, Path], comp: Comparison) -> None:
    two = compare([files["small"], files["whistle"], files["small"]], replicates=R, steps=STEPS, seed=ROOT_SEED,
                  workers=2, progress=False)
    assert two.workers == 2
    pd.testing.assert_frame_equal(two.runs, comp.runs)
    for label in comp.labels:
        np.testing.assert_array_equal(two.t[label], comp.t[label])
        assert two.series[label].keys() == comp.series[label].keys()
        for metric, arr in comp.series[label].items():
            np.testing.assert_array_equal(two.series[label][metric], arr, err_msg=f"{label} {metric}")


def test_t_interval_and_fieller() -> None:
    x = np.array([[1.0, np.nan], [2.0, 5.0], [4.0, np.nan], [np.nan, np.nan]])
    mean, lo, hi, n = t_interval(x, axis=0)
    assert n.tolist() == [3, 1]
    assert mean[0] == pytest.approx(7 / 3)
    assert (lo[0], hi[0]) == pytest.approx(stats.t.interval(0.95, 2, loc=7 / 3, scale=stats.sem([1, 2, 4])))
    assert mean[1] == 5.0 and math.isnan(lo[1]) and math.isnan(hi[1])  # one value: no interval

    rng = np.random.default_rng(3)
    den = rng.normal(2.0, 0.5, 12)
    num = 1000 * den + rng.normal(0, 300, 12)
    ratio, lo, hi, bounded = fieller_ratio_ci(num, den)
    assert bounded and lo < ratio < hi and ratio == pytest.approx(num.mean() / den.mean())
    tcrit = stats.t.ppf(0.975, 11)
    for rho in (lo, hi):  # Fieller's bounds are where the paired t-test of num - rho*den is just significant
        assert abs(stats.ttest_1samp(num - rho * den, 0.0).statistic) == pytest.approx(tcrit, rel=1e-9)
    _, lo, hi, bounded = fieller_ratio_ci(num, rng.normal(0.05, 1.0, 12))  # gain not significant
    assert not bounded and math.isnan(lo) and math.isnan(hi)


def test_table_text_fits_and_shows_every_scenario(comp: Comparison) -> None:
    text = comp.format_table(width=120)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 120
    body = [line for line in lines if line.split(" ")[0] in METRICS]
    assert len(body) == 2 * len(METRICS)  # 3 scenarios (5 columns) wrap into two blocks of 15 rows
    for label in comp.labels:
        assert any(line.strip().startswith(label) or f"  {label}" in line for line in lines), label
    cell = r"[-+]?[\d,]+\.?\d* \[[-+]?[\d,]+\.?\d*, [-+]?[\d,]+\.?\d*\]"
    row = next(line for line in body if line.startswith("resolution_rate "))
    assert len(re.findall(cell, row)) == 3  # baseline, variant, variant's diff
    # the baseline cell shows the mean rounded to the row's decimals, which resolve its CI
    table = comp.table()
    shown = re.findall(cell, row)[0].split(" ")[0]
    dec = len(shown.split(".")[1]) if "." in shown else 0
    assert 0 <= dec <= 4
    mean = table.loc["resolution_rate", ("small", "mean")]
    assert shown == f"{mean:.{dec}f}"
    halfwidth = (table.loc["resolution_rate", ("small", "ci_high")] - table.loc["resolution_rate", ("small", "ci_low")]) / 2
    assert halfwidth >= 10.0 ** -dec  # the rounding never hides the interval
    wide = comp.format_table(width=400).splitlines()
    assert len([line for line in wide if line.split(" ")[0] in METRICS]) == len(METRICS)  # one block


def _run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(args)
    out, err = capsys.readouterr()
    return rc, out, err


def _count_runs(db: Path, label: str) -> int:
    with sqlite3.connect(db) as conn:  # plain sqlite3, independent of the store code
        return conn.execute("SELECT COUNT(*) FROM runs WHERE label = ?", (label,)).fetchone()[0]


def test_cli_json_stores_runs_and_writes_figures(files: dict[str, Path], comp: Comparison, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    db, out_dir = tmp_path / "runs.db", tmp_path / "figs"
    rc, out, err = _run_cli(["compare", str(files["small"]), str(files["whistle"]), str(files["small"]),
                             "--replicates", str(R), "--steps", str(STEPS), "--seed", str(ROOT_SEED), "--workers", "2",
                             "--db", f"sqlite:///{db}", "--out", str(out_dir), "--json", "--quiet"], capsys)
    assert rc == 0, err
    data = json.loads(out, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    cid = data["comparison_id"]
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{6}", cid)
    assert data["seeds"] == comp.seeds and data["replicates"] == R and data["steps"] == STEPS
    assert [s["name"] for s in data["scenarios"]] == comp.labels
    assert data["scenarios"][0]["file"] == str(files["small"])
    # the same numbers as the in-process run (workers=1): identical whatever the workers
    table = comp.table()
    for s in data["scenarios"]:
        for metric in METRICS:
            for stat in ("mean", "ci_low", "ci_high", "diff", "diff_ci_low", "diff_ci_high"):
                want = table.loc[metric, (s["name"], stat)]
                got = s["metrics"][metric][stat]
                assert (got is None and math.isnan(want)) or got == want, (s["name"], metric, stat)
    assert data["scenarios"][0]["metrics"]["resolution_rate"]["diff"] is None  # NaN -> null
    # every run stored, labelled with the comparison id, with the replicate seeds
    assert _count_runs(db, f"compare:{cid}") == 3 * R
    with sqlite3.connect(db) as conn:
        seeds = conn.execute("SELECT seed, COUNT(*) FROM runs GROUP BY seed ORDER BY seed").fetchall()
        n_summary = conn.execute("SELECT COUNT(DISTINCT run_id) FROM summary").fetchone()[0]
    assert seeds == [(s, 3) for s in sorted(comp.seeds)] and n_summary == 3 * R
    ids = [i for s in data["scenarios"] for i in s["run_ids"]]
    assert len(set(ids)) == 3 * R
    # figures: prefixed by the id, PNG and SVG, with their labels
    paths = [Path(p) for p in data["figures"]]
    assert len(paths) == 6 and all(p.parent == out_dir and p.name.startswith(cid + "_") for p in paths)
    for p in paths:
        head = p.read_bytes()[:8]
        assert head == b"\x89PNG\r\n\x1a\n" if p.suffix == ".png" else head.startswith(b"<?xml")
    svg = (out_dir / f"{cid}_timeseries.svg").read_text(encoding="utf-8")
    for text in ("Resolution rate (share of problems arisen, 0-1)", "Day of simulation (days)", "small_whistle", "small #2"):
        assert text in svg


def test_cli_table_output(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db, out_dir = tmp_path / "runs.db", tmp_path / "figs"
    rc, out, err = _run_cli(["compare", str(files["small"]), str(files["whistle"]), "--replicates", "2", "--steps",
                             "20", "--workers", "1", "--db", f"sqlite:///{db}", "--out", str(out_dir), "--quiet"],
                            capsys)
    assert rc == 0, err
    assert err == ""
    lines = out.splitlines()
    assert lines[0].startswith("Comparison ") and "2 scenarios x 2 replicates x 20 days" in lines[0]
    table = lines[: lines.index("figures:") - 2]  # then a blank line, "stored ... in <db>", "figures:", paths
    assert all(len(line) <= 120 for line in table)
    firsts = [line.split(" ")[0] for line in lines]
    blocks = firsts.count(METRICS[0])  # the table wraps into blocks of scenarios when wider than 120
    assert blocks >= 1 and all(firsts.count(m) == blocks for m in METRICS)
    assert any(line.startswith("Cost-effectiveness vs small") for line in lines)
    cid = re.search(r"label compare:(\S+) ", out).group(1)
    assert _count_runs(db, f"compare:{cid}") == 4
    written = sorted(str(p) for p in out_dir.iterdir())
    printed = sorted(line.strip() for line in lines if line.startswith("  ") and line.strip().startswith(str(out_dir)))
    assert len(written) == 6 and printed == written
    assert all(Path(p).name.startswith(cid + "_") for p in written)


@pytest.mark.parametrize("case", ["bad_value", "missing_file", "bad_db", "bad_db_url", "replicates", "workers"])
def test_cli_user_errors_exit_2_and_write_nothing(case: str, files: dict[str, Path], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    db, out_dir = tmp_path / "runs.db", tmp_path / "figs"
    scen = [str(files["small"]), str(files["whistle"])]
    extra: list[str] = []
    url = f"sqlite:///{db}"
    if case == "bad_value":
        scen.append(str(files["bad"]))  # the last one is bad: nothing may run
    elif case == "missing_file":
        scen.append(str(tmp_path / "nope.toml"))
    elif case == "bad_db":
        url = f"sqlite:///{tmp_path / 'no_such_dir' / 'runs.db'}"
    elif case == "bad_db_url":
        url = "notaurl"
    elif case == "replicates":
        extra = ["--replicates", "1"]
    elif case == "workers":
        extra = ["--workers", "0"]
    rc, out, err = _run_cli(["compare", *scen, "--steps", "5", "--db", url, "--out", str(out_dir), *extra], capsys)
    assert rc == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("govsim: error: "), err
    if case == "bad_value":
        assert "bad.toml" in err and "world.n_streets" in err
    assert list(tmp_path.iterdir()) == []  # no DB file, no figure directory


def test_prepare_rejects_bad_steps_naming_the_scenario(files: dict[str, Path]) -> None:
    from sim.errors import ScenarioError

    with pytest.raises(ScenarioError, match="run.n_steps"):
        prepare([files["small"]], steps=0)


def test_a_policy_from_a_user_module_runs_in_worker_processes(tmp_path: Path, files: dict[str, Path],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers start with only the built-in policies: compare imports the user's module there."""
    from sim import load_scenario

    with user_policy_module(tmp_path, monkeypatch) as module:
        base = load_scenario(files["small"])
        reform = base.with_overrides({"policies.less_paperwork_test": {"share_cut": 0.8}})
        one = compare([base, reform], replicates=3, steps=STEPS, seed=ROOT_SEED, workers=1, progress=False)
        two = compare([base, reform], replicates=3, steps=STEPS, seed=ROOT_SEED, workers=2, progress=False)
        pd.testing.assert_frame_equal(one.runs, two.runs)
        # and it acts: fewer pushed-down tasks leave community staff less busy
        assert one.table().loc["staff_utilisation", (one.labels[1], "diff")] < 0
        # a class defined in __main__ (a notebook) cannot reach a worker: one clear error
        monkeypatch.setattr(module.LessPaperwork, "__module__", "__main__")
        with pytest.raises(ValueError, match="less_paperwork_test.*__main__.*workers=1"):
            compare([base, reform], replicates=3, steps=STEPS, workers=2, progress=False)


def test_sigterm_while_a_run_is_stored_stops_after_its_commit(files: dict[str, Path], tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import signal
    import sqlite3

    from sim.experiments.compare import ComparisonInterrupted, run_comparison
    from sim.store.database import ResultStore

    db = tmp_path / "term.db"
    entries = prepare([files["small"], files["whistle"]], steps=STEPS)
    with ResultStore(f"sqlite:///{db}") as store:
        real = store.save_run

        def save_then_term(record):  # SIGTERM arrives while the first run is being stored
            os.kill(os.getpid(), signal.SIGTERM)
            return real(record)

        monkeypatch.setattr(store, "save_run", save_then_term)
        with pytest.raises(ComparisonInterrupted) as err:
            run_comparison(entries, replicates=2, seed=1, workers=1, progress=False, store=store)
    assert err.value.n_stored == 1
    with sqlite3.connect(db) as conn:  # that run was committed whole, and nothing after it ran
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1
        assert conn.execute("SELECT COUNT(DISTINCT run_id) FROM summary").fetchone()[0] == 1
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handlers are put back
