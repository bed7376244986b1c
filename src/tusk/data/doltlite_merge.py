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

from tusk._internal.crash import crash_point
from tusk._internal.process import process_alive
from tusk.data._sql import _errors, image, quote, refusal
from tusk.data.base import SCRATCH_PREFIX, MergePreview, MergeResult, PreviewKind, Resolution
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
        host, pid, started, _ = name[len(SCRATCH_PREFIX) :].rsplit("-", 3)
        age = (now or time.time()) - int(started)
        owner = int(pid)
    except ValueError:
        return True
    if age > SCRATCH_MAX_AGE:
        return True
    return host == _host() and not process_alive(owner)


class MergeOps:
    """The merge half of ``DoltliteStore`` (which provides the connections and refs declared here)."""

    default_branch: str

    if TYPE_CHECKING:

        @property
        def main(self) -> sqlite3.Connection: ...
        def resolve(self, ref: str) -> str: ...
        def branch_connection(self, branch: str) -> sqlite3.Connection: ...

    def merge(
        self,
        branch: str,
        into: str | None = None,
        message: str | None = None,
        no_ff: bool = False,
        resolve: Resolution | None = None,
        expect_into: str | None = None,
    ) -> MergeResult:
        """Merge ``branch`` (a branch or a commit) into ``into`` as one commit. A conflict raises MergeConflict
        (row by row) and applies nothing, unless ``resolve`` settles it: "ours" or "theirs" for every
        conflicting row, or a function that is given the conflicts and returns "ours" or "theirs" for each (it
        may raise to apply nothing). ``no_ff`` makes a merge commit (holding ``message``) even where a
        fast-forward would do. ``expect_into``: refused unless ``into`` is still at this commit once the merge
        holds the write lock. Two merges of one branch at once merge it once: the second finds it merged."""
        target = into or self.default_branch
        source_head, before = self.resolve(branch), self.resolve(target)
        if source_head == before or self.merge_base(source_head, before) == source_head:
            return MergeResult(None, message=f"{target} already has {branch}")
        conn = self.branch_connection(target)
        try:
            with _errors(f"cannot merge {branch} into {target}"):
                conn.execute("BEGIN IMMEDIATE")
                crash_point("merge.begin")
                try:
                    now = self.resolve(target)  # under the write lock: no one else moves it until we are done
                    if expect_into is not None and now != expect_into:
                        raise DataError(
                            f"{target} moved ({expect_into[:7]} → {now[:7]}) before the merge could "
                            f"start: look at the review again"
                        )
                    if now != before and self.merge_base(source_head, now) == source_head:
                        return MergeResult(None, message=f"{target} already has {branch} (merged meanwhile)")
                    resolved = self._merge_in_transaction(conn, branch, target, message, no_ff, resolve)
                    crash_point("merge.merged")
                    conn.execute("COMMIT")
                    crash_point("merge.committed")
                finally:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
        finally:
            conn.close()
        after = self.resolve(target)
        note = f" ({resolved} conflicting row(s) resolved)" if resolved else ""
        return MergeResult(
            after, fast_forward=after == source_head, message=f"merged {branch} into {target}{note}", resolved=resolved
        )

    def merge_base(self, left: str, right: str) -> str:
        """The newest commit both ``left`` and ``right`` descend from."""
        a, b = self.resolve(left), self.resolve(right)
        with _errors(f"cannot find the merge base of {left} and {right}"):
            row = self.main.execute("SELECT dolt_merge_base(?, ?)", (a, b)).fetchone()
        if not row or not row[0]:
            raise DataError(f"{left} and {right} have no common history")
        return str(row[0])

    def parents(self, ref: str) -> list[str]:
        """A commit's parents, first parent first (none for the first commit, two for a merge commit)."""
        full = self.resolve(ref)
        with _errors(f"cannot read the parents of {full[:7]}"):
            rows = self.main.execute(
                "SELECT parent_hash FROM dolt_commit_ancestors WHERE commit_hash = ? ORDER BY parent_index", (full,)
            ).fetchall()
        return [str(r[0]) for r in rows if r[0]]

    @contextmanager
    def merge_preview(
        self, branch: str, into: str | None = None, resolve: Resolution | None = None
    ) -> Iterator[MergePreview]:
        """What ``into`` would hold with ``branch`` merged (conflicts settled by ``resolve``, as ``merge`` does).
        A real merge happens on a scratch branch, which is deleted on the way out whatever happens (and by
        ``clean_scratch`` if this process dies)."""
        into = into or self.default_branch
        self.clean_scratch()
        head, target = self.resolve(branch), self.resolve(into)
        base = self.merge_base(head, target)
        if base in (head, target):
            kind: PreviewKind = "up-to-date" if base == head else "fast-forward"
            yield MergePreview(branch, head, into, target, base, target if base == head else head, kind)
            return
        scratch = scratch_name()
        with _errors("cannot create the preview's scratch branch"):
            self.main.execute("SELECT dolt_branch(?, ?)", (scratch, target))
        try:
            self._merge_on(scratch, branch, into, f"preview: merge {branch} into {into}", resolve)
            yield MergePreview(branch, head, into, target, base, self.resolve(scratch), "merge")
        finally:
            self._drop_scratch(scratch)

    def _merge_on(self, scratch: str, branch: str, into: str, message: str, resolve: Resolution | None = None) -> None:
        conn = self.branch_connection(scratch)
        try:
            with _errors(f"cannot preview merging {branch} into {into}"):
                conn.execute("BEGIN IMMEDIATE")
                try:
                    self._merge_in_transaction(conn, branch, into, message, resolve=resolve)
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
            names = [
                r[0]
                for r in self.main.execute(
                    "SELECT name FROM dolt_branches WHERE substr(name, 1, ?) = ?", (len(SCRATCH_PREFIX), SCRATCH_PREFIX)
                ).fetchall()
            ]
        stale = [name for name in names if scratch_is_stale(name)]
        for name in stale:
            self._drop_scratch(name)
        return stale

    def _merge_in_transaction(
        self,
        conn: sqlite3.Connection,
        branch: str,
        target: str,
        message: str | None,
        no_ff: bool = False,
        resolve: Resolution | None = None,
    ) -> int:
        """dolt_merge in the open transaction → the number of conflicting rows resolved (a conflict without a
        resolution raises MergeConflict; the caller rolls back)."""
        args = (("-m", message) if message else ()) + (("--no-ff",) if no_ff else ())
        marks = ", ".join("?" for _ in (branch, *args))
        try:
            conn.execute(f"SELECT dolt_merge({marks})", (branch, *args)).fetchall()
            conflicts = self._conflicts(conn)
        except sqlite3.Error as exc:
            if refusal(exc) not in ("conflict", "schema conflict"):
                raise
            conflicts = self._conflicts(conn)
        if not conflicts:
            return 0
        if resolve is None:
            first = conflicts[0]
            shown = ", ".join(f"{k}={v}" for k, v in first["key"].items())
            raise MergeConflict(
                f"merging {branch} into {target} conflicts in {len(conflicts)} row(s), first: "
                f"table {first['table']} {shown}; nothing was merged",
                conflicts,
            )
        self._resolve(conn, conflicts, resolve)
        conn.execute("SELECT dolt_commit('-A', '-m', ?)", (message or f"Merge {branch} into {target}",)).fetchall()
        return len(conflicts)

    def _resolve(self, conn: sqlite3.Connection, conflicts: list[dict[str, Any]], resolve: Resolution) -> None:
        """Settle every conflict in the open transaction: a row resolved "theirs" gets their image (or goes, if
        they removed it); "ours" keeps the row as the target branch has it."""
        tables = sorted({c["table"] for c in conflicts})
        if isinstance(resolve, str):
            if resolve not in ("ours", "theirs"):
                raise DataError(f"unknown resolution {resolve!r} (use ours or theirs)")
            for table in tables:
                conn.execute("SELECT dolt_conflicts_resolve(?, ?)", (f"--{resolve}", table)).fetchall()
            return
        choices = list(resolve(conflicts))
        if len(choices) != len(conflicts) or any(c not in ("ours", "theirs") for c in choices):
            raise DataError("a resolution must say ours or theirs for every conflicting row")
        for conflict, choice in zip(conflicts, choices):
            if choice == "theirs":
                _write_row(
                    conn,
                    conflict["table"],
                    conflict["key"],
                    None if conflict["theirs_change"] == "removed" else conflict["theirs"],
                )
        for table in tables:
            conn.execute("SELECT dolt_conflicts_resolve('--ours', ?)", (table,)).fetchall()

    def revert(self, commit: str, branch: str | None = None, mainline: int | None = None) -> MergeResult:
        """A new commit on ``branch`` (default: the main branch) undoing ``commit``. A merge commit needs
        ``mainline=1`` (undo what the merge brought into its first parent's branch). Rows that later commits
        changed again conflict: MergeConflict names them and nothing is applied."""
        target = branch or self.default_branch
        full, head = self.resolve(commit), self.resolve(target)
        label = full[:7]
        if self.merge_base(full, head) != full:
            raise DataError(f"{commit} ({label}) is not in the history of {target}")
        with _errors(f"cannot read the parents of {label}"):
            parents = [
                r[0]
                for r in self.main.execute(
                    "SELECT parent_hash FROM dolt_commit_ancestors WHERE commit_hash = ? ORDER BY parent_index", (full,)
                ).fetchall()
                if r[0]
            ]
        if not parents:
            raise DataError(f"{label} is the data store's first commit: there is nothing before it to go back to")
        if len(parents) > 1 and mainline != 1:
            raise DataError(
                f"{label} is a merge commit: to undo what it brought into {target}, run "
                f"tusk data revert {commit} --mainline 1"
            )
        if len(parents) == 1 and mainline is not None:
            raise DataError(f"{label} is not a merge commit: --mainline is only for merge commits")
        conn = self.branch_connection(target)
        try:
            with _errors(f"cannot revert {label} on {target}"):
                conn.execute("BEGIN IMMEDIATE")
                try:
                    self._revert_in_transaction(conn, full, target)
                    conn.execute("COMMIT")
                finally:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
        finally:
            conn.close()
        return MergeResult(self.resolve(target), message=f"reverted {label} on {target}")

    def _revert_in_transaction(self, conn: sqlite3.Connection, full: str, target: str) -> None:
        label = full[:7]
        try:
            conn.execute("SELECT dolt_revert(?)", (full,)).fetchall()
        except sqlite3.Error as exc:
            kind = refusal(exc)
            if kind == "schema conflict":
                raise DataError(
                    f"reverting {label} would undo a table being created or dropped that later commits "
                    f"build on; nothing was applied"
                ) from exc
            if kind == "conflict":
                conflicts = self._conflicts(conn)
                first = (
                    (
                        f", first: table {conflicts[0]['table']} "
                        + ", ".join(f"{k}={v}" for k, v in conflicts[0]["key"].items())
                    )
                    if conflicts
                    else ""
                )
                raise MergeConflict(
                    f"reverting {label} on {target} conflicts in {len(conflicts)} row(s) that later "
                    f"commits changed again{first}; nothing was applied",
                    conflicts,
                ) from exc
            if kind == "nothing to commit":
                raise DataError(f"reverting {label} changes nothing on {target}: its change is already undone") from exc
            raise

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
                key = {
                    k: next(
                        (
                            values.get(f"{side}_{k}")
                            for side in ("our", "their", "base")
                            if values.get(f"{side}_{k}") is not None
                        ),
                        None,
                    )
                    for k in keys
                }
                found.append(
                    {
                        "table": table,
                        "key": key,
                        "ours": image(values, "our_"),
                        "theirs": image(values, "their_"),
                        "base": image(values, "base_"),
                        "ours_change": values.get("our_diff_type"),
                        "theirs_change": values.get("their_diff_type"),
                    }
                )
        return found


def _write_row(conn: sqlite3.Connection, table: str, key: dict[str, Any], row: dict[str, Any] | None) -> None:
    """Make the row with ``key`` equal to ``row`` (None: no such row)."""
    where = " AND ".join(f"{quote(k)} = ?" for k in key)
    conn.execute(f"DELETE FROM {quote(table)} WHERE {where}", list(key.values()))
    if row is not None:
        columns = list(row)
        conn.execute(
            f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)})",
            [row[c] for c in columns],
        )
