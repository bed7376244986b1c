"""SQL helpers shared by the doltlite store's modules: names checked before they reach SQL (tusk.data.names),
quoting, and sqlite3 errors mapped to ``tusk.errors`` (``_errors``) so that driver errors never leak."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from tusk.data.base import Params
from tusk.data.names import check_identifier, check_ref_name, quote_identifier
from tusk.errors import DataError, RefNotFound

__all__ = ["SqliteRowFilter", "_errors", "check_identifier", "check_ref_name", "image", "quote"]


quote = quote_identifier  # SQLite's dialect is its default


@contextmanager
def _errors(action: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        message = str(exc).splitlines()[0]
        if "not found" in message and ("branch" in message or "revision" in message):
            raise RefNotFound(f"{action}: {message}") from exc
        if "no such table" in message:
            raise RefNotFound(f"{action}: {message}") from exc
        raise DataError(f"{action}: {message}") from exc


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
