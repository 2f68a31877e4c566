"""Names given by users, checked as labels and made safe as file names.

A *name* (a scenario's ``name``, a calibration's ``name``, a comparison label) is a short label:
1 to :data:`MAX_NAME` characters, no control character (newline, tab, NUL ...), not only
spaces. Wherever a name becomes part of a file name it first goes through :func:`safe_filename`
(letters, digits, ``_``, ``-`` and ``.`` only, no leading dot), and the file is placed with
:func:`confined`, which refuses any path that would leave its output directory.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from sim.errors import OutputError, ParameterError

__all__ = ["MAX_FILENAME", "MAX_NAME", "check_name", "confined", "safe_filename"]

#: the longest name (the results store keeps names of up to 200 characters)
MAX_NAME = 200
#: the longest file-name stem made from a name (file systems allow 255 bytes)
MAX_FILENAME = 120
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def check_name(key: str, value: object) -> str:
    """``value`` if it is a name as the module says; else :class:`ParameterError` naming ``key``."""
    allowed = f"1 to {MAX_NAME} characters, no control characters (newline, tab ...)"
    if not isinstance(value, str):
        raise ParameterError(key, f"expected a string, got {value!r}", value=value, allowed=allowed)
    bad = next((c for c in value if unicodedata.category(c) in ("Cc", "Cs")), None)
    if not value.strip() or len(value) > MAX_NAME or bad is not None:
        what = ("empty" if not value.strip() else f"{len(value):,} characters long" if len(value) > MAX_NAME
                else f"contains the control character {bad!r}")
        shown = value if len(value) <= 40 else value[:37] + "..."
        raise ParameterError(key, f"{shown!r} is {what}; allowed: {allowed}", value=value, allowed=allowed)
    return value


def safe_filename(name: str, default: str = "unnamed") -> str:
    """``name`` reduced to a safe file-name stem: runs of other characters become ``_``, no leading dot.

    ``../../x`` becomes ``_x``, ``/etc/passwd`` ``_etc_passwd``; an empty result is ``default``.
    At most :data:`MAX_FILENAME` characters.
    """
    stem = _UNSAFE.sub("_", unicodedata.normalize("NFKC", name))
    stem = re.sub(r"_{2,}", "_", re.sub(r"\.{2,}", "_", stem)).lstrip(".")
    stem = stem[:MAX_FILENAME].strip()
    return stem if stem and stem not in (".", "..") else default


def confined(directory: Path, filename: str) -> Path:
    """``directory / filename`` after checking it stays inside ``directory``; else :class:`OutputError`.

    ``filename`` should come from :func:`safe_filename`; this is the second line of defence
    (a symbolic link or a separator that slipped through).
    """
    path = directory / filename
    base = directory.resolve()
    resolved = path.resolve()
    if resolved.parent != base or Path(filename).name != filename:
        raise OutputError(f"'{filename}' would be written outside the output directory '{directory}'")
    return path
