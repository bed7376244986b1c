"""``tusk data sync``: each ``[[sources]]`` entry brought onto its review branch ``sync/<name>``.

The last sync of a source is a row of the tusk-owned table ``tusk_sources`` (name, url, table, key, mode,
content digest, revision, rows, time), written in the same commit as the rows it describes, so it travels
with the data: merged with the review, pushed and pulled through remotes, and readable at any ref. A sync
reads the record on ``sync/<name>`` (or on the data branch once that branch is gone), asks the source for
its revision (a sheet's Drive version, a URL's ETag) and, if that does not settle it, reads the rows and
compares their digest. Unchanged: nothing is written.

Changed: the new commit is built on a staging branch (``tusk-sync/<name>``) started from ``sync/<name>``,
or from the data branch when that has moved on since (doltlite has no rebase, and the source is the truth,
so a rebase is: start again from the data branch and apply the source's content). The import and the
record are one commit; then ``sync/<name>`` is pointed at it in one step and the staging branch removed.
A sync killed at any moment leaves ``sync/<name>`` as it was or as it should be, never half made; a
leftover staging branch is removed by the next sync, which redoes the work.

The source is the truth: the sync makes the table what the source says (``mode``), so edits made by hand
on ``sync/<name>`` to rows the source holds are overwritten by the next sync that finds the source changed.
The review's conversation is not the source's: it lives on ``tusk-reviews`` (review_meta), so a rebuilt branch
keeps its title, description, status and comments without carrying anything. A review closed without merging
is opened again by new content (a ``reopen`` comment by "tusk sync" says so, written before the branch moves):
an analyst's next round is a new proposal, not something the reviewers already turned down.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tusk._internal.crash import crash_point
from tusk.core.config import SourceConfig
from tusk.errors import ConfigError, DataError, TuskError

if TYPE_CHECKING:
    from tusk.data.base import DataStore, LoadCounts, Transaction
    from tusk.ports import Ports

RECORD_TABLE = "tusk_sources"
STAGING_PREFIX = "tusk-sync/"
_MAX_SOURCES = 1_000_000  # rows of the record table read at once (one per source)
_RECORD_COLUMNS = ("name", "url", "target", "key", "mode", "digest", "revision", "rows", "synced_at")


@dataclass
class SourceRecord:
    """What the last sync of a source brought in (a row of ``tusk_sources``)."""

    name: str
    url: str
    target: str  # the table
    key: list[str]
    mode: str
    digest: str
    revision: str
    rows: int
    synced_at: str

    def same_target(self, source: SourceConfig) -> bool:
        return (self.url, self.target, self.key, self.mode) == (source.url, source.table, list(source.key), source.mode)


@dataclass
class SyncResult:
    name: str
    url: str
    branch: str
    status: str  # committed | unchanged | failed
    commit: str | None = None
    revision: str = ""
    digest: str = ""
    rows: int = 0
    added: int = 0
    modified: int = 0
    removed: int = 0
    rebased: bool = False  # the branch was started again from the data branch, which had moved on
    kept_review: bool = False  # ...and the review's title, description and comments were carried onto it
    reopened: bool = False  # its review had been closed without merging: the new content opened it again
    created: bool = False  # the branch did not exist before
    message: str = ""
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class SyncReport:
    sources: list[SyncResult] = field(default_factory=list)

    @property
    def failed(self) -> list[SyncResult]:
        return [s for s in self.sources if s.status == "failed"]

    def to_json(self) -> dict[str, Any]:
        return {
            "sources": [s.to_json() for s in self.sources],
            "failed": len(self.failed),
            "committed": sum(1 for s in self.sources if s.status == "committed"),
        }


def chosen_sources(sources: Sequence[SourceConfig], names: Sequence[str]) -> list[SourceConfig]:
    if not sources:
        raise ConfigError("no [[sources]] in tusk.toml (add one: name, url, table, key)")
    known = {s.name: s for s in sources}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"unknown source {unknown[0]!r} (known: {', '.join(known)})")
    return [known[n] for n in dict.fromkeys(names)] if names else list(sources)


def sync(project: Ports, names: Sequence[str] = ()) -> SyncReport:
    """Sync the named sources (default: all). A failing source is reported; the others still sync."""
    from tusk._internal.lock import hold

    sources = chosen_sources(project.config.sources, names)
    report = SyncReport()
    with hold(project.state_dir / "sync.lock", "tusk data sync"):
        for source in sources:
            report.sources.append(sync_one(project, source))
    return report


def sync_one(project: Ports, source: SourceConfig) -> SyncResult:
    result = SyncResult(source.name, source.url, source.branch, "failed")
    try:
        _sync(project, source, result)
    except TuskError as exc:
        result.status, result.error = "failed", str(exc).strip().splitlines()[0]
    return result


def _sync(project: Ports, source: SourceConfig, result: SyncResult) -> None:
    from tusk.data import sources as reading

    store = project.data
    _drop_staging(store, source)
    branch_exists = any(b.name == source.branch for b in store.branches())
    record = read_record(store, source.branch if branch_exists else store.default_branch, source.name)
    fresh = record is not None and record.same_target(source)
    revision = record.revision if fresh and record is not None else None
    if revision and reading.probe(source.url, project.root, revision) == revision:
        assert record is not None
        _unchanged(result, record)
        return
    content = reading.read(source.url, project.root)
    if fresh and record is not None and record.digest == content.digest:
        _unchanged(result, record)
        return
    _commit(store, source, content, branch_exists, result)


def _unchanged(result: SyncResult, record: SourceRecord) -> None:
    result.status, result.revision, result.digest, result.rows = (
        "unchanged",
        record.revision,
        record.digest,
        record.rows,
    )
    result.message = f"unchanged since the sync of {record.synced_at}"


def _commit(store: DataStore, source: SourceConfig, content: Any, branch_exists: bool, result: SyncResult) -> None:
    from tusk.data.ingest import prepare_import, write_prepared
    from tusk.review import meta as review_meta

    data_head = store.resolve(store.default_branch)
    start, conversation = data_head, None
    if branch_exists:
        head = store.resolve(source.branch)
        base = store.merge_base(head, data_head)
        result.rebased = base != data_head
        start = data_head if result.rebased else head
        conversation = head if result.rebased and base != head else None  # merged: the data branch has it
    result.created = not branch_exists
    staging = STAGING_PREFIX + source.name
    store.move_branch(staging, start)
    crash_point("sync.staging")
    try:
        prepared = prepare_import(store, content.incoming, source.table, source.key, source.mode, staging)
        record = SourceRecord(
            source.name,
            source.url,
            source.table,
            list(prepared.keys),
            source.mode,
            content.digest,
            content.revision,
            content.incoming.count,
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )
        tables = store.tables(staging)
        record_exists = RECORD_TABLE in tables
        with store.writer(staging) as transaction:
            counts = write_prepared(transaction, prepared)
            write_record(transaction, record, create=not record_exists)
            message = commit_message(source, record, counts)
            commit = transaction.commit(message)
        crash_point("sync.committed")
        if commit is None:  # cannot happen: the record row always changes
            raise DataError(f"source {source.name}: nothing to commit")
        # the conversation lives on tusk-reviews, whatever the branch is rebuilt from; reopened before the branch
        # moves, so a sync killed in between redoes the work and finds the review open
        result.kept_review = conversation is not None and source.branch in review_meta.records(store, source.branch)
        result.reopened = review_meta.reopen_closed(
            store,
            source.branch,
            "tusk sync",
            f"opened again: {source.name} changed since this review was closed ({_counted(counts)})",
        )
        store.move_branch(source.branch, commit)
        crash_point("sync.moved")
    finally:
        _drop_staging(store, source)
    result.status, result.commit, result.message = "committed", commit, message
    result.revision, result.digest, result.rows = content.revision, content.digest, content.incoming.count
    result.added, result.modified, result.removed = counts


def _counted(counts: LoadCounts) -> str:
    return (
        ", ".join(f"{n} {word}" for n, word in zip(counts, ("added", "modified", "removed")) if n) or "no row changed"
    )


def commit_message(source: SourceConfig, record: SourceRecord, counts: LoadCounts) -> str:
    """``sync edits: edits.csv (revision …, sha256 …, 40 rows) into examples (replace): 1 modified``."""
    revision = f"revision {record.revision}, " if record.revision else ""
    return (
        f"sync {source.name}: {source.url} ({revision}sha256 {record.digest[:12]}, {record.rows} rows) "
        f"into {source.table} ({source.mode}): {_counted(counts)}"
    )


def _drop_staging(store: DataStore, source: SourceConfig) -> None:
    """A staging branch left by a sync that died half-way: its work is redone."""
    staging = STAGING_PREFIX + source.name
    if any(b.name == staging for b in store.branches()):
        store.delete_branch(staging, force=True)


# ----- the record table ----------------------------------------------------------------------------------
def read_record(store: DataStore, ref: str, name: str) -> SourceRecord | None:
    if RECORD_TABLE not in store.tables(ref):
        return None
    columns, _, found = store.rows(RECORD_TABLE, ref, where={"name": name}, limit=1)
    if not found:
        return None
    values = {k: ("" if v is None else v) for k, v in zip(columns, found[0])}
    try:
        key = [str(k) for k in json.loads(values["key"] or "[]")]
    except (ValueError, TypeError):
        key = []
    return SourceRecord(
        name=str(values["name"]),
        url=str(values["url"]),
        target=str(values["target"]),
        key=key,
        mode=str(values["mode"]),
        digest=str(values["digest"]),
        revision=str(values["revision"]),
        rows=int(values["rows"] or 0),
        synced_at=str(values["synced_at"]),
    )


_RECORD_TYPES = {c: "INTEGER" if c == "rows" else "TEXT" for c in _RECORD_COLUMNS}


def write_record(transaction: Transaction, record: SourceRecord, create: bool = False) -> None:
    """The source's row of the record table (made first when ``create``), in the sync's own transaction."""
    values = dict(record.__dict__)
    values["key"] = json.dumps(record.key)
    row = [values[c] for c in _RECORD_COLUMNS]
    transaction.load_rows(RECORD_TABLE, _RECORD_COLUMNS, [row], ["name"], "upsert", _RECORD_TYPES if create else None)


def records(store: DataStore, ref: str) -> list[SourceRecord]:
    """Every source's last sync as recorded at ``ref``."""
    if RECORD_TABLE not in store.tables(ref):
        return []
    columns, _, found = store.rows(RECORD_TABLE, ref, limit=_MAX_SOURCES)  # in key order: by name
    names = [str(row[columns.index("name")]) for row in found]
    return [r for r in (read_record(store, ref, n) for n in names) if r is not None]
