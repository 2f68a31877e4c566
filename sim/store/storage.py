"""How PostgreSQL stores govsim's binary columns: a run's steps and series, uncompressed.

Set on every writable open (:func:`sim.store.schema.open_engine`), for new databases and those
made before; a storage setting only, the values and the way they are read are the same.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

__all__ = ["UNCOMPRESSED", "store_uncompressed"]

#: the binary columns PostgreSQL stores uncompressed (``STORAGE EXTERNAL``): a run's steps and its series. By
#: default it compresses a value over ~2 kB (pglz) before storing it, which cost the server ~0.6 ms a run's steps
#: (int64, which compress) and ~50 us a series (float64, which do not: it gives up after trying), 40% of a sweep's
#: storing on a local server; the arrays take ~3 kB a year of daily values either way
UNCOMPRESSED = (("series_steps", "t"), ("series", "value"))


def store_uncompressed(conn: Connection) -> None:
    """On PostgreSQL, make :data:`UNCOMPRESSED` columns store new values uncompressed (existing rows stay as they are).

    Done once per database: the columns' storage is read first, so an open that finds it set
    takes no lock. The change is only a saving, so an open never fails for it: a role that may
    not alter the tables (they are another role's), or a table another session is using
    (``ALTER TABLE`` waits for its lock at most :data:`_ALTER_WAIT`), leaves the column as it
    was, for a later open. Reading is the same either way. Other databases: nothing.
    """
    if conn.dialect.name != "postgresql":
        return
    quote = conn.dialect.identifier_preparer.quote
    for table, column in UNCOMPRESSED:
        storage = conn.execute(text("SELECT attstorage FROM pg_attribute WHERE attrelid = CAST(:t AS regclass) "
                                    "AND attname = :c"), {"t": quote(table), "c": column}).scalar()
        if storage == "e":
            continue
        wait = conn.execute(text("SELECT current_setting('lock_timeout')")).scalar()
        try:
            with conn.begin_nested():  # a savepoint: a refusal leaves the open's transaction usable
                conn.execute(text("SELECT set_config('lock_timeout', :w, true)"), {"w": _ALTER_WAIT})
                conn.execute(text(f"ALTER TABLE {quote(table)} ALTER COLUMN {quote(column)} "
                                  f"SET STORAGE EXTERNAL"))
        except DBAPIError:  # not the owner, or the table busy: stored compressed, as before
            pass
        finally:
            conn.execute(text("SELECT set_config('lock_timeout', :w, true)"), {"w": wait})


#: how long an open waits for a table's lock to store its arrays uncompressed (:func:`store_uncompressed`)
_ALTER_WAIT = "200ms"
