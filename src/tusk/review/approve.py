"""Approve a review per model: merge only the rows that feed the chosen instances, as one commit on the data
branch; the other rows stay on the review branch for later.

Which rows feed an instance is decided as the planner decides staleness: the review's changed rows (both
images of each) go into an in-memory table, and each of the instance's inputs runs its own WHERE, with its
bound values, on them. A row whose old or new image matches feeds the instance (a row moved from one
customer to another feeds both). An input that is not a plain one-table filter cannot be split: approving
it is refused (approve or merge the whole review instead).

The chosen rows are applied key by key on the data branch in one transaction (the store's
``Transaction.apply_changes``), only where the data branch still holds what the review started from (else a
one-line conflict, nothing written), with the approval's note written after it on ``tusk-reviews`` (review_meta),
never on the data branch. Merging the rest later brings identical rows, so no conflict. The page and
``tusk review approve BRANCH --only GLOB`` both call ``Project.approve``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tusk.errors import ConfigError, DataError, MergeBlocked, MergeConflict, TuskError

if TYPE_CHECKING:
    from tusk.data.base import DataStore, RowChange, RowFilter, Transaction
    from tusk.ports import Ports

ROW_LIMIT = 200_000  # rows of a review's change that one approval reads


@dataclass
class Approval:
    branch: str
    into: str
    models: list[str]
    commit: str | None  # None when the chosen models' rows were on the data branch already
    rows: dict[str, dict[str, int]] = field(default_factory=dict)  # table → added/modified/removed
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def approve(
    project: Ports,
    branch: str,
    only: str | Sequence[str],
    who: str,
    expect_head: str | None = None,
    expect_into: str | None = None,
) -> Approval:
    """Apply the rows of ``branch`` that feed the instances matching ``only`` (globs) onto the data branch."""
    from tusk.review import meta as review_meta

    store = project.data
    into = project.config.data.branch
    if branch == into or branch not in {b.name for b in store.branches()}:
        raise DataError(f"{branch!r} is not a local review branch")
    head, into_head = store.resolve(branch), store.resolve(into)
    for shown, now, what in ((expect_head, head, branch), (expect_into, into_head, into)):
        if shown and store.resolve(shown) != now:
            raise DataError(
                f"{what} moved since the page showed it ({shown[:7]} → {now[:7]}): reload the review and try again"
            )
    patterns = [only] if isinstance(only, str) else list(only)
    if not patterns or not any(p.strip() for p in patterns):
        raise TuskError("approve needs --only GLOB: the models whose rows to accept")
    instances = _chosen(project, branch, patterns)
    base = store.merge_base(into_head, head)
    stats = store.diff_stat(base, head)
    tables = [t for t in sorted(stats) if t not in review_meta.OWN_TABLES and not t.startswith("tusk_")]
    picked: dict[str, list[RowChange]] = {}
    for table in tables:
        if stats[table].schema_changed:
            raise TuskError(f"{branch} changes the schema of {table}: approve the whole review (merge it) instead")
        changes = store.diff(base, head, table=table, with_rows=True, limit=ROW_LIMIT + 1)[0].rows
        if len(changes) > ROW_LIMIT:
            raise TuskError(f"{branch} changes more than {ROW_LIMIT:,} rows of {table}: merge it whole")
        chosen = _feeding(store, table, changes, instances)
        if chosen:
            picked[table] = chosen
    names = sorted(instances)
    counts = {t: _count(rows) for t, rows in picked.items()}
    summary = "; ".join(f"{t} " + ", ".join(f"{n} {k}" for k, n in c.items() if n) for t, c in counts.items())
    message = f"approve {branch} for {', '.join(names)}: {summary or 'no rows'} (by {who})"
    if len(message) > 1000:
        message = f"approve {branch} for {len(names)} models: {summary[:500]} (by {who})"
    with store.writer(into) as conn:
        if store.resolve(into) != into_head:  # checked again once this transaction holds the write lock
            raise DataError(f"{into} moved while the approval was prepared: try again")
        applied = sum(_apply(conn, store, table, rows, into_head) for table, rows in picked.items())
        if not applied:  # nothing written: leaving the transaction makes no commit
            return Approval(
                branch,
                into,
                names,
                None,
                counts,
                f"the data branch already holds the rows of {branch} that feed {', '.join(names)}",
            )
        commit = conn.commit(message)
    # the approval's note is conversation, not data: on tusk-reviews, after the rows (the commit's message names
    # the models and who approved them, so a note lost to a crash in between is still in the history)
    review_meta.note(store, branch, "approve", who, f"approved the rows feeding {', '.join(names)}: {summary}")
    return Approval(branch, into, names, commit, counts, message)


def rows_per_model(project: Ports, branch: str, names: Sequence[str]) -> dict[str, int | None]:
    """How many of the review's changed rows feed each model (None: its inputs cannot be split by row)."""
    from tusk.review import meta as review_meta

    store = project.data
    into = project.config.data.branch
    head = store.resolve(branch)
    base = store.merge_base(store.resolve(into), head)
    instances = _chosen(project, branch, list(names)) if names else {}
    stats = store.diff_stat(base, head)
    counts: dict[str, int | None] = {n: 0 for n in instances}
    for table in sorted(stats):
        if table in review_meta.OWN_TABLES or stats[table].schema_changed or not stats[table].total:
            continue
        if stats[table].total > ROW_LIMIT:
            return {n: None for n in instances}
        changes = store.diff(base, head, table=table, with_rows=True)[0].rows
        for name, instance in instances.items():
            if counts[name] is None:
                continue
            try:
                found = len(_feeding(store, table, changes, {name: instance}))
            except TuskError:
                counts[name] = None
                continue
            counts[name] = (counts[name] or 0) + found
    return counts


def _chosen(project: Ports, branch: str, patterns: list[str]) -> dict[str, Any]:
    """Instances (at the review's merge preview: what the merged data would train) matching the globs."""
    from tusk.ports import Workspace
    from tusk.review.reviews import merge_preview
    from tusk.train.planning import make_plan

    try:
        with merge_preview(project.data, project.config, branch) as preview:
            plan = make_plan(Workspace.of(project), preview.commit, keep_cache=preview.persists, check=False)
    except MergeConflict:  # other rows conflict: the data branch's instances, and the rows say what conflicts
        plan = make_plan(Workspace.of(project), None, check=False)
    except (ConfigError, DataError) as exc:  # merged, its data cannot be planned (two values, one instance name)
        raise MergeBlocked(
            f"approval of {branch} refused: the merged data cannot be planned: {exc} (fix the rows "
            f"on {branch} first; {project.config.data.branch} is unchanged)"
        ) from exc
    found = {
        p.name: p.instance
        for p in plan.instances
        if p.instance is not None
        and any(fnmatch.fnmatchcase(p.name, pattern.strip()) for pattern in patterns if pattern.strip())
    }
    if not found:
        raise TuskError(f"no model matches {', '.join(patterns)} (tusk review show {branch} lists them)")
    return found


def _feeding(store: DataStore, table: str, changes: list[RowChange], instances: dict[str, Any]) -> list[RowChange]:
    from tusk.core.inputs_sql import key_query
    from tusk.core.plan import changes_filter

    if not changes:
        return []
    rows: RowFilter | None = None
    keys: set[int] = set()
    try:
        for name, instance in instances.items():
            for input_name, query in instance.inputs.items():
                shape = key_query(query.query, store.dialect)
                if shape is None:
                    if _reads(query.query, table, store.dialect):
                        raise TuskError(
                            f"{name}'s input {input_name} is not a plain one-table filter, so its rows "
                            f"cannot be told apart: approve or merge the whole review"
                        )
                    continue
                if shape[0] != table:
                    continue
                rows = rows or changes_filter(store, table, changes)
                try:
                    keys |= {int(r[0]) for r in rows.select(shape[1], dict(query.bound))}
                except DataError as exc:
                    raise TuskError(f"{name}'s input {input_name} cannot be run on the changed rows: {exc}") from exc
    finally:
        if rows is not None:
            rows.close()
    return [changes[i] for i in sorted(keys)]


def _reads(query: str, table: str, dialect: str) -> bool:
    from tusk.core.inputs_sql import _tables_of

    tables = _tables_of(query, dialect)
    return tables is None or table in tables


def _count(rows: list[RowChange]) -> dict[str, int]:
    counts = {"added": 0, "modified": 0, "removed": 0}
    for row in rows:
        counts[row.diff_type] += 1
    return counts


def _apply(conn: Transaction, store: DataStore, table: str, rows: list[RowChange], into_head: str) -> int:
    """Write each change by its key where the data branch still holds the review's starting row."""
    columns = store.columns(table, into_head) if table in store.tables(into_head) else []
    keys = [name for name, _, pk in columns if pk]
    if not keys:
        raise TuskError(f"{table} has no primary key, so its rows cannot be approved one by one: merge the review")
    try:
        return conn.apply_changes(table, keys, rows)
    except MergeConflict as exc:
        key = exc.conflicts[0]["key"] if exc.conflicts else {}
        raise MergeConflict(
            f"{table} row {key} changed on the data branch too since the review left it: "
            f"merge the review and resolve it",
            exc.conflicts,
        ) from exc
