"""``govsim params [PATTERN] [--json]``: the parameters, with meaning, unit, range and source, filtered by key."""

from __future__ import annotations

import argparse
import fnmatch
from typing import TYPE_CHECKING, Any

from sim.cli.common import json_text
from sim.errors import InputError

if TYPE_CHECKING:
    from sim.cli.common import Subparsers

__all__ = ["add_params_command", "cmd_params", "matches", "parameter_groups"]

_GLOB = set("*?[")


def matches(key: str, pattern: str | None) -> bool:
    """Whether dotted ``key`` matches ``pattern``: a glob if it has ``*``, ``?`` or ``[``, else a substring.

    Case-insensitive; no pattern matches every key.
    """
    if not pattern:
        return True
    key, pattern = key.lower(), pattern.lower()
    return fnmatch.fnmatchcase(key, pattern) if _GLOB & set(pattern) else pattern in key


def parameter_groups(pattern: str | None = None) -> list[tuple[str, list[dict[str, Any]]]]:
    """``(group, rows)``: the core's parameters (group ``""``), then each policy's, rows matching ``pattern``."""
    from sim import policies
    from sim.config.parameter_table import iter_parameters
    from sim.core.scenario import Scenario

    groups = [("", list(iter_parameters(Scenario())))]
    groups += [(name, list(iter_parameters(policies.get(name).Params(), f"policies.{name}.")))
               for name in policies.available()]
    return [(g, [r for r in rows if matches(r["key"], pattern)]) for g, rows in groups]


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    plausible = row["plausible"]
    return {
        "key": row["key"], "description": row["description"], "default": row["default"], "unit": row["unit"],
        "range": None if row["choices"] or (row["lo"] is None and row["hi"] is None) else [row["lo"], row["hi"]],
        "choices": list(row["choices"]) if row["choices"] else None,
        "plausible": None if plausible is None else [plausible[0], plausible[1]],
        "plausible_factor_of": row["plausible_key"] if row["factor"] else None,
        "source": row["source"],
    }


def cmd_params(args: argparse.Namespace) -> int:
    """Print the parameters whose key matches PATTERN (all without one) as Markdown tables or JSON."""
    from sim.config.parameter_table import table_of_rows

    groups = parameter_groups(args.pattern)
    if args.pattern and not any(rows for _, rows in groups):
        raise InputError(f"no parameter key matches '{args.pattern}' (a substring such as grid, or a glob such as "
                         f"'world.*'; govsim params lists them all)")
    if args.json:
        print(json_text({"pattern": args.pattern, "parameters": [_json_row(r) for _, rows in groups for r in rows]}))
        return 0
    first = True
    for name, rows in groups:
        if not rows:
            continue
        if name:
            print(f"\n## Policy `{name}`\n")
        elif not first:
            print()
        print(table_of_rows(rows))
        first = False
    return 0


def add_params_command(subparsers: Subparsers) -> None:
    """Register ``params`` on govsim's subparsers."""
    q = subparsers.add_parser(
        "params", help="list the parameters: meaning, default, unit, range, plausible range and source",
        description="Every parameter of a scenario (the core's, then each policy's as policies.<name>.<key>) with "
                    "a one-line description, default, unit, allowed range, plausible range (what compare "
                    "--uncertainty draws) and source: a case report (case 001 Gaoxian ...), a citation, an "
                    "assumption or a convention. docs/parameters.md is this command's output.")
    q.add_argument("pattern", nargs="?", metavar="PATTERN",
                   help="only keys containing PATTERN (case-insensitive), or matching it as a glob if it has * ? "
                        "or [, e.g. grid, 'residents.*_init', 'policies.whistle.*'")
    q.add_argument("--json", action="store_true",
                   help="print one JSON object {pattern, parameters: [{key, description, default, unit, range, "
                        "choices, plausible, plausible_factor_of, source}]}")
    q.set_defaults(func=cmd_params)
