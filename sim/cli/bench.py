"""``govsim bench``: speed and memory of the model on fixed cases."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from sim.cli.common import json_text

if TYPE_CHECKING:
    from sim.cli.common import Subparsers

__all__ = ["add_bench_command", "cmd_bench"]


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the benchmark cases, printing each case's line as it finishes (to stderr with ``--json``).

    With ``--json`` standard output is one JSON object with every case's figures.
    """
    from sim.bench.cases import case_lines, run_bench

    if args.postgres is not None:
        if args.case and "sweep" not in args.case:
            from sim.errors import InputError

            raise InputError("--postgres measures the sweep case's store overhead; allowed: with --case sweep, or "
                             "without --case")
        _check_postgres(args.postgres)
    stream = sys.stderr if args.json else sys.stdout

    def show(row: dict[str, Any]) -> None:
        for line in case_lines(row):
            print(line, file=stream, flush=True)

    report = run_bench(quick=args.quick, cases=args.case, on_row=show, postgres_url=args.postgres)
    if args.json:
        print(json_text(report))
    return 0


def _check_postgres(url: str) -> None:
    """Refuse a ``--postgres`` URL that is not a reachable PostgreSQL database, before any case runs."""
    from sqlalchemy.engine import make_url

    from sim.errors import InputError
    from sim.store.database import ResultStore
    from sim.store.schema import check_url, mask_url

    check_url(url, persistent=True)  # a URL that parses
    if make_url(url).get_backend_name() != "postgresql":
        raise InputError(f"--postgres {mask_url(url)}: not a PostgreSQL URL; allowed: postgresql+psycopg://user@host/db")
    with ResultStore(url):  # reachable, and its tables made (the bench's sweeps are stored there)
        pass


def add_bench_command(subparsers: Subparsers) -> None:
    """Register ``bench`` on govsim's subparsers."""
    b = subparsers.add_parser("bench", help="measure speed and memory")
    b.add_argument("--json", action="store_true", help="print one JSON object with the cases")
    b.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    b.add_argument("--case", action="append", default=None, help="run only this case (repeatable)")
    b.add_argument("--postgres", metavar="URL", default=None,
                   help="also measure the sweep's overhead storing in this PostgreSQL database (a scratch database: "
                        "each bench stores two sweeps of its own there, 2 tiny runs and 16 runs of a year); a "
                        "password is better in PGPASSWORD or ~/.pgpass than in the URL, which other users see in "
                        "the process list")
    b.set_defaults(func=cmd_bench)
