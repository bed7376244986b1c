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

import doltlite  # noqa: F401  (must precede sqlite3)
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
