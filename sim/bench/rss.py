"""The peak resident set size of this process, its own: what the bench's memory figures report.

Why not ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` alone: on Linux a process started by
fork (or vfork) and exec keeps, in that figure, the peak of the process it was forked from, so a
bench child started from a large process (a test worker of 600 MB) reported the parent's peak as
its own. ``VmHWM`` in ``/proc/self/status`` is the high-water mark of this process's own memory
(reset by exec); where there is no ``/proc`` the rusage figure is used.
"""

from __future__ import annotations

import resource
from pathlib import Path

__all__ = ["peak_rss_kb"]

_STATUS = Path("/proc/self/status")


def peak_rss_kb() -> int:
    """This process's peak resident set size in KiB (``VmHWM``; ``ru_maxrss`` where /proc is missing)."""
    try:
        for line in _STATUS.read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
