"""Where results are stored by default: one rule for the CLI, notebooks and scripts.

The default results database is, in this order:

1. ``GOVSIM_DB`` (environment variable): an SQLAlchemy URL (anything with ``://``, e.g.
   ``postgresql+psycopg://user@host/govsim``) or a path to an SQLite file (``~`` expanded, a
   relative path taken from the current directory);
2. else ``results/govsim.db`` in the govsim project the current directory lies in: the nearest
   ancestor (the directory itself included) holding a ``pyproject.toml`` of the project named
   ``govsim``, so a notebook run from ``notebooks/`` and a command run from the checkout's root
   share one store;
3. else ``results/govsim.db`` under the current directory (:data:`FALLBACK_DB_URL`).

Only the second and third may create the missing ``results/`` directory (a store that writes).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DB_ENV", "FALLBACK_DB_URL", "DefaultDb", "default_db", "project_root", "sqlite_path"]

#: the environment variable naming the results database (URL or SQLite path)
DB_ENV = "GOVSIM_DB"
#: the default outside a govsim checkout and without GOVSIM_DB (relative to the current directory)
FALLBACK_DB_URL = "sqlite:///results/govsim.db"
_PROJECT_NAME = re.compile(r'^\s*name\s*=\s*["\']govsim["\']\s*$', re.MULTILINE)


@dataclass(frozen=True)
class DefaultDb:
    """The default database URL and why it was chosen (``GOVSIM_DB``, ``project`` or ``cwd``)."""

    url: str
    origin: str

    @property
    def may_create_dir(self) -> bool:
        """Whether a writing store may create the missing ``results/`` directory (not for GOVSIM_DB)."""
        return self.origin != "GOVSIM_DB"


def project_root(start: Path | None = None) -> Path | None:
    """The nearest directory from ``start`` (default: the current directory) up holding govsim's pyproject.toml."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / "pyproject.toml"
        try:
            text = candidate.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if _PROJECT_NAME.search(text.partition("[project]")[2].partition("\n[")[0]):
            return directory
    return None


def default_db(environ: dict[str, str] | None = None, cwd: Path | None = None) -> DefaultDb:
    """The default results database by the rule of this module's docstring."""
    env = os.environ if environ is None else environ
    value = env.get(DB_ENV, "").strip()
    if value:
        if "://" in value:
            return DefaultDb(value, "GOVSIM_DB")
        return DefaultDb(f"sqlite:///{Path(value).expanduser().absolute()}", "GOVSIM_DB")
    root = project_root(cwd)
    if root is not None:
        return DefaultDb(f"sqlite:///{root / 'results' / 'govsim.db'}", "project")
    return DefaultDb(FALLBACK_DB_URL, "cwd")


def sqlite_path(url: str) -> Path | None:
    """The file of an on-disk SQLite URL, or None (another backend, in-memory, or a ``file:`` URI)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return None
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)
