"""Schema and connection of the results store: the tables, their column types, and opening an engine.

Why a module of its own: :mod:`sim.store.database` reads and writes runs and sweeps; what the tables look
like and how a database URL becomes a checked engine with those tables (SQLite WAL pragmas,
connect and statement timeouts from :mod:`sim.store.faults`, one clear :class:`StoreError` per failure) are a separate concern.

Why Core rather than the ORM: the data are flat rows inserted in bulk, and plain ``Table``
objects on the shared ``metadata`` let later modules add tables (e.g. ``sweeps``,
``experiments``) with foreign keys to ``runs.id``. The schema is portable: SQLite-only SQL lives
solely in the SQLite ``connect`` listener, so the same code runs on ``postgresql+psycopg``.
Importing this module only builds ``Table`` objects; engines are made by :func:`open_engine`.
"""

from __future__ import annotations

import math
import re
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    insert,
    inspect,
    select,
)
from sqlalchemy.engine import URL, Connection, Dialect, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.types import TypeDecorator

from sim.errors import StoreError
from sim.store.faults import StoreTimeouts, retrying
from sim.store.storage import store_uncompressed

__all__ = [
    "NAME_LEN",
    "STORE_FORMAT",
    "check_url",
    "error_line",
    "experiments",
    "mask_url",
    "metadata",
    "open_engine",
    "runs",
    "series",
    "series_steps",
    "store_info",
    "summary",
    "sweep_failures",
    "sweep_leases",
    "sweep_results",
    "sweeps",
    "timeseries",
]

NAME_LEN = 200  # max length of scenario and metric names
_URL_HINT = "expected an SQLAlchemy URL such as sqlite:///results/govsim.db or postgresql+psycopg://user@host/db"




class _UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no offset, so it gets naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("scenario_name", String(NAME_LEN), nullable=False),
    Column("scenario_hash", String(64), nullable=False, index=True),
    Column("scenario_text", Text, nullable=False),
    Column("seed", BigInteger, nullable=False),
    Column("n_steps", Integer, nullable=False),
    Column("package_version", String(64), nullable=False),
    Column("started_at", _UTCDateTime, nullable=False),
    Column("finished_at", _UTCDateTime, nullable=False),
    Column("label", Text, nullable=False, default=""),
)

summary = Table(
    "summary",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("metric", String(NAME_LEN), nullable=False),
    Column("value", Float, nullable=True),  # NULL encodes NaN
    UniqueConstraint("run_id", "metric", name="uq_summary_run_metric"),
)

#: a run's recorded steps, once per run (sim.store.series): their count and the steps as int64 little-endian
series_steps = Table(
    "series_steps",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True, autoincrement=False),
    Column("n", Integer, nullable=False),
    Column("t", LargeBinary, nullable=False),
)

#: a run's time series, one row per metric: its values at the run's steps (float64 little-endian, NaN and inf
#: as they are) and their count
series = Table(
    "series",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("metric", String(NAME_LEN), nullable=False),
    Column("n", Integer, nullable=False),
    Column("value", LargeBinary, nullable=False),
    UniqueConstraint("run_id", "metric", name="uq_series_run_metric"),
)

#: what a database holds, as keys and values: ``format``, the newest way of storing results written to it
store_info = Table(
    "store_info",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(200), nullable=False),
)

#: the store format this version writes: 1 kept series one row per metric and step (``timeseries``),
#: 2 one row per metric (``series``, ``series_steps``); a database of a newer format is refused
STORE_FORMAT = 2

#: format 1: one row per metric and step (databases written before format 2); read, never written
timeseries = Table(
    "timeseries",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("metric", String(NAME_LEN), nullable=False),
    Column("t", Integer, nullable=False),
    Column("value", Float, nullable=True),  # NULL encodes NaN
    Index("ix_timeseries_run_metric", "run_id", "metric"),
)


# Sweeps (sim.experiments.sweep.spec): a sweep is a validated design of experiments (parameter sets) run
# `replicates` times each; every finished (experiment, replicate) links to exactly one run.
# The unique constraint on (experiment_id, replicate) makes resuming a killed sweep idempotent.
_SWEEP_ID_LEN = 120

sweeps = Table(
    "sweeps",
    metadata,
    Column("id", String(_SWEEP_ID_LEN), primary_key=True),  # "<name>-<first 10 hex of spec_hash>"
    Column("name", String(NAME_LEN), nullable=False, index=True),
    Column("spec_hash", String(64), nullable=False, unique=True),  # sha256 of the canonical spec
    Column("spec", JSON, nullable=False),  # the normalised sweep spec: factors, design, outcomes, seeds
    Column("sweep_file", Text, nullable=False),
    Column("base_scenario_name", String(NAME_LEN), nullable=False),
    Column("base_scenario_hash", String(64), nullable=False),
    Column("base_scenario_text", Text, nullable=False),  # TOML of the base scenario (constants applied)
    Column("design", String(32), nullable=False),
    Column("n_experiments", Integer, nullable=False),
    Column("replicates", Integer, nullable=False),
    Column("root_seed", BigInteger, nullable=False),
    Column("n_steps", Integer, nullable=False),
    Column("record_every", Integer, nullable=False),
    Column("package_version", String(64), nullable=False),
    Column("created_at", _UTCDateTime, nullable=False),
)

experiments = Table(
    "experiments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sweep_id", String(_SWEEP_ID_LEN), ForeignKey("sweeps.id", ondelete="CASCADE"), nullable=False),
    Column("idx", Integer, nullable=False),  # position in the design, 0-based
    Column("parameters", JSON, nullable=False),  # {dotted scenario key: value} of the factors
    Column("sample", JSON, nullable=True),  # the design row in the unit cube (for SALib), if sampled
    Column("scenario_hash", String(64), nullable=False, index=True),
    Column("package_version", String(64), nullable=False),
    UniqueConstraint("sweep_id", "idx", name="uq_experiments_sweep_idx"),
)

sweep_results = Table(
    "sweep_results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("experiment_id", Integer, ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False),
    Column("replicate", Integer, nullable=False),
    Column("seed", BigInteger, nullable=False),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("worker", String(NAME_LEN), nullable=False, default=""),  # host:pid that ran it
    Column("run_s", Float, nullable=True),  # model build + run time in the worker (s)
    UniqueConstraint("experiment_id", "replicate", name="uq_sweep_results_experiment_replicate"),
)


# A sweep's lease (sim.store.lease): the one coordinator running it, and when it last said it was alive.
sweep_leases = Table(
    "sweep_leases",
    metadata,
    Column("sweep_id", String(_SWEEP_ID_LEN), ForeignKey("sweeps.id", ondelete="CASCADE"), primary_key=True),
    Column("holder", String(NAME_LEN), nullable=False),  # host:pid of the coordinator
    Column("since", _UTCDateTime, nullable=False),
    Column("heartbeat", _UTCDateTime, nullable=False),
)

# Runs of a sweep that failed (the model raised, or its worker died on every attempt): one row per
# (experiment, replicate) with the last error; deleted when a later attempt stores the run.
sweep_failures = Table(
    "sweep_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("experiment_id", Integer, ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False),
    Column("replicate", Integer, nullable=False),
    Column("seed", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("error", Text, nullable=False),
    Column("failed_at", _UTCDateTime, nullable=False),
    UniqueConstraint("experiment_id", "replicate", name="uq_sweep_failures_experiment_replicate"),
)


def mask_url(url: str) -> str:
    """The URL for messages with its password hidden, even when it does not parse."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # unparseable: mask anything that looks like user:password@
        return re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", url)


def error_line(exc: BaseException) -> str:
    """First line of a (DB-API) error message, without SQLAlchemy's SQL/background trailer."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    """Per-connection SQLite setup: WAL (readers never block the writer) and enforced foreign keys.

    ``synchronous=NORMAL`` is SQLite's recommended setting in WAL mode: a commit survives the
    process being killed (the sweep's crash-safety needs no more), only an OS crash or power
    loss may undo the last commits (never corrupting the file), and commits need no fsync each,
    which matters when a sweep stores hundreds of small runs a minute.
    """
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _fail_open(masked: str, reason: str) -> NoReturn:
    raise StoreError(f"cannot open results database '{masked}': {reason}; {_URL_HINT}") from None


def _in_memory(parsed: URL) -> bool:
    database = parsed.database or ""
    return parsed.get_backend_name() == "sqlite" and (database in ("", ":memory:") or "mode=memory" in database)


def check_url(url: str | None, *, persistent: bool = False) -> None:
    """Check a database URL without connecting or creating anything; :class:`StoreError` if it is not allowed.

    ``persistent``: refuse an in-memory database (``sqlite://``), whose contents vanish with the
    process (a sweep could never be resumed from it).
    """
    if url is None:
        return
    masked = mask_url(url)
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        _fail_open(masked, "not a valid database URL")
    if persistent and _in_memory(parsed):
        _fail_open(masked, "an in-memory database is lost when govsim exits, so this could not be resumed; "
                           "allowed: a database file or server")


def open_engine(url: str, *, create_dirs: bool, read_only: bool = False,
                timeouts: StoreTimeouts | None = None) -> Engine:
    """Check ``url``, build its engine and create any missing tables (the test connect).

    ``create_dirs`` (the default URL only) allows creating a missing SQLite directory; other
    paths in missing directories are refused. ``read_only`` (commands that only read: report,
    list, export, ...) creates nothing: a missing SQLite file or a database without govsim's
    tables is an error naming the URL. ``timeouts`` (default: :meth:`StoreTimeouts.from_env`)
    bound connecting and each statement; a transient failure of the test connect is retried.
    Tables missing from an existing database (one made by an older version) are added. Any
    failure raises one :class:`StoreError` and leaves nothing behind: the engine is disposed
    and files/directories made here are removed.
    """
    timeouts = timeouts or StoreTimeouts.from_env()
    masked = mask_url(url)
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: e.g. a non-numeric port
        _fail_open(masked, "not a valid database URL")
    created: list[Path] = []  # filesystem entries made here, removed again if opening fails
    engine: Engine | None = None
    if read_only:
        _check_sqlite_exists(parsed, masked)
    try:
        engine = _create_engine(parsed, masked, timeouts, create_dirs=create_dirs and not read_only,
                                created=created)
        ready = engine

        def create_tables() -> None:
            with ready.begin() as conn:
                if not read_only:
                    metadata.create_all(conn)
                    store_uncompressed(conn)
                elif not inspect(conn).has_table(runs.name):
                    raise StoreError(f"results database '{masked}': it holds no govsim results "
                                     f"(no table '{runs.name}')")
                _check_format(conn, masked, write=not read_only)

        def give_up(exc: SQLAlchemyError, tries: int, seconds: float) -> None:
            after = f" (gave up after {tries} attempts in {seconds:.0f} s)" if tries > 1 else ""
            _fail_open(masked, error_line(exc) + after)

        retrying(create_tables, timeouts, give_up)
        return engine
    except StoreError:
        _cleanup(engine, created)
        raise
    except (SQLAlchemyError, OSError, ValueError) as exc:  # ValueError: e.g. a NUL in a file: URI
        _cleanup(engine, created)
        _fail_open(masked, error_line(exc))


def _check_format(conn: Connection, masked: str, *, write: bool) -> None:
    """Refuse a database of a newer store format than this version's; a writable open records this version's.

    A database without ``store_info`` was written before format 2 (format 1). Opened for writing,
    it gets format 2's tables (``create_all``) and the record; its older runs stay as they are.
    """
    found = 1
    if inspect(conn).has_table(store_info.name):
        value = conn.execute(select(store_info.c.value).where(store_info.c.key == "format")).scalar()
        found = int(value) if value is not None and str(value).isdigit() else 1
    if found > STORE_FORMAT:
        raise StoreError(f"results database '{masked}': written by a newer govsim (store format {found}; this "
                         f"version reads formats 1 to {STORE_FORMAT}); upgrade govsim to read it")
    if write and found < STORE_FORMAT:
        conn.execute(delete(store_info).where(store_info.c.key == "format"))
        conn.execute(insert(store_info).values(key="format", value=str(STORE_FORMAT)))


def _check_sqlite_exists(parsed: URL, masked: str) -> None:
    """A read-only open of an on-disk SQLite database whose file is missing fails here, creating nothing."""
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or _in_memory(parsed) or database.startswith("file:"):
        return
    try:
        exists = Path(database).is_file()
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte
        _fail_open(masked, f"not a usable file name ({getattr(exc, 'strerror', None) or exc})")
    if not exists:
        raise StoreError(f"results database '{masked}': no such file '{Path(database).absolute()}', nothing is "
                         f"stored there (--db URL or the GOVSIM_DB environment variable name another store)")


def _postgres_args(parsed: URL, timeouts: StoreTimeouts) -> dict[str, Any]:
    """The libpq options: a connect timeout and the server's statement and lock timeouts (unless the URL sets them)."""
    args: dict[str, Any] = {}
    if "connect_timeout" not in parsed.query:
        args["connect_timeout"] = max(2, math.ceil(timeouts.connect_s))  # libpq's minimum is 2 s
    given = parsed.query.get("options", "")
    options = " ".join(given) if isinstance(given, tuple) else str(given)
    ms = max(1, round(timeouts.statement_s * 1000))
    for name in ("statement_timeout", "lock_timeout"):
        if name not in options:
            options = f"{options} -c {name}={ms}".strip()
    args["options"] = options
    return args


def _create_engine(parsed: URL, masked: str, timeouts: StoreTimeouts, *, create_dirs: bool,
                   created: list[Path]) -> Engine:
    """Check the target and build the engine; SQLite directories are checked, never invented."""
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        try:
            _prepare_sqlite_path(parsed, masked, create_dirs=create_dirs, created=created)
        except (OSError, ValueError) as exc:  # a name too long, a NUL byte: refused before any file is made
            _fail_open(masked, f"not a usable file name ({getattr(exc, 'strerror', None) or exc})")
        if "timeout" not in parsed.query:
            connect_args["timeout"] = timeouts.statement_s  # busy timeout: wait this long for a lock
    elif parsed.drivername in ("postgresql", "postgresql+psycopg", "postgresql+psycopg2"):  # libpq drivers
        connect_args.update(_postgres_args(parsed, timeouts))
    try:
        engine = create_engine(parsed, connect_args=connect_args)
    except NoSuchModuleError:
        _fail_open(masked, f"unknown database dialect or driver '{parsed.drivername}'")
    except (ArgumentError, ValueError, TypeError) as exc:  # bad query options, e.g. ?timeout=abc
        _fail_open(masked, f"invalid URL options ({error_line(exc)})")
    except ImportError as exc:
        _fail_open(masked, f"the driver package for '{parsed.drivername}' is not installed ({exc})")
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
    return engine


def _prepare_sqlite_path(parsed: URL, masked: str, *, create_dirs: bool, created: list[Path]) -> None:
    """Create the directory only if ``create_dirs``; refuse other paths in missing directories."""
    database = parsed.database or ""
    if "\x00" in database:
        raise ValueError("a NUL character in the file name")
    if database in ("", ":memory:") or database.startswith("file:"):
        return  # in-memory or URI filename: nothing on disk to check
    path = Path(database)
    directory = path.parent
    if not directory.exists():
        if not create_dirs:
            _fail_open(masked, f"directory '{directory}' does not exist (create it first)")
        missing = [p for p in (directory, *directory.parents) if not p.exists()]
        try:
            directory.mkdir(parents=True)
        except OSError as exc:
            _fail_open(masked, f"cannot create directory '{directory}' ({exc.strerror or exc})")
        created.extend(missing)
    elif not directory.is_dir():
        _fail_open(masked, f"'{directory}' is not a directory")
    if not path.exists():
        created.extend(Path(f"{path}{suffix}") for suffix in ("", "-wal", "-shm", "-journal"))


def _cleanup(engine: Engine | None, created: list[Path]) -> None:
    """Undo a failed open: dispose the engine and remove the files/directories made here."""
    if engine is not None:
        engine.dispose()
    for p in sorted(created, key=lambda p: len(p.parts), reverse=True):  # files before their dirs
        with suppress(OSError):  # best effort; never mask the original error
            p.rmdir() if p.is_dir() else p.unlink(missing_ok=True)
