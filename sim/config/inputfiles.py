"""Reading input files (scenario, sweep, calibration, uncertainty) safely, before anything else.

Only a regular file is read (a FIFO would block, ``/dev/zero`` never ends), at most
:data:`MAX_FILE_BYTES`, as UTF-8; its TOML may nest at most :data:`MAX_DEPTH` levels and hold
strings of at most :data:`MAX_TEXT` characters; an empty file is refused. Every failure raises
the caller's :class:`~sim.errors.InputFileError` subclass naming the file and what is allowed.
"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from typing import Any

from sim.errors import InputFileError

__all__ = ["MAX_DEPTH", "MAX_FILE_BYTES", "MAX_TEXT", "read_text", "read_toml"]

#: the largest input file read (bytes): scenario, sweep, calibration and uncertainty files are a few KiB
MAX_FILE_BYTES = 1 << 20
#: the deepest nesting of tables and lists an input file may have (a scenario needs 4)
MAX_DEPTH = 16
#: the longest string value an input file may hold (a description is a paragraph or a few)
MAX_TEXT = 10_000


def _depth(value: Any, limit: int) -> int:
    """The nesting depth of plain data (a scalar: 0), counted no further than ``limit + 1``."""
    if limit < 0 or not isinstance(value, (dict, list)):
        return 0
    items = value.values() if isinstance(value, dict) else value
    return 1 + max((_depth(v, limit - 1) for v in items), default=0)


def read_text(path: Path, what: str, error: type[InputFileError]) -> str:
    """The UTF-8 text of the regular file at ``path``, at most :data:`MAX_FILE_BYTES` long.

    A missing or unreadable file, a directory, a device, a FIFO, a file too large or not UTF-8
    raises ``error`` naming the file and what is allowed; nothing is read from anything but a
    regular file (a FIFO would block, ``/dev/zero`` never ends).
    """
    src = str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise error(src, "", f"no such {what} file") from None
    except (OSError, ValueError) as err:  # ValueError: a NUL byte in the path
        raise error(src, "", f"cannot read file ({getattr(err, 'strerror', None) or err})") from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file (a device, FIFO or socket)"
        raise error(src, "", f"{kind}; allowed: a {what} file (TOML text)")
    if st.st_size > MAX_FILE_BYTES:
        raise error(src, "", f"{st.st_size:,} bytes; allowed: a {what} file of at most {MAX_FILE_BYTES:,} bytes")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        raise error(src, "", f"cannot read file ({err.strerror or err})") from None
    if len(raw) > MAX_FILE_BYTES:  # it grew since stat
        raise error(src, "", f"more than {MAX_FILE_BYTES:,} bytes; allowed: a {what} file of at most that")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise error(src, "", f"not UTF-8 text (byte 0x{raw[err.start]:02x} at position {err.start}); "
                             f"allowed: a UTF-8 text file") from None


def read_toml(path: Path, what: str, error: type[InputFileError]) -> dict[str, Any]:
    """The top-level table of the TOML file at ``path`` (checked as :func:`read_text` says).

    A malformed file, an empty one (no key: almost always a mistake, it would silently mean the
    defaults), one nested deeper than :data:`MAX_DEPTH` or holding a string longer than
    :data:`MAX_TEXT` raises ``error`` (e.g. ScenarioError) naming it; ``what`` names the kind of
    file in the message (``no such sweep file``).
    """
    src = str(path)
    text = read_text(path, what, error)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise error(src, "", f"not valid TOML ({err})") from None
    except RecursionError:
        raise error(src, "", f"nested too deeply; allowed: at most {MAX_DEPTH} levels of tables and lists") from None
    if not data:
        raise error(src, "", f"the file is empty (no key); allowed: a {what} file with at least one key")
    if _depth(data, MAX_DEPTH) > MAX_DEPTH:
        raise error(src, "", f"nested too deeply; allowed: at most {MAX_DEPTH} levels of tables and lists")
    key = _long_text(data, "")
    if key is not None:
        raise error(src, key, f"a string longer than {MAX_TEXT:,} characters; allowed: at most {MAX_TEXT:,}")
    return data


def _long_text(value: Any, key: str) -> str | None:
    """The dotted key of the first string longer than :data:`MAX_TEXT` in plain data, or None."""
    if isinstance(value, str):
        return key if len(value) > MAX_TEXT else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for k, v in items:
        found = _long_text(v, f"{key}[{k}]" if isinstance(k, int) else (f"{key}.{k}" if key else str(k)))
        if found is not None:
            return found
    return None
