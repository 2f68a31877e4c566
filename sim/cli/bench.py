"""``govsim bench``: speed and memory of the model on fixed cases."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.cli.common import Subparsers

__all__ = ["add_bench_command", "cmd_bench"]


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the benchmark cases; print one JSON object with ``--json`` (the progress goes to stderr)."""
    from sim.bench.cases import run_bench

    report = run_bench(quick=args.quick, cases=args.case, to_stderr=args.json)
    if args.json:
        print(json.dumps(report))
    return 0


def add_bench_command(subparsers: Subparsers) -> None:
    """Register ``bench`` on govsim's subparsers."""
    b = subparsers.add_parser("bench", help="measure speed and memory")
    b.add_argument("--json", action="store_true", help="print one JSON object with the cases")
    b.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    b.add_argument("--case", action="append", default=None, help="run only this case (repeatable)")
    b.set_defaults(func=cmd_bench)
