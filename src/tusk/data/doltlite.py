"""The doltlite data store: Dolt's commits, branches and diffs inside one SQLite file.

``db@branch`` opens a branch for writing, ``db@<commit>`` a read-only snapshot; snapshots are cached
per commit, so planning and training read a pinned state without blocking the writer. One writer per
file: a write is ``BEGIN IMMEDIATE`` with a busy timeout (``DoltliteTransaction``, doltlite_write.py), and
ends in at most one Dolt commit, made last, so a failure leaves the branch head and the tables as they were.
sqlite3 errors are mapped to ``tusk.errors`` by type in one place (``_sql.mapped``) and never leak.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tusk._internal.cache import atomic_write
from tusk._internal.crash import crash_point
from tusk.core.config import Config, DataConfig, url_path
from tusk.data._sql import (
    BUSY_TIMEOUT,
    QueryBound,
    SqliteRowFilter,
    _errors,
    check_identifier,
    check_ref_name,
    image,
    mapped,
    quote,
    read_only,
    refusal,
)
from tusk.data.base import (
    COMMENTS_TABLE,
    REVIEW_FIELDS,
    REVIEWS_TABLE,
    Branch,
    Commit,
    DataStore,
    MergeResult,
    Params,
    QueryResult,
    Remote,
    ReviewComment,
    RowChange,
    SupportsRemotes,
    TableDiff,
    Tag,
)
from tusk.data.doltlite_landed import Landed, landed
from tusk.data.doltlite_merge import MergeOps
from tusk.data.doltlite_write import DoltliteTransaction
from tusk.errors import DataError, RefNotFound

__all__ = ["DoltliteStore", "_errors", "check_identifier", "check_ref_name", "quote", "remote_url"]

_HEX = re.compile(r"^[0-9a-f]{4,40}$")
_REMOTE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
GC_GROWTH = 2.0  # tusk collects the store's garbage when the file has doubled since the last collection...
GC_FLOOR = 64 << 20  # ...and is at least this big
_BRANCH_ATTEMPTS = 10  # a write onto a new branch makes it again at most this often (each time it was removed)


def remote_url(url: str, base: Path) -> str:
    """``file://`` and ``http(s)://`` URLs as given; a plain or relative path becomes an absolute file URL."""
    if url.startswith(("http://", "https://")):
        return url
    if url.startswith("file://"):
        path = Path(url[len("file://") :])
    elif "://" in url or not url:
        raise DataError(f"remote url {url!r}: use file:///shared/folder/training.db, http(s)://host/db, or a path")
    else:
        path = Path(url).expanduser()
    return "file://" + str(path if path.is_absolute() else (base / path).resolve())


_STATS: dict[tuple[str, str, str], dict[str, TableDiff]] = {}  # (file, from, to) commits → counts


class DoltliteStore(MergeOps):
    dialect = "sqlite"

    def __init__(
        self, url: str, config: Config | None = None, *, path: Path | None = None, default_branch: str = "main"
    ) -> None:
        self.url = url
        self.path = path or url_path(url, config.root if config else Path.cwd())
        self.default_branch = config.data.branch if config else default_branch
        self._snapshots: dict[str, sqlite3.Connection] = {}
        self._bounds: dict[str, QueryBound] = {}
        settings = config.data if config else DataConfig()
        self.query_bound = (settings.query_timeout, settings.query_memory)
        self._main: sqlite3.Connection | None = None

    # ----- connections -------------------------------------------------------------------------
    def create(self) -> None:
        """Create the store file (idempotent)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _errors(f"cannot create {self.path}"):
            conn = sqlite3.connect(self.path)
            conn.execute("SELECT count(*) FROM dolt_log").fetchone()
            conn.close()

    def _open(self, target: str | None = None) -> sqlite3.Connection:
        if not self.path.is_file():
            raise DataError(f"no data store at {self.path} (run 'tusk init')")
        name = str(self.path) if target is None else f"{self.path}@{target}"
        with _errors(f"cannot open {target or 'the data store'}"):
            conn = sqlite3.connect(name, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
        return conn

    @property
    def main(self) -> sqlite3.Connection:
        if self._main is None:
            self._main = self._open()
        return self._main

    def snapshot(self, commit: str) -> sqlite3.Connection:
        """A read-only connection at ``commit`` (a full hash), cached. Every query of the store's tables
        (``tusk data sql``, the queries of tusk.toml) runs on one: nothing it runs can write."""
        if commit not in self._snapshots:
            conn = self._open(commit)
            read_only(conn)
            self._bounds[commit] = QueryBound(conn, *self.query_bound)
            self._snapshots[commit] = conn
        return self._snapshots[commit]

    def branch_connection(self, branch: str) -> sqlite3.Connection:
        return self._open(branch)

    def close(self) -> None:
        for conn in [*self._snapshots.values(), *([self._main] if self._main else [])]:
            conn.close()
        self._snapshots.clear()
        self._bounds.clear()
        self._main = None

    # ----- refs --------------------------------------------------------------------------------
    def branches(self) -> list[Branch]:
        with _errors("cannot list branches"):
            rows = self.main.execute("SELECT name, hash FROM dolt_branches ORDER BY name").fetchall()
        return [Branch(name, head) for name, head in rows]

    def tags(self) -> list[Tag]:
        with _errors("cannot list tags"):
            rows = self.main.execute("SELECT tag_name, tag_hash, message FROM dolt_tags ORDER BY tag_name").fetchall()
        return [Tag(name, commit, message or "") for name, commit, message in rows]

    def resolve(self, ref: str) -> str:
        """A branch, a tag, or a commit hash (or a unique prefix of 4+ hex digits) → the full hash."""
        if not ref:
            raise RefNotFound("empty ref")
        for branch in self.branches():
            if branch.name == ref:
                return branch.head
        for tag in self.tags():
            if tag.name == ref:
                return tag.commit
        for branch in self.remote_branches() if "/" in ref else []:
            if ref in (branch.name, f"remotes/{branch.name}"):
                return branch.head
        if _HEX.match(ref):
            tags = self.tags()
            heads = [*self.branches(), *self.remote_branches()]
            on_branches = self._history([b.head for b in heads])
            matches = {c for c in on_branches | {t.commit for t in tags} if c.startswith(ref)}
            if not matches:  # a commit only a tag reaches (a merge preview's parents, its review branch deleted)
                matches = {c for c in self._history([t.commit for t in tags], on_branches) if c.startswith(ref)}
            if len(matches) == 1:
                return matches.pop()
            if len(matches) > 1:
                raise RefNotFound(f"commit prefix {ref!r} is ambiguous ({len(matches)} commits)")
        raise RefNotFound(f"unknown branch, tag or commit {ref!r}")

    def _history(self, heads: list[str], known: set[str] | None = None) -> set[str]:
        """Every commit reachable from ``heads`` (those already ``known`` are not walked again)."""
        commits: set[str] = set()
        for head in dict.fromkeys(heads):
            if known is not None and head in known:
                continue
            with _errors("cannot read history"):
                rows = self.snapshot(head).execute("SELECT commit_hash FROM dolt_log").fetchall()
            commits.update(r[0] for r in rows)
        return commits

    def log(self, ref: str | None = None, limit: int | None = None) -> list[Commit]:
        commit = self.resolve(ref or self.default_branch)
        sql = "SELECT commit_hash, message, date, committer FROM dolt_log"
        with _errors(f"cannot read the log of {ref}"):
            rows = self.snapshot(commit).execute(sql).fetchall()
        # newest first by date, as git log shows them (dolt_log lists a merged branch's commits after the merge's
        # parents, whatever their dates); commits of the same second keep dolt_log's order
        rows.sort(key=lambda row: str(row[2]), reverse=True)
        return [Commit(h, m or "", str(d), a or "") for h, m, d, a in rows[: int(limit) if limit else None]]

    def create_branch(self, name: str, start: str | None = None) -> Branch:
        check_ref_name(name)
        if any(b.name == name for b in self.branches()):
            raise DataError(f"branch {name!r} already exists")
        start_commit = self.resolve(start or self.default_branch)
        with _errors(f"cannot create branch {name!r}"):
            self.main.execute("SELECT dolt_branch(?, ?)", (name, start_commit))
        return Branch(name, start_commit)

    def delete_branch(self, name: str, force: bool = False) -> None:
        if name == self.default_branch:
            raise DataError(f"cannot delete the main branch {name!r}")
        if not any(b.name == name for b in self.branches()):
            raise RefNotFound(f"unknown branch {name!r}")
        with _errors(f"cannot delete branch {name!r}"):
            self.main.execute("SELECT dolt_branch('-D' , ?)" if force else "SELECT dolt_branch('-d', ?)", (name,))

    def move_branch(self, name: str, commit: str) -> Branch:
        """Point branch ``name`` at ``commit``, creating it if needed: one step, so a reader sees the old head
        or the new one, never a branch half made."""
        check_ref_name(name)
        if name == self.default_branch:
            raise DataError(f"cannot move the main branch {name!r}")
        target = self.resolve(commit)
        with _errors(f"cannot move branch {name!r}"):
            self.main.execute("SELECT dolt_branch('-f', ?, ?)", (name, target))
        return Branch(name, target)

    def tag(self, name: str, ref: str | None = None, message: str = "") -> Tag:
        check_ref_name(name, "tag")
        if any(t.name == name for t in self.tags()):
            raise DataError(f"tag {name!r} already exists")
        commit = self.resolve(ref or self.default_branch)
        with _errors(f"cannot tag {name!r}"):
            if message:
                self.main.execute("SELECT dolt_tag(?, ?, '-m', ?)", (name, commit, message))
            else:
                self.main.execute("SELECT dolt_tag(?, ?)", (name, commit))
        return Tag(name, commit, message)

    # ----- remotes -----------------------------------------------------------------------------
    def remotes(self) -> list[Remote]:
        with _errors("cannot list remotes"):
            rows = self.main.execute("SELECT name, url FROM dolt_remotes ORDER BY name").fetchall()
        return [Remote(name, url) for name, url in rows]

    def add_remote(self, name: str, url: str, base: Path | None = None) -> Remote:
        """Add a remote (idempotent when it already points at the same URL); a relative path is relative to
        ``base`` (default: the working directory)."""
        if not _REMOTE.match(name or ""):
            raise DataError(f"invalid remote name {name!r}: use letters, digits, '.', '_' and '-'")
        remote = Remote(name, remote_url(url, base or Path.cwd()))
        existing = {r.name: r for r in self.remotes()}
        if name in existing:
            if existing[name].url == remote.url:
                return remote
            raise DataError(f"remote {name!r} already points at {existing[name].url} (remove it first)")
        with _errors(f"cannot add remote {name!r}"):
            self.main.execute("SELECT dolt_remote('add', ?, ?)", (name, remote.url))
        return remote

    def remove_remote(self, name: str) -> None:
        self._remote(name)
        with _errors(f"cannot remove remote {name!r}"):
            self.main.execute("SELECT dolt_remote('remove', ?)", (name,))

    def remote_branches(self) -> list[Branch]:
        """The branches of every remote as of the last fetch, named ``origin/main``."""
        with _errors("cannot list remote branches"):
            rows = self.main.execute("SELECT name, hash FROM dolt_remote_branches ORDER BY name").fetchall()
        return [Branch(name.removeprefix("remotes/"), head) for name, head in rows]

    def _remote(self, name: str) -> Remote:
        found = {r.name: r for r in self.remotes()}
        if name not in found:
            known = ", ".join(found) or "none; add one with 'tusk data remote add NAME URL'"
            raise RefNotFound(f"unknown remote {name!r} (known: {known})")
        return found[name]

    def fetch(self, remote: str) -> list[Branch]:
        url = self._remote(remote).url
        with _errors(f"cannot fetch from {remote} ({url})"):
            self.main.execute("SELECT dolt_fetch(?)", (remote,)).fetchall()
        return [b for b in self.remote_branches() if b.name.startswith(f"{remote}/")]

    def pull(self, remote: str, branch: str | None = None) -> MergeResult:
        """Fetch, then merge ``remote/branch`` into ``branch`` (created when missing); conflicts apply nothing."""
        branch = branch or self.default_branch
        source = f"{remote}/{branch}"
        if source not in {b.name for b in self.fetch(remote)}:
            raise RefNotFound(f"remote {remote!r} has no branch {branch!r}")
        if branch not in {b.name for b in self.branches()}:
            created = self.create_branch(branch, start=source)
            return MergeResult(created.head, fast_forward=True, message=f"created {branch} from {source}")
        return self.merge(source, into=branch, message=f"Merge {source} into {branch}")

    def push(self, remote: str, branch: str | None = None, force: bool = False) -> str:
        """Send ``branch`` to ``remote``; refused (nothing sent) unless it fast-forwards, or ``force``."""
        branch = branch or self.default_branch
        url = self._remote(remote).url
        if branch not in {b.name for b in self.branches()}:
            raise RefNotFound(f"unknown branch {branch!r}")
        if url.startswith("file://"):
            Path(url[len("file://") :]).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.main.execute(
                "SELECT dolt_push(?, ?, '--force')" if force else "SELECT dolt_push(?, ?)", (remote, branch)
            ).fetchall()
        except sqlite3.Error as exc:
            if refusal(exc) == "not a fast-forward":
                raise DataError(
                    f"push rejected: {remote}/{branch} has commits that {branch} lacks; run "
                    f"'tusk data pull {remote} --branch {branch}' first"
                ) from exc
            raise DataError(f"cannot push {branch} to {remote} ({url}): {str(exc).splitlines()[0]}") from exc
        return self.resolve(branch)

    @classmethod
    def clone(cls, url: str, path: Path, default_branch: str = "main") -> DoltliteStore:
        """A new store at ``path`` holding the remote's history, with the remote as ``origin``.

        Cloned into a hidden file beside ``path`` and renamed when done: a failed clone leaves nothing."""
        if path.exists():
            raise DataError(f"{path} already exists; use 'tusk data pull' to update it")
        source = remote_url(url, Path.cwd())
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.cloning")
        _remove_store_file(partial)
        try:
            conn = sqlite3.connect(partial, isolation_level=None)
            try:
                conn.execute("SELECT dolt_clone(?)", (source,)).fetchall()
            finally:
                conn.close()
        except sqlite3.Error as exc:
            _remove_store_file(partial)
            raise DataError(f"cannot clone {source}: {str(exc).splitlines()[0]}") from exc
        os.replace(partial, path)
        _remove_store_file(partial)
        return cls(f"doltlite:///{path}", path=path, default_branch=default_branch)

    # ----- reading -----------------------------------------------------------------------------
    def _reader(self, ref: str | None) -> sqlite3.Connection:
        return self.snapshot(self.resolve(ref or self.default_branch))

    def tables(self, ref: str | None = None) -> list[str]:
        with _errors("cannot list tables"):
            rows = (
                self._reader(ref)
                .execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                    "AND name NOT LIKE 'dolt_%' ORDER BY name"
                )
                .fetchall()
            )
        return [r[0] for r in rows]

    def columns(self, table: str, ref: str | None = None) -> list[tuple[str, str, bool]]:
        check_identifier(table)
        if table not in self.tables(ref):
            raise RefNotFound(f"unknown table {table!r} at {ref or self.default_branch}")
        with _errors(f"cannot read the columns of {table}"):
            rows = self._reader(ref).execute(f"PRAGMA table_info({quote(table)})").fetchall()
        return [(name, type_ or "", bool(pk)) for _, name, type_, _, _, pk in rows]

    def query(self, sql: str, params: Params = None, ref: str | None = None) -> QueryResult:
        """Rows of ``sql`` at ``ref``, within [data] query_timeout and query_memory (QueryBound)."""
        commit = self.resolve(ref or self.default_branch)
        conn = self.snapshot(commit)
        with _errors("query failed"), self._bounds[commit].applied(sql):
            cursor = conn.execute(sql, params or ())
            columns = [d[0] for d in cursor.description or []]
            return QueryResult(columns, cursor.fetchall())

    def iter_query(self, sql: str, params: Params = None, ref: str | None = None) -> Iterator[tuple[Any, ...]]:
        commit = self.resolve(ref or self.default_branch)
        conn, bound = self.snapshot(commit), self._bounds[commit]
        limits = bound.start()
        with _errors("query failed"):
            with bound.applied(sql, limits):
                cursor = conn.execute(sql, params or ())
            while True:
                with bound.applied(sql, limits):
                    rows = cursor.fetchmany(10_000)
                if not rows:
                    break
                yield from rows

    def row_filter(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> SqliteRowFilter:
        return SqliteRowFilter(table, columns, rows, self.query_bound)

    # ----- diffs -------------------------------------------------------------------------------
    def diff_stat(self, from_ref: str, to_ref: str) -> dict[str, TableDiff]:
        """Changed-row counts per table. Two commits' diff never changes, so it is kept (per store file) for
        the next caller: a page asking for it twice, or every page of a review, pays for it once."""
        start, end = self.resolve(from_ref), self.resolve(to_ref)
        if start == end:
            return {}
        key = (str(self.path), start, end)
        if key not in _STATS:
            _STATS[key] = self._diff_stat(start, end)
            while len(_STATS) > 64:
                _STATS.pop(next(iter(_STATS)))
        return {
            t: TableDiff(d.table, d.added, d.modified, d.removed, schema_changed=d.schema_changed)
            for t, d in _STATS[key].items()
        }

    def _diff_stat(self, start: str, end: str) -> dict[str, TableDiff]:
        with _errors("cannot diff"):
            rows = self.main.execute(
                "SELECT table_name, rows_added, rows_modified, rows_deleted, old_row_count, new_row_count"
                " FROM dolt_diff_stat(?, ?)",
                (start, end),
            ).fetchall()
        stats = {}
        for table, added, modified, removed, _, _ in rows:
            if table.startswith(("dolt_", "sqlite_")):
                continue
            stats[table] = TableDiff(table, int(added or 0), int(modified or 0), int(removed or 0))
        for table in set(self.tables(start)) ^ set(self.tables(end)):
            stats.setdefault(table, TableDiff(table)).schema_changed = True
        return stats

    def diff(
        self,
        from_ref: str,
        to_ref: str,
        table: str | None = None,
        with_rows: bool = True,
        limit: int | None = None,
        landed_at: str | None = None,
    ) -> list[TableDiff]:
        """``landed_at``: leave out (and count as ``landed``) the rows that commit holds already as ``to_ref``
        does (doltlite_landed)."""
        start, end = self.resolve(from_ref), self.resolve(to_ref)
        landed = self.resolve(landed_at) if landed_at else None
        if table is not None:
            check_identifier(table)
            if table not in set(self.tables(start)) | set(self.tables(end)):
                raise RefNotFound(f"unknown table {table!r} in {from_ref} and {to_ref}")
        stats = self.diff_stat(start, end)
        chosen = [stats[t] for t in sorted(stats) if table is None or t == table]
        if table is not None and not chosen:
            chosen = [TableDiff(table)]
        for entry in chosen:
            if not entry.total or entry.schema_changed:
                continue
            left = self._landed(entry.table, start, end, landed)
            entry.landed = left.total
            entry.added -= left.kinds.get("added", 0)
            entry.modified -= left.kinds.get("modified", 0)
            entry.removed -= left.kinds.get("removed", 0)
            if with_rows and entry.total:
                entry.rows = self._row_changes(entry.table, start, end, limit, left.clause, left.params)
        return chosen

    def _landed(self, table: str, start: str, end: str, at: str | None) -> Landed:
        """The rows of ``table``'s diff ``start → end`` that ``at`` holds already (doltlite_landed)."""
        if at is None or table not in self.tables(end) or table not in self.tables(at):
            return Landed()
        keys = [name for name, _, pk in self.columns(table, end) if pk]
        if not keys:
            return Landed()
        with _errors(f"cannot diff {table}"):
            return landed(self.main, str(self.path), table, keys, start, end, at)

    def _row_changes(
        self, table: str, start: str, end: str, limit: int | None, clause: str = "", params: Sequence[Any] = ()
    ) -> list[RowChange]:
        sql = (
            f"SELECT * FROM dolt_diff_{table}(?, ?)"
            + (f" WHERE {clause}" if clause else "")
            + (f" LIMIT {int(limit)}" if limit else "")
        )
        return self._changes(table, end, sql, [start, end, *params])

    def _changes(self, table: str, end: str, sql: str, params: Sequence[Any]) -> list[RowChange]:
        keys = [name for name, _, pk in self.columns(table, end) if pk] or ["rowid"]
        with _errors(f"cannot diff {table}"):
            cursor = self.main.execute(sql, params)
            names = [d[0] for d in cursor.description]
            changes = []
            for row in cursor:
                values = dict(zip(names, row))
                kind = values["diff_type"]
                before = image(values, "from_") if kind != "added" else None
                after = image(values, "to_") if kind != "removed" else None
                row_image = after or before or {}
                changes.append(RowChange(kind, {k: row_image.get(k) for k in keys}, before, after))
        return changes

    def diff_rows(
        self,
        from_ref: str,
        to_ref: str,
        table: str,
        where: dict[str, Any] | None = None,
        offset: int = 0,
        limit: int = 50,
        landed_at: str | None = None,
    ) -> tuple[int, list[RowChange]]:
        """One page of ``table``'s changed rows (key order), those whose old or new value of each column in
        ``where`` equals the given value, and how many match: read with LIMIT/OFFSET, never the whole diff.
        Column names are checked against the table; values are bound, never spliced into the SQL.
        ``landed_at``: without the rows that commit holds already as ``to_ref`` does."""
        start, end = self.resolve(from_ref), self.resolve(to_ref)
        check_identifier(table)
        if table not in set(self.tables(start)) | set(self.tables(end)):
            raise RefNotFound(f"unknown table {table!r} in {from_ref} and {to_ref}")
        known = {name for ref in (start, end) if table in self.tables(ref) for name, _, _ in self.columns(table, ref)}
        clauses, params = [], [start, end]
        for column, value in (where or {}).items():
            if column not in known:
                raise RefNotFound(f"{table} has no column {column!r}")
            clauses.append(
                f"(CAST({quote('to_' + column)} AS TEXT) = ? OR CAST({quote('from_' + column)} AS TEXT) = ?)"
            )
            params += [str(value), str(value)]
        filtered = bool(clauses)
        left = self._landed(table, start, end, self.resolve(landed_at) if landed_at else None)
        if left.clause:
            clauses.append(left.clause)
            params += left.params
        condition = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        if filtered:
            with _errors(f"cannot diff {table}"):
                total = int(
                    self.main.execute(f"SELECT count(*) FROM dolt_diff_{table}(?, ?){condition}", params).fetchone()[0]
                )
        else:
            stat = self.diff_stat(start, end).get(table)
            total = stat.total - left.total if stat else 0
        sql = f"SELECT * FROM dolt_diff_{table}(?, ?){condition} LIMIT ? OFFSET ?"
        return total, self._changes(
            table, end if table in self.tables(end) else start, sql, [*params, int(limit), int(offset)]
        )

    def rows(
        self,
        table: str,
        ref: str | None = None,
        where: dict[str, Any] | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[str], int, list[tuple[Any, ...]]]:
        """One page of ``table`` at ``ref`` in key order (columns, matching count, rows); ``where`` as in
        ``diff_rows``."""
        columns = self.columns(table, ref)
        names = [name for name, _, _ in columns]
        keys = [name for name, _, pk in columns if pk] or ["rowid"]
        clauses, params = [], []
        for column, value in (where or {}).items():
            if column not in names:
                raise RefNotFound(f"{table} has no column {column!r}")
            clauses.append(f"CAST({quote(column)} AS TEXT) = ?")
            params.append(str(value))
        condition = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        order = ", ".join(quote(k) if k != "rowid" else k for k in keys)
        reader = self._reader(ref)
        with _errors(f"cannot read {table}"):
            total = int(reader.execute(f"SELECT count(*) FROM {quote(table)}{condition}", params).fetchone()[0])
            found = reader.execute(
                f"SELECT * FROM {quote(table)}{condition} ORDER BY {order} LIMIT ? OFFSET ?",
                [*params, int(limit), int(offset)],
            ).fetchall()
        return names, total, found

    # ----- tusk's records of reviews ------------------------------------------------------------
    def review_records(self, ref: str, branch: str | None = None) -> dict[str, dict[str, str]]:
        if REVIEWS_TABLE not in self.tables(ref):
            return {}
        known = {name for name, _, _ in self.columns(REVIEWS_TABLE, ref)}
        picked = [c for c in REVIEW_FIELDS if c in known]  # a table older tusk made lacks the newer fields
        sql = f"SELECT {', '.join(picked)} FROM {REVIEWS_TABLE}" + (" WHERE branch = ?" if branch is not None else "")
        found = self.query(sql, [branch] if branch is not None else None, ref=ref).rows
        return {str(r[0]): {c: str(v or "") for c, v in zip(picked, r)} for r in found}

    def review_comments(self, ref: str, branch: str | None = None) -> list[ReviewComment]:
        if COMMENTS_TABLE not in self.tables(ref):
            return []
        sql = f"SELECT id, branch, kind, author, time, text FROM {COMMENTS_TABLE}"
        if branch is not None:
            sql += " WHERE branch = ?"
        rows = self.query(sql + " ORDER BY time, id", [branch] if branch is not None else None, ref=ref).rows
        return [ReviewComment(*(str(v or "") for v in row)) for row in rows]

    # ----- writing -----------------------------------------------------------------------------
    @contextmanager
    def writer(self, branch: str | None = None, *, create_at: str | None = None) -> Iterator[DoltliteTransaction]:
        """One transaction on ``branch``: everything or nothing. ``commit(message)`` on it makes the one commit and
        ends it; leaving the block before that, normally or by an exception, keeps nothing.

        ``create_at``: a missing branch is made at that ref first. Another process may make it (and write on it)
        at the same moment: then this write goes on top of theirs. If the block raises before committing, a
        branch this call made is removed again, unless someone else has committed on it meanwhile."""
        target = branch or self.default_branch
        conn, made_at = self._lock_branch(target, create_at)
        try:
            transaction = DoltliteTransaction(conn, target)
            try:
                yield transaction
            except BaseException:
                transaction.abandon()
                if made_at is not None and transaction.committed is None:
                    self._remove_if_at(target, made_at)
                raise
            finally:
                transaction.abandon()
        finally:
            conn.close()

    def _lock_branch(self, target: str, create_at: str | None) -> tuple[sqlite3.Connection, str | None]:
        """A connection on ``target`` holding the write lock, and the commit this call made the branch at (if
        it did). A branch made by another process in between is used; one removed in between (its maker's
        import failed with nothing on it) is made again. Refs are not under SQLite's lock, commits are: the
        branch is checked again once the lock is held."""
        for _ in range(_BRANCH_ATTEMPTS):
            made_at = None
            if create_at is not None and not self._has_branch(target):
                crash_point("import.branch-missing")
                made_at = self._make_branch(target, create_at)
            if create_at is not None:
                crash_point("import.branch-ready")
            try:
                conn = self.branch_connection(target)
            except RefNotFound:
                if create_at is None:
                    raise
                continue
            try:
                if create_at is not None:
                    crash_point("import.connected")
                with _errors(f"cannot write to {target}"):
                    conn.execute("BEGIN IMMEDIATE")
                    if create_at is None or self._has_branch(target):
                        return conn, made_at
                    conn.execute("ROLLBACK")
            except DataError:
                conn.close()
                if create_at is not None and not self._has_branch(target):
                    continue  # removed while this write waited for the lock (its maker's import failed): again
                raise
            except BaseException:
                conn.close()
                raise
            conn.close()
        raise DataError(
            f"cannot write to {target}: the branch was removed {_BRANCH_ATTEMPTS} times while this write waited for it"
        )

    def _has_branch(self, name: str) -> bool:
        return any(b.name == name for b in self.branches())

    def _make_branch(self, name: str, start: str) -> str | None:
        """Branch ``name`` at ``start`` → its commit; None when another process made it first."""
        check_ref_name(name)
        start_commit = self.resolve(start)
        try:
            self.main.execute("SELECT dolt_branch(?, ?)", (name, start_commit)).fetchall()
        except sqlite3.Error as exc:
            if self._has_branch(name):  # doltlite refuses a name that exists: someone else made it just now
                return None
            raise mapped(exc, f"cannot create branch {name!r}") from exc
        return start_commit

    def _remove_if_at(self, name: str, commit: str) -> None:
        """Remove branch ``name`` if its head is still ``commit``, decided under the write lock (so that no
        commit lands between the look and the removal)."""
        with _errors(f"cannot remove branch {name!r}"):
            self.main.execute("BEGIN IMMEDIATE")
            try:
                heads = dict(self.main.execute("SELECT name, hash FROM dolt_branches").fetchall())
                if heads.get(name) == commit:
                    self.main.execute("SELECT dolt_branch('-D', ?)", (name,)).fetchall()
            except BaseException:
                self.main.execute("ROLLBACK")
                raise
            self.main.execute("COMMIT")

    def gc(self) -> None:
        with _errors("gc failed"):
            self.main.execute("SELECT dolt_gc()").fetchall()

    def maybe_gc(self, record: Path) -> tuple[int, int] | None:
        """``dolt_gc`` when the file has grown GC_GROWTH times since the last one (and is at least GC_FLOOR
        bytes), as tusk does after its writes; → (bytes before, after), or None when not due. The sizes are
        kept in ``record``. Safe under kill -9 (the file is the old one or the new one) and under other
        processes (gc refuses while one writes: then it is simply due next time)."""
        size = self.path.stat().st_size
        try:
            last = int(json.loads(record.read_text())["size"])
        except (OSError, ValueError, KeyError, TypeError):
            atomic_write(record, json.dumps({"size": size}))
            return None
        if size < max(GC_FLOOR, GC_GROWTH * last):
            return None
        crash_point("gc.before")
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=1)
        try:
            conn.execute("SELECT dolt_gc()").fetchall()
        except sqlite3.Error:
            return None
        finally:
            conn.close()
        crash_point("gc.after")
        after = self.path.stat().st_size
        atomic_write(record, json.dumps({"size": after}))
        return size, after


def _remove_store_file(path: Path) -> None:
    """A store file and the lock file doltlite keeps beside it."""
    for leftover in (path, path.with_name(f".{path.name}-lock")):
        leftover.unlink(missing_ok=True)


if TYPE_CHECKING:  # mypy checks that the store is a DataStore, its writes Transactions, its filters RowFilters

    def _conforms(store: DoltliteStore) -> tuple[DataStore, SupportsRemotes]:
        return store, store
