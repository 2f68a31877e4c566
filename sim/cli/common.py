"""What every ``govsim`` command shares: the exit-code policy and checks of common flags.

The policy: a :class:`sim.errors.GovsimError` (anything the user can fix) and a command-line
error print one line ``govsim: error: ...`` on stderr and exit with code 2; a
:class:`sim.errors.WorkerError` (a worker process died: the run failed) prints one line and exits
with code 1, as a command whose runs failed does; Ctrl-C exits with code 130; a closed output
pipe (``govsim run --json | head -c 10``) ends quietly; anything else is a bug in govsim: one line
``govsim: internal error: ...`` and exit code 3. No traceback is shown unless the global flag
``--debug`` is given. This module
imports no heavy library, so ``govsim --help`` stays fast; the command modules import the
library inside their ``cmd_*`` functions.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeAlias

from sim.errors import GovsimError, InputError, OutputError, WorkerError

__all__ = ["DB_HELP", "EXIT_FAILED", "EXIT_INTERNAL", "EXIT_INTERRUPTED", "EXIT_USAGE", "SET_HELP", "OneLineParser",
           "add_global_flags", "check_scheduler", "check_workers", "dispatch", "fail", "json_text", "limits",
           "notice_compiling", "out_dir", "parse_set", "run_command", "set_error"]

#: exit code when runs failed: a run raised, or a worker process died (what finished is stored)
EXIT_FAILED = 1
#: exit code of a user error: a bad file, value, path or database URL (nothing was written)
EXIT_USAGE = 2
#: exit code after Ctrl-C (128 + SIGINT), as a shell reports it
EXIT_INTERRUPTED = 130
#: exit code of a bug in govsim (an exception that is not a GovsimError); --debug shows its traceback
EXIT_INTERNAL = 3
DB_HELP = ("SQLAlchemy URL of the results database (default: the GOVSIM_DB environment variable, a URL or a path; "
           "else results/govsim.db in the govsim checkout the current directory is in; else ./results/govsim.db)")
SET_HELP = ("override a scenario parameter by dotted key (repeatable); a policy's parameters only when it is on: "
            "switch one on with policies.<name>.enabled=true")

if TYPE_CHECKING:
    from sim.core.resources import Limits

    #: what ``add_subparsers()`` returns (argparse has no public name for it)
    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]


def fail(message: str) -> int:
    """Print ``govsim: error: message`` on stderr and return :data:`EXIT_USAGE`."""
    print(f"govsim: error: {message}", file=sys.stderr)
    return EXIT_USAGE


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line ``govsim: error: ...`` (exit code 2), like the library's."""

    def error(self, message: str) -> NoReturn:
        """Print the one-line error (naming the command's ``--help``) and exit with :data:`EXIT_USAGE`."""
        self.exit(EXIT_USAGE, f"govsim: error: {message} (see {self.prog} --help)\n")


def add_global_flags(parser: argparse.ArgumentParser, *, on_subcommand: bool = False) -> None:
    """``--debug``, ``--max-memory`` and ``--allow-large``: accepted before or after the command's name."""
    default: Any = argparse.SUPPRESS if on_subcommand else None
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS if on_subcommand else False,
                        help="show the Python traceback of an error (for reporting a bug)")
    parser.add_argument("--max-memory", metavar="SIZE", default=default,
                        help="memory a job may use, e.g. 16G (default: $GOVSIM_MAX_MEMORY, else 80%% of the memory "
                             "available); a larger job is refused before it starts")
    parser.add_argument("--allow-large", action="store_true", default=argparse.SUPPRESS if on_subcommand else False,
                        help="lift the caps on the number of runs and on resident-days (GOVSIM_MAX_RUNS, "
                             "GOVSIM_MAX_RESIDENT_DAYS); the memory cap stays")


def limits(args: argparse.Namespace) -> Limits:
    """The resource caps of this command (see :mod:`sim.core.resources`)."""
    from sim.core.resources import Limits

    return Limits.from_environment(getattr(args, "max_memory", None), bool(getattr(args, "allow_large", False)))


def _check_common(args: argparse.Namespace) -> None:
    """The flags several commands share: ``--seed``, ``--steps`` and ``--max-memory``."""
    seed, steps = getattr(args, "seed", None), getattr(args, "steps", None)
    if seed is not None and not 0 <= seed <= 2**63 - 1:
        raise InputError(f"--seed {seed}: allowed: an integer in [0, 2**63 - 1]", key="--seed", value=seed)
    if steps is not None and not 1 <= steps <= 100_000:
        raise InputError(f"--steps {steps}: allowed: an integer in [1, 100000]", key="--steps", value=steps)
    if getattr(args, "max_memory", None):
        from sim.core.resources import parse_size

        parse_size(args.max_memory, "--max-memory")


def json_text(data: Any) -> str:
    """``data`` as one line of strict JSON: NaN and infinities become null (JSON has neither)."""
    import json
    import math

    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(data), ensure_ascii=False, allow_nan=False)


def _stdout_closed() -> int:
    """The reader of our output went away (``| head``): stop quietly, as ``cat`` would."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (e.g. captured in tests)
        pass
    return 0


def dispatch(args: argparse.Namespace) -> int:
    """Run the parsed command ``args.func(args)`` under the exit-code policy; return the exit code."""
    debug = bool(getattr(args, "debug", False))
    try:
        _check_common(args)
        return int(args.func(args))
    except WorkerError as err:
        _traceback(debug)
        print(f"govsim: error: {_one_line(err)}", file=sys.stderr)
        return EXIT_FAILED
    except GovsimError as err:
        _traceback(debug)
        return fail(_one_line(err))
    except KeyboardInterrupt:
        print("govsim: interrupted; what was not finished was not stored", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return _stdout_closed()
    except MemoryError:
        _traceback(debug)
        return fail("out of memory; use fewer residents, days, replicates or workers, or a lower --max-memory "
                    "so that such a job is refused before it starts")
    except Exception as err:  # a bug: one line, the traceback with --debug
        _traceback(debug)
        print(f"govsim: internal error: {type(err).__name__}: {_one_line(err)} (rerun with --debug for the traceback "
              "and please report it)", file=sys.stderr)
        return EXIT_INTERNAL


def _one_line(err: BaseException) -> str:
    """The error's message on one line (a newline in a value given by the user is shown escaped)."""
    text = str(err)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _traceback(debug: bool) -> None:
    if debug:
        import traceback

        traceback.print_exc()


def run_command(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``) with ``parser`` and :func:`dispatch` the command."""
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a command-line error (2, one line already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    return dispatch(args)


_SCHEMES = ("tcp", "tls", "inproc", "ucx", "ws", "wss")


def check_scheduler(address: str, source: str = "--scheduler") -> str:
    """A Dask scheduler address (from ``source``) checked before anything runs: ``[tcp|tls|...://]host:port``."""
    from urllib.parse import urlsplit

    allowed = "an address such as tcp://10.0.0.5:8786 or tls://host:8786"
    text = address if "://" in address else f"tcp://{address}"
    try:
        parts = urlsplit(text)
        port_ok = parts.port is None or 0 < parts.port < 65536  # no port: Dask's default, 8786
    except ValueError:  # a port that is not a number, or out of range
        parts, port_ok = None, False
    ok = (parts is not None and parts.scheme in _SCHEMES and not parts.path.strip("/") and not parts.query
          and port_ok and (parts.scheme == "inproc" or bool(parts.hostname)))
    if not ok or any(c.isspace() for c in address):
        raise InputError(f"{source} {address!r}: not a Dask scheduler address; allowed: {allowed}", value=address)
    return address


def notice_compiling() -> None:
    """One line on stderr before the first run when the compiled kernels are not cached yet (a silent ~30 s)."""
    import sim.core.model  # noqa: F401 - declares every kernel
    from sim.core.kernels.jit import cache_is_cold

    if cache_is_cold():
        print("govsim: compiling the simulation kernels (once, about 30 s)", file=sys.stderr, flush=True)


def check_workers(workers: int | None) -> None:
    """``--workers N``, checked before anything runs by the runner's own rule, naming the flag.

    More workers than CPUs is allowed (one line of warning: the runs share the CPUs and each
    needs its own memory); more than 1,024 is refused.
    """
    from sim.experiments.runner import check_workers as runner_check

    try:
        runner_check(workers)
    except InputError as err:
        raise InputError(f"--workers: {err}") from None
    if workers is not None and workers > 1024:
        raise InputError(f"--workers {workers}: allowed: 1 to 1024 worker processes", value=workers)
    cpus = os.cpu_count() or 1
    if workers is not None and workers > cpus:
        print(f"govsim: warning: --workers {workers} is more than this machine's {cpus} CPUs; the runs will share "
              "them (no faster) and each worker needs its own memory", file=sys.stderr)


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
