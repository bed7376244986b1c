"""The planner: which instances are new, stale, fresh, reusable or orphaned at a data commit, and why.

It is diff-aware. For an instance last trained at commit A, planning at commit B asks the store which
tables changed between A and B (one cheap ``diff_stat`` per distinct A). An input whose tables did not
change keeps its recorded digest. When a table did change and the input is a plain filter over that one
table, the changed rows (before and after images) are loaded into a scratch in-memory table and the
input's own WHERE clause is evaluated on them: only instances whose partition was touched re-read and
re-hash their input. Planning cost grows with the diff, not with the table. When many instances of one input
re-hash (many rows changed, or the query was edited), their partitions are read by one grouped query (one scan of
the table) instead of one query each, when the input's shape and order allow (``Planner._read_grouped``).
What a query's SQL says (its tables, the filters derived from it) is ``tusk.core.inputs_sql``. No I/O but the
store's: the files it remembers between commands are the caller's (``tusk.train.plan_cache``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter
from typing import Any, Literal

from tusk.core.config import Config
from tusk.core.inputs_sql import PARTS, QueryFacts
from tusk.core.needs import change_reason, check_needs, is_need, need_record, version_of
from tusk.core.spec import CodeHasher, InputQuery, Instance, canonical, expand, fingerprint
from tusk.data.base import DataStore, MergePreview, RowChange, RowFilter
from tusk.data.names import quote_identifier
from tusk.errors import ConfigError, DataError
from tusk.tracking.base import CandidateRef, FailedJob, InputRecord, InstanceState

Status = Literal["new", "stale", "failed", "fresh", "reuse", "orphaned"]
ROW_FILTER_LIMIT = 50_000  # above this many changed rows in a table, re-hash instead of filtering rows
_UNTOUCHED = object()  # an input none of whose tables changed
GROUP_AFTER = 1  # the re-hash of a query text after this many reads its other stale partitions in one query
REHASH_BATCH = 5_000  # partitions one grouped re-read binds at most (SQLite allows 32,766 parameters)


@dataclass
class PlannedInstance:
    name: str
    status: Status
    reasons: list[str] = field(default_factory=list)
    instance: Instance | None = None  # None when orphaned
    state: InstanceState | None = None  # the current version, if any
    fingerprint: str | None = None  # known when stale/fresh/reuse
    reuse_version: str | None = None
    inputs: dict[str, InputRecord] = field(default_factory=dict)  # known for fresh/stale/reuse
    failure: FailedJob | None = None  # status failed: its last job at this fingerprint

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "reasons": self.reasons,
            "error": self.failure.error if self.failure else None,
            "log": self.failure.log if self.failure else None,
            "version": self.state.version if self.state else None,
            "reuse_version": self.reuse_version,
            "spec": self.instance.spec.name if self.instance else None,
        }


@dataclass
class Plan:
    ref: str
    data_commit: str
    instances: list[PlannedInstance]
    preview: MergePreview | None = None  # set when ``ref`` is a branch planned as merged into the data branch
    todo: list[str] = field(default_factory=list)  # set by a run: the instances it acts on (--only, --shard applied)

    def count(self, status: str) -> int:
        return sum(1 for p in self.instances if p.status == status)

    @property
    def work(self) -> list[PlannedInstance]:
        """Instances a run acts on: train the new and stale, move the alias of the reusable."""
        return [p for p in self.instances if p.status in ("new", "stale", "failed", "reuse")]

    def to_json(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "data_commit": self.data_commit,
            "preview": self.preview.to_json() if self.preview else None,
            "instances": [p.to_json() for p in self.instances],
            "summary": {s: self.count(s) for s in ("new", "stale", "failed", "reuse", "fresh", "orphaned")},
        }


def rows_digest(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Digest of a query result: column names, then the rows in query order."""
    digest = hashlib.sha256(canonical(list(columns)).encode())
    for start in range(0, len(rows), 4096):
        digest.update(repr([tuple(r) for r in rows[start : start + 4096]]).encode())
    return digest.hexdigest()


def input_fingerprint(instance: Instance, records: Mapping[str, InputRecord]) -> str:
    return fingerprint(
        instance.code_digest, instance.params, {k: (r.query, r.params, r.digest) for k, r in records.items()}
    )


@dataclass
class InputRead:
    """An input as read at a commit: its rows (for training) and its record (for fingerprints and tags)."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    record: InputRecord


def read_input(store: DataStore, query: InputQuery, commit: str) -> InputRead:
    """The one way an input is read, by the planner (to re-hash it) and by a job (to train on it)."""
    result = store.query(query.query, query.bound, ref=commit)
    digest = rows_digest(result.columns, result.rows)
    return InputRead(result.columns, result.rows, InputRecord(query.query, dict(query.bound), digest, len(result.rows)))


MatrixCache = MutableMapping[str, tuple[str, list[Any]]]  # matrix SQL → (commit, its values there)


class Planner:
    def __init__(
        self,
        config: Config,
        store: DataStore,
        states: Mapping[str, InstanceState],
        matrix_cache: MatrixCache | None = None,
        candidates: Mapping[str, Mapping[str, CandidateRef]] | None = None,
        facts: QueryFacts | None = None,
        failures: Mapping[str, FailedJob] | None = None,
    ) -> None:
        self.config = config
        self.failures = failures or {}  # each instance's newest failed job: at the same fingerprint, "failed"
        self.facts = facts or QueryFacts()
        self.store = store
        self.states = states
        self.candidates = candidates or {}  # review candidates by model and fingerprint: reused, not retrained
        self.matrix_cache = matrix_cache
        self._stats: dict[str, set[str]] = {}  # from commit → tables changed since it
        self._unknown: set[str] = set()  # recorded commits this store lacks (gc'd, or another store's)
        self._scratch: dict[tuple[str, str], RowFilter | None] = {}
        self._grouped: dict[
            tuple[str, str, str], tuple[tuple[str, ...], dict[tuple[Any, ...], dict[str, int]]] | None
        ] = {}
        self._how: dict[tuple[str, str], Any] = {}  # (query text, since) → how its instances' changes are told
        self._planning: tuple[Sequence[Instance], Collection[str] | None] = ((), None)  # what plan_instances plans
        self._rehashes: dict[str, int] = {}  # query text → its re-hashes so far (-1: its grouped read is done)
        self._grouped_reads: dict[tuple[str, tuple[Any, ...]], tuple[str, int]] = {}  # (text, values) → digest, rows
        self._keys: dict[str, tuple[frozenset[str], bool]] = {}  # table → (its primary key, a __tusk_ column?)
        self.dialect = store.dialect
        self.ref = self.commit = ""

    def plan(self, ref: str | None = None) -> Plan:
        return self.plan_instances(self.instances(ref))

    def instances(self, ref: str | None = None) -> list[Instance]:
        """Every instance at ``ref`` (which becomes the planned commit), its input queries checked."""
        self.ref = ref or self.config.data.branch
        self.commit = self.store.resolve(self.ref)
        instances = expand(self.config, self._matrix_query, CodeHasher(self.config.root))
        self._check_inputs(instances)
        self.facts.prime(self.config, self.dialect)
        return instances

    def plan_instances(self, instances: Sequence[Instance], only: Collection[str] | None = None) -> Plan:
        """The plan of ``instances`` (from ``instances()``), or of those named in ``only`` and the orphans among
        them: each is planned exactly as in the whole plan, from its own state and those of the models it needs
        (``states`` must hold at least those)."""
        wanted = None if only is None else needed_closure(self.config, only)
        self._planning, self._rehashes, self._grouped_reads = (instances, wanted), {}, {}
        done: dict[str, PlannedInstance] = {}
        for instance in _needed_first(self.config, instances):  # a need's plan is known before its dependents'
            if wanted is None or instance.name in wanted:
                done[instance.name] = self._failed(self._plan_one(instance, done), done)
        planned = [done[i.name] for i in instances if only is None or i.name in only]
        known = {i.name for i in instances}
        planned += [
            PlannedInstance(name, "orphaned", ["no [[models]] entry produces it any more"], state=state)
            for name, state in sorted(self.states.items())
            if name not in known and (only is None or name in only)
        ]
        return Plan(ref=self.ref, data_commit=self.commit, instances=planned)

    def _check_inputs(self, instances: Sequence[Instance]) -> None:
        """Every input query compiles (EXPLAIN, not run), once per query: a mistake in tusk.toml is an error
        now, not a failed job per instance later."""
        checked: set[str] = set()
        for instance in instances:
            for name, query in instance.inputs.items():
                if query.query in checked:
                    continue
                checked.add(query.query)
                try:
                    self.store.query(f"EXPLAIN {query.query}", query.bound, ref=self.commit)
                except DataError as exc:
                    detail = str(exc).split(": ", 1)[-1]
                    raise ConfigError(f"model {instance.spec.name!r}: inputs.{name}: {detail}") from exc

    def _matrix_query(self, sql: str) -> list[Any]:
        """A matrix query's values; from the cache plus the rows changed since, when its shape allows."""
        cached = self.matrix_cache.get(sql) if self.matrix_cache is not None else None
        values = None
        if cached is not None:
            values = cached[1] if cached[0] == self.commit else self._matrix_since(sql, *cached)
        if values is None:
            values = [row[0] for row in self.store.query(sql, None, ref=self.commit).rows]
        if self.matrix_cache is not None:
            self.matrix_cache[sql] = (self.commit, values)
        return values

    def _matrix_since(self, sql: str, since: str, values: list[Any]) -> list[Any] | None:
        """``SELECT DISTINCT col FROM t [WHERE …] ORDER BY col`` at this commit, from its values at ``since``:
        values of changed rows are added; a value that only changed rows had is kept if a row still has it."""
        shape = self.facts.distinct_shape(sql, self.dialect)
        if shape is None:
            return None
        table, column, where, descending = shape
        if table not in self._changed_tables(since):
            return list(values)
        if since in self._unknown:
            return None
        sides = self._changed_values(since, table, column, where)
        if sides is None:
            return None
        found = set(values) | sides["after"]
        quote = self._quote
        for gone in sides["before"] - sides["after"]:
            check = f"SELECT 1 FROM {quote(table)} WHERE {quote(column)} = ?" + (f" AND ({where})" if where else "")
            if not self.store.query(check + " LIMIT 1", [gone], ref=self.commit).rows:
                found.discard(gone)
        kinds = {type(v) for v in found}
        if None in found or not (kinds <= {str} or kinds <= {int, float}):
            return None  # SQLite's order of NULLs and mixed types: leave it to SQLite
        return sorted(found, reverse=descending)

    def _changed_values(self, since: str, table: str, column: str, where: str | None) -> dict[str, set[Any]] | None:
        """The column's values in the before and after images of the rows changed since ``since``."""
        scratch = self._scratch_table(since, table)
        if scratch is None:
            return None
        query = f"SELECT __tusk_side, {self._quote(column)} FROM {self._quote(table)}" + (
            f" WHERE {where}" if where else ""
        )
        try:
            rows = scratch.select(query)
        except DataError:  # the column is not in the changed rows' images: ask the table instead
            return None
        return {side: {value for s, value in rows if s == side} for side in ("before", "after")}

    def _plan_one(self, instance: Instance, done: Mapping[str, PlannedInstance]) -> PlannedInstance:
        state = self.states.get(instance.name)
        if state is None:
            return self._plan_new(instance)
        digest = instance.code_digest
        reasons = [] if digest == state.code_digest else code_reasons(instance, state)
        if not same_values(instance.params, state.params):
            reasons += params_reasons(instance.params, state.params)
        records: dict[str, InputRecord] = {}
        for input_name, query in instance.inputs.items():
            records[input_name], why = self._input_record(input_name, query, state)
            if why:
                reasons += why
        unknown = False
        for key, needed in sorted(instance.spec.needs.items()) if instance.spec.needs else ():
            record, why = need_change(key, done[needed], state.inputs.get(key))
            reasons += why
            if record is None:
                unknown = True  # what it needs is new: its fingerprint is known once that is trained
            else:
                records[key] = record
        if unknown:
            return PlannedInstance(instance.name, "stale", reasons, instance, state, None, inputs=records)
        if not reasons and digest == state.code_digest and records == state.inputs:
            # the very code, params and input records the state's fingerprint was made of (the common case,
            # 10,000 times over): the same fingerprint, without hashing it again
            return PlannedInstance(instance.name, "fresh", [], instance, state, state.fingerprint, inputs=records)
        current = input_fingerprint(instance, records)
        planned = PlannedInstance(instance.name, "fresh", [], instance, state, current, inputs=records)
        if current == state.fingerprint:
            return planned
        older = state.fingerprints.get(current)
        if older and older != state.version:
            planned.status, planned.reuse_version = "reuse", older
            planned.reasons = [f"reuse v{older}: it was trained from exactly these inputs"] + reasons
            return planned
        candidate = self.candidates.get(instance.name, {}).get(current)
        if candidate is not None and candidate.version != state.version:
            planned.status, planned.reuse_version = "reuse", candidate.version
            planned.reasons = [_candidate_reason(candidate)] + reasons
            return planned
        planned.status, planned.reasons = "stale", reasons or ["fingerprint changed"]
        return planned

    def _failed(self, planned: PlannedInstance, done: Mapping[str, PlannedInstance]) -> PlannedInstance:
        """``failed`` for a new or stale instance whose newest failed job was for this very fingerprint (a new one's is
        computed only then); it is trained again like new, and says why."""
        failure = self.failures.get(planned.name)
        if failure is None or planned.status not in ("new", "stale") or planned.instance is None:
            return planned
        current = planned.fingerprint
        if current is None and planned.status == "new":
            instance = planned.instance
            records = {name: self._rehash(query) for name, query in instance.inputs.items()}
            for key, needed in sorted(instance.spec.needs.items()) if instance.spec.needs else ():
                record, _ = need_change(key, done[needed], None)
                if record is None:
                    return planned
                records[key] = record
            current = input_fingerprint(instance, records)
        if current != failure.fingerprint:
            return planned
        planned.status, planned.failure, planned.fingerprint = "failed", failure, current
        planned.reasons = [
            f"its last job failed at these inputs ({failure.data_commit[:7]}): {failure.error}",
            *planned.reasons,
        ]
        return planned

    def _plan_new(self, instance: Instance) -> PlannedInstance:
        """A new instance, or one a review's candidate was trained for on exactly these inputs (then reused)."""
        why = ["new instance" + _describe(instance.matrix)]
        candidates = self.candidates.get(instance.name)
        if candidates:
            records = {name: self._rehash(query) for name, query in instance.inputs.items()}
            current = input_fingerprint(instance, records)
            if current in candidates:
                return PlannedInstance(
                    instance.name,
                    "reuse",
                    [_candidate_reason(candidates[current])] + why,
                    instance,
                    None,
                    current,
                    candidates[current].version,
                    records,
                )
        return PlannedInstance(instance.name, "new", why, instance)

    def _input_record(self, name: str, query: InputQuery, state: InstanceState) -> tuple[InputRecord, list[str]]:
        """The input at the planned commit, re-read only when it can have changed since the state's commit."""
        recorded = state.inputs.get(name)
        if recorded is None:
            return self._rehash(query), [f"{name}: new input"]
        if recorded.query != query.query or not same_values(recorded.params, query.bound):
            return self._rehash(query), [f"{name}: query changed"]
        if state.data_commit == self.commit:
            return recorded, []
        touched = self._touched(query, state.data_commit)
        if touched is not None and not touched:
            return recorded, []
        record = self._rehash(query)
        if record.digest == recorded.digest:
            return record, []
        if state.data_commit in self._unknown:
            return record, [f"{name}: changed since {state.data_commit[:7]} (a commit this data store does not have)"]
        return record, [f"{name}: {_counts(touched)} since {state.data_commit[:7]}"]

    def _rehash(self, query: InputQuery) -> InputRecord:
        """The input read and digested at the planned commit. The second re-hash of one query text in a plan reads
        every partition of it the plan will re-hash in one grouped query (``_read_grouped``): after a change of
        many rows, one scan of the table instead of one per stale instance."""
        text = query.query
        seen = self._rehashes.get(text, 0)
        if seen >= GROUP_AFTER:
            self._rehashes[text] = -1
            self._read_grouped(text)
        elif seen >= 0:
            self._rehashes[text] = seen + 1
        if self._grouped_reads:
            shape = self.facts.rehash_query(text, self.dialect)
            key = _values_key(query.bound, shape[0]) if shape is not None else None
            found = self._grouped_reads.get((text, key)) if key is not None else None
            if found is not None:
                return InputRecord(text, dict(query.bound), *found)
        return read_input(self.store, query, self.commit).record

    def _rehash_wanted(self, name: str, query: InputQuery, state: InstanceState) -> bool:
        """Whether ``_input_record`` re-hashes this input (the same questions, asked first)."""
        recorded = state.inputs.get(name)
        if recorded is None or recorded.query != query.query or not same_values(recorded.params, query.bound):
            return True
        if state.data_commit == self.commit:
            return False
        key = (query.query, state.data_commit)
        if key not in self._how:
            self._touched(query, state.data_commit)
        how = self._how[key]
        if isinstance(how, tuple):  # (as _touched says, without copying the counts)
            return tuple(query.bound.get(k) for k in how[0]) in how[1]
        return how is not _UNTOUCHED  # unknown; or told per instance: reading a partition more costs less than asking

    def _read_grouped(self, text: str) -> None:
        """Read and digest, in one query per ``REHASH_BATCH`` partitions, every partition of the input ``text`` that
        the instances being planned will re-hash, when its shape allows (``SqlFacts.rehash_query``) and its order
        is total (so each partition's rows come in the order its own query gives them): the digests are those of
        the per-instance reads. Anything unexpected leaves them to the per-instance read."""
        shape = self.facts.rehash_query(text, self.dialect)
        if shape is None:
            return
        params, table, ordered, select = shape
        if not self._total_order(table, ordered):
            return
        instances, wanted = self._planning
        queries: dict[tuple[Any, ...], InputQuery] = {}
        for instance in instances:
            state = self.states.get(instance.name)
            if state is None or wanted is not None and instance.name not in wanted:
                continue
            for name, query in instance.inputs.items():
                if query.query == text and self._rehash_wanted(name, query, state):
                    key = _values_key(query.bound, params)
                    if key is not None:
                        queries.setdefault(key, query)
        if len(queries) < 2:
            return
        columns = self._columns_of(queries[next(iter(queries))])
        if columns is None:
            return
        chunk = max(1, min(REHASH_BATCH, 30_000 // len(params)))
        keys = list(queries)
        header = f"WITH {PARTS}(__tusk_i, {', '.join(f'__tusk_v{n}' for n in range(len(params)))}) AS (VALUES "
        for start in range(0, len(keys), chunk):
            part = keys[start : start + chunk]
            values = ", ".join(f"({i}, {', '.join('?' * len(params))})" for i in range(len(part)))
            bound = [queries[key].bound[p] for key in part for p in params]
            found: dict[int, tuple[str, int]] = {}
            try:
                for i, group in groupby(
                    self.store.iter_query(f"{header}{values}){select}", bound, ref=self.commit), key=itemgetter(-1)
                ):
                    rows = [row[:-1] for row in group]
                    if len(rows[0]) != len(columns):
                        return
                    found[i] = (rows_digest(columns, rows), len(rows))
            except DataError:
                return
            empty = (rows_digest(columns, []), 0)  # a partition with no rows left
            for i, key in enumerate(part):
                self._grouped_reads[(text, key)] = found.get(i, empty)

    def _total_order(self, table: str, ordered: Sequence[str]) -> bool:
        """Whether ordering ``table``'s rows by these columns is a total order: they hold its whole primary key
        (and the table has no column a grouped read's own names could hide)."""
        if table not in self._keys:
            try:
                columns = self.store.columns(table, ref=self.commit)
            except DataError:
                columns = []
            self._keys[table] = (
                frozenset(name.lower() for name, _, key in columns if key),
                any(name.lower().startswith("__tusk_") for name, _, _ in columns),
            )
        key, clash = self._keys[table]
        return bool(key) and not clash and key <= set(ordered)

    def _columns_of(self, query: InputQuery) -> list[str] | None:
        """The column names the input's own query gives (its text with ``LIMIT 0``: no row is read)."""
        try:
            sql = query.query.rstrip().rstrip(";").rstrip() + "\nLIMIT 0"
            return self.store.query(sql, dict(query.bound), ref=self.commit).columns
        except DataError:
            return None

    def _touched(self, query: InputQuery, since: str) -> dict[str, int] | None:
        """Changed rows of this input's partition since ``since`` by kind; None when unknown (re-hash)."""
        key = (query.query, since)
        how = self._how.get(key)
        if how is None:  # what can be known of every instance of this query text at once
            how = self._how[key] = self._how_touched(query.query, since)
        if how is _UNTOUCHED or how is None:
            return {} if how is _UNTOUCHED else None
        if isinstance(how, tuple):  # one grouped query served every instance of this input
            keys, counts = how
            return dict(counts.get(tuple(query.bound.get(k) for k in keys), {}))
        scratch, filter_sql = how["scratch"], how["filter"]
        try:
            rows = scratch.select(filter_sql, dict(query.bound))
        except DataError:
            return None
        return {kind: count for kind, count in rows}

    def _how_touched(self, query: str, since: str) -> Any:
        """How to tell the changes an input of this query text has had since ``since``: ``_UNTOUCHED`` (its tables
        did not change), the changed rows counted per partition (keys, counts), a per-instance filter of the
        changed rows ({scratch, filter}), or None (unknown: re-hash)."""
        tables = self.facts.tables_of(query, self.dialect)
        if tables is not None and not (tables & self._changed_tables(since)):
            return _UNTOUCHED
        filter_sql = self.facts.filter_query(query, self.dialect)
        if filter_sql is None or tables is None or len(tables) != 1:
            return None
        table = next(iter(tables))
        scratch = self._scratch_table(since, table)
        if scratch is None:
            return None
        partitions = self._partitions(since, table, query, scratch)
        return partitions if partitions is not None else {"scratch": scratch, "filter": filter_sql}

    def _partitions(
        self, since: str, table: str, query: str, scratch: RowFilter
    ) -> tuple[tuple[str, ...], dict[tuple[Any, ...], dict[str, int]]] | None:
        """For an input whose WHERE picks its partition by ``column = :param`` terms: the changed rows' counts by
        kind for every partition at once (one query per input and commit, not one per instance) → (the params in
        key order, {their values: {kind: count}}); None for other shapes."""
        key = (since, table, query)
        if key not in self._grouped:
            shape = self.facts.partition_query(query, self.dialect)
            found = None
            if shape is not None:
                params, sql = shape
                try:
                    rows = scratch.select(sql)
                except DataError:
                    rows = None
                if rows is not None:
                    counts: dict[tuple[Any, ...], dict[str, int]] = {}
                    for row in rows:
                        counts.setdefault(tuple(row[:-2]), {})[row[-2]] = row[-1]
                    found = (params, counts)
            self._grouped[key] = found
        return self._grouped[key]

    def _changed_tables(self, since: str) -> set[str]:
        if since not in self._stats:
            try:
                stat = self.store.diff_stat(since, self.commit)
            except DataError:  # an unknown old commit (gc'd, other store): treat every table as changed
                self._unknown.add(since)
                stat = {t: None for t in self.store.tables(self.commit)}  # type: ignore[misc]
            self._stats[since] = {t for t, d in stat.items() if d is None or d.total or d.schema_changed}
        return self._stats[since]

    def _quote(self, identifier: str) -> str:
        return quote_identifier(identifier, self.dialect)

    def _scratch_table(self, since: str, table: str) -> RowFilter | None:
        if since in self._unknown:
            return None
        key = (since, table)
        if key not in self._scratch:
            self._scratch[key] = self._load_changes(since, table)
        return self._scratch[key]

    def _load_changes(self, since: str, table: str) -> RowFilter | None:
        """The before and after images of the rows of ``table`` changed since ``since``, as a table the store's
        SQL can filter (columns ``__tusk_diff``, ``__tusk_key``, ``__tusk_side`` say which change and side)."""
        diffs = self.store.diff(since, self.commit, table=table, with_rows=True, limit=ROW_FILTER_LIMIT + 1)
        changes = [row for d in diffs for row in d.rows]
        if len(changes) > ROW_FILTER_LIMIT or any(d.schema_changed for d in diffs):
            return None
        return changes_filter(self.store, table, changes)

    def close(self) -> None:
        """Let go of the scratch tables of changed rows."""
        for scratch in self._scratch.values():
            if scratch is not None:
                scratch.close()
        self._scratch.clear()
        self._how.clear()
        self._grouped.clear()


def changes_filter(store: DataStore, table: str, changes: Sequence[RowChange]) -> RowFilter:
    """Both images of each changed row of ``table`` (``__tusk_key`` = the change's index, ``__tusk_diff`` its
    kind, ``__tusk_side`` before/after), as a table the store's own SQL can filter: an input's WHERE, run on
    it, says which changes it reads (the planner's staleness, and approving a review per model)."""
    columns = sorted({c for ch in changes for image in (ch.before, ch.after) if image for c in image})
    return store.row_filter(table, [*columns, "__tusk_diff", "__tusk_key", "__tusk_side"], _images(changes, columns))


def needed_closure(config: Config, names: Collection[str]) -> set[str]:
    """``names`` and every model some model needs (a need is a spec of one instance, named as its spec; a
    handful at most): what planning ``names`` must plan too, as their needs are planned before them."""
    return set(names) | {needed for spec in config.models for needed in spec.needs.values()}


def _needed_first(config: Config, instances: Sequence[Instance]) -> Sequence[Instance]:
    if not any(spec.needs for spec in config.models):
        return instances
    order = {name: rank for rank, name in enumerate(check_needs(config.models))}
    return sorted(instances, key=lambda instance: order.get(instance.spec.name, 0))


def need_change(
    key: str, needed: PlannedInstance, recorded: InputRecord | None
) -> tuple[InputRecord | None, list[str]]:
    """A need's record as planned (the needed model's fingerprint after this run; None while that is unknown,
    because it was never trained) and why it makes the dependent stale, if it does."""
    if needed.fingerprint is None:
        return None, [f"{key}: {needed.name} is new, trained first in this run"]
    record = need_record(needed.name, needed.fingerprint)
    if recorded is not None and (recorded.query, recorded.digest) == (record.query, record.digest):
        return record, []
    fingerprints = needed.state.fingerprints if needed.state else {}
    before = version_of(fingerprints, recorded.digest) if recorded is not None and is_need(recorded) else None
    if needed.status == "reuse":
        after = needed.reuse_version or ""
    elif needed.status == "fresh" and needed.state:
        after = needed.state.version
    else:
        after = ""
    return record, [change_reason(key, before, after, needed.status, recorded is not None)]


def _candidate_reason(candidate: CandidateRef) -> str:
    return f"reuse v{candidate.version}: the candidate trained for review {candidate.review} from exactly these inputs"


def _images(changes: Sequence[RowChange], columns: Sequence[str]) -> list[tuple[Any, ...]]:
    rows = []
    for number, change in enumerate(changes):
        for side, image in (("before", change.before), ("after", change.after)):
            if image is not None:
                rows.append((*[image.get(c) for c in columns], change.diff_type, number, side))
    return rows


def _values_key(bound: Mapping[str, Any], params: Sequence[str]) -> tuple[Any, ...] | None:
    """What a grouped read binds for one partition, by value and type (1, 1.0 and '1' bind apart); None when a
    value is missing or cannot be a key."""
    try:
        key = tuple((bound[p].__class__, bound[p]) for p in params)
        hash(key)
    except (KeyError, TypeError):
        return None
    return key


def _counts(touched: Mapping[str, int] | None) -> str:
    if not touched:
        return "rows changed"
    words = {"modified": "modified", "added": "added", "removed": "removed"}
    parts = [f"{touched[k]} {'row' if touched[k] == 1 else 'rows'} {words[k]}" for k in words if touched.get(k)]
    return ", ".join(parts) or "rows changed"


def _describe(values: Mapping[str, Any]) -> str:
    return (": " + ", ".join(f"{k}={v}" for k, v in values.items())) if values else ""


def code_reasons(instance: Instance, state: InstanceState) -> list[str]:
    if not state.code_digest or state.code_digest == instance.code_digest:
        return []
    old, new = state.code_files, instance.code_files
    changed = sorted(p for p in set(old) | set(new) if old.get(p) != new.get(p))
    return [f"code changed: {', '.join(changed)}" if changed else "code changed: entry point"]


_SCALARS = (str, int, float, bool, type(None))


def same_value(a: Any, b: Any) -> bool:
    """Whether two values digest alike (``canonical``): at once for equal scalars of one type, else by their JSON."""
    if type(a) is type(b) and isinstance(a, _SCALARS) and (repr(a) == repr(b) if isinstance(a, float) else a == b):
        return True  # (floats by repr, as JSON writes them: 0.0 and -0.0 are equal but digest apart)
    return canonical(a) == canonical(b)


def same_values(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    if a.keys() != b.keys():
        return False
    for key, value in a.items():
        other = b[key]
        if value.__class__ is str and other.__class__ is str and value == other:
            continue  # (the common case at once: a matrix value, 100,000 times over)
        if not same_value(value, other):
            return False
    return True


def params_reasons(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[str]:
    if same_values(new, old):
        return []
    changes = []
    for key in sorted(set(new) | set(old)):
        before, after = old.get(key, "∅"), new.get(key, "∅")
        if not same_value(before, after):
            changes.append(f"{key} {before}→{after}")
    return [f"params changed: {', '.join(changes)}"] if changes else []
