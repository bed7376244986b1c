"""SQL helpers shared by the doltlite store's modules: names checked before they reach SQL (tusk.data.names),
quoting, and sqlite3 errors mapped to ``tusk.errors`` (``_errors``) so that driver errors never leak."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from tusk.data.base import Params
from tusk.data.names import check_identifier, check_ref_name, quote_identifier
from tusk.errors import DataError, RefNotFound

__all__ = ["SqliteRowFilter", "_errors", "check_identifier", "check_ref_name", "image", "quote", "read_only"]


_READ_PRAGMAS = frozenset({"table_info", "table_xinfo", "index_list", "index_info", "index_xinfo",
                           "foreign_key_list", "collation_list", "function_list", "pragma_list"})
_READ_DOLT_FUNCTIONS = frozenset({"dolt_hashof", "dolt_version", "dolt_merge_base", "dolt_branch_status"})
_DENIED_FUNCTIONS = frozenset({"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"})


def _authorize(action: int, arg1: str | None, arg2: str | None, database: str | None, trigger: str | None) -> int:
    """sqlite3 authorizer of read-only connections: no ATTACH, no pragma that sets anything, no function
    that changes the store (``dolt_gc``, ``dolt_commit``, ``dolt_push``...) or touches files."""
    if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_PRAGMA:
        return sqlite3.SQLITE_OK if arg2 is None or (arg1 or "").lower() in _READ_PRAGMAS else sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION:
        name = (arg2 or "").lower()
        if name in _DENIED_FUNCTIONS or (name.startswith("dolt_") and name not in _READ_DOLT_FUNCTIONS):
            return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def read_only(conn: sqlite3.Connection) -> None:
    """Make ``conn`` refuse every write: ``query_only`` for the database, an authorizer for the rest."""
    conn.execute("PRAGMA query_only = ON")
    conn.set_authorizer(_authorize)


quote = quote_identifier  # SQLite's dialect is its default
BUSY_TIMEOUT = 30.0  # seconds a connection waits for another process's write before it gives up
_UNKNOWN_REF = re.compile(r"(branch|revision|ref|merge source)\b.*\bnot found|no such branch")


@contextmanager
def _errors(action: str) -> Iterator[None]:
    """Every sqlite3 error inside becomes a tusk error (``mapped``): the one place the doltlite store maps them."""
    try:
        yield
    except sqlite3.Error as exc:
        raise mapped(exc, action) from exc


def mapped(exc: sqlite3.Error, action: str) -> DataError:
    """The tusk error for a sqlite3 error: by its class and SQLite's result code. Only doltlite's refusals of
    an unknown ref, which come as a generic SQLITE_ERROR (or SQLITE_CANTOPEN for ``db@ref``), are told apart
    by their text: no code says "unknown ref"."""
    message = (str(exc).splitlines() or [type(exc).__name__])[0]
    code = getattr(exc, "sqlite_errorname", "") or ""
    if isinstance(exc, sqlite3.IntegrityError):
        return DataError(f"{action}: {message} (a constraint of the table)")
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return DataError(f"{action}: the data store is busy: another process has been writing to it for "
                         f"{BUSY_TIMEOUT:g} s ({message})")
    if code.startswith("SQLITE_READONLY") or code == "SQLITE_AUTH":
        return DataError(f"{action}: {message} (queries are read-only: change data with tusk data import, "
                         "merge or revert)")
    if code in ("SQLITE_CANTOPEN", "SQLITE_ERROR") and _UNKNOWN_REF.search(message):
        return RefNotFound(f"{action}: {message}")
    return DataError(f"{action}: {message}")


def image(values: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """One side of a dolt_diff or dolt_conflicts row: the ``prefix``ed columns, without Dolt's own."""
    skip = {f"{prefix}commit", f"{prefix}commit_date", f"{prefix}diff_type"}
    return {k[len(prefix):]: v for k, v in values.items() if k.startswith(prefix) and k not in skip}


class SqliteRowFilter:
    """``RowFilter`` on SQLite: the rows in an in-memory table, queried with SQLite's own SQL."""

    def __init__(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        self.conn = sqlite3.connect(":memory:")
        names = ", ".join(quote(c) for c in columns)
        marks = ", ".join("?" for _ in columns)
        with _errors(f"cannot hold rows of {table}"):
            self.conn.execute(f"CREATE TABLE {quote(table)} ({names})")
            self.conn.executemany(f"INSERT INTO {quote(table)} VALUES ({marks})", rows)

    def select(self, sql: str, params: Params = None) -> list[tuple[Any, ...]]:
        with _errors("cannot filter rows"):
            return self.conn.execute(sql, params or ()).fetchall()

    def close(self) -> None:
        self.conn.close()
