"""A sweep's lease and its failed runs: the store-side state that keeps two coordinators from doing the same work.

The lease. A coordinator running a sweep holds one row of ``sweep_leases``: its holder id
(``host:pid``), since when, and a heartbeat it refreshes every ``ttl_s / 4`` seconds from a
background thread (:class:`LeaseKeeper`). A second coordinator of the same sweep **stops at once**
with a :class:`~sim.errors.StoreError` naming the holder and since when: it neither waits nor
runs anything, so no run is ever computed twice. The lease is taken over only when it is
abandoned: its heartbeat is older than ``ttl_s`` (the holder was killed, or its host lost), or
the holder is a process of this host that no longer exists (a coordinator killed by SIGKILL is
resumed at once). The holder deletes the row when it stops, however it stops short of SIGKILL.

Failed runs. A run that raised, or whose worker died on every attempt, is one row of
``sweep_failures`` with its error; storing the run later (the same command run again) deletes it.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from sim.errors import StoreError
from sim.store.connection import StoreConnection
from sim.store.schema import experiments, sweep_failures, sweep_leases

__all__ = ["DEFAULT_TTL_S", "LeaseKeeper", "holder_id", "list_failures", "record_failure"]

#: seconds without a heartbeat after which a lease counts as abandoned
DEFAULT_TTL_S = 60.0


def holder_id() -> str:
    """This process as a lease holder: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _gone_here(holder: str) -> bool:
    """Whether ``holder`` is a process of this host that no longer exists."""
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. PermissionError: it exists, as another user's process
        return False
    return False


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass
class LeaseKeeper:
    """Holds the lease of ``sweep_id`` while in a ``with`` block (see the module docstring).

    ``lost`` becomes True if another coordinator took the lease over (this one's heartbeat had
    stopped for longer than ``ttl_s``): the holder should stop.
    """

    store: StoreConnection
    sweep_id: str
    ttl_s: float = DEFAULT_TTL_S
    holder: str = field(default_factory=holder_id)
    since: datetime | None = None
    lost: bool = False
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _take(self, conn: Connection) -> dict[str, Any] | None:
        """Take the lease if free or abandoned; the holder's row if it is held."""
        now = datetime.now(UTC)
        row = conn.execute(select(sweep_leases).where(sweep_leases.c.sweep_id == self.sweep_id)).mappings().first()
        mine = {"holder": self.holder, "since": now, "heartbeat": now}
        if row is None:
            conn.execute(insert(sweep_leases), {"sweep_id": self.sweep_id, **mine})
        elif row["holder"] != self.holder:
            alive = now - _utc(row["heartbeat"]) < timedelta(seconds=self.ttl_s)
            if alive and not _gone_here(row["holder"]):
                return dict(row)
            took = conn.execute(update(sweep_leases).where(sweep_leases.c.sweep_id == self.sweep_id)
                                .where(sweep_leases.c.holder == row["holder"]).values(**mine))
            if took.rowcount != 1:  # another coordinator took it over first
                return dict(row)
        else:
            conn.execute(update(sweep_leases).where(sweep_leases.c.sweep_id == self.sweep_id).values(heartbeat=now))
            now = _utc(row["since"])
        self.since = now
        return None

    def acquire(self) -> None:
        """Take the lease, or raise StoreError naming its holder and since when."""
        held: dict[str, Any] | None = None
        for _ in range(2):  # a lost race to insert the row: read the winner's row
            try:
                held = self.store.run_op(f"take the lease of sweep {self.sweep_id}", self._take, write=True,
                                         passthrough=(IntegrityError,))
                break
            except IntegrityError:
                continue
        if held is not None or self.since is None:
            held = held or {"holder": "another coordinator", "since": datetime.now(UTC),
                            "heartbeat": datetime.now(UTC)}
            since = _utc(held["since"]).strftime("%Y-%m-%d %H:%M:%S UTC")
            beat = (datetime.now(UTC) - _utc(held["heartbeat"])).total_seconds()
            raise StoreError(f"results database '{self.store.url}': sweep {self.sweep_id} is being run by "
                             f"{held['holder']} since {since} (last heartbeat {max(beat, 0):.0f} s ago); nothing "
                             f"was run: wait for it to finish, or stop it, then run the same command to resume "
                             f"(a lease without heartbeat for {self.ttl_s:g} s is taken over)")

    def beat(self) -> bool:
        """Refresh the heartbeat; False (and ``lost``) if the lease is no longer this holder's."""
        now = datetime.now(UTC)
        stmt = (update(sweep_leases).where(sweep_leases.c.sweep_id == self.sweep_id)
                .where(sweep_leases.c.holder == self.holder).values(heartbeat=now))
        n = self.store.run_op(f"refresh the lease of sweep {self.sweep_id}", lambda c: c.execute(stmt).rowcount,
                              write=True, retry=False)
        self.lost = self.lost or n != 1
        return not self.lost

    def _beat_loop(self) -> None:
        while not self._stop.wait(self.ttl_s / 4):
            try:
                if not self.beat():
                    return
            except StoreError:  # the store is unreachable: the coordinator finds out when it next stores
                continue

    def release(self) -> None:
        """Stop the heartbeat and delete the lease row if it is still this holder's (one attempt)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)
        stmt = (delete(sweep_leases).where(sweep_leases.c.sweep_id == self.sweep_id)
                .where(sweep_leases.c.holder == self.holder))
        self.store.run_op(f"release the lease of sweep {self.sweep_id}", lambda c: c.execute(stmt), write=True,
                          retry=False)

    def __enter__(self) -> LeaseKeeper:
        self.acquire()
        self._thread = threading.Thread(target=self._beat_loop, daemon=True, name="govsim-lease")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.release()
        except StoreError:
            if exc[0] is None:  # do not hide the error that ended the block
                raise


def record_failure(store: StoreConnection, experiment_id: int, replicate: int, seed: int, attempts: int,
                   error: str) -> None:
    """Record (or replace) the failure of run (experiment, replicate) with its error."""
    where = ((sweep_failures.c.experiment_id == int(experiment_id)) & (sweep_failures.c.replicate == int(replicate)))
    row = {"experiment_id": int(experiment_id), "replicate": int(replicate), "seed": int(seed),
           "attempts": int(attempts), "error": str(error), "failed_at": datetime.now(UTC)}

    def write(conn: Connection) -> None:
        conn.execute(delete(sweep_failures).where(where))
        conn.execute(insert(sweep_failures), row)

    store.run_op(f"record a failed run of experiment {experiment_id}", write, write=True)


def list_failures(store: StoreConnection, sweep_id: str) -> list[dict[str, Any]]:
    """The failed runs of a sweep: experiment index, replicate, seed, attempts, error, failed_at."""
    query = (select(experiments.c.idx.label("experiment"), sweep_failures.c.replicate, sweep_failures.c.seed,
                    sweep_failures.c.attempts, sweep_failures.c.error, sweep_failures.c.failed_at)
             .join(experiments, experiments.c.id == sweep_failures.c.experiment_id)
             .where(experiments.c.sweep_id == sweep_id).order_by(experiments.c.idx, sweep_failures.c.replicate))
    return store.run_op(f"read the failed runs of sweep {sweep_id}",
                        lambda conn: [dict(r) for r in conn.execute(query).mappings()])
