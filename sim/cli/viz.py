"""``govsim viz [SCENARIO] [--port P] [--host H]``: serve the interactive Mesa (SolaraViz) app.

``python -m sim.cli.viz [SCENARIO] [--port P] [--host H]`` is the same as ``govsim viz``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sim.cli.common import EXIT_INTERRUPTED, fail, run_command
from sim.errors import InputError

if TYPE_CHECKING:
    from sim.cli.common import Subparsers

__all__ = ["add_viz_command", "cmd_viz", "main"]


def cmd_viz(args: argparse.Namespace) -> int:
    """Check the scenario and the viz extra, then serve the app until interrupted."""
    from sim.core.scenario import load_scenario
    from sim.mesa.viz import serve, server_env, solara_argv, viz_extra_missing, widgets_warning

    if not 0 <= args.port <= 65535:
        raise InputError(f"--port must be in 0..65535, got {args.port}")
    if args.scenario:
        load_scenario(args.scenario)  # a bad file fails here with one line (ScenarioError)
    missing = viz_extra_missing()
    if missing:
        return fail(f"govsim viz needs the viz extra ({missing} is missing): pip install 'govsim[viz]'")
    warning = widgets_warning()
    if warning:
        print(f"govsim viz: warning: {warning}", file=sys.stderr)
    from sim.mesa.assets import ensure_assets

    no_copy = ensure_assets(quiet=False)
    if no_copy:
        print(f"govsim viz: warning: no local copy of {', '.join(no_copy)}; the page loads them from a CDN "
              "if it can (npm, or a route to a CDN, is needed once)", file=sys.stderr)
    argv = solara_argv(args.host, args.port, production=not args.dev)
    print(f"govsim viz: serving {args.scenario or 'the small baseline'} on http://{args.host}:{args.port}/",
          file=sys.stderr, flush=True)
    try:
        return serve(argv, server_env(args.scenario), replace_process=not args.no_exec)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def add_viz_command(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Register ``viz [SCENARIO] [--port P] [--host H]`` on govsim's subparsers."""
    v = subparsers.add_parser("viz", help="serve the interactive Mesa (SolaraViz) app in a browser")
    v.add_argument("scenario", nargs="?", default=None,
                   help="scenario TOML file (default: a small community version of scenarios/baseline.toml)")
    v.add_argument("--port", type=int, default=8765, help="port to listen on (default: 8765)")
    v.add_argument("--host", default="localhost", help="host to listen on (default: localhost)")
    v.add_argument("--dev", action="store_true", help="solara development mode (unminified, verbose errors)")
    v.add_argument("--no-exec", action="store_true", help=argparse.SUPPRESS)
    v.set_defaults(func=cmd_viz)
    return v


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sim.cli.viz [SCENARIO] [--port P] [--host H]``: the same as ``govsim viz``."""
    parser = argparse.ArgumentParser(prog="govsim")
    add_viz_command(parser.add_subparsers(dest="command", required=True))
    return run_command(parser, ["viz", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
