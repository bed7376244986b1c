"""The DataStore port: versioned tables with commits, branches, diffs and snapshots at any ref.

A *ref* is a branch name, a tag, or a commit hash (full, or a unique prefix of at least 7 hex digits).
Every write happens in one transaction on one branch (``writer`` → ``Transaction``) and ends in at most one
commit. A backend raises tusk's errors, never its driver's: ``RefNotFound`` for an unknown ref,
``MergeConflict`` (with the conflicting rows) for a merge that would conflict, ``IngestError`` for rows that do
not fit (an appended key already there), ``DataError`` for anything else the store refuses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

DiffType = Literal["added", "modified", "removed"]
PreviewKind = Literal["merge", "fast-forward", "up-to-date"]
SCRATCH_PREFIX = "tusk-preview/"  # scratch branches of merge previews: never a user's, removed when stale
# tusk's own records of reviews, kept by the store (``review_records``, ``Transaction.put_review``...): a review's
# row (branch → title, description, status, author, times, how it was merged) and its comments (keyed by a random id)
REVIEWS_TABLE = "tusk_reviews"
COMMENTS_TABLE = "tusk_review_comments"
REVIEW_FIELDS = (
    "branch",
    "title",
    "description",
    "status",
    "author",
    "created",
    "updated",
    "merged_by",
    "merged_at",
    "merge_commit",
    "merged_from",
)


@dataclass(frozen=True)
class Commit:
    hash: str
    message: str
    date: str
    author: str = ""


@dataclass(frozen=True)
class Branch:
    name: str
    head: str


@dataclass(frozen=True)
class Remote:
    name: str
    url: str


@dataclass(frozen=True)
class Tag:
    name: str
    commit: str
    message: str = ""


@dataclass
class RowChange:
    """One changed row. ``before``/``after`` are full rows (column → value); None when absent."""

    diff_type: DiffType
    key: dict[str, Any]
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @property
    def changed_columns(self) -> list[str]:
        if self.before is None or self.after is None:
            return []
        return [c for c in self.after if self.before.get(c) != self.after.get(c)]


@dataclass
class ReviewComment:
    """One comment of a review's conversation (a comment, approval, close, reopen, edit or merge)."""

    id: str
    branch: str
    kind: str  # comment | approve | close | reopen | edit | merge
    author: str
    time: str
    text: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class TableDiff:
    table: str
    added: int = 0
    modified: int = 0
    removed: int = 0
    rows: list[RowChange] = field(default_factory=list)
    schema_changed: bool = False
    landed: int = 0  # rows left out because the commit asked about holds them already (a review's approved rows)

    @property
    def total(self) -> int:
        return self.added + self.modified + self.removed


@dataclass
class DiffReport:
    """A diff as asked for: ``A..B`` (or ``A B``) compares the two commits; ``A...B`` shows what B changed since
    it left A, the diff from their merge base (``merge_base`` is set) to B."""

    from_ref: str
    to_ref: str
    from_commit: str
    to_commit: str
    tables: list[TableDiff]
    merge_base: str | None = None
    landed_at: str | None = None  # A's head, whose rows equal to B's are left out (counted as ``landed``)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "from": self.from_commit,
            "to": self.to_commit,
            "from_ref": self.from_ref,
            "to_ref": self.to_ref,
        }
        if self.merge_base is not None:
            data["merge_base"] = self.merge_base
            data["landed_at"] = self.landed_at
        data["tables"] = [
            {
                "table": d.table,
                "added": d.added,
                "modified": d.modified,
                "removed": d.removed,
                "schema_changed": d.schema_changed,
                "landed": d.landed,
                "rows": [
                    {"diff_type": r.diff_type, "key": r.key, "before": r.before, "after": r.after} for r in d.rows
                ],
            }
            for d in self.tables
        ]
        return data


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


@dataclass
class MergeResult:
    commit: str | None  # None when there was nothing to merge
    fast_forward: bool = False
    message: str = ""
    resolved: int = 0  # conflicting rows settled by a resolution


# How a merge settles conflicting rows: "ours" / "theirs" for all, or a function given the conflicts (dicts with
# table, key, ours, theirs, base, ours_change, theirs_change) returning "ours" or "theirs" for each, in order.
Resolution = str | Callable[[list[dict[str, Any]]], Sequence[str]]


@dataclass(frozen=True)
class MergePreview:
    """What the data branch ``into`` would hold with ``branch`` merged: ``commit`` is a real merge on a scratch
    branch (kind "merge": it exists only while the preview is held), ``branch``'s head (kind "fast-forward")
    or ``into``'s head (kind "up-to-date": the branch is already merged)."""

    branch: str
    branch_head: str
    into: str
    into_head: str
    merge_base: str
    commit: str
    kind: PreviewKind

    @property
    def persists(self) -> bool:
        """Whether ``commit`` outlives the preview (a fast-forward or an already merged branch)."""
        return self.kind != "merge"

    def to_json(self) -> dict[str, Any]:
        return {
            "branch": self.branch,
            "branch_head": self.branch_head,
            "into": self.into,
            "into_head": self.into_head,
            "merge_base": self.merge_base,
            "commit": self.commit,
            "kind": self.kind,
            "persists": self.persists,
        }


@dataclass
class ImportResult:
    """What an import did. ``commit`` is None when the file changed nothing (no commit made)."""

    table: str
    branch: str
    commit: str | None
    created_table: bool
    added: int
    modified: int
    removed: int
    message: str = ""
    encoding: str | None = None  # how a CSV/TSV was read: its text encoding and delimiter (None for other files)
    delimiter: str | None = None
    sheet: str | None = None  # the XLSX sheet read

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


Params = Mapping[str, Any] | Sequence[Any] | None
LoadMode = Literal["replace", "upsert", "append"]


@dataclass(frozen=True)
class LoadCounts:
    """What ``Transaction.load_rows`` changed in its table."""

    added: int = 0
    modified: int = 0
    removed: int = 0

    def __iter__(self) -> Iterator[int]:
        return iter((self.added, self.modified, self.removed))


class Transaction(Protocol):
    """One write on one branch (``DataStore.writer``): everything or nothing. ``commit`` makes the one
    commit and ends the transaction; leaving the block before it, normally or by an exception, keeps nothing.
    Driver errors come out as ``DataError``."""

    branch: str

    def execute(self, sql: str, params: Params = None) -> list[tuple[Any, ...]]: ...  # → the rows it returns
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...
    # Bring ``table`` to hold ``rows`` (tuples in ``columns`` order) by ``keys``: "replace" (the rows are the
    # whole table), "upsert" (add and change), "append" (add; a key already there is an IngestError). With
    # ``create`` (column → SQL type), the table is new: made with ``keys`` as its primary key.
    def load_rows(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        keys: Sequence[str],
        mode: LoadMode = "replace",
        create: Mapping[str, str] | None = None,
    ) -> LoadCounts: ...
    # Apply ``changes`` (one table's changed rows, as a diff gives them) to ``table`` by ``keys``, each only where the
    # branch still holds its ``before`` image → how many were written (a row already at ``after`` is skipped). A row
    # that holds neither raises MergeConflict (``conflicts``: table and key); nothing is kept then.
    def apply_changes(self, table: str, keys: Sequence[str], changes: Sequence[RowChange]) -> int: ...
    def drop_table(self, table: str) -> None: ...  # gone if it was there; nothing if not
    # tusk's records of reviews (REVIEWS_TABLE, COMMENTS_TABLE; made on this branch when missing): a review's row,
    # replacing the one of its branch; comments, each added once (one whose id is there already is kept as it is)
    def put_review(self, record: Mapping[str, str]) -> None: ...
    def add_review_comments(self, comments: Iterable[ReviewComment]) -> None: ...
    def commit(self, message: str) -> str | None: ...  # → the new commit; None (and nothing kept) if no change


class RowFilter(Protocol):
    """Rows that are not in the store — the planner's images of changed rows — as a table the store's own SQL
    can query, so an input's WHERE clause means there what it means on the store."""

    def select(self, sql: str, params: Params = None) -> list[tuple[Any, ...]]: ...  # DataError if it cannot
    def close(self) -> None: ...


@runtime_checkable
class DataStore(Protocol):
    url: str
    default_branch: str
    dialect: str  # the sqlglot name of its SQL dialect ("sqlite"): how the planner reads and writes queries

    # the store itself
    def create(self) -> None: ...  # an empty store with one commit on the default branch (idempotent)
    @classmethod
    def clone(cls, url: str, path: Path, default_branch: str = "main") -> DataStore: ...  # a copy of a remote

    # refs and history
    def resolve(self, ref: str) -> str: ...  # ref → full commit hash; RefNotFound if unknown
    def log(self, ref: str | None = None, limit: int | None = None) -> list[Commit]: ...
    def branches(self) -> list[Branch]: ...
    def create_branch(self, name: str, start: str | None = None) -> Branch: ...
    def delete_branch(self, name: str, force: bool = False) -> None: ...
    def move_branch(self, name: str, commit: str) -> Branch: ...  # create or move, in one step
    def merge(
        self,
        branch: str,
        into: str | None = None,
        message: str | None = None,
        no_ff: bool = False,
        resolve: Resolution | None = None,
        expect_into: str | None = None,
    ) -> MergeResult: ...  # expect_into: checked under the write lock
    def revert(self, commit: str, branch: str | None = None, mainline: int | None = None) -> MergeResult: ...
    def merge_base(self, left: str, right: str) -> str: ...  # the newest common ancestor's hash
    def parents(self, ref: str) -> list[str]: ...  # first parent first; [] for the first commit
    # the data ``into`` (default: the main branch) would hold with ``branch`` merged; a conflict raises
    # MergeConflict; a scratch ref it needs is removed on exit, and by ``clean_scratch`` after a crash
    def merge_preview(
        self, branch: str, into: str | None = None, resolve: Resolution | None = None
    ) -> AbstractContextManager[MergePreview]: ...
    def clean_scratch(self) -> list[str]: ...  # scratch refs left by dead processes, removed → their names
    def tags(self) -> list[Tag]: ...
    def tag(self, name: str, ref: str | None = None, message: str = "") -> Tag: ...

    # reading
    def tables(self, ref: str | None = None) -> list[str]: ...
    def columns(self, table: str, ref: str | None = None) -> list[tuple[str, str, bool]]: ...  # name, type, pk
    def query(self, sql: str, params: Params = None, ref: str | None = None) -> QueryResult: ...
    def iter_query(self, sql: str, params: Params = None, ref: str | None = None) -> Iterator[tuple[Any, ...]]: ...
    # ``rows`` (tuples in ``columns`` order) as table ``table``, for queries in the store's dialect
    def row_filter(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> RowFilter: ...

    # diffs (from → to); counts are cheap, rows are read only when asked for
    def diff_stat(self, from_ref: str, to_ref: str) -> dict[str, TableDiff]: ...
    # ``landed_at``: leave out (count as ``landed``) rows that commit holds already as ``to_ref`` does
    def diff(
        self,
        from_ref: str,
        to_ref: str,
        table: str | None = None,
        with_rows: bool = True,
        limit: int | None = None,
        landed_at: str | None = None,
    ) -> list[TableDiff]: ...
    # one page of a table's changed rows, filtered by old-or-new column values (bound, never spliced) → (count, page)
    def diff_rows(
        self,
        from_ref: str,
        to_ref: str,
        table: str,
        where: dict[str, Any] | None = None,
        offset: int = 0,
        limit: int = 50,
        landed_at: str | None = None,
    ) -> tuple[int, list[RowChange]]: ...
    # one page of a table at a ref in key order → (columns, matching count, rows)
    def rows(
        self,
        table: str,
        ref: str | None = None,
        where: dict[str, Any] | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[str], int, list[tuple[Any, ...]]]: ...

    # writing: one transaction on one branch, at most one commit. ``create_at``: a missing branch is made there
    # first (one another process makes meanwhile is written on top of); if the block raises before its commit,
    # a branch it made is removed again unless someone else committed on it
    def writer(
        self, branch: str | None = None, *, create_at: str | None = None
    ) -> AbstractContextManager[Transaction]: ...
    # tusk's records of reviews as kept at ``ref`` (written by ``Transaction.put_review``/``add_review_comments``):
    # branch → its review's row (the fields the ref's table has, as text; {} when the ref has none), for one review
    # or all; a review's comments (every review's when ``branch`` is None) in (time, id) order
    def review_records(self, ref: str, branch: str | None = None) -> dict[str, dict[str, str]]: ...
    def review_comments(self, ref: str, branch: str | None = None) -> list[ReviewComment]: ...
    def gc(self) -> None: ...
    # ``gc`` when the store has grown enough since the last (sizes kept in ``record``) → (bytes before, after), or
    # None when not due (or refused because another process writes: due next time)
    def maybe_gc(self, record: Path) -> tuple[int, int] | None: ...
    def close(self) -> None: ...


@runtime_checkable
class SupportsRemotes(Protocol):
    """A store that shares its commits with others through remotes (git's model: fetch, pull, push)."""

    def remotes(self) -> list[Remote]: ...
    def add_remote(self, name: str, url: str, base: Path | None = None) -> Remote: ...  # relative to base
    def remove_remote(self, name: str) -> None: ...
    def remote_branches(self) -> list[Branch]: ...  # named "origin/main"
    def fetch(self, remote: str) -> list[Branch]: ...
    def pull(self, remote: str, branch: str | None = None) -> MergeResult: ...
    def push(self, remote: str, branch: str | None = None, force: bool = False) -> str: ...
