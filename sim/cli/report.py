"""``govsim report RUN_OR_SWEEP_OR_COMPARISON [--out DIR] [--db URL]``: a publishable HTML report."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from sim.cli.common import DB_HELP, out_dir

if TYPE_CHECKING:
    from sim.cli.common import Subparsers

__all__ = ["add_report_command", "cmd_report"]


def cmd_report(args: argparse.Namespace) -> int:
    """Write the report of a stored run, comparison or sweep; print the files written."""
    from sim.report.html import make_report
    from sim.store.database import ResultStore

    out = out_dir(args.out)
    store = ResultStore(args.db, create=False)  # a report reads: a missing database is an error, not a new file
    try:
        rep = make_report(store, args.ref, out)
    finally:
        store.close()
    print(f"report: {rep.files[0]}")
    for path in rep.files[1:]:
        print(f"  {path}")
    return 0


def add_report_command(subparsers: Subparsers) -> None:
    """Register ``report`` on govsim's subparsers."""
    r = subparsers.add_parser(
        "report", help="write an HTML report (and PNG/SVG figures) of a stored run, comparison or sweep",
        description="Rebuild tables and figures from the results database and write <DIR>/<id>_report.html "
                    "(self-contained, figures embedded) plus every figure as PNG and SVG.")
    r.add_argument("ref", metavar="RUN_OR_SWEEP_OR_COMPARISON",
                   help="a run id (integer), a comparison id (compare:<id> as printed by govsim compare, or <id>) "
                        "or a sweep id (or a unique prefix, e.g. its name)")
    r.add_argument("--out", default="results", metavar="DIR", help="output directory (default: results)")
    r.add_argument("--db", help=DB_HELP)
    r.set_defaults(func=cmd_report)
