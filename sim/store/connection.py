"""An open results database: its engine, one clear error per failure, and every operation under a deadline with retries.

:class:`StoreConnection` is the base of :class:`sim.store.database.ResultStore`. Each operation
is a function of a connection run by :meth:`StoreConnection.run_op`: in a transaction when it
writes, under the deadline of :class:`sim.store.faults.Deadlines`, tried again with backoff on a
transient error, and when it gives up one :class:`~sim.errors.StoreError` naming the URL
(password masked), what failed, and how many attempts were made over how long.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn, Self, TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from sim.errors import StoreError
from sim.store.faults import StoreTimeouts, deadlines, retrying, socket_fd, transient
from sim.store.location import FALLBACK_DB_URL, default_db
from sim.store.schema import error_line, mask_url, open_engine

__all__ = ["DEFAULT_DB_URL", "StoreConnection"]

T = TypeVar("T")
DEFAULT_DB_URL: str = FALLBACK_DB_URL


class StoreConnection:
    """Opens a results database (creating any missing tables) and runs operations on it safely."""

    def __init__(self, url: str | None = None, *, read_only: bool = False,
                 timeouts: StoreTimeouts | None = None) -> None:
        if url is None:  # the default store of sim.store.location (GOVSIM_DB, the checkout's, here)
            default = default_db()
            raw, create_dirs = default.url, default.may_create_dir
        else:
            raw, create_dirs = url, url == DEFAULT_DB_URL
        self._url = mask_url(raw)
        self.timeouts = timeouts or StoreTimeouts.from_env()
        self._engine: Engine | None = open_engine(raw, create_dirs=create_dirs, read_only=read_only,
                                                  timeouts=self.timeouts)

    def _fail(self, reason: str, *, maybe_written: bool = False) -> NoReturn:
        err = StoreError(f"results database '{self._url}': {reason}")
        err.maybe_written = maybe_written
        raise err from None

    def run_op(self, what: str, body: Callable[[Connection], T], *, write: bool = False, idempotent: bool = True,
               retry: bool = True, passthrough: tuple[type[SQLAlchemyError], ...] = (),
               deadline_s: float | None = None) -> T:
        """``body(conn)`` (in a transaction if ``write``) under the deadline, retried while the error is transient.

        A write that is not ``idempotent`` is not retried once its commit was sent: the commit may
        have happened. A write given up says whether something may have been written: nothing,
        unless a commit was sent and came back with an error or not at all (``what`` names the
        operation alone; the error's ``maybe_written``). A StoreError raised by ``body``, and errors
        of the ``passthrough`` types (e.g. an ``IntegrityError`` the caller settles), are raised
        unchanged. ``deadline_s``: the time the whole operation may take (default: the statement
        timeout; more for bulk reads and writes).
        """
        state = {"cut": False, "committing": False, "sent": False}
        timeouts = self.timeouts if retry else StoreTimeouts(**{**self.timeouts.__dict__, "retries": 0})

        def attempt() -> T:
            state["committing"] = False
            with self.engine.connect() as conn:
                fd = socket_fd(conn.connection.dbapi_connection)
                token = None if fd is None else deadlines().arm(fd, deadline_s or timeouts.statement_s)
                try:
                    if not write:
                        return body(conn)
                    trans = conn.begin()
                    result = body(conn)
                    state["committing"] = state["sent"] = True  # sent: by any try, and the op not done
                    trans.commit()
                    return result
                finally:
                    if token is not None and deadlines().disarm(token):
                        state["cut"] = True

        def may_retry(exc: SQLAlchemyError) -> bool:
            return transient(exc) and (idempotent or not state["committing"]) and not isinstance(exc, passthrough)

        def give_up(exc: SQLAlchemyError, tries: int, seconds: float) -> NoReturn:
            if isinstance(exc, passthrough):
                raise exc
            reason = (f"no answer within {deadline_s or timeouts.statement_s:g} s (timed out: is the server paused, overloaded "
                      f"or unreachable?)" if state["cut"] else error_line(exc))
            after = f"; gave up after {tries} attempts in {seconds:.1f} s" if tries > 1 else ""
            sent = write and state["sent"]  # a commit was sent, by this try or an earlier one, outcome unknown
            written = "" if not write else (", nothing was written" if not sent else
                                            ", though it may have been written (a commit was sent, outcome unknown)")
            self._fail(f"could not {what}{written}: {reason}{after}", maybe_written=sent)

        return retrying(attempt, timeouts, give_up, may_retry=may_retry)

    @property
    def url(self) -> str:
        """The database URL with any password masked."""
        return self._url

    @property
    def engine(self) -> Engine:
        """The open engine (for modules that add their own tables to ``metadata``)."""
        if self._engine is None:
            self._fail("the store is closed")
        return self._engine

    def close(self) -> None:
        """Release all connections; further use raises StoreError. Safe to call twice."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

