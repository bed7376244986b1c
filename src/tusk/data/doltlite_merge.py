"""Merging on the doltlite store: merges, merge bases, merge previews on scratch branches, reverts, and
conflicts resolved as a whole (ours / theirs) or row by row.

Every write here is one transaction on one branch (``BEGIN IMMEDIATE`` ... ``COMMIT``) that ends in at most
one Dolt commit: a conflict, or any failure, rolls it back so nothing is applied. A merge preview merges on a
scratch branch ``tusk-preview/<host>-<pid>-<time>-<random>``, deleted when the preview ends; one whose process
died (kill -9) is deleted by ``clean_scratch``, which ``Project`` calls whenever it opens the store.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from tusk.data._sql import _errors, image, quote
from tusk.data.base import SCRATCH_PREFIX, MergePreview, MergeResult, PreviewKind
from tusk.errors import DataError, MergeConflict

SCRATCH_MAX_AGE = 6 * 3600.0  # a scratch branch this old is stale even if its process id is alive (reused)


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32] or "host"


def scratch_name() -> str:
    """``tusk-preview/<host>-<pid>-<unix time>-<random>``: enough to tell a dead owner's branch from a live one."""
    return f"{SCRATCH_PREFIX}{_host()}-{os.getpid()}-{int(time.time())}-{secrets.token_hex(3)}"


def scratch_is_stale(name: str, now: float | None = None) -> bool:
    """A scratch branch whose process is gone (same host), or older than SCRATCH_MAX_AGE."""
    try:
        host, pid, started, _ = name[len(SCRATCH_PREFIX):].rsplit("-", 3)
        age = (now or time.time()) - int(started)
        owner = int(pid)
    except ValueError:
        return True
    if age > SCRATCH_MAX_AGE:
        return True
    if host != _host():
        return False
    try:
        os.kill(owner, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class MergeOps:
    """The merge half of ``DoltliteStore`` (which provides the connections and refs declared here)."""

    default_branch: str

    if TYPE_CHECKING:
        @property
        def main(self) -> sqlite3.Connection: ...
        def resolve(self, ref: str) -> str: ...
        def branch_connection(self, branch: str) -> sqlite3.Connection: ...

    def merge(self, branch: str, into: str | None = None, message: str | None = None,
              no_ff: bool = False) -> MergeResult:
        """Merge ``branch`` into ``into``; a conflict raises MergeConflict (row by row) and applies nothing.
        ``no_ff`` makes a merge commit (holding ``message``) even where a fast-forward would do."""
        target = into or self.default_branch
        source_head, before = self.resolve(branch), self.resolve(target)
        if source_head == before or self.merge_base(source_head, before) == source_head:
            return MergeResult(None, message=f"{target} already has {branch}")
        conn = self.branch_connection(target)
        try:
            with _errors(f"cannot merge {branch} into {target}"):
                conn.execute("BEGIN IMMEDIATE")
                try:
                    self._merge_in_transaction(conn, branch, target, message, no_ff)
                    conn.execute("COMMIT")
                finally:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
        finally:
            conn.close()
        after = self.resolve(target)
        return MergeResult(after, fast_forward=after == source_head, message=f"merged {branch} into {target}")

    def merge_base(self, left: str, right: str) -> str:
        """The newest commit both ``left`` and ``right`` descend from."""
        a, b = self.resolve(left), self.resolve(right)
        with _errors(f"cannot find the merge base of {left} and {right}"):
            row = self.main.execute("SELECT dolt_merge_base(?, ?)", (a, b)).fetchone()
        if not row or not row[0]:
            raise DataError(f"{left} and {right} have no common history")
        return str(row[0])

    @contextmanager
    def merge_preview(self, branch: str, into: str | None = None) -> Iterator[MergePreview]:
        """What ``into`` would hold with ``branch`` merged. A real merge happens on a scratch branch, which is
        deleted on the way out whatever happens (and by ``clean_scratch`` if this process dies)."""
        into = into or self.default_branch
        self.clean_scratch()
        head, target = self.resolve(branch), self.resolve(into)
        base = self.merge_base(head, target)
        if base == head or base == target:
            kind: PreviewKind = "up-to-date" if base == head else "fast-forward"
            yield MergePreview(branch, head, into, target, base, target if base == head else head, kind)
            return
        scratch = scratch_name()
        with _errors("cannot create the preview's scratch branch"):
            self.main.execute("SELECT dolt_branch(?, ?)", (scratch, target))
        try:
            self._merge_on(scratch, branch, into, f"preview: merge {branch} into {into}")
            yield MergePreview(branch, head, into, target, base, self.resolve(scratch), "merge")
        finally:
            self._drop_scratch(scratch)

    def _merge_on(self, scratch: str, branch: str, into: str, message: str) -> None:
        conn = self.branch_connection(scratch)
        try:
            with _errors(f"cannot preview merging {branch} into {into}"):
                conn.execute("BEGIN IMMEDIATE")
                try:
                    self._merge_in_transaction(conn, branch, into, message)
                    conn.execute("COMMIT")
                finally:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
        finally:
            conn.close()

    def _drop_scratch(self, name: str) -> None:
        with _errors(f"cannot remove the scratch branch {name}"):
            self.main.execute("SELECT dolt_branch('-D', ?)", (name,))

    def clean_scratch(self) -> list[str]:
        """Remove the scratch branches of previews whose process died (a crash, kill -9) → their names."""
        with _errors("cannot list branches"):
            names = [r[0] for r in self.main.execute(
                "SELECT name FROM dolt_branches WHERE substr(name, 1, ?) = ?",
                (len(SCRATCH_PREFIX), SCRATCH_PREFIX)).fetchall()]
        stale = [name for name in names if scratch_is_stale(name)]
        for name in stale:
            self._drop_scratch(name)
        return stale

    def _merge_in_transaction(self, conn: sqlite3.Connection, branch: str, target: str,
                               message: str | None, no_ff: bool = False) -> None:
        args = (("-m", message) if message else ()) + (("--no-ff",) if no_ff else ())
        marks = ", ".join("?" for _ in (branch, *args))
        try:
            conn.execute(f"SELECT dolt_merge({marks})", (branch, *args)).fetchall()
            conflicts = self._conflicts(conn)
        except sqlite3.Error as exc:
            if "conflict" not in str(exc).lower():
                raise
            conflicts = self._conflicts(conn)
        if conflicts:
            first = conflicts[0]
            shown = ", ".join(f"{k}={v}" for k, v in first["key"].items())
            raise MergeConflict(f"merging {branch} into {target} conflicts in {len(conflicts)} row(s), first: "
                                f"table {first['table']} {shown}; nothing was merged", conflicts)

    def _conflicts(self, conn: sqlite3.Connection) -> list[dict[str, Any]]:
        try:
            tables = [r[0] for r in conn.execute('SELECT "table" FROM dolt_conflicts').fetchall()]
        except sqlite3.Error:
            return []
        found = []
        for table in tables:
            keys = [r[1] for r in conn.execute(f"PRAGMA table_info({quote(table)})").fetchall() if r[5]]
            cursor = conn.execute(f"SELECT * FROM dolt_conflicts_{table}")
            columns = [d[0] for d in cursor.description]
            for row in cursor.fetchall():
                values = dict(zip(columns, row))
                key = {k: next((values.get(f"{side}_{k}") for side in ("our", "their", "base")
                                if values.get(f"{side}_{k}") is not None), None) for k in keys}
                found.append({"table": table, "key": key, "ours": image(values, "our_"),
                              "theirs": image(values, "their_"), "base": image(values, "base_")})
        return found

