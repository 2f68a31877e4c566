"""Command line: ``govsim run``, ``govsim compare``, ``govsim bench``, ``govsim params``.

Every user error (bad scenario, bad parameter, bad database URL) prints one line
``govsim: error: ...`` to stderr and exits with code 2, before anything is written.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

from sim.errors import GovsimError, InputError, ParameterError

EXIT_USAGE = 2




def _fmt(value: float) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if float(value).is_integer():
        return f"{value:.0f}"
    return f"{value:.3f}"


SUMMARY_LAYOUT: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Problems", ("problems_arisen", "problems_found", "problems_resolved", "problems_pending",
                  "problems_abandoned", "resolution_rate", "abandonment_rate")),
    ("Time to resolution (days)", ("days_to_resolution_median", "days_to_resolution_p90",
                                   "days_to_resolution_median_big")),
    ("Resolved at level (share)", ("share_resolved_grid", "share_resolved_property", "share_resolved_community",
                                   "share_resolved_street", "share_resolved_department", "share_resolved_city")),
    ("Finding and contacts", ("share_found_proactive", "repeat_contacts_per_resolved")),
    ("Residents", ("satisfaction_mean", "satisfaction_p10", "trust_mean", "satisfaction_old",
                   "satisfaction_mature", "satisfaction_new", "volunteer_hours")),
    ("Staff and cost", ("staff_utilisation", "grid_utilisation", "cost_yuan")),
)


def format_summary(summary: dict[str, float], title: str) -> str:
    """The summary as an aligned plain-text table, grouped by topic."""
    width = max(len(k) for _, keys in SUMMARY_LAYOUT for k in keys)
    lines = [title, "=" * len(title)]
    for heading, keys in SUMMARY_LAYOUT:
        lines.append(f"{heading}")
        for k in keys:
            if k in summary:
                lines.append(f"  {k:<{width}}  {_fmt(summary[k]):>14}")
    return "\n".join(lines)


def _parse_set(items: Sequence[str]) -> dict[str, Any]:
    """``--set key=value`` pairs; values are parsed as TOML scalars (numbers, true/false, strings)."""
    import tomllib

    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InputError(f"--set {item!r}: expected KEY=VALUE, e.g. community.n_grid_workers_per_grid=1.5")
        try:
            out[key.strip()] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = raw
    return out


def cmd_run(args: argparse.Namespace) -> int:
    from sim.config.version import __version__
    from sim.core.model import Model
    from sim.core.scenario import load_scenario
    from sim.store.database import ResultStore, RunRecord

    scenario = load_scenario(args.scenario)
    overrides = _parse_set(args.set)
    if args.steps is not None:
        overrides["run.n_steps"] = args.steps
    for key, value in overrides.items():
        try:
            scenario = scenario.with_overrides({key: value})
        except ParameterError as err:
            raise InputError(f"--set {key}={value!r}: {err.message}") from None
    store = ResultStore(args.db)  # fails here, before running, on a bad URL
    model = Model(scenario, seed=args.seed)
    results = model.run(progress=None if not args.quiet else False)
    record = RunRecord(
        scenario_name=scenario.name, scenario_hash=scenario.content_hash(), scenario_text=scenario.to_toml(),
        seed=model.seed, n_steps=model.t, package_version=__version__,
        started_at=results.started_at, finished_at=results.finished_at,
        summary=results.summary, timeseries=results.timeseries, t=results.t, label=args.label,
    )
    run_id = store.save_run(record)
    store.close()
    if args.json:
        out = {"run_id": run_id, "scenario": scenario.name, "seed": model.seed, "db": store.url,
               "setup_s": round(results.setup_s, 3), "run_s": round(results.run_s, 3),
               "summary": {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in results.summary.items()}}
        print(json.dumps(out, ensure_ascii=False))
    else:
        title = f"{scenario.name}: {int(results.summary['n_residents']):,} residents x {model.t} days, seed {model.seed}"
        print(format_summary(results.summary, title))
        print(f"\nstored as run {run_id} in {store.url} ({results.run_s:.1f} s)")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from sim.experiments.compare import ComparisonInterrupted, prepare, run_comparison
    from sim.store.database import ResultStore

    if args.replicates < 2:
        raise InputError(f"--replicates must be at least 2 for confidence intervals, got {args.replicates}")
    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers must be at least 1, got {args.workers}")
    entries = prepare(args.scenarios, args.steps)  # every scenario validated before anything runs
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {args.out}: not a directory")
    parent = next((p for p in (out, *out.parents) if p.exists()), Path("."))
    if not out.exists() and not (parent.is_dir() and os.access(parent, os.W_OK)):
        raise InputError(f"--out {args.out}: cannot create it in '{parent}'")
    store = ResultStore(args.db)  # fails here, before running, on a bad URL
    try:
        comp = run_comparison(entries, args.replicates, args.seed, args.workers, progress=not args.quiet, store=store)
    except ComparisonInterrupted as exc:
        print(f"govsim: interrupted; {exc.n_stored} finished runs were stored with label "
              f"compare:{exc.comparison_id}, nothing for the unfinished ones", file=sys.stderr)
        return 130
    finally:
        store.close()
    try:
        figures = comp.save_figures(out)
    except OSError as err:
        raise InputError(f"the runs are stored with label compare:{comp.comparison_id}, but the figures could not be "
                        f"written to '{out}' ({err.strerror or err})") from None
    if args.json:
        data = comp.to_json_dict()
        data.update(db=store.url, figures=[str(p) for p in figures])
        print(json.dumps(data, ensure_ascii=False))
    else:
        print(comp.format_table())
        print(f"\nstored {len(comp.runs)} runs with label compare:{comp.comparison_id} in {store.url} "
              f"({comp.wall_s:.1f} s, {comp.workers} worker{'s' if comp.workers > 1 else ''})")
        print("figures:")
        for path in figures:
            print(f"  {path}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from sim.bench.cases import run_bench

    report = run_bench(quick=args.quick, cases=args.case, to_stderr=args.json)
    if args.json:
        print(json.dumps(report))
    return 0


def cmd_params(args: argparse.Namespace) -> int:
    from sim.config.parameter_table import parameter_table

    from sim.core.scenario import Scenario

    print(parameter_table(Scenario()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="govsim", description="Agent-based simulator of community governance.")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run one scenario and store the run")
    r.add_argument("scenario", help="scenario TOML file, e.g. scenarios/baseline.toml")
    r.add_argument("--steps", type=int, help="days to simulate (default: the scenario's run.n_steps)")
    r.add_argument("--seed", type=int, help="random seed (default: the scenario's run.seed)")
    r.add_argument("--db", help="SQLAlchemy URL of the results database (default: sqlite:///results/govsim.db)")
    r.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario parameter by dotted key (repeatable)")
    r.add_argument("--label", default="", help="free-text label stored with the run")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=cmd_run)
    c = sub.add_parser(
        "compare", help="compare scenarios over replicates with common random numbers",
        description="Run every scenario R times and compare them with the first (the baseline). Replicate r of "
                    "every scenario uses the same seed, int(numpy.random.SeedSequence(S).spawn(R)[r]"
                    ".generate_state(1)[0]) (common random numbers), so differences to the baseline are paired by "
                    "replicate. Prints one table of main outcomes, mean [95% CI] per scenario and the paired "
                    "difference to the baseline; stores every run with label compare:<id>; writes figures "
                    "<id>_*.png/.svg to the --out directory.")
    c.add_argument("scenarios", nargs="+", metavar="SCENARIO.toml", help="scenario files; the first is the baseline")
    c.add_argument("--replicates", type=int, default=20, metavar="R",
                   help="replicates per scenario (default: 20, at least 2)")
    c.add_argument("--steps", type=int, metavar="N", help="days to simulate (default: each scenario's run.n_steps)")
    c.add_argument("--seed", type=int, default=1, metavar="S", help="root seed of the replicate seeds (default: 1)")
    c.add_argument("--workers", type=int, metavar="W",
                   help="worker processes (default: the number of CPUs; 1 runs in this process)")
    c.add_argument("--db", help="SQLAlchemy URL of the results database (default: sqlite:///results/govsim.db)")
    c.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.add_argument("--out", default="results", metavar="DIR", help="directory for the figures (default: results)")
    c.set_defaults(func=cmd_compare)
    b = sub.add_parser("bench", help="measure speed and memory")
    b.add_argument("--json", action="store_true", help="print one JSON object with the cases")
    b.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    b.add_argument("--case", action="append", default=None, help="run only this case (repeatable)")
    b.set_defaults(func=cmd_bench)
    q = sub.add_parser("params", help="list every parameter with default, range, unit and source")
    q.set_defaults(func=cmd_params)
    from sim.cli.sweep import add_sweep_commands
    from sim.experiments.calibrate import add_calibrate_command
    from sim.mesa.viz import add_viz_command
    from sim.report.html import add_report_command

    add_sweep_commands(sub)
    add_calibrate_command(sub)
    add_viz_command(sub)
    add_report_command(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from sim.errors import ScenarioError, StoreError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "seed", None) is not None and args.seed < 0:
            raise InputError(f"--seed {args.seed}: must be a non-negative integer")
        if getattr(args, "steps", None) is not None and args.steps < 1:
            raise InputError(f"--steps {args.steps}: must be a positive integer")
        return int(args.func(args))
    except GovsimError as err:
        print(f"govsim: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("govsim: interrupted; what was not finished was not stored", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
