"""Writing on the doltlite store: ``DoltliteTransaction``, the ``Transaction`` of the data port.

A transaction is one ``BEGIN IMMEDIATE`` on a branch's connection (one writer per file; readers are not
blocked), and ``commit`` is ``dolt_commit`` inside it, so a failure anywhere leaves the branch head and the
tables as they were (once made, the commit stands). ``load_rows`` is the SQL of an import: the rows go to a temporary
table indexed by key,
which is compared with the table (added / modified / removed) and applied with a few set statements.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tusk._internal.crash import crash_point
from tusk.data._sql import _errors, check_identifier, quote
from tusk.data.base import (
    COMMENTS_TABLE,
    REVIEW_FIELDS,
    REVIEWS_TABLE,
    LoadCounts,
    LoadMode,
    Params,
    ReviewComment,
    RowChange,
)
from tusk.data.names import check_column_name
from tusk.errors import DataError, IngestError, MergeConflict

INCOMING = "temp._tusk_incoming"


class DoltliteTransaction:
    def __init__(self, conn: sqlite3.Connection, branch: str) -> None:
        self.conn = conn
        self.branch = branch
        self.committed: str | None = None
        self._over = False

    def execute(self, sql: str, params: Params = None) -> list[tuple[Any, ...]]:
        self._check_open()
        with _errors(f"cannot write to {self.branch}"):
            return self.conn.execute(sql, params or ()).fetchall()

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._check_open()
        with _errors(f"cannot write to {self.branch}"):
            self.conn.executemany(sql, rows)

    def load_rows(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        keys: Sequence[str],
        mode: LoadMode = "replace",
        create: Mapping[str, str] | None = None,
    ) -> LoadCounts:
        self._check_open()
        check_identifier(table)
        for name in (*columns, *keys):
            check_column_name(name)
        if not keys or not set(keys) <= set(columns):
            raise DataError(f"cannot load rows into {table}: its key ({', '.join(keys)}) must be among the columns")
        with _errors(f"cannot import into {table}"):
            if create is not None:
                return _create(self.conn, table, columns, rows, keys, create)
            return _load(self.conn, table, columns, rows, keys, mode)

    def apply_changes(self, table: str, keys: Sequence[str], changes: Sequence[RowChange]) -> int:
        """Each change by its key, where the branch still holds the row's ``before`` image (an approval's rows)."""
        self._check_open()
        check_identifier(table)
        for name in keys:
            check_column_name(name)
        with _errors(f"cannot write to {self.branch}"):
            names = [str(r[1]) for r in self.conn.execute(f"PRAGMA table_info({quote(table)})").fetchall()]
            return sum(_apply_change(self.conn, table, names, keys, row, self.branch) for row in changes)

    def drop_table(self, table: str) -> None:
        self._check_open()
        check_identifier(table)
        with _errors(f"cannot drop {table} on {self.branch}"):
            self.conn.execute(f"DROP TABLE IF EXISTS {quote(table)}")

    def put_review(self, record: Mapping[str, str]) -> None:
        self._check_open()
        with _errors(f"cannot write to {self.branch}"):
            _review_tables(self.conn)
            self.conn.execute(
                f"INSERT OR REPLACE INTO {REVIEWS_TABLE} ({_names(REVIEW_FIELDS)}) VALUES ({_marks(REVIEW_FIELDS)})",
                [record.get(c, "") for c in REVIEW_FIELDS],
            )

    def add_review_comments(self, comments: Iterable[ReviewComment]) -> None:
        self._check_open()
        with _errors(f"cannot write to {self.branch}"):
            _review_tables(self.conn)
            self.conn.executemany(
                f"INSERT OR IGNORE INTO {COMMENTS_TABLE} (id, branch, kind, author, time, text) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [[c.id, c.branch, c.kind, c.author, c.time, c.text] for c in comments],
            )

    def commit(self, message: str) -> str | None:
        """The Dolt commit of everything written, which ends the transaction; None (nothing kept) when nothing
        changed. (``dolt_commit`` moves the branch at once, whatever the SQL transaction does after it.)"""
        self._check_open()
        self._over = True
        with _errors("cannot commit"):
            if not self.conn.execute("SELECT count(*) FROM dolt_status").fetchone()[0]:
                self.conn.execute("ROLLBACK")
                return None
            crash_point("write.commit")
            self.committed = str(self.conn.execute("SELECT dolt_commit('-A', '-m', ?)", (message,)).fetchone()[0])
            crash_point("write.dolt-committed")
            self.conn.execute("COMMIT")
        crash_point("write.committed")
        return self.committed

    def abandon(self) -> None:
        """End a transaction that made no commit: nothing it wrote is kept."""
        self._over = True
        if self.conn.in_transaction:
            with _errors(f"cannot write to {self.branch}"):
                self.conn.execute("ROLLBACK")

    def _check_open(self) -> None:
        if self._over:
            raise DataError(f"the write to {self.branch} is over (committed or abandoned)")


def _create(
    conn: sqlite3.Connection,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    keys: Sequence[str],
    types: Mapping[str, str],
) -> LoadCounts:
    """A new table: no comparison needed, every row is added."""
    definition = ", ".join(
        f"{quote(c)} {types.get(c, '')}".rstrip() + (" NOT NULL" if c in keys else "") for c in columns
    )
    conn.execute(f"CREATE TABLE {quote(table)} ({definition}, PRIMARY KEY ({', '.join(quote(k) for k in keys)}))")
    cursor = conn.executemany(f"INSERT INTO {quote(table)} ({_names(columns)}) VALUES ({_marks(columns)})", rows)
    return LoadCounts(added=max(0, cursor.rowcount))


def _load(
    conn: sqlite3.Connection,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    keys: Sequence[str],
    mode: LoadMode,
) -> LoadCounts:
    qt = quote(table)
    conn.execute(f"DROP TABLE IF EXISTS {INCOMING}")
    conn.execute(f"CREATE TEMP TABLE _tusk_incoming AS SELECT {_names(columns)} FROM {qt} WHERE 0")
    conn.executemany(f"INSERT INTO {INCOMING} ({_names(columns)}) VALUES ({_marks(columns)})", rows)
    # by key, so that finding the table's rows the file lacks (replace) is a lookup, not a scan per row
    try:
        conn.execute(f"CREATE UNIQUE INDEX temp._tusk_incoming_key ON _tusk_incoming ({_names(keys)})")
    except sqlite3.IntegrityError as exc:
        raise IngestError(f"two rows have the same key ({', '.join(keys)})") from exc
    crash_point("import.staged")
    counts = _apply(conn, qt, columns, keys, mode)
    crash_point("import.applied")
    conn.execute(f"DROP TABLE {INCOMING}")
    return counts


def _apply(
    conn: sqlite3.Connection, qt: str, columns: Sequence[str], keys: Sequence[str], mode: LoadMode
) -> LoadCounts:
    join = " AND ".join(f"t.{quote(k)} = i.{quote(k)}" for k in keys)
    differs = " OR ".join(f"t.{quote(c)} IS NOT i.{quote(c)}" for c in columns if c not in keys) or "0"
    added = conn.execute(
        f"SELECT count(*) FROM {INCOMING} i WHERE NOT EXISTS (SELECT 1 FROM {qt} t WHERE {join})"
    ).fetchone()[0]
    modified = conn.execute(f"SELECT count(*) FROM {INCOMING} i JOIN {qt} t ON {join} WHERE {differs}").fetchone()[0]
    removed = 0
    if mode == "append":
        row = conn.execute(
            f"SELECT {', '.join('i.' + quote(k) for k in keys)} FROM {INCOMING} i JOIN {qt} t ON {join} LIMIT 1"
        ).fetchone()
        if row is not None:
            shown = ", ".join(f"{k}={v}" for k, v in zip(keys, row))
            raise IngestError(f"append: key {shown} is already in the table (use --mode upsert)")
    if mode == "replace":
        removed = conn.execute(
            f"SELECT count(*) FROM {qt} t WHERE NOT EXISTS (SELECT 1 FROM {INCOMING} i WHERE {join})"
        ).fetchone()[0]
        if removed:
            outer = " AND ".join(f"{qt}.{quote(k)} = i.{quote(k)}" for k in keys)
            conn.execute(f"DELETE FROM {qt} WHERE NOT EXISTS (SELECT 1 FROM {INCOMING} i WHERE {outer})")
    names, picked = _names(columns), ", ".join(f"i.{quote(c)}" for c in columns)
    if modified:
        sets = (
            ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in columns if c not in keys)
            or f"{quote(keys[0])} = excluded.{quote(keys[0])}"
        )
        conn.execute(
            f"INSERT INTO {qt} ({names}) SELECT {picked} FROM {INCOMING} i JOIN {qt} t ON {join} "
            f"WHERE {differs} ON CONFLICT ({_names(keys)}) DO UPDATE SET {sets}"
        )
    if added:
        conn.execute(
            f"INSERT INTO {qt} ({names}) SELECT {picked} FROM {INCOMING} i WHERE NOT EXISTS "
            f"(SELECT 1 FROM {qt} t WHERE {join})"
        )
    return LoadCounts(added, modified, removed)


def _review_tables(conn: sqlite3.Connection) -> None:
    """tusk's two tables of reviews, made when missing (both at once, as every write of a review made them)."""
    columns = ", ".join(f"{c} TEXT" for c in REVIEW_FIELDS[1:])
    conn.execute(f"CREATE TABLE IF NOT EXISTS {REVIEWS_TABLE} (branch TEXT NOT NULL PRIMARY KEY, {columns})")
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {COMMENTS_TABLE} (id TEXT NOT NULL PRIMARY KEY, branch TEXT, kind TEXT, "
        "author TEXT, time TEXT, text TEXT)"
    )


def _apply_change(
    conn: sqlite3.Connection, table: str, names: Sequence[str], keys: Sequence[str], row: RowChange, branch: str
) -> int:
    """One change by its key → 1 if written, 0 if the branch holds its ``after`` already; MergeConflict if the
    branch holds neither its ``before`` nor its ``after``."""
    qt = quote(table)
    where = " AND ".join(f"{quote(k)} IS ?" for k in keys)
    key = [row.key.get(k) for k in keys]
    found = conn.execute(f"SELECT {_names(names)} FROM {qt} WHERE {where}", key).fetchall()
    now = dict(zip(names, found[0])) if found else None
    if now == row.after:
        return 0
    if now != row.before:
        raise MergeConflict(f"{table} row {row.key} changed on {branch} too", [{"table": table, "key": row.key}])
    if row.diff_type == "removed":
        conn.execute(f"DELETE FROM {qt} WHERE {where}", key)
    elif row.diff_type == "added":
        assert row.after is not None
        columns = list(row.after)
        conn.execute(
            f"INSERT INTO {qt} ({_names(columns)}) VALUES ({_marks(columns)})", [row.after[c] for c in columns]
        )
    else:
        assert row.after is not None
        columns = [c for c in row.after if c not in keys]
        conn.execute(
            f"UPDATE {qt} SET {', '.join(f'{quote(c)} = ?' for c in columns)} WHERE {where}",
            [*[row.after[c] for c in columns], *key],
        )
    return 1


def _names(columns: Sequence[str]) -> str:
    return ", ".join(quote(c) for c in columns)


def _marks(columns: Sequence[str]) -> str:
    return ", ".join("?" for _ in columns)
