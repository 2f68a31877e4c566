"""The ``govsim`` command and its subcommands.

``run``, ``params``, ``compare``, ``sweep``, ``sensitivity``, ``export``, ``report``, ``calibrate``,
``list``, ``viz`` and ``bench``. Only this package knows argparse, flags and exit codes; the library raises
:class:`sim.errors.GovsimError` subclasses with messages about the data. Every user error (bad
scenario, bad parameter, bad database URL, a path that cannot be written) prints one line
``govsim: error: ...`` to stderr and exits with code 2, before anything is written; a command
whose runs failed (a run raised, a worker process died) exits with code 1; Ctrl-C exits with
code 130 (:mod:`sim.cli.common`). One module per command group builds its subcommands and
imports the library only when its command runs, so ``govsim --help`` loads no heavy library.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from sim.cli.common import (
    EXIT_FAILED,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    OneLineParser,
    add_global_flags,
    dispatch,
    run_command,
)

if TYPE_CHECKING:
    from sim.cli.common import Subparsers

__all__ = ["EXIT_FAILED", "EXIT_INTERNAL", "EXIT_INTERRUPTED", "EXIT_USAGE", "build_parser", "dispatch", "main"]


def build_parser() -> argparse.ArgumentParser:
    """Govsim's argument parser with every subcommand (the command modules are imported here)."""
    from sim.cli.bench import add_bench_command
    from sim.cli.calibrate import add_calibrate_command
    from sim.cli.compare import add_compare_command
    from sim.cli.listing import add_list_command
    from sim.cli.report import add_report_command
    from sim.cli.run import add_run_commands
    from sim.cli.sweep import add_sweep_commands
    from sim.cli.viz import add_viz_command

    parser = OneLineParser(prog="govsim", description="Agent-based simulator of community governance.")
    add_global_flags(parser)
    sub = cast("Subparsers", parser.add_subparsers(dest="command", required=True))
    add_run_commands(sub)
    add_compare_command(sub)
    add_bench_command(sub)
    add_sweep_commands(sub)
    add_calibrate_command(sub)
    add_viz_command(sub)
    add_report_command(sub)
    add_list_command(sub)
    for command in sub.choices.values():
        add_global_flags(command, on_subcommand=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``govsim ARGV`` (default: ``sys.argv[1:]``); return the exit code (0, 1, 2, 3 or 130)."""
    return run_command(build_parser(), argv)
