"""``govsim list [runs|comparisons|sweeps] [--json]``: what the results store holds."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sim.cli.common import DB_HELP, json_text

if TYPE_CHECKING:
    from sim.cli.common import Subparsers

__all__ = ["add_list_command", "cmd_list", "format_listing"]

_KINDS = ("runs", "comparisons", "sweeps")


def _date(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if isinstance(value, datetime) else str(value)


def _cells(kind: str, row: dict[str, Any]) -> list[str]:
    """One row of the table: id, label, scenario, seed, steps, runs, date (UTC), size (values)."""
    scenario = row["scenario"] if isinstance(row["scenario"], str) else " vs ".join(row["scenario"])
    seed = row["seed"]
    if isinstance(seed, list):
        seed = f"{len(seed)} seeds" if len(seed) > 1 else str(seed[0])
    runs = {"runs": "1", "comparisons": str(row.get("runs", "")),
            "sweeps": f"{row.get('runs', 0):,}/{row.get('runs_planned', 0):,}"}[kind]
    return [str(row["id"]), row["label"] or "-", scenario, str(seed), f"{row['steps']:,}", runs, _date(row["date"]),
            f"{row['size']:,}"]


def format_listing(listing: dict[str, list[dict[str, Any]]], url: str) -> str:
    """The listing as plain-text tables, one per kind, under a line naming the store."""
    header = ["id", "label", "scenario", "seed", "days", "runs", "date (UTC)", "size (values)"]
    lines = [f"results database {url}"]
    for kind, rows in listing.items():
        lines.append("")
        if not rows:
            lines.append(f"{kind}: none")
            continue
        lines.append(f"{kind} ({len(rows)}; govsim report <id>):")
        table = [header] + [_cells(kind, r) for r in rows]
        widths = [max(len(r[i]) for r in table) for i in range(len(header))]
        right = {3, 4, 5, 7}
        for r in table:
            lines.append("  " + "  ".join(c.rjust(w) if i in right else c.ljust(w)
                                          for i, (c, w) in enumerate(zip(r, widths))).rstrip())
    return "\n".join(lines)


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}


def cmd_list(args: argparse.Namespace) -> int:
    """Print the single runs, comparisons and sweeps stored (or only the kind asked for)."""
    from sim.store.catalog import list_stored
    from sim.store.database import ResultStore

    store = ResultStore(args.db, read_only=True)
    try:
        listing = list_stored(store, (args.kind,) if args.kind else _KINDS)
    finally:
        store.close()
    if args.json:
        out = {"db": store.url, "units": {"steps": "days", "size": "stored time-series values", "date": "UTC"},
               **{kind: [_json_row(r) for r in rows] for kind, rows in listing.items()}}
        print(json_text(out))
    else:
        print(format_listing(listing, store.url))
    return 0


def add_list_command(subparsers: Subparsers) -> None:
    """Register ``list`` on govsim's subparsers."""
    c = subparsers.add_parser(
        "list", help="list the single runs, comparisons and sweeps in the results database",
        description="List what the results database holds: single runs (govsim run), comparisons (the runs of one "
                    "govsim compare, label compare:<id>) and sweeps, each with its id (what govsim report takes), "
                    "label, scenario, seed, days simulated, date (UTC) and size (stored time-series values). "
                    "Reads only: a missing database is an error and nothing is created.")
    c.add_argument("kind", nargs="?", choices=_KINDS, help="list only this kind (default: all three)")
    c.add_argument("--json", action="store_true", help="print one JSON object {db, units, runs, comparisons, sweeps}")
    c.add_argument("--db", help=DB_HELP)
    c.set_defaults(func=cmd_list)
