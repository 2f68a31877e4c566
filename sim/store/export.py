"""A stored sweep as one tidy table, CSV or Parquet, ready for pandas (``govsim export``).

One row per stored run, ordered by (experiment, replicate). Columns: ``sweep_id``,
``experiment``, ``replicate``, ``seed``, ``run_id``, ``scenario_hash``, then one column per
factor (named by its dotted scenario key, in the sweep file's order) and one per kept outcome::

    import pandas as pd
    df = pd.read_parquet("results/<sweep_id>.parquet")
    df.groupby("policies.alliance.n_units")["resolution_rate"].mean()

With ``timeseries=True`` it writes the kept time series instead, long format: ``sweep_id, experiment,
replicate, run_id, t, metric, value``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sim.config.names import safe_filename
from sim.errors import InputError, OutputError, StoreError
from sim.store.database import ResultStore

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FORMATS", "export_sweep", "sweep_table", "sweep_timeseries"]

FORMATS: tuple[str, ...] = ("csv", "parquet")


def sweep_table(store: ResultStore, sweep_ref: str) -> tuple[dict, pd.DataFrame]:
    """The sweep's row and its runs as one wide DataFrame (see the module docstring)."""
    sweep = store.find_sweep(sweep_ref)
    spec = sweep["spec"]
    outcomes = list(spec["outcomes"])
    frame = store.sweep_frame(sweep["id"], metrics=outcomes)
    ids = ["sweep_id", "experiment", "replicate", "seed", "run_id", "scenario_hash"]
    factors = [f["name"] for f in spec["factors"]]
    for f in factors:
        if f not in frame.columns:  # no runs stored yet
            frame[f] = np.array([], dtype=object)
    return sweep, frame[ids + factors + outcomes]


def sweep_timeseries(store: ResultStore, sweep_ref: str) -> tuple[dict, pd.DataFrame]:
    """The kept time series of every run of a sweep, long format."""
    import pandas as pd

    sweep = store.find_sweep(sweep_ref)
    runs = store.sweep_frame(sweep["id"], metrics=[])
    parts = []
    for exp, rep, run_id in runs[["experiment", "replicate", "run_id"]].itertuples(index=False):
        ts = store.timeseries_frame(int(run_id)).melt(id_vars="t", var_name="metric", value_name="value")
        ts.insert(0, "run_id", int(run_id))
        ts.insert(0, "replicate", int(rep))
        ts.insert(0, "experiment", int(exp))
        parts.append(ts)
    cols = ["experiment", "replicate", "run_id", "t", "metric", "value"]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)
    frame.insert(0, "sweep_id", sweep["id"])
    return sweep, frame


def _database_files(store: ResultStore) -> list[Path]:
    """The files of the store's SQLite database (with its journal files), resolved; none for a server."""
    url = store.engine.url
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:") or database.startswith("file:"):
        return []
    path = Path(database).resolve()
    return [path, *(Path(f"{path}{s}") for s in ("-wal", "-shm", "-journal"))]


def _target(store: ResultStore, sweep_id: str, fmt: str, out: str | None, suffix: str, force: bool) -> Path:
    """The file to write: ``out`` (a file, or a directory for the default name) or ``results/<id>.<fmt>``.

    Never the results database; an existing file only with ``force``.
    """
    default = Path("results") / f"{safe_filename(sweep_id)}{suffix}.{fmt}"
    if out is None:
        path = default
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create directory '{path.parent}': {exc.strerror or exc}") from None
    else:
        path = Path(out)
        if path.is_dir():
            path = path / default.name
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"cannot write '{path}': directory '{parent}' does not exist")
    if path.resolve() in _database_files(store):
        raise OutputError(f"'{path}' is the results database being read; allowed: any other file")
    if path.exists() and (not force or not path.is_file()):
        what = "exists" if path.is_file() else "exists and is not a regular file"
        raise OutputError(f"'{path}' {what}; allowed: a new file, or --force to replace an existing file")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise OutputError(f"cannot write '{path}': not writable")
    return path


def export_sweep(store: ResultStore, sweep_ref: str, fmt: str = "csv", out: str | None = None,
                 timeseries: bool = False, force: bool = False) -> tuple[Path, int, str]:
    """Write the sweep's table; return (path, number of rows, sweep id).

    ``fmt`` is one of :data:`FORMATS`; ``out`` a file or a directory (default:
    ``results/<sweep_id>.<fmt>``). Raises :class:`~sim.errors.InputError` for a bad format,
    :class:`~sim.errors.StoreError` for an unknown or empty sweep and :class:`~sim.errors.OutputError`
    when the file cannot be written (never a half-written file), already exists (unless ``force``)
    or is the results database itself (never, even with ``force``).
    """
    if fmt not in FORMATS:
        raise InputError(f"export format {fmt!r} is not allowed; allowed: {', '.join(FORMATS)}")
    sweep, frame = (sweep_timeseries if timeseries else sweep_table)(store, sweep_ref)
    if frame.empty:
        raise StoreError(f"sweep {sweep['id']} has no stored runs yet; run `govsim sweep {sweep['sweep_file']}`")
    path = _target(store, sweep["id"], fmt, out, "_timeseries" if timeseries else "", force)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        if fmt == "csv":
            frame.to_csv(tmp, index=False)
        else:
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise InputError("the parquet format needs pyarrow: pip install 'govsim[parquet]'") from None
            for col in frame.columns:  # mixed-type choice columns cannot go to Parquet as they are
                if frame[col].dtype == object and frame[col].map(type).nunique() > 1:
                    frame[col] = frame[col].astype(str)
            frame.to_parquet(tmp, index=False, engine="pyarrow")
        os.replace(tmp, path)  # never a half-written file at the target
    except OSError as exc:
        raise OutputError(f"cannot write '{path}': {exc.strerror or exc}") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return path, len(frame), sweep["id"]
