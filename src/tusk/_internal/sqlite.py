"""SQLite and doltlite living in one process.

doltlite replaces the SQLite library of the whole process, and must be loaded before the first
``import sqlite3``; ``tusk/__init__`` does that. Two traps follow, handled here:

- every *new* SQLite file the process creates is in doltlite format, which plain SQLite (and a plain
  ``mlflow ui``) cannot open: ``create_plain_sqlite`` makes one in plain format;
- doltlite marks the process environment as bootstrapped, and a child Python that inherits the mark
  skips loading it: ``child_env`` removes the mark for subprocesses.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import doltlite  # noqa: F401  (must precede sqlite3)

# isort: split
import sqlite3

BOOTSTRAP_MARK = "_DOLTLITE_BOOTSTRAPPED"


def create_plain_sqlite(path: Path) -> None:
    """Create ``path`` as an empty plain-format SQLite database if it does not exist."""
    if path.exists() and path.stat().st_size > 0:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(f"file:{path}?doltlite_engine=sqlite", uri=True)
    try:
        conn.execute("PRAGMA user_version = 0")
        conn.execute("CREATE TABLE IF NOT EXISTS _tusk_plain (x)")
        conn.execute("DROP TABLE _tusk_plain")
        conn.commit()
    finally:
        conn.close()


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process, without doltlite's bootstrap mark."""
    env = {k: v for k, v in os.environ.items() if k != BOOTSTRAP_MARK}
    env.update(extra or {})
    return env


_FAST_COMMITS: set[str] = set()
WAL_LIMIT = 16 << 20  # bytes of write-ahead log that a writer of the store copies back into it


def fast_commits(path: Path) -> None:
    """Make SQLAlchemy's connections to the plain SQLite file ``path`` (MLflow's local store) commit without
    waiting for the disk: write-ahead log, ``synchronous=NORMAL``.

    A commit is then an append to the log, not a rollback journal created, synced and deleted (the store
    commits ~12 times per registered model: 31 ms → 18 ms a model here). A killed process loses nothing it
    committed (the log is in the OS's cache); a power cut may lose the last commits whole, never corrupts the
    file — the same as a kill just before them, which the next run repairs or retrains. Readers are not
    blocked by the writer. Not for a store on a network file system (SQLite's WAL needs one host).

    The writer must call ``checkpoint``: SQLite copies the log back every 1000 pages by itself, but not in a
    process that loaded doltlite, and a read-only reader never does."""
    if not _FAST_COMMITS:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        event.listen(Engine, "connect", _on_connect)
    _FAST_COMMITS.update({str(path.absolute()), str(path.resolve())})


def _on_connect(dbapi_connection: Any, record: Any) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    files = {row[2] for row in dbapi_connection.execute("PRAGMA database_list")}
    if not files & _FAST_COMMITS:
        return
    try:
        if dbapi_connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            dbapi_connection.execute("PRAGMA journal_mode=WAL")  # once per file; it stays in the file
    except sqlite3.OperationalError:  # another process holds it open right now: the next connection switches
        pass
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def checkpoint(path: Path, over: int = WAL_LIMIT) -> None:
    """Copy the write-ahead log of the plain SQLite file ``path`` back into it and empty it, if it holds more
    than ``over`` bytes (a stat otherwise). Without this the log of a 10,000-model first run grew to 3.8 GB,
    and every reader after it (``tusk plan``, ``status``) looked pages up in it: 10x slower. A reader in the
    middle of a query keeps its part of the log: the next call finishes the job."""
    try:
        if os.stat(f"{path}-wal").st_size <= over:
            return
    except OSError:  # no log: nothing was written since the last checkpoint (and path exists: no new file made)
        return
    conn = sqlite3.connect(str(path), timeout=0.5)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    except sqlite3.OperationalError:  # busy: a writer or a reader holds it; the next one does it
        pass
    finally:
        conn.close()
