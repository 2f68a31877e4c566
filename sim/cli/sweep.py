"""Command line for experiments at scale: ``govsim sweep``, ``govsim sensitivity``, ``govsim export``.

``add_sweep_commands(subparsers)`` registers the three subcommands on govsim's parser; each
handler returns an exit code and raises a :class:`sim.errors.GovsimError` for user errors (one
line, exit code 2, nothing written). ``python -m sim.cli.sweep sweep|sensitivity|export ...``
runs them on their own.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from sim.cli.common import (
    DB_HELP,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    OneLineParser,
    add_global_flags,
    check_scheduler,
    check_workers,
    json_text,
    limits,
    notice_compiling,
    out_dir,
    run_command,
)
from sim.config.units import units_of
from sim.errors import InputError, OutputError

if TYPE_CHECKING:
    from sim.cli.common import Subparsers
    from sim.experiments.sweep.run import SweepReport
    from sim.experiments.sweep.spec import SweepSpec

__all__ = ["add_sweep_commands", "cmd_export", "cmd_sensitivity", "cmd_sweep", "main"]


def _scheduler(args: argparse.Namespace) -> str | None:
    """The Dask scheduler to use: ``--scheduler``, else ``$DASK_SCHEDULER_ADDRESS`` unless ``--workers``."""
    check_workers(args.workers)
    if args.workers is not None and args.scheduler:
        raise InputError("--workers and --scheduler exclude each other: with a scheduler the cluster's workers run")
    if args.scheduler:
        return check_scheduler(str(args.scheduler))
    env = os.environ.get("DASK_SCHEDULER_ADDRESS") if args.workers is None else None
    return check_scheduler(env, "$DASK_SCHEDULER_ADDRESS") if env else None


#: units of ``govsim sweep --json``
_SWEEP_UNITS = {"n_runs": "runs", "n_before": "runs", "n_stored": "runs", "n_found": "runs", "n_done": "runs",
                "n_failed": "runs", "wall_s": "seconds", "loop_s": "seconds", "compute_s": "seconds",
                "store_s": "seconds"}


def _print_plan(spec: SweepSpec, as_json: bool) -> None:
    """``--dry-run``: the sweep's size, factors and outcomes, nothing run or written."""
    factors = [f.name for f in spec.factors]
    plan = {"sweep_id": spec.sweep_id, "design": spec.design, "n_experiments": spec.n_experiments,
            "replicates": spec.replicates, "n_runs": spec.n_runs, "steps": spec.steps,
            "factors": factors, "outcomes": list(spec.outcomes),
            "first_experiments": [spec.parameters(i) for i in range(min(3, spec.n_experiments))],
            "units": {"steps": "days", **units_of(spec.outcomes)}}
    print(json_text(plan) if as_json else
          f"sweep {spec.sweep_id}: {spec.design}, {spec.n_experiments:,} experiments x {spec.replicates} "
          f"replicates = {spec.n_runs:,} runs of {spec.steps} days; factors: {', '.join(factors) or '-'}; "
          f"outcomes: {', '.join(spec.outcomes)} (valid; nothing run or written)")


def _finish(args: argparse.Namespace, report: SweepReport, url: str) -> int:
    """Print what the sweep did; the exit code: 0 done, 1 some runs failed, 130 interrupted."""
    if args.json:
        print(json_text({**report.to_json(), "db": url, "units": _SWEEP_UNITS}))
    if report.interrupted:
        kept = (f"the {report.stored_after_stop} run(s) in flight were finished and stored; "
                if report.in_flight_at_stop else "")
        print(f"govsim: interrupted; {kept}{report.n_done:,} of {report.n_runs:,} runs of sweep {report.sweep_id} "
              f"are stored; run the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    if report.n_failed:
        print(f"govsim: {report.n_failed} run(s) of sweep {report.sweep_id} failed, recorded with their errors in "
              f"the store (table sweep_failures); {report.n_done:,} of {report.n_runs:,} are stored; run the same "
              f"command to retry the failed runs:", file=sys.stderr)
        for line in report.errors:
            print(f"  {line}", file=sys.stderr)
        if report.n_failed > len(report.errors):
            print(f"  ... and {report.n_failed - len(report.errors)} more", file=sys.stderr)
        return EXIT_FAILED
    if not args.json:
        ran = report.n_stored + report.n_found  # found: stored by a commit whose answer was lost
        rate = f", {ran / report.wall_s * 60:,.0f} runs/min" if ran and report.wall_s > 0 else ""
        print(f"sweep {report.sweep_id}: {report.n_done:,}/{report.n_runs:,} runs stored in {url} "
              f"(ran {ran:,} in {report.wall_s:.1f} s{rate})")
        print(f"next: govsim sensitivity {report.sweep_id}    govsim export {report.sweep_id} --format csv")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run (or resume) every experiment of a sweep file into the results store."""
    from sim.core.resources import check_resources, estimate
    from sim.experiments.cluster import tls_security
    from sim.experiments.sweep.run import STORE_EVERY_S, run_sweep, sweep_executor
    from sim.experiments.sweep.spec import load_sweep
    from sim.store.database import ResultStore
    from sim.store.schema import check_url

    if args.commit_every is not None and not 0 <= args.commit_every < float("inf"):  # NaN, < 0, inf: before work
        raise InputError(f"--commit-every {args.commit_every}: allowed: a number of seconds >= 0")
    scheduler = _scheduler(args)
    security = tls_security(scheduler, args.tls_ca_file, args.tls_cert, args.tls_key)
    if not args.dry_run:
        check_url(args.db, persistent=True)  # an in-memory database could not be resumed: refused before work
    caps = limits(args)
    spec = load_sweep(args.sweep, max_runs=caps.max_runs)  # every experiment is validated before anything runs
    workers = 1 if scheduler else (args.workers or os.cpu_count() or 1)  # a cluster: its workers, not ours
    sized = any(f.key.startswith("world.") for f in spec.factors)  # factors that change the world's size
    largest = max((estimate(spec.scenario(i), spec.steps) for i in range(spec.n_experiments if sized else 0)),
                  key=lambda e: e.memory, default=estimate(spec.base, spec.steps))
    check_resources([largest], spec.n_runs, workers, caps, f"sweep {spec.sweep_id}")
    if args.dry_run:
        _print_plan(spec, args.json)
        return 0
    executor = sweep_executor(spec, args.workers, scheduler, security=security)  # unreachable scheduler: exit 2
    finished = False
    try:
        store = ResultStore(args.db)  # a bad URL fails here, before anything is written
        try:  # the compile notice once the lease is held: a sweep run elsewhere or done is refused without it
            report = run_sweep(spec, store, executor=executor, progress=not args.quiet, on_start=notice_compiling,
                               commit_every_s=STORE_EVERY_S if args.commit_every is None else args.commit_every)
        finally:
            store.close()
        finished = not report.interrupted
    finally:
        executor.close(cancel=not finished)
    return _finish(args, report, store.url)


def cmd_sensitivity(args: argparse.Namespace) -> int:
    """SALib indices of a stored sweep: print them and save a bar chart."""
    from sim.experiments.sensitivity import analyse, format_results, plot_results
    from sim.store.database import ResultStore

    out = out_dir(args.out)
    store = ResultStore(args.db, read_only=True)
    try:
        analysis = analyse(store, args.sweep_id, args.method, args.outcome or None)
    finally:
        store.close()
    from sim.config.names import safe_filename

    name = safe_filename(f"sensitivity_{analysis.sweep['id']}_{analysis.method}")
    path = plot_results(analysis, out / f"{name}.png")
    if args.json:
        units = units_of(r.outcome for r in analysis.results)  # of the outcomes; the indices have none
        print(json_text({**analysis.to_json(), "figure": str(path), "units": units}))
    else:
        print(format_results(analysis))
        print(f"\nfigure: {path}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write a stored sweep as one tidy CSV or Parquet table."""
    from sim.store.database import ResultStore
    from sim.store.export import export_sweep

    store = ResultStore(args.db, read_only=True)
    try:
        path, n, sid = export_sweep(store, args.sweep_id, args.format, args.out, timeseries=args.timeseries,
                                    force=args.force)
    except OutputError as err:
        if args.out is None:
            raise
        raise OutputError(f"--out: {err}") from None  # the message names the path already
    finally:
        store.close()
    print(f"wrote {n:,} rows of sweep {sid} to {path}")
    return 0


def _add_sweep(subparsers: Subparsers) -> None:
    s = subparsers.add_parser(
        "sweep", help="run a sweep of experiments (XLRM sweep file) into the results store",
        description="Run every experiment of a sweep file (uncertainties x levers by a full factorial, Latin "
                    "hypercube, Sobol or Morris design) R times, storing the runs as they finish. Running the same "
                    "file again resumes: only missing (experiment, replicate) runs are run. Seeds derive from the "
                    "file's root seed, so results do not depend on workers or order. With common_random_numbers and only "
                    "policy parameters as factors, the days before the reform date are run once per replicate and "
                    "each experiment goes on from a copy (the same results; runs are handed out replicate by "
                    "replicate). Ctrl-C (or SIGTERM) hands out "
                    "no new run, finishes and stores the runs in flight, and exits 130; a second Ctrl-C drops them. "
                    "Exit 1 if some runs failed (recorded with their errors; the rest of the sweep ran); exit 2 if "
                    "another coordinator is running the sweep (nothing run) or the database fails for good.")
    s.add_argument("sweep", metavar="SWEEP.toml",
                   help="sweep file, e.g. scenarios/sweeps/grid_alliance_empowerment.toml")
    s.add_argument("--workers", type=int, metavar="N", help="local worker processes (default: CPUs; 1: this process)")
    s.add_argument("--scheduler", metavar="ADDRESS",
                   help="Dask scheduler, e.g. tcp://127.0.0.1:8786, or tls://head:8786 with --tls-* (default: "
                        "$DASK_SCHEDULER_ADDRESS when --workers is not given)")
    s.add_argument("--tls-ca-file", metavar="PEM", help="with a tls:// scheduler: the CA that signed the cluster's "
                   "certificates (default: Dask's configuration)")
    s.add_argument("--tls-cert", metavar="PEM", help="with a tls:// scheduler: this client's certificate")
    s.add_argument("--tls-key", metavar="PEM", help="with a tls:// scheduler: this client's private key (if not in "
                   "--tls-cert)")
    s.add_argument("--db", help=DB_HELP)
    s.add_argument("--quiet", action="store_true", help="no progress bar: a progress line a minute (batch logs)")
    s.add_argument("--commit-every", type=float, default=None, metavar="SECONDS",
                   help="a run shorter than this that finishes within it of the last commit waits, one commit for "
                        "many (a commit costs a few ms): it is committed once the last commit is this old, at most half "
                        "a second later if no result comes, or within half a second of a stop signal (with --workers 1, "
                        "once the run under way ends); a SIGKILL loses only runs not yet committed (default: 2; 0: "
                        "each run committed as it finishes)")
    s.add_argument("--json", action="store_true", help="print one JSON object describing what was done")
    s.add_argument("--dry-run", action="store_true", help="validate the sweep and print its size; run nothing")
    s.set_defaults(func=cmd_sweep)


def _add_sensitivity(subparsers: Subparsers) -> None:
    a = subparsers.add_parser(
        "sensitivity", help="SALib sensitivity indices of a stored sweep, with a bar chart",
        description="Sobol (first-order and total indices) or Morris (mu*, sigma) analysis of a sweep sampled with "
                    "the matching design, on the mean of each experiment's replicates; prints the indices with 95% "
                    "confidence intervals and saves a bar chart PNG.")
    a.add_argument("sweep_id", metavar="SWEEP_ID", help="sweep id (or a unique prefix, e.g. the sweep's name)")
    a.add_argument("--method", choices=("sobol", "morris"), help="default: the sweep's design")
    a.add_argument("--outcome", action="append", metavar="NAME", help="analyse only this outcome (repeatable)")
    a.add_argument("--db", help=DB_HELP)
    a.add_argument("--out", default="results", metavar="DIR", help="directory of the chart (default: results)")
    a.add_argument("--json", action="store_true", help="print the indices as one JSON object")
    a.set_defaults(func=cmd_sensitivity)


def _add_export(subparsers: Subparsers) -> None:
    e = subparsers.add_parser(
        "export", help="write a stored sweep as a tidy CSV or Parquet table",
        description="One row per run: sweep_id, experiment, replicate, seed, run_id, scenario_hash, one column per "
                    "factor (dotted key) and one per outcome. --timeseries writes the kept time series (long format).")
    e.add_argument("sweep_id", metavar="SWEEP_ID", help="sweep id (or a unique prefix, e.g. the sweep's name)")
    e.add_argument("--format", choices=("csv", "parquet"), default="csv", help="default: csv")
    e.add_argument("--out", metavar="PATH", help="file or directory (default: results/<sweep_id>.<format>)")
    e.add_argument("--timeseries", action="store_true", help="export the kept time series instead of the summary")
    e.add_argument("--force", action="store_true", help="replace an existing file (never the results database)")
    e.add_argument("--db", help=DB_HELP)
    e.set_defaults(func=cmd_export)


def add_sweep_commands(subparsers: Subparsers) -> None:
    """Register ``sweep``, ``sensitivity`` and ``export`` on govsim's subparsers."""
    _add_sweep(subparsers)
    _add_sensitivity(subparsers)
    _add_export(subparsers)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sim.cli.sweep sweep|sensitivity|export ...``: the same as ``govsim ...``."""
    parser = OneLineParser(prog="govsim", description="Sweeps of experiments, their analysis and export.")
    add_global_flags(parser)
    sub = cast("Subparsers", parser.add_subparsers(dest="command", required=True))
    add_sweep_commands(sub)
    for command in sub.choices.values():
        add_global_flags(command, on_subcommand=True)
    return run_command(parser, argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
