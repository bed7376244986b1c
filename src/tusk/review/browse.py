"""Reading the data page by page, for a person: a table at any ref, a diff with its changed cells, one commit's
change. Pages are read from the store with LIMIT/OFFSET (a 100k-row diff shows its first page at once); a
filter is a column and a value, matched in the old or the new row; names are checked, values are bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tusk.data.base import Branch, Commit, DataStore, RowChange, TableDiff, Tag

MAX_PAGE = 500


@dataclass
class TablePage:
    table: str
    ref: str
    commit: str
    columns: list[str]
    keys: list[str]
    rows: list[list[Any]]
    total: int  # rows matching the filter
    offset: int
    limit: int
    where: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "ref": self.ref,
            "commit": self.commit,
            "columns": self.columns,
            "keys": self.keys,
            "rows": self.rows,
            "total": self.total,
            "offset": self.offset,
            "limit": self.limit,
            "where": self.where,
        }


@dataclass
class DiffPage:
    """One page of one table's changed rows between two commits; ``changed`` lists each row's changed columns."""

    table: str
    from_commit: str
    to_commit: str
    columns: list[str]
    keys: list[str]
    rows: list[RowChange]
    total: int
    offset: int
    limit: int
    where: dict[str, str] = field(default_factory=dict)
    landed_at: str | None = None  # rows this commit holds already as ``to_commit`` does are left out

    def changed(self, row: RowChange) -> list[str]:
        return row.changed_columns

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "from": self.from_commit,
            "to": self.to_commit,
            "columns": self.columns,
            "keys": self.keys,
            "total": self.total,
            "offset": self.offset,
            "limit": self.limit,
            "where": self.where,
            "landed_at": self.landed_at,
            "rows": [
                {
                    "diff_type": r.diff_type,
                    "key": r.key,
                    "before": r.before,
                    "after": r.after,
                    "changed": r.changed_columns,
                }
                for r in self.rows
            ],
        }


def _limits(offset: int, limit: int) -> tuple[int, int]:
    return max(0, int(offset)), max(1, min(int(limit), MAX_PAGE))


def table_page(
    store: DataStore,
    data_branch: str,
    table: str,
    ref: str | None = None,
    where: dict[str, str] | None = None,
    offset: int = 0,
    limit: int = 50,
) -> TablePage:
    ref = ref or data_branch
    commit = store.resolve(ref)
    offset, limit = _limits(offset, limit)
    keys = [name for name, _, pk in store.columns(table, commit) if pk]
    columns, total, rows = store.rows(table, commit, where or {}, offset, limit)
    return TablePage(
        table, ref, commit, columns, keys, [list(r) for r in rows], total, offset, limit, dict(where or {})
    )


def diff_page(
    store: DataStore,
    from_commit: str,
    to_commit: str,
    table: str,
    where: dict[str, str] | None = None,
    offset: int = 0,
    limit: int = 50,
    landed_at: str | None = None,
) -> DiffPage:
    """``landed_at``: without the rows that commit holds already (a review's rows approved per model)."""
    offset, limit = _limits(offset, limit)
    landed = store.resolve(landed_at) if landed_at else None
    total, rows = store.diff_rows(from_commit, to_commit, table, where or {}, offset, limit, landed_at=landed)
    at = to_commit if table in store.tables(to_commit) else from_commit
    described = store.columns(table, at)
    return DiffPage(
        table,
        store.resolve(from_commit),
        store.resolve(to_commit),
        [n for n, _, _ in described],
        [n for n, _, pk in described if pk],
        rows,
        total,
        offset,
        limit,
        dict(where or {}),
        landed,
    )


def parent_of(store: DataStore, commit: str) -> str | None:
    """A commit's first parent (None for the first commit): what ``data log``'s diffs compare it with."""
    parents = store.parents(commit)  # not the log's second entry: for a merge that can be the merged branch's
    return parents[0] if parents else None


@dataclass
class ChangePage:
    """A change for a person to read: its commits, the diff counts per table, one table's changed rows paged.
    A review (``base`` = where the branch left the data branch, ``head`` = the branch) or one commit (``base``
    = its parent)."""

    head: str
    base: str | None
    commits: list[Commit]
    tables: list[TableDiff]
    chosen: str | None  # the table whose rows ``diff`` pages
    diff: DiffPage | None
    into_head: str | None = None  # a review: the data branch's head it would merge into
    with_landed: bool = False  # a review: its rows the data branch holds already are shown too

    @property
    def landed(self) -> int:
        """Rows left out because the data branch holds them already (approved per model)."""
        return sum(t.landed for t in self.tables)

    def to_json(self) -> dict[str, Any]:
        return {
            "head": self.head,
            "base": self.base,
            "into_head": self.into_head,
            "landed": self.landed,
            "commits": [{"hash": c.hash, "message": c.message, "date": c.date} for c in self.commits],
            "tables": [
                {
                    "table": t.table,
                    "added": t.added,
                    "modified": t.modified,
                    "removed": t.removed,
                    "schema_changed": t.schema_changed,
                    "landed": t.landed,
                }
                for t in self.tables
            ],
            "table": self.chosen,
            "diff": self.diff.to_json() if self.diff else None,
        }


def _change(
    store: DataStore,
    base: str | None,
    head: str,
    commits: list[Commit],
    table: str | None,
    where: dict[str, str] | None,
    offset: int,
    limit: int,
    hide: tuple[str, ...] = (),
    landed_at: str | None = None,
) -> ChangePage:
    if base and landed_at:
        stats = {t.table: t for t in store.diff(base, head, with_rows=False, landed_at=landed_at)}
    else:
        stats = store.diff_stat(base, head) if base else {}
    tables = [
        stats[t]
        for t in sorted(stats)
        if t not in hide and (stats[t].total or stats[t].schema_changed or stats[t].landed)
    ]
    rowful = [t.table for t in tables if not t.schema_changed]
    chosen = (
        table or next((t.table for t in tables if not t.schema_changed and t.total), None) or next(iter(rowful), None)
    )
    diff = None
    if base and chosen and chosen in rowful:
        diff = diff_page(store, base, head, chosen, where, offset, limit, landed_at)
    return ChangePage(head, base, commits, tables, chosen, diff)


def review_page(
    store: DataStore,
    data_branch: str,
    branch: str,
    table: str | None = None,
    where: dict[str, str] | None = None,
    offset: int = 0,
    limit: int = 50,
    with_landed: bool = False,
) -> ChangePage:
    """A review's own change (three dots: since it left the data branch): commits, counts, one table paged.
    The conversation's tables are not part of the change; nor are its rows the data branch holds already
    (approved per model: they are on both sides), unless ``with_landed`` (then they are listed as changed)."""
    from tusk.errors import DataError
    from tusk.review.meta import OWN_TABLES

    into = data_branch
    if branch == into or branch not in {b.name for b in store.branches()}:
        raise DataError(f"{branch!r} is not a review branch")
    head, into_head = store.resolve(branch), store.resolve(into)
    base = store.merge_base(into_head, head)
    commits = []
    for commit in store.log(head, 200):
        if commit.hash == base:
            break
        commits.append(commit)
    landed_at = into_head if into_head != base and not with_landed else None
    page = _change(store, base, head, commits, table, where, offset, limit, OWN_TABLES, landed_at)
    page.into_head, page.with_landed = into_head, with_landed
    return page


def merged_page(
    store: DataStore,
    before: str,
    merge_commit: str,
    table: str | None = None,
    where: dict[str, str] | None = None,
    offset: int = 0,
    limit: int = 50,
) -> ChangePage:
    """What a merge brought: the data branch as it was just before the merge (``before``) against the merge
    commit, with the commits the merge brought in (those ``before`` does not hold), one table paged."""
    from tusk.review.meta import OWN_TABLES

    commits = []
    for commit in store.log(merge_commit, 200):
        if commit.hash == before:
            continue
        if store.merge_base(commit.hash, before) != commit.hash:  # not in the data branch's history already
            commits.append(commit)
        if len(commits) >= 100:
            break
    page = _change(store, before, merge_commit, commits, table, where, offset, limit, OWN_TABLES)
    page.into_head = before
    return page


def commit_page(
    store: DataStore,
    ident: str,
    against: str | None = None,
    table: str | None = None,
    where: dict[str, str] | None = None,
    offset: int = 0,
    limit: int = 50,
) -> ChangePage:
    """One commit's change against ``against`` (default: its first parent)."""
    head = store.resolve(ident)
    base = store.resolve(against) if against else parent_of(store, head)
    return _change(store, base, head, store.log(head, 1), table, where, offset, limit)


@dataclass
class DataOverview:
    """The data at a ref: its tables with their row counts, the branches and tags to pick from, recent commits."""

    ref: str
    commit: str
    tables: list[tuple[str, int]]
    branches: list[Branch]
    tags: list[Tag]
    log: list[Commit]

    def to_json(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "commit": self.commit,
            "tables": [{"table": t, "rows": n} for t, n in self.tables],
            "branches": [b.name for b in self.branches],
            "tags": [t.name for t in self.tags],
            "log": [{"hash": c.hash, "message": c.message, "date": c.date} for c in self.log],
        }


def overview(store: DataStore, data_branch: str, ref: str | None = None) -> DataOverview:
    """The data at ``ref`` (default: the data branch)."""
    from tusk.data.base import SCRATCH_PREFIX

    ref = ref or data_branch
    commit = store.resolve(ref)
    tables = [(t, store.rows(t, commit, None, 0, 0)[1]) for t in store.tables(commit)]
    branches = [b for b in store.branches() if not b.name.startswith(SCRATCH_PREFIX) and not b.name.startswith("tusk-")]
    return DataOverview(ref, commit, tables, branches, store.tags(), store.log(commit, 10))
