"""SQL helpers shared by the doltlite store's modules: names checked before they reach SQL (tusk.data.names),
quoting, and sqlite3 errors mapped to ``tusk.errors`` (``_errors``) so that driver errors never leak."""

from __future__ import annotations

import math
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal

from tusk.data.base import Params
from tusk.data.names import check_identifier, check_ref_name, quote_identifier
from tusk.errors import DataError, RefNotFound

__all__ = [
    "QueryBound",
    "SqliteRowFilter",
    "_errors",
    "check_identifier",
    "check_ref_name",
    "image",
    "quote",
    "read_only",
]


_READ_PRAGMAS = frozenset(
    {
        "table_info",
        "table_xinfo",
        "index_list",
        "index_info",
        "index_xinfo",
        "foreign_key_list",
        "collation_list",
        "function_list",
        "pragma_list",
    }
)
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


PROGRESS_STEPS = 2_000  # SQLite VM instructions between two looks at the clock (~50 µs of work; see QueryBound)
MEMORY_EVERY = 0.002  # seconds between two looks at the process's size while a query runs
_MAX_VALUE = 1_000_000_000  # SQLite's own ceiling of a value's length
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
Limits = tuple[float, float]  # (deadline on time.monotonic, resident size in bytes) of the query running


_STATM: list[int] = []  # an open /proc/self/statm, read again with pread (no open and close per look)


def _resident() -> float:
    """The process's resident size in bytes (Linux); 0 where /proc is not there (the memory bound is off)."""
    try:
        if not _STATM:
            _STATM.append(os.open("/proc/self/statm", os.O_RDONLY | os.O_CLOEXEC))
        return int(os.pread(_STATM[0], 128, 0).split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0.0


class QueryBound:
    """The time and memory bound of every query on one connection (``[data] query_timeout``, ``query_memory``).

    SQLite calls ``_check`` every PROGRESS_STEPS instructions of a running statement; it interrupts the statement
    once the query has run ``timeout`` seconds, or the process has grown by ``memory`` bytes since the query began
    (rows fetched into Python count: they are what a runaway query fills memory with). A single value may be at
    most a quarter of ``memory`` (SQLITE_LIMIT_LENGTH): ``zeroblob(1e9)`` fails at once instead of being made.
    Between queries nothing is checked (the limits are infinite); a query fetched in batches (``iter_query``)
    keeps the limits it began with while each batch is fetched, so the time a caller spends on the rows counts."""

    def __init__(self, conn: sqlite3.Connection, timeout: float, memory: float) -> None:
        self.timeout, self.memory = timeout, memory
        self.limits: Limits = (math.inf, math.inf)
        self.tripped = ""
        self._looked = 0.0  # when _check last read the process's size
        conn.set_progress_handler(self._check, PROGRESS_STEPS)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, max(1 << 20, min(int(memory // 4), _MAX_VALUE)))

    def _check(self) -> int:
        deadline, resident = self.limits
        now = time.monotonic()
        if now > deadline:
            self.tripped = "time"
            return 1
        if resident != math.inf and now - self._looked > MEMORY_EVERY:
            self._looked = now
            if _resident() > resident:
                self.tripped = "memory"
                return 1
        return 0

    def start(self) -> Limits:
        """The limits of a query that begins now."""
        resident = _resident()
        return time.monotonic() + self.timeout, resident + self.memory if resident else math.inf

    @contextmanager
    def applied(self, sql: str, limits: Limits | None = None) -> Iterator[None]:
        """Run a statement (or fetch a batch of its rows) under ``limits`` (default: a query beginning now);
        a statement the bound stopped, or a value too big, is one DataError naming the query and the setting."""
        saved, self.limits, self.tripped = self.limits, limits or self.start(), ""
        try:
            yield
        except sqlite3.Error as exc:
            code = getattr(exc, "sqlite_errorname", "") or ""
            if code.startswith("SQLITE_INTERRUPT") and self.tripped == "time":
                raise DataError(
                    f"query stopped after {self.timeout:g} s ([data] query_timeout in tusk.toml): {_short(sql)}"
                ) from exc
            if code.startswith("SQLITE_INTERRUPT") and self.tripped == "memory":
                raise DataError(
                    f"query stopped: it took more than {_size(self.memory)} of memory ([data] "
                    f"query_memory in tusk.toml): {_short(sql)}"
                ) from exc
            if code.startswith("SQLITE_TOOBIG"):
                raise DataError(
                    f"query refused: a value larger than {_size(self.memory / 4)} (a quarter of [data] "
                    f"query_memory in tusk.toml): {_short(sql)}"
                ) from exc
            raise
        finally:
            self.limits = saved


def _short(sql: str, width: int = 120) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _size(amount: float) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if amount >= scale:
            return f"{amount / scale:.3g} {unit}"
    return f"{amount:.0f} bytes"


quote = quote_identifier  # SQLite's dialect is its default
BUSY_TIMEOUT = 30.0  # seconds a connection waits for another process's write before it gives up
Refusal = Literal["unknown ref", "schema conflict", "conflict", "nothing to commit", "not a fast-forward"]
# doltlite's refusals that no class or result code tells apart (they come as a generic SQLITE_ERROR, or
# SQLITE_CANTOPEN for ``db@ref``): every pattern of their text tusk reads, here and nowhere else, first match wins.
# Each has a test that makes doltlite say it (tests/data/test_doltlite_refusals.py).
_REFUSALS: tuple[tuple[Refusal, re.Pattern[str]], ...] = (
    ("unknown ref", re.compile(r"(branch|revision|ref|merge source)\b.*\bnot found|no such branch")),
    ("schema conflict", re.compile(r"schema conflict", re.IGNORECASE)),
    ("conflict", re.compile(r"conflict", re.IGNORECASE)),
    ("nothing to commit", re.compile(r"nothing to commit", re.IGNORECASE)),
    ("not a fast-forward", re.compile(r"fast-forward")),
)


def refusal(exc: sqlite3.Error) -> Refusal | None:
    """Which of doltlite's text-only refusals ``exc`` is (None: none of them)."""
    text = str(exc)
    return next((kind for kind, pattern in _REFUSALS if pattern.search(text)), None)


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
        return DataError(
            f"{action}: the data store is busy: another process has been writing to it for "
            f"{BUSY_TIMEOUT:g} s ({message})"
        )
    if code.startswith("SQLITE_READONLY") or code == "SQLITE_AUTH":
        return DataError(
            f"{action}: {message} (queries are read-only: change data with tusk data import, merge or revert)"
        )
    if code in ("SQLITE_CANTOPEN", "SQLITE_ERROR") and refusal(exc) == "unknown ref":
        return RefNotFound(f"{action}: {message}")
    return DataError(f"{action}: {message}")


def image(values: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """One side of a dolt_diff or dolt_conflicts row: the ``prefix``ed columns, without Dolt's own."""
    skip = {f"{prefix}commit", f"{prefix}commit_date", f"{prefix}diff_type"}
    return {k[len(prefix) :]: v for k, v in values.items() if k.startswith(prefix) and k not in skip}


class SqliteRowFilter:
    """``RowFilter`` on SQLite: the rows in an in-memory table, queried with SQLite's own SQL."""

    def __init__(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        bound: tuple[float, float] | None = None,
    ) -> None:
        self.conn = sqlite3.connect(":memory:")
        self.bound = QueryBound(self.conn, *bound) if bound else None
        names = ", ".join(quote(c) for c in columns)
        marks = ", ".join("?" for _ in columns)
        with _errors(f"cannot hold rows of {table}"):
            self.conn.execute(f"CREATE TABLE {quote(table)} ({names})")
            self.conn.executemany(f"INSERT INTO {quote(table)} VALUES ({marks})", rows)

    def select(self, sql: str, params: Params = None) -> list[tuple[Any, ...]]:
        with _errors("cannot filter rows"):
            if self.bound is None:
                return self.conn.execute(sql, params or ()).fetchall()
            with self.bound.applied(sql):
                return self.conn.execute(sql, params or ()).fetchall()

    def close(self) -> None:
        self.conn.close()
