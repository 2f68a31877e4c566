"""``govsim compare``: scenarios over replicates with common random numbers, a table and figures."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from sim.cli.common import (
    DB_HELP,
    EXIT_INTERRUPTED,
    SET_HELP,
    check_workers,
    json_text,
    limits,
    notice_compiling,
    out_dir,
    parse_set,
    set_error,
)
from sim.errors import InputError, OutputError, ScenarioError

if TYPE_CHECKING:
    from pathlib import Path

    from sim.cli.common import Subparsers
    from sim.experiments.compare import Comparison, Entry
    from sim.experiments.uncertainty import UncertainComparison
    from sim.experiments.uncertainty_spec import Uncertain

__all__ = ["add_compare_command", "cmd_compare"]

_DESCRIPTION = (
    "Run every scenario R times and compare them with the first (the baseline). Replicate r of every scenario "
    "uses the same seed, int(numpy.random.SeedSequence(S).spawn(R)[r].generate_state(1)[0]) (common random "
    "numbers), so differences to the baseline are paired by replicate. Prints one table of main outcomes, mean "
    "[95% CI] per scenario and the paired difference to the baseline; stores every run with label "
    "compare:<id>; writes figures <id>_*.png/.svg to the --out directory. With a reform date (reform.start_day > 0) "
    "it also prints each outcome's pre/post-reform windows and the reform's effect (its change minus the "
    "baseline's, paired by replicate).")


def cmd_compare(args: argparse.Namespace) -> int:
    """Validate every scenario, run the comparison into the store, print the table, write the figures."""
    from sim.experiments.compare import ComparisonInterrupted, run_comparison
    from sim.store.database import ResultStore

    if args.replicates < 2:
        raise InputError(f"--replicates must be at least 2 for confidence intervals, got {args.replicates}")
    if args.series_every < 1:
        raise InputError(f"--series-every must be at least 1 (1 stores every recorded day), got {args.series_every}")
    check_workers(args.workers)
    if args.replicates > 1_000_000:
        raise InputError(f"--replicates {args.replicates}: allowed: 2 to 1,000,000", value=args.replicates)
    entries = _prepare(args)  # every scenario validated, --set applied, before anything runs
    _check_resources(args, entries)
    uncertain = _uncertain(args.uncertainty, entries, args.replicates, args.seed)  # and every draw
    out = out_dir(args.out)
    store = ResultStore(args.db)  # fails here, before running, on a bad URL
    notice_compiling()
    unc: UncertainComparison | None = None
    try:
        if uncertain is None:
            comp = run_comparison(entries, args.replicates, args.seed, args.workers, progress=not args.quiet,
                                  store=store, series_every=args.series_every, share_prefix=args.share_prefix)
        else:
            from sim.experiments.uncertainty import run_uncertain

            unc = run_uncertain(entries, uncertain, args.replicates, args.seed, args.workers,
                                progress=not args.quiet, store=store, series_every=args.series_every,
                                share_prefix=args.share_prefix)
            comp = unc.comparison
    except ComparisonInterrupted as exc:
        print(f"govsim: interrupted; {exc.n_stored} finished runs were stored with label "
              f"compare:{exc.comparison_id}, nothing for the unfinished ones", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        store.close()
    try:
        figures = comp.save_figures(out)
    except OSError as err:
        raise OutputError(f"the runs are stored with label compare:{comp.comparison_id}, but the figures could not "
                          f"be written to '{out}' ({err.strerror or err})") from None
    _print(args, comp, store.url, figures, unc)
    return 0


def _check_resources(args: argparse.Namespace, entries: list[Entry]) -> None:
    """Refuse a comparison too large for this machine (or the caps), before anything runs."""
    import os

    from sim.core.resources import check_resources, estimate

    workers = args.workers or os.cpu_count() or 1
    check_resources([estimate(e.scenario) for e in entries], args.replicates, workers, limits(args),
                    "the comparison")


def _prepare(args: argparse.Namespace) -> list[Entry]:
    """The scenarios with every ``--set`` applied (``--steps`` last); a bad ``--set`` names itself."""
    from sim.experiments.compare import prepare

    sets = parse_set(args.set)
    try:
        return prepare(args.scenarios, args.steps, sets)
    except ScenarioError as err:
        if any(err.key == k or err.key.startswith(k + ".") or k.startswith(err.key + ".") for k in sets):
            raise set_error(sets, err.key, err.message, err.source) from None
        raise


def _uncertain(spec: str | None, entries: list[Entry], replicates: int, seed: int) -> list[Uncertain] | None:
    """``--uncertainty [FILE]``: the parameters to draw (None without the flag), every draw checked."""
    if spec is None:
        return None
    from sim.experiments.uncertainty import prepare_draws
    from sim.experiments.uncertainty_spec import load_uncertainty, resolve_uncertain

    scenarios = [e.scenario for e in entries]
    uncertain = load_uncertainty(spec, scenarios) if spec else resolve_uncertain(scenarios)
    prepare_draws(entries, uncertain, replicates, seed)  # a draw a scenario rejects fails here
    return uncertain


def _print(args: argparse.Namespace, comp: Comparison, url: str, figures: list[Path],
           unc: UncertainComparison | None = None) -> None:
    from sim.experiments.compare_windows import format_pre_post, pre_post_records
    from sim.experiments.cost_effect import cost_effectiveness_records, format_cost_effectiveness

    if args.json:
        data = comp.to_json_dict()
        data.update(db=url, figures=[str(p) for p in figures])
        if comp.reform_day() > 0:
            data["pre_post"] = [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
                                for r in pre_post_records(comp)]
        if unc is not None:
            data["uncertainty"] = unc.to_dict()
            data["uncertainty"]["cost_effectiveness"] = cost_effectiveness_records(comp, uncertain=True)
        print(json_text(data))
        return
    print(unc.format_table() if unc is not None else comp.format_table())
    if len(comp.labels) > 1:
        print("\n" + format_cost_effectiveness(comp, unc))
    if comp.reform_day() > 0:
        print("\n" + format_pre_post(comp))
    print(f"\nstored {len(comp.runs)} runs with label compare:{comp.comparison_id} in {url} "
          f"({comp.wall_s:.1f} s, {comp.workers} worker{'s' if comp.workers > 1 else ''})")
    print("figures:")
    for path in figures:
        print(f"  {path}")


def add_compare_command(subparsers: Subparsers) -> None:
    """Register ``compare`` on govsim's subparsers."""
    c = subparsers.add_parser("compare", help="compare scenarios over replicates with common random numbers",
                              description=_DESCRIPTION)
    c.add_argument("scenarios", nargs="+", metavar="SCENARIO.toml", help="scenario files; the first is the baseline")
    c.add_argument("--replicates", type=int, default=20, metavar="R",
                   help="replicates per scenario (default: 20, at least 2)")
    c.add_argument("--steps", type=int, metavar="N", help="days to simulate (default: each scenario's run.n_steps)")
    c.add_argument("--seed", type=int, default=1, metavar="S", help="root seed of the replicate seeds (default: 1)")
    c.add_argument("--workers", type=int, metavar="W",
                   help="worker processes (default: the number of CPUs; 1 runs in this process)")
    c.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help=SET_HELP + "; applied to every scenario compared, e.g. reform.start_day=365")
    c.add_argument("--db", help=DB_HELP)
    c.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    c.add_argument("--quiet", action="store_true", help="no progress bar (there is none when stderr is not a terminal)")
    c.add_argument("--series-every", type=int, default=1, metavar="N",
                   help="store every N-th recorded day of each run's time series, e.g. 7 for weekly series: a store "
                        "nearly N times smaller (3.9x for 7); the table, summaries and this command's figures use every day "
                        "(default: 1)")
    c.add_argument("--uncertainty", nargs="?", const="", metavar="FILE",
                   help="each replicate draws the uncertain parameters once, shared by all scenarios: every "
                        "parameter with a plausible range (govsim params), or those FILE names with their "
                        "distributions; the table gives 95%% ranges over draws and seeds, P(beats baseline), "
                        "P(best) and the parameters driving each difference")
    c.add_argument("--no-share-prefix", dest="share_prefix", action="store_false",
                   help="run every scenario's days before its reform date itself; by default scenarios that differ "
                        "only in their policies run the warm-up and those days once per replicate and go on from a "
                        "copy each (the same results, bit for bit, in less time)")
    c.add_argument("--out", default="results", metavar="DIR", help="directory for the figures (default: results)")
    c.set_defaults(func=cmd_compare)
