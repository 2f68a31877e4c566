"""Stopping a coordinator on SIGINT (Ctrl-C) or SIGTERM without cutting a commit in half: :class:`StopSignals`.

Re-exported by :mod:`sim.experiments.runner`, where the coordinators find it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Self

__all__ = ["StopSignals"]


class StopSignals:
    """SIGINT (Ctrl-C) and SIGTERM (batch schedulers) raise KeyboardInterrupt, but never inside ``critical()``.

    A coordinator that stores results as they arrive runs its loop under ``with StopSignals() as
    stop:`` and each commit under ``with stop.critical():``; a signal received during a commit
    takes effect when it ends, so no result is stored in half. Outside the main thread (where
    Python cannot install handlers) it changes nothing.

    ``graceful``: the first signal only sets ``stopping`` (and calls ``on_stop``), so that the
    coordinator hands out no new task and finishes those in flight; a second one raises.
    """

    def __init__(self, *, graceful: bool = False, on_stop: Callable[[], None] | None = None) -> None:
        self.critical_depth = 0
        self.pending = False
        self.graceful = graceful
        self.stopping = False
        self.on_stop = on_stop
        self._old: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:
        if self.graceful and not self.stopping:
            self.stopping = True
            if self.on_stop is not None:
                self.on_stop()
        elif self.critical_depth:
            self.pending = True
        else:
            raise KeyboardInterrupt

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()

    @contextmanager
    def critical(self) -> Iterator[None]:
        """A block no signal interrupts; one received meanwhile raises KeyboardInterrupt at its end."""
        self.critical_depth += 1
        try:
            yield
        finally:
            self.critical_depth -= 1
        if self.pending and not self.critical_depth:
            self.pending = False
            raise KeyboardInterrupt
