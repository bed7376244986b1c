"""Reading the data page by page, for a person: a table at any ref, a diff with its changed cells, one commit's
change. Pages are read from the store with LIMIT/OFFSET (a 100k-row diff shows its first page at once); a
filter is a column and a value, matched in the old or the new row; names are checked, values are bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tusk.data.base import RowChange
    from tusk.ports import Ports

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
        return {"table": self.table, "ref": self.ref, "commit": self.commit, "columns": self.columns,
                "keys": self.keys, "rows": self.rows, "total": self.total, "offset": self.offset,
                "limit": self.limit, "where": self.where}


@dataclass
class DiffPage:
    """One page of one table's changed rows between two commits; ``changed`` lists each row's changed columns."""

    table: str
    from_commit: str
    to_commit: str
    columns: list[str]
    keys: list[str]
    rows: "list[RowChange]"
    total: int
    offset: int
    limit: int
    where: dict[str, str] = field(default_factory=dict)

    def changed(self, row: "RowChange") -> list[str]:
        return row.changed_columns

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table, "from": self.from_commit, "to": self.to_commit, "columns": self.columns,
                "keys": self.keys, "total": self.total, "offset": self.offset, "limit": self.limit,
                "where": self.where,
                "rows": [{"diff_type": r.diff_type, "key": r.key, "before": r.before, "after": r.after,
                          "changed": r.changed_columns} for r in self.rows]}


def _limits(offset: int, limit: int) -> tuple[int, int]:
    return max(0, int(offset)), max(1, min(int(limit), MAX_PAGE))


def table_page(project: "Ports", table: str, ref: str | None = None, where: dict[str, str] | None = None,
               offset: int = 0, limit: int = 50) -> TablePage:
    store = project.data
    ref = ref or project.config.data.branch
    commit = store.resolve(ref)
    offset, limit = _limits(offset, limit)
    keys = [name for name, _, pk in store.columns(table, commit) if pk]
    columns, total, rows = store.rows(table, commit, where or {}, offset, limit)
    return TablePage(table, ref, commit, columns, keys, [list(r) for r in rows], total, offset, limit,
                     dict(where or {}))


def diff_page(project: "Ports", from_commit: str, to_commit: str, table: str,
              where: dict[str, str] | None = None, offset: int = 0, limit: int = 50) -> DiffPage:
    store = project.data
    offset, limit = _limits(offset, limit)
    total, rows = store.diff_rows(from_commit, to_commit, table, where or {}, offset, limit)
    at = to_commit if table in store.tables(to_commit) else from_commit
    described = store.columns(table, at)
    return DiffPage(table, store.resolve(from_commit), store.resolve(to_commit), [n for n, _, _ in described],
                    [n for n, _, pk in described if pk], rows, total, offset, limit, dict(where or {}))


def parent_of(project: "Ports", commit: str) -> str | None:
    """A commit's first parent (None for the first commit): what ``data log``'s diffs compare it with."""
    store = project.data
    full = store.resolve(commit)
    history = store.log(full, 2)
    return history[1].hash if len(history) > 1 else None
