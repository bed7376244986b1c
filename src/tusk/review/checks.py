"""Data checks (``[[checks]]``): rules over the data at one commit, each returning the rows that break it.

Declarative rules (``not_null``, ``unique``, ``accepted_values``, ``range``, ``row_count``,
``max_changed_rows``) become one SQL query each; an ``sql`` check is the user's own query, whose rows are
the violations. Every query runs on a read-only snapshot of the commit. A review is checked on its merge
preview (what the data branch would hold after the merge), and ``max_changed_rows`` counts the rows the
merge would change. A check that cannot run (a missing table or column, a broken query) fails: a gate
that cannot look does not let a merge through.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tusk.core.config import CheckConfig
from tusk.data.base import DataStore
from tusk.data.names import quote_identifier
from tusk.errors import DataError
from tusk.review import meta as review_meta

ROW_LIMIT = 100  # violating rows kept per check (the count is always exact)
OWN_TABLES = ("tusk_sources", *review_meta.OWN_TABLES)  # tusk's bookkeeping: never a review's changed rows
# (sources' last syncs; reviews' titles and comments)


@dataclass
class CheckResult:
    name: str
    kind: str
    table: str | None
    status: str  # passed | failed | skipped
    message: str
    violations: int = 0
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)  # at most ROW_LIMIT

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class CheckReport:
    """The checks of ``ref`` at ``commit`` (for a review: its merge preview into ``base``)."""

    ref: str
    commit: str
    checks: list[CheckResult]
    base: str | None = None  # the data branch's head a review's preview merges into
    preview: dict[str, Any] | None = None

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if c.failed]

    @property
    def passed(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        """``labels (1 violation), ids (3 violations)``: the failed checks, for one line."""
        return ", ".join(f"{c.name} ({c.violations} violation{'s' if c.violations != 1 else ''})" for c in self.failed)

    def to_json(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "commit": self.commit,
            "base": self.base,
            "preview": self.preview,
            "passed": self.passed,
            "failed": len(self.failed),
            "checks": [c.to_json() for c in self.checks],
        }


def run_checks(
    store: DataStore, checks: Sequence[CheckConfig], commit: str, base: str | None = None
) -> list[CheckResult]:
    """Every check at ``commit``; ``base`` (the data branch's head, for a review) lets ``max_changed_rows`` count
    the rows the merge would change."""
    return [run_check(store, check, commit, base) for check in checks]


def run_check(store: DataStore, check: CheckConfig, commit: str, base: str | None = None) -> CheckResult:
    result = CheckResult(check.name, check.kind, check.table, "passed", "")
    try:
        if check.kind == "max_changed_rows":
            _changed_rows(store, check, commit, base, result)
        elif check.kind == "row_count":
            _row_count(store, check, commit, result)
        else:
            if check.table is not None:
                _check_columns(store, check, commit)
            query, params, what = _violations_query(check, store.dialect)
            _violating_rows(store, query, params, commit, result, what)
    except DataError as exc:
        result.status, result.message = "failed", f"cannot run: {str(exc).splitlines()[0]}"
    return result


def _check_columns(store: DataStore, check: CheckConfig, commit: str) -> None:
    """The table and the rule's columns exist (SQLite would read an unknown "column" as a string)."""
    assert check.table is not None
    if check.table not in store.tables(commit):
        raise DataError(f"no table {check.table!r} at {commit[:7]}")
    named = list(check.not_null or []) + list(check.unique or [])
    named += [rule.column for rule in (check.accepted_values, check.range) if rule is not None]
    columns = [name for name, _, _ in store.columns(check.table, commit)]
    for column in named:
        if column not in columns:
            raise DataError(f"table {check.table!r} has no column {column!r} (columns: {', '.join(columns)})")


def _violations_query(check: CheckConfig, dialect: str = "sqlite") -> tuple[str, list[Any], str]:
    """(the query whose rows break the rule, its parameters, what a violating row is), in ``dialect``."""

    def _q(name: str) -> str:
        return quote_identifier(name, dialect)

    table = _q(check.table or "")
    if check.not_null is not None:
        where = " OR ".join(f"{_q(c)} IS NULL" for c in check.not_null)
        return f"SELECT * FROM {table} WHERE {where}", [], f"with NULL in {', '.join(check.not_null)}"
    if check.unique is not None:
        cols = ", ".join(_q(c) for c in check.unique)
        inner = f"SELECT {cols} FROM {table} GROUP BY {cols} HAVING count(*) > 1"
        return (
            f"SELECT * FROM {table} WHERE ({cols}) IN ({inner}) ORDER BY {cols}",
            [],
            f"sharing a value of {', '.join(check.unique)}",
        )
    if check.accepted_values is not None:
        rule = check.accepted_values
        marks = ", ".join("?" for _ in rule.values)
        shown = ", ".join(str(v) for v in rule.values)
        return (
            f"SELECT * FROM {table} WHERE {_q(rule.column)} IS NOT NULL AND {_q(rule.column)} NOT IN ({marks})",
            list(rule.values),
            f"with {rule.column} not in [{shown}]",
        )
    if check.range is not None:
        bounds = check.range
        parts, params = [], []
        if bounds.min is not None:
            parts.append(f"{_q(bounds.column)} < ?")
            params.append(bounds.min)
        if bounds.max is not None:
            parts.append(f"{_q(bounds.column)} > ?")
            params.append(bounds.max)
        where = " OR ".join(parts) or "0"
        return (
            f"SELECT * FROM {table} WHERE {where}",
            params,
            f"with {bounds.column} outside [{_bound(bounds.min)}, {_bound(bounds.max)}]",
        )
    assert check.sql is not None
    return check.sql.strip().rstrip(";"), [], "returned by the query"


def _bound(value: float | None) -> str:
    return "…" if value is None else f"{value:g}"


def _violating_rows(
    store: DataStore, query: str, params: list[Any], commit: str, result: CheckResult, what: str
) -> None:
    count = store.query(f"SELECT count(*) FROM ({query})", params, ref=commit).rows[0][0]
    found = store.query(f"SELECT * FROM ({query}) LIMIT {ROW_LIMIT}", params, ref=commit)
    result.violations, result.columns, result.rows = int(count), found.columns, [list(r) for r in found.rows]
    noun = "row" if count == 1 else "rows"
    result.message = f"{count} {noun} {what}" if count else f"no row {what}"
    if count:
        result.status = "failed"


def _row_count(store: DataStore, check: CheckConfig, commit: str, result: CheckResult) -> None:
    assert check.row_count is not None and check.table is not None
    if check.table not in store.tables(commit):
        raise DataError(f"no table {check.table!r} at {commit[:7]}")
    count = int(
        store.query(f"SELECT count(*) FROM {quote_identifier(check.table, store.dialect)}", None, ref=commit).rows[0][0]
    )
    low, high = check.row_count.min, check.row_count.max
    result.columns, result.rows = ["rows"], [[count]]
    bounds = f"[{'…' if low is None else low}, {'…' if high is None else high}]"
    if (low is not None and count < low) or (high is not None and count > high):
        result.status, result.violations = "failed", 1
        result.message = f"{check.table} has {count} rows, outside {bounds}"
    else:
        result.message = f"{check.table} has {count} rows, within {bounds}"


def _changed_rows(store: DataStore, check: CheckConfig, commit: str, base: str | None, result: CheckResult) -> None:
    assert check.max_changed_rows is not None
    if base is None:
        result.status, result.message = "skipped", "only a review's merge has changed rows to count"
        return
    stats = store.diff_stat(base, commit)
    tables = [t for t in sorted(stats) if t not in OWN_TABLES and (check.table is None or t == check.table)]
    count = sum(stats[t].total for t in tables)
    limit = check.max_changed_rows
    where = check.table or "all tables"
    result.columns = ["table", "added", "modified", "removed"]
    result.rows = [[t, stats[t].added, stats[t].modified, stats[t].removed] for t in tables if stats[t].total]
    if count > limit:
        result.status, result.violations = "failed", count - limit
        result.message = f"the merge changes {_rows(count)} in {where}, more than {limit}"
    else:
        result.message = f"the merge changes {_rows(count)} in {where} (at most {limit})"


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"
