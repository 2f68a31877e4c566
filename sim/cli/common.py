"""What every ``govsim`` command shares: the exit-code policy and checks of common flags.

The policy: a :class:`sim.errors.GovsimError` (anything the user can fix) prints one line
``govsim: error: ...`` on stderr and exits with code 2; a :class:`sim.errors.WorkerError` (a
worker process died: the run failed) prints one line and exits with code 1, as a command whose
runs failed does; Ctrl-C exits with code 130. This module
imports no heavy library, so ``govsim --help`` stays fast; the command modules import the
library inside their ``cmd_*`` functions.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from sim.errors import GovsimError, InputError, OutputError, WorkerError

__all__ = ["DB_HELP", "EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_USAGE", "SET_HELP", "check_workers", "dispatch",
           "fail", "notice_compiling", "out_dir", "parse_set", "run_command", "set_error"]

#: exit code when runs failed: a run raised, or a worker process died (what finished is stored)
EXIT_FAILED = 1
#: exit code of a user error: a bad file, value, path or database URL (nothing was written)
EXIT_USAGE = 2
#: exit code after Ctrl-C (128 + SIGINT), as a shell reports it
EXIT_INTERRUPTED = 130
DB_HELP = ("SQLAlchemy URL of the results database (default: the GOVSIM_DB environment variable, a URL or a path; "
           "else results/govsim.db in the govsim checkout the current directory is in; else ./results/govsim.db)")
SET_HELP = ("override a scenario parameter by dotted key (repeatable); a policy's parameters only when it is on: "
            "switch one on with policies.<name>.enabled=true")

if TYPE_CHECKING:
    #: what ``add_subparsers()`` returns (argparse has no public name for it)
    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]


def fail(message: str) -> int:
    """Print ``govsim: error: message`` on stderr and return :data:`EXIT_USAGE`."""
    print(f"govsim: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _check_common(args: argparse.Namespace) -> None:
    """The flags several commands share: ``--seed`` and ``--steps``."""
    if getattr(args, "seed", None) is not None and args.seed < 0:
        raise InputError(f"--seed {args.seed}: must be a non-negative integer")
    if getattr(args, "steps", None) is not None and args.steps < 1:
        raise InputError(f"--steps {args.steps}: must be a positive integer")


def dispatch(args: argparse.Namespace) -> int:
    """Run the parsed command ``args.func(args)`` under the exit-code policy; return the exit code."""
    try:
        _check_common(args)
        return int(args.func(args))
    except WorkerError as err:
        print(f"govsim: error: {err}", file=sys.stderr)
        return EXIT_FAILED
    except GovsimError as err:
        return fail(str(err))
    except KeyboardInterrupt:
        print("govsim: interrupted; what was not finished was not stored", file=sys.stderr)
        return EXIT_INTERRUPTED


def run_command(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``) with ``parser`` and :func:`dispatch` the command."""
    return dispatch(parser.parse_args(argv))


def notice_compiling() -> None:
    """One line on stderr before the first run when the compiled kernels are not cached yet (a silent ~30 s)."""
    import sim.core.model  # noqa: F401 - declares every kernel
    from sim.core.kernels.jit import cache_is_cold

    if cache_is_cold():
        print("govsim: compiling the simulation kernels (once, about 30 s)", file=sys.stderr, flush=True)


def check_workers(workers: int | None) -> None:
    """``--workers N``, checked before anything runs by the runner's own rule, naming the flag."""
    from sim.experiments.runner import check_workers as runner_check

    try:
        runner_check(workers)
    except InputError as err:
        raise InputError(f"--workers: {err}") from None


def out_dir(value: str, flag: str = "--out") -> Path:
    """The output directory named by ``flag``, checked before anything runs: a directory, or creatable."""
    out = Path(value)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{flag} {value}: not a directory")
    if out.exists():
        if not os.access(out, os.W_OK):
            raise OutputError(f"{flag} {value}: cannot write in '{out}'")
        return out
    parent = next((p for p in out.parents if p.exists()), Path("."))
    if not (parent.is_dir() and os.access(parent, os.W_OK)):
        raise OutputError(f"{flag} {value}: cannot create it in '{parent}'")
    return out


def parse_set(items: Sequence[str]) -> dict[str, Any]:
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


def set_error(sets: dict[str, Any], key: str, message: str, where: str = "") -> InputError:
    """The one-line error of a bad ``--set``: the flag as given (the one whose key failed), where, and why."""
    given = next((k for k in sets if key == k or key.startswith(k + ".") or k.startswith(key + ".")), key)
    value = f"={sets[given]!r}" if given in sets else ""
    return InputError(f"--set {given}{value}: {where + ': ' if where else ''}{message}")
