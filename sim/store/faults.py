"""The store's fault handling: timeouts, a deadline on every operation, and retries of transient errors.

Why a module of its own: :mod:`sim.store.database` says *what* is read and written; how long
the database may take, what counts as a passing fault and how often to try again is one
separate concern, shared by the engine's opening (:mod:`sim.store.schema`) and every store
operation.

* :class:`StoreTimeouts` — the connect timeout, the per-operation (statement) timeout and the
  retry budget; defaults, or the ``GOVSIM_DB_*`` environment variables (see :meth:`StoreTimeouts.from_env`).
* :class:`Deadlines` — a PostgreSQL server that is *frozen* (paused, swapped out, a stalled
  network) keeps the TCP connection open and never answers, so neither the server's own
  ``statement_timeout`` nor TCP keep-alives end the wait. A watchdog thread shuts down the socket
  of a connection whose operation has run past its deadline; the driver then raises a
  connection error in the waiting thread, and the operation is retried or given up.
* :func:`transient` — which errors are worth another try: a lost or refused connection, a
  serialisation failure or deadlock, a server shutting down or out of connections, a statement
  or lock timeout, a locked SQLite database. Bad credentials, a missing database, an unknown
  host or a constraint violation are not retried.
* :func:`retrying` — runs an operation with bounded exponential backoff.

Importing this module starts no thread: the watchdog starts with the first deadline.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from sim.errors import InputError

__all__ = ["ENV", "Deadlines", "StoreTimeouts", "deadlines", "retrying", "socket_fd", "transient"]

T = TypeVar("T")

#: environment variables read by :meth:`StoreTimeouts.from_env`, and the field each sets
ENV: dict[str, str] = {"GOVSIM_DB_CONNECT_TIMEOUT": "connect_s", "GOVSIM_DB_TIMEOUT": "statement_s",
                       "GOVSIM_DB_RETRIES": "retries"}


@dataclass(frozen=True)
class StoreTimeouts:
    """How long the store waits and how often it tries again.

    ``connect_s``: to open a connection (PostgreSQL ``connect_timeout``, at least 2 s there).
    ``statement_s``: for one whole operation (a transaction), enforced by the server's
    ``statement_timeout``, by the watchdog of :class:`Deadlines` when the server does not answer at
    all, and as SQLite's busy timeout. ``retries``: further attempts after a transient error, the
    n-th after ``min(backoff_s * 2**(n-1), backoff_max_s)`` seconds.
    """

    connect_s: float = 10.0
    statement_s: float = 60.0
    retries: int = 4
    backoff_s: float = 0.5
    backoff_max_s: float = 8.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StoreTimeouts:
        """The defaults, with any of ``GOVSIM_DB_CONNECT_TIMEOUT``, ``GOVSIM_DB_TIMEOUT`` (s), ``GOVSIM_DB_RETRIES``."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for var, name in ENV.items():
            raw = env.get(var, "").strip()
            if not raw:
                continue
            try:
                value = int(raw) if name == "retries" else float(raw)
            except ValueError:
                value = -1
            if not (0 <= value <= 100 if name == "retries" else 0 < value <= 86_400):
                allowed = "an integer from 0 to 100" if name == "retries" else "a number of seconds in (0, 86400]"
                raise InputError(f"environment variable {var}={raw!r}: must be {allowed}")
            values[name] = value
        return cls(**values)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1, 2, ...)."""
        return float(min(self.backoff_s * 2 ** (attempt - 1), self.backoff_max_s))


def socket_fd(dbapi_connection: Any) -> int | None:
    """The socket of a DB-API connection (psycopg 3 or 2), or None (SQLite, or not connected)."""
    try:
        pgconn = getattr(dbapi_connection, "pgconn", None)
        fd = pgconn.socket if pgconn is not None else dbapi_connection.fileno()
    except Exception:  # closed, or a driver without a socket
        return None
    return int(fd) if isinstance(fd, int) and fd >= 0 else None


class Deadlines:
    """Cuts the socket of a connection whose operation outlives its deadline (one watchdog thread)."""

    def __init__(self, tick_s: float = 0.1) -> None:
        self._tick_s = tick_s
        self._armed: dict[int, tuple[float, int]] = {}  # token -> (monotonic deadline, socket fd)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._next = 0

    def arm(self, fd: int, seconds: float) -> int:
        """Watch socket ``fd`` for ``seconds``; a token for :meth:`disarm`."""
        with self._lock:
            self._next += 1
            token = self._next
            self._armed[token] = (time.monotonic() + seconds, fd)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._watch, daemon=True, name="govsim-db-deadline")
                self._thread.start()
        return token

    def disarm(self, token: int) -> bool:
        """Stop watching; True if the deadline had passed and the socket was cut."""
        with self._lock:
            return self._armed.pop(token, None) is None

    def _watch(self) -> None:
        while True:
            time.sleep(self._tick_s)
            now = time.monotonic()
            with self._lock:
                late = [t for t, (deadline, _) in self._armed.items() if deadline <= now]
                for token in late:
                    _, fd = self._armed.pop(token)
                    _cut(fd)


def _cut(fd: int) -> None:
    """Shut the socket down (both ways) through a duplicate, so the blocked driver call returns with an error."""
    try:
        dup = os.dup(fd)
    except OSError:
        return
    try:
        with socket.socket(fileno=dup) as sock:  # closes the duplicate only; the driver still owns ``fd``
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


_DEADLINES: Deadlines | None = None


def deadlines() -> Deadlines:
    """The process's watchdog (made on first use)."""
    global _DEADLINES
    if _DEADLINES is None:
        _DEADLINES = Deadlines()
    return _DEADLINES


#: SQLSTATE classes and codes worth another try: connection exception, transaction rollback
#: (serialisation failure, deadlock), insufficient resources, operator intervention (shutdown,
#: cannot connect now, query cancelled by statement_timeout), lock_timeout
_TRANSIENT_CLASSES = ("08", "40", "53", "57")
_TRANSIENT_CODES = ("55P03",)
_PERMANENT_WORDS = ("could not translate host name", "name or service not known", "failed to resolve host",
                    "nodename nor servname", "password authentication failed", "does not exist")


def transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a passing fault of the database or its connection (see the module docstring)."""
    if not isinstance(exc, SQLAlchemyError):
        return False
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).lower()
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if isinstance(code, str) and code:
        return code[:2] in _TRANSIENT_CLASSES or code in _TRANSIENT_CODES
    if any(word in text for word in _PERMANENT_WORDS):
        return False
    if orig is not None and type(orig).__module__.startswith("sqlite"):
        return "locked" in text or "busy" in text
    # a driver OperationalError without SQLSTATE: the connection failed, was refused or timed out
    return type(orig).__name__ == "OperationalError"


def retrying(attempt: Callable[[], T], timeouts: StoreTimeouts, fail: Callable[[SQLAlchemyError, int, float], T],
             *, may_retry: Callable[[SQLAlchemyError], bool] = transient) -> T:
    """``attempt()`` until it succeeds, at most ``1 + timeouts.retries`` times while the error ``may_retry``.

    On giving up, ``fail(last error, attempts made, seconds spent)`` (which raises).
    """
    start = time.monotonic()
    tries = 0
    while True:
        tries += 1
        try:
            return attempt()
        except SQLAlchemyError as exc:
            if tries > timeouts.retries or not may_retry(exc):
                return fail(exc, tries, time.monotonic() - start)
            time.sleep(timeouts.backoff(tries))
