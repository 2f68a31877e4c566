"""``govsim calibrate CALIBRATION.toml``: fit parameters, print the fit, write the calibrated scenario."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from sim.cli.common import check_workers, limits
from sim.errors import InputError, OutputError

if TYPE_CHECKING:
    from sim.cli.common import Subparsers
    from sim.experiments.calibration_spec import CalibrationSpec

__all__ = ["add_calibrate_command", "cmd_calibrate"]

_DESCRIPTION = (
    "Fit the [[parameters]] of a calibration file so that the base scenario reproduces its [[targets]] (reported "
    "figures) over window_days: minimise the weighted squared relative error (in tolerances) of the mean over "
    "`replicates` runs with the same seeds at every evaluation (common random numbers), with scipy.optimize. "
    "Prints the fit on fresh check replicates with 95% CIs and writes a scenario that extends the base with the "
    "fitted values. The file format is documented in sim/experiments/calibration_spec.py and docs/validation.md.")


def _out_path(spec: CalibrationSpec, out: str | None) -> Path:
    """Where ``--out`` puts the calibrated scenario, checked before the fit runs."""
    from sim.config.names import safe_filename

    default_name = f"{safe_filename(spec.name)}_calibrated.toml"  # the name may hold '/' or '..'; never a path
    path = Path(out) if out else Path("results") / "calibrated" / default_name
    if path.is_dir() or (out and out.endswith(("/", os.sep))):
        path = path / default_name
    for what, other in (("calibration file", spec.path), ("base scenario", spec.base_path)):
        if path.resolve() == other.resolve():
            raise InputError(f"--out {out}: that is the {what}; write the calibrated scenario elsewhere")
    parent = next((p for p in (path.parent, *path.parent.parents) if p.exists()), Path("."))
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise OutputError(f"--out {out or path}: cannot create {path.as_posix()!r} in '{parent}'")
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputError(f"--out {out or path}: {path.as_posix()!r} is not writable")
    return path


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Fit, print the table, write the calibrated scenario."""
    from sim.core.resources import check_resources, estimate
    from sim.core.scenario import load_scenario
    from sim.experiments.calibrate import calibrate
    from sim.experiments.calibration_spec import load_calibration

    check_workers(args.workers)
    spec = load_calibration(args.calibration)  # every file error before anything runs
    out = _out_path(spec, args.out)
    runs = spec.replicates * spec.max_evaluations + spec.check_replicates
    check_resources([estimate(spec.scenario)], runs, args.workers or os.cpu_count() or 1, limits(args),
                    f"calibration {spec.name}")
    result = calibrate(spec, workers=args.workers, progress=not args.quiet)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(result.scenario_toml(out), encoding="utf-8")
        os.replace(tmp, out)  # never a half-written scenario at the target
    except OSError as err:
        raise OutputError(f"--out {out.as_posix()}: cannot write the calibrated scenario "
                          f"({err.strerror or err})") from None
    finally:
        tmp.unlink(missing_ok=True)
    if load_scenario(out).content_hash() != result.scenario.content_hash():  # pragma: no cover - a bug
        raise RuntimeError(f"{out}: the written scenario does not reload as the calibrated one")
    print(result.format_table())
    print(f"\nwrote {out.as_posix()} ({result.wall_s:.0f} s, {result.workers} worker"
          f"{'s' if result.workers > 1 else ''})")
    return 0


def add_calibrate_command(subparsers: Subparsers) -> None:
    """Register ``calibrate`` on govsim's subparsers."""
    p = subparsers.add_parser("calibrate", help="fit parameters so a scenario reproduces reported figures",
                              description=_DESCRIPTION)
    p.add_argument("calibration", metavar="CALIBRATION.toml", help="calibration file, e.g. "
                   "scenarios/calibration/bazhong.toml")
    p.add_argument("--out", metavar="PATH", help="calibrated scenario to write (default: "
                   "results/calibrated/<name>_calibrated.toml; a directory: <dir>/<name>_calibrated.toml)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="worker processes for the replicates (default: the number of CPUs; 1 runs in this process)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_calibrate)
