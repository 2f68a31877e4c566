"""Results store: saves simulation runs (provenance, summary, time series) and sweeps, and reads them back.

:class:`ResultStore` validates records and does the inserts and queries (SQLAlchemy 2 Core).
The tables, their column types and opening a checked engine live in :mod:`sim.store.schema`.
Importing this module makes no engine or connection.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from sim.store.connection import DEFAULT_DB_URL, StoreConnection
from sim.store.schema import (
    NAME_LEN,
    error_line,
    experiments,
    runs,
    summary,
    sweep_results,
    sweeps,
)
from sim.store.series import read_series, series_rows
from sim.store.writes import RunRows, insert_run_rows, new_run_id, save_sweep_batch, stored_pairs

if TYPE_CHECKING:
    import pandas

__all__ = ["DEFAULT_DB_URL", "ResultStore", "RunRecord", "SweepRun"]

_INT64 = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class RunRecord:
    """Everything stored about one simulation run: what ``save_run`` takes and ``load_run`` returns."""

    scenario_name: str
    scenario_hash: str  # sha256 hex of the canonical scenario content
    scenario_text: str  # the scenario as TOML/JSON text, for provenance
    seed: int
    n_steps: int
    package_version: str
    started_at: datetime  # timezone-aware UTC
    finished_at: datetime
    summary: Mapping[str, float]  # metric name -> value (NaN stored as NULL)
    timeseries: Mapping[str, np.ndarray]  # metric name -> 1-D array, same length as `t`
    t: np.ndarray  # int step indices of the recorded rows (strictly increasing)
    label: str = ""  # free text, e.g. a comparison name


class SweepRun(NamedTuple):
    """One finished sweep run as :meth:`ResultStore.save_sweep_runs` takes it: the record and its pair."""

    record: RunRecord
    experiment_id: int
    replicate: int
    worker: str = ""
    run_s: float | None = None


def _link(run: SweepRun) -> tuple[Any, ...]:
    """The run's ``sweep_results`` row without its run id: experiment, replicate (its pair), seed, worker, run_s."""
    return (int(run.experiment_id), int(run.replicate), int(run.record.seed), str(run.worker)[:NAME_LEN],
            None if run.run_s is None else float(run.run_s))


class ResultStore(StoreConnection):
    """Opens a results database (creating its tables) and saves / reads back runs.

    ``url`` None: the default store of :mod:`sim.store.location` (``GOVSIM_DB``, else the govsim
    checkout's ``results/govsim.db``, else ``results/govsim.db`` here). ``read_only``: for commands
    that only read; nothing is created, a missing database is a :class:`StoreError` naming its URL.
    Every operation runs under :meth:`~sim.store.connection.StoreConnection.run_op`: a deadline,
    retries of transient errors (``timeouts``, default from the ``GOVSIM_DB_*`` environment) and
    one :class:`~sim.errors.StoreError` when it gives up.
    """

    # ------------------------------------------------------------------ writing

    def _check_name(self, name: object, what: str) -> None:
        if not isinstance(name, str) or not name or len(name) > NAME_LEN:
            self._fail(f"{what} must be a non-empty str of at most {NAME_LEN} characters, got {name!r}")

    def _validate(self, record: RunRecord) -> RunRows:
        """Check a whole record before touching the database; return the rows to insert (sans run_id)."""
        if not isinstance(record, RunRecord):
            self._fail(f"save_run expects a RunRecord, got {type(record).__name__}")
        self._check_name(record.scenario_name, "scenario_name")
        for name in ("scenario_hash", "scenario_text", "package_version", "label"):
            if not isinstance(getattr(record, name), str):
                self._fail(f"run field '{name}' must be a str, got {getattr(record, name)!r}")
        for name in ("seed", "n_steps"):
            value = getattr(record, name)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool):
                self._fail(f"run field '{name}' must be an int, got {value!r}")
        if not _INT64[0] <= int(record.seed) <= _INT64[1]:
            self._fail(f"seed {record.seed} does not fit in a signed 64-bit integer")
        if int(record.n_steps) < 0:
            self._fail(f"n_steps must be >= 0, got {record.n_steps}")
        for name in ("started_at", "finished_at"):
            value = getattr(record, name)
            if not isinstance(value, datetime) or value.utcoffset() is None:
                self._fail(f"run field '{name}' must be a timezone-aware datetime, got {value!r}")
        for name in ("summary", "timeseries"):
            if not isinstance(getattr(record, name), Mapping):
                self._fail(f"run field '{name}' must be a mapping of metric name to values")
        run_row: dict[str, Any] = {c.name: getattr(record, c.name) for c in runs.c if c.name != "id"}
        run_row.update(seed=int(record.seed), n_steps=int(record.n_steps))

        summary_rows: list[dict[str, Any]] = []
        for metric, value in record.summary.items():
            self._check_name(metric, "summary metric name")
            if not isinstance(value, numbers.Real):
                self._fail(f"summary metric '{metric}' must be a real number, got {value!r}")
            f = float(value)  # numpy scalars -> Python float; NaN -> NULL
            summary_rows.append({"metric": metric, "value": None if math.isnan(f) else f})

        t = np.asarray(record.t)
        if t.ndim != 1 or (t.size and t.dtype.kind not in "iu"):
            self._fail(f"t must be a 1-D array of integer step indices, got shape {t.shape} dtype {t.dtype}")
        if t.size and t.dtype.kind == "u" and int(t.max()) > _INT64[1]:
            self._fail(f"t must fit in a signed 64-bit integer, got a step of {int(t.max())}")
        if t.size > 1 and not bool(np.all(np.diff(t.astype(np.int64)) > 0)):  # int64: uint diffs wrap
            self._fail("t must be strictly increasing")
        arrays: dict[str, np.ndarray] = {}
        for metric, arr in record.timeseries.items():
            self._check_name(metric, "timeseries metric name")
            if metric == "t":
                self._fail("'t' is reserved for the step column and cannot be a timeseries metric name")
            values = np.asarray(arr)
            if values.ndim != 1 or values.shape[0] != t.shape[0]:
                self._fail(f"timeseries '{metric}' has shape {values.shape} but t has length {t.shape[0]}")
            if values.dtype.kind not in "biuf":
                self._fail(f"timeseries '{metric}' must be numeric, got dtype {values.dtype}")
            arrays[metric] = values
        return run_row, summary_rows, series_rows(t, arrays)

    def save_run(self, record: RunRecord) -> int:
        """Store one run in a single transaction (all or nothing) and return its id."""
        rows = self._validate(record)

        def save(conn: Connection) -> int:
            run_id = new_run_id(conn, rows[0])
            insert_run_rows(conn, [(run_id, rows)])
            return run_id

        return self.run_op("save the run", save, write=True, idempotent=False)

    # ------------------------------------------------------------------ reading

    def _run_row(self, conn: Connection, run_id: int) -> Any:
        if not isinstance(run_id, numbers.Integral) or isinstance(run_id, bool):
            self._fail(f"run ids are integers, got {run_id!r}")
        row = conn.execute(select(runs).where(runs.c.id == int(run_id))).mappings().first()
        if row is None:
            self._fail(f"no run with id {run_id}")
        return row

    def load_run(self, run_id: int) -> RunRecord:
        """Read a run back in full; StoreError if there is no such run."""
        def load(conn: Connection) -> tuple[Any, Any, np.ndarray, dict[str, np.ndarray]]:
            row = self._run_row(conn, run_id)
            summ = conn.execute(
                select(summary.c.metric, summary.c.value)
                .where(summary.c.run_id == int(run_id))
                .order_by(summary.c.metric)
            ).all()
            return (row, summ, *read_series(conn, int(run_id)))

        row, summ, t, series = self.run_op(f"load run {run_id}", load)
        fields = {k: v for k, v in row.items() if k != "id"}
        fields.update(seed=int(row["seed"]), n_steps=int(row["n_steps"]))
        return RunRecord(
            **fields,
            summary={m: (math.nan if v is None else float(v)) for m, v in summ},
            timeseries=series,
            t=t,
        )

    def list_runs(self) -> list[dict[str, object]]:
        """One dict per run (every column except the bulky scenario_text), lowest id first."""
        cols = [c for c in runs.c if c.name != "scenario_text"]
        return self.run_op("list runs", lambda conn: [
            dict(r) for r in conn.execute(select(*cols).order_by(runs.c.id)).mappings()])

    def summary_frame(self, run_ids: Sequence[int] | None = None) -> pandas.DataFrame:
        """Tidy summary table (run_id, metric, value) for the given runs, or all runs if None."""
        import pandas as pd  # deferred: keeps `import sim.store.database` light

        def read(conn: Connection) -> list[Any]:
            query = select(summary.c.run_id, summary.c.metric, summary.c.value)
            if run_ids is not None:
                wanted = sorted({int(i) for i in run_ids})
                found = set(conn.execute(select(runs.c.id).where(runs.c.id.in_(wanted))).scalars())
                missing = [str(i) for i in wanted if i not in found]
                if missing:
                    self._fail(f"no run with id {', '.join(missing)}")
                query = query.where(summary.c.run_id.in_(wanted))
            return list(conn.execute(query.order_by(summary.c.run_id, summary.c.metric)).all())

        rows = self.run_op("read summaries", read)
        return pd.DataFrame(
            {
                "run_id": np.array([r[0] for r in rows], dtype=np.int64),
                "metric": pd.Series([r[1] for r in rows], dtype=str),
                "value": np.array([r[2] for r in rows], dtype=np.float64),  # None (NULL) -> nan
            }
        )

    def timeseries_frame(self, run_id: int) -> pandas.DataFrame:
        """Wide time-series table for one run: column ``t`` then one float column per metric."""
        import pandas as pd

        def read(conn: Connection) -> tuple[np.ndarray, dict[str, np.ndarray]]:
            self._run_row(conn, run_id)
            return read_series(conn, int(run_id))

        t, series = self.run_op(f"read the time series of run {run_id}", read)
        return pd.DataFrame({"t": t, **series})

    # ------------------------------------------------------------------ sweeps

    def open_sweep(self, sweep: Mapping[str, Any], experiment_rows: Iterable[Mapping[str, Any]]) -> bool:
        """Create a sweep with all its experiments in one transaction, unless it is stored already.

        ``sweep`` has the columns of ``sweeps``; ``experiment_rows`` yields dicts with ``idx``,
        ``parameters``, ``sample`` and ``scenario_hash`` (consumed only if the sweep is new, in
        chunks, so a large design is never held as rows in memory; read again on a retry unless it
        is a one-shot iterator). Returns True if created. A
        stored sweep with the same id must have the same spec hash (the id is derived from it).
        """
        sweep_id = str(sweep["id"])
        existing = self._sweep_row(sweep_id)
        if existing is None:
            def create(conn: Connection) -> bool:
                conn.execute(insert(sweeps), dict(sweep))
                cols = ("sweep_id", "idx", "parameters", "sample", "scenario_hash", "package_version")
                stmt = insert(experiments)
                batch: list[dict[str, Any]] = []
                for row in experiment_rows:
                    batch.append({"sweep_id": sweep_id, "package_version": sweep["package_version"],
                                  **{k: row[k] for k in cols[1:5]}})
                    if len(batch) >= 2_000:
                        conn.execute(stmt, batch)
                        batch = []
                if batch:
                    conn.execute(stmt, batch)
                return True

            try:
                # a one-shot iterator cannot be read again: then no retry
                n = int(sweep.get("n_experiments") or 0)  # a large design takes longer to write
                return self.run_op(f"create sweep {sweep_id}", create, write=True,
                                   passthrough=(IntegrityError,), retry=not isinstance(experiment_rows, Iterator),
                                   deadline_s=self.timeouts.statement_s * (1 + n / 20_000))
            except IntegrityError:  # created meanwhile by another coordinator: fall through and check it
                existing = self._sweep_row(sweep_id)
                if existing is None:
                    self._fail(f"could not create sweep {sweep_id}, nothing was written")
        if existing["spec_hash"] != sweep["spec_hash"]:
            self._fail(f"sweep {sweep_id} is stored with a different specification (spec hash "
                       f"{existing['spec_hash'][:12]} != {str(sweep['spec_hash'])[:12]})")
        return False

    def _sweep_row(self, sweep_id: str) -> dict[str, Any] | None:
        row = self.run_op(f"read sweep {sweep_id}", lambda conn: conn.execute(
            select(sweeps).where(sweeps.c.id == sweep_id)).mappings().first())
        return None if row is None else dict(row)

    def find_sweep(self, ref: str) -> dict[str, Any]:
        """The sweep whose id is ``ref`` or starts with it (e.g. its name); StoreError if none or several."""
        if not isinstance(ref, str) or not ref.strip():
            self._fail("an empty sweep id matches nothing; allowed: a sweep id or a unique prefix of one (its name)")
        row = self._sweep_row(ref)
        if row is not None:
            return row
        escaped = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        def find(conn: Connection) -> tuple[list[str], list[str]]:
            ids = list(conn.execute(select(sweeps.c.id).where(sweeps.c.id.like(escaped + "%", escape="\\"))
                                    .order_by(sweeps.c.id).limit(6)).scalars())
            if ids:
                return ids, []
            return ids, list(conn.execute(select(sweeps.c.id).order_by(sweeps.c.created_at.desc()).limit(5)).scalars())

        ids, known = self.run_op("find sweeps", find)
        if len(ids) > 1:
            more = ", ..." if len(ids) > 5 else ""
            self._fail(f"sweep id '{ref}' is ambiguous: {', '.join(ids[:5])}{more}")
        if not ids:
            hint = f"; stored sweeps: {', '.join(known)}" if known else "; it holds no sweeps"
            self._fail(f"no sweep '{ref}'{hint}")
        row = self._sweep_row(ids[0])
        assert row is not None
        return row

    def list_sweeps(self) -> list[dict[str, Any]]:
        """One dict per sweep (without the bulky spec and base scenario) plus ``n_done`` runs, oldest first."""
        cols = [c for c in sweeps.c if c.name not in ("spec", "base_scenario_text")]
        done = (select(experiments.c.sweep_id, func.count(sweep_results.c.id).label("n_done"))
                .join(sweep_results, sweep_results.c.experiment_id == experiments.c.id)
                .group_by(experiments.c.sweep_id).subquery())
        query = (select(*cols, func.coalesce(done.c.n_done, 0).label("n_done"))
                 .outerjoin(done, done.c.sweep_id == sweeps.c.id).order_by(sweeps.c.created_at, sweeps.c.id))
        return self.run_op("list sweeps", lambda conn: [dict(r) for r in conn.execute(query).mappings()])

    def sweep_experiment_ids(self, sweep_id: str) -> dict[int, int]:
        """Experiment index -> experiments.id for a sweep."""
        query = select(experiments.c.idx, experiments.c.id).where(experiments.c.sweep_id == sweep_id)
        return self.run_op(f"read the experiments of sweep {sweep_id}",
                           lambda conn: {int(i): int(e) for i, e in conn.execute(query)})

    def sweep_done(self, sweep_id: str) -> set[tuple[int, int]]:
        """The (experiment index, replicate) pairs of a sweep that have a stored result."""
        query = (select(experiments.c.idx, sweep_results.c.replicate)
                 .join(sweep_results, sweep_results.c.experiment_id == experiments.c.id)
                 .where(experiments.c.sweep_id == sweep_id))
        return self.run_op(f"read the progress of sweep {sweep_id}",
                           lambda conn: {(int(i), int(r)) for i, r in conn.execute(query)})

    def save_sweep_run(self, record: RunRecord, experiment_id: int, replicate: int, *, worker: str = "",
                       run_s: float | None = None) -> int | None:
        """Store one sweep run and its link in a single transaction; return the run id.

        Idempotent: if (experiment, replicate) already has a result nothing is written and None is
        returned (the unique constraint settles a race between two coordinators the same way).
        """
        return self.save_sweep_runs([SweepRun(record, experiment_id, replicate, worker, run_s)])[0]

    def save_sweep_runs(self, batch: Sequence[SweepRun]) -> list[int | None]:
        """Store sweep runs and their links in one transaction; each one's run id, or None if its pair had one.

        Idempotent per run, as :meth:`save_sweep_run`. If another coordinator stored one of the
        pairs meanwhile (the unique constraint), nothing of the batch is written and its runs are
        stored one by one.
        """
        prepared = [(self._validate(run.record), _link(run)) for run in batch]
        what = "save the run" if len(batch) == 1 else f"save {len(batch)} runs"
        try:  # idempotent: a retry after a commit that did happen finds the results and writes nothing
            return self.run_op(what, lambda conn: save_sweep_batch(conn, prepared), write=True,
                               passthrough=(IntegrityError,),
                               deadline_s=self.timeouts.statement_s * max(1.0, len(batch) / 16))  # a big batch: more
        except IntegrityError as exc:
            if len(batch) > 1:
                return [self.save_sweep_runs([run])[0] for run in batch]
            pair = prepared[0][1][:2]
            if self.run_op("check a sweep result", lambda conn: stored_pairs(conn, [pair])):
                return [None]  # stored meanwhile by someone else
            self._fail(f"could not save the run, nothing was written: {error_line(exc)}")

    def sweep_frame(self, sweep_id: str, metrics: Sequence[str] | None = None) -> pandas.DataFrame:
        """One row per stored run of a sweep, ordered by (experiment, replicate).

        Columns: ``sweep_id, experiment, replicate, seed, run_id, scenario_hash``, one column per
        factor (dotted scenario key, from ``experiments.parameters``) and one per summary metric
        (``metrics``, or every metric stored). Missing metrics are NaN.
        """
        import pandas as pd

        base = (select(experiments.c.idx, sweep_results.c.replicate, sweep_results.c.seed, sweep_results.c.run_id,
                       experiments.c.scenario_hash, experiments.c.parameters)
                .join(sweep_results, sweep_results.c.experiment_id == experiments.c.id)
                .where(experiments.c.sweep_id == sweep_id)
                .order_by(experiments.c.idx, sweep_results.c.replicate))
        values = (select(sweep_results.c.run_id, summary.c.metric, summary.c.value)
                  .join(experiments, sweep_results.c.experiment_id == experiments.c.id)
                  .join(summary, summary.c.run_id == sweep_results.c.run_id)
                  .where(experiments.c.sweep_id == sweep_id))
        if metrics is not None:
            values = values.where(summary.c.metric.in_(list(metrics)))
        rows, vals = self.run_op(f"read sweep {sweep_id}", lambda conn: (conn.execute(base).all(),
                                                                          conn.execute(values).all()),
                                 deadline_s=10 * self.timeouts.statement_s)  # a whole sweep: a bulk read
        frame = pd.DataFrame({
            "sweep_id": pd.Series([sweep_id] * len(rows), dtype=object),
            "experiment": np.array([r[0] for r in rows], dtype=np.int64),
            "replicate": np.array([r[1] for r in rows], dtype=np.int64),
            "seed": np.array([r[2] for r in rows], dtype=np.int64),
            "run_id": np.array([r[3] for r in rows], dtype=np.int64),
            "scenario_hash": pd.Series([r[4] for r in rows], dtype=object),
        })
        params = pd.DataFrame.from_records([r[5] for r in rows]) if rows else pd.DataFrame()
        names = list(metrics) if metrics is not None else sorted({m for _, m, _ in vals})
        wide = pd.DataFrame(np.nan, index=pd.Index(frame["run_id"]), columns=names, dtype=np.float64)
        if vals:
            pos = {rid: i for i, rid in enumerate(frame["run_id"].tolist())}
            col = {m: j for j, m in enumerate(names)}
            arr = wide.to_numpy(copy=True)
            for rid, metric, value in vals:
                if metric in col and rid in pos:
                    arr[pos[rid], col[metric]] = np.nan if value is None else value
            wide = pd.DataFrame(arr, columns=names)
        else:
            wide = wide.reset_index(drop=True)
        return pd.concat([frame, params.reset_index(drop=True), wide], axis=1)

    def experiment_samples(self, sweep_id: str) -> list[tuple[int, list[float] | None]]:
        """(experiment index, unit-cube design row or None) for every experiment of a sweep, by index."""
        query = (select(experiments.c.idx, experiments.c.sample).where(experiments.c.sweep_id == sweep_id)
                 .order_by(experiments.c.idx))
        return self.run_op(f"read the design of sweep {sweep_id}",
                           lambda conn: [(int(i), s) for i, s in conn.execute(query)])
