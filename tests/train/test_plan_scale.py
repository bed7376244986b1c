"""The planner's cost grows with what changed, not with the fleet: after a 1-row change, planning 20 or 200
instances asks the data store and the changed rows the same number of questions (counted, not timed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import tusk  # noqa: F401  (doltlite before sqlite3)
from tusk.core.config import load_config
from tusk.core.plan import Planner, input_fingerprint, read_input
from tusk.core.spec import CodeHasher, expand
from tusk.data.doltlite import DoltliteStore
from tusk.tracking.base import InstanceState

CONFIG = """
[data]
url = "doltlite:///data/training.db"

[[models]]
name = "m-{customer}"
train = "m.py:train"
matrix.customer = "SELECT DISTINCT customer FROM examples ORDER BY customer"
inputs.examples = "SELECT id, text, label FROM examples WHERE customer = :customer AND label != 'skip' ORDER BY id"
"""


class Counting:
    """The data store, counting its queries and the queries of the changed rows' tables it hands out."""

    def __init__(self, store: Any) -> None:
        self.store, self.queries, self.filtered = store, 0, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def query(self, sql: str, params: Any = None, ref: str | None = None) -> Any:
        self.queries += 1
        return self.store.query(sql, params, ref=ref)

    def row_filter(self, *args: Any) -> Any:
        inner, outer = self.store.row_filter(*args), self

        class Filter:
            def select(self, sql: str, params: Any = None) -> Any:
                outer.filtered += 1
                return inner.select(sql, params)

            def close(self) -> None:
                inner.close()

        return Filter()


def _trained(folder: Path, customers: int) -> tuple[Any, DoltliteStore, dict[str, InstanceState]]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tusk.toml").write_text(CONFIG)
    (folder / "m.py").write_text("def train(ctx):\n    return {}\n")
    config = load_config(folder / "tusk.toml")
    store = DoltliteStore(config.data.url, config)
    store.create()
    with store.writer() as conn:
        conn.execute("CREATE TABLE examples (id INTEGER PRIMARY KEY, customer TEXT, text TEXT, label TEXT)")
        conn.executemany(
            "INSERT INTO examples VALUES (?, ?, ?, ?)",
            [(i, f"c{i % customers:04d}", f"text {i}", f"l{i % 2}") for i in range(3 * customers)],
        )
        conn.commit("load")
    commit = store.resolve("main")
    states = {}
    for instance in expand(
        config, lambda sql: [r[0] for r in store.query(sql, None, ref=commit).rows], CodeHasher(config.root)
    ):
        records = {n: read_input(store, q, commit).record for n, q in instance.inputs.items()}
        states[instance.name] = InstanceState(
            instance.name,
            "1",
            input_fingerprint(instance, records),
            commit,
            instance.code_digest,
            dict(instance.code_files),
            dict(instance.params),
            records,
            instance.spec.name,
        )
    return config, store, states


def _plan_after(config: Any, store: DoltliteStore, states: dict[str, InstanceState], edit: str) -> tuple[Any, Counting]:
    with store.writer() as conn:
        conn.execute(edit)
        conn.commit("edit")
    counting = Counting(store)
    return Planner(config, counting, states).plan(), counting  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "edit, stale",
    [
        ("UPDATE examples SET label = 'lQ' WHERE id = 5", {"m-c0005"}),
        ("UPDATE examples SET customer = 'c0003' WHERE id = 4", {"m-c0003", "m-c0004"}),  # a row moves partition
        ("UPDATE examples SET label = 'skip' WHERE id = 7", {"m-c0007"}),  # leaves its partition by the other term
        ("UPDATE examples SET text = 'same partition' WHERE id = 1", {"m-c0001"}),
    ],
)
def test_a_one_row_change_costs_the_same_questions_at_any_fleet_size(
    tmp_path: Path, edit: str, stale: set[str]
) -> None:
    asked = []
    for customers in (20, 200):
        config, store, states = _trained(tmp_path / str(customers), customers)
        try:
            plan, counting = _plan_after(config, store, states, edit)
        finally:
            store.close()
        assert {p.name for p in plan.instances if p.status != "fresh"} == stale
        assert len(plan.instances) == customers
        asked.append((counting.queries, counting.filtered))
    assert asked[0] == asked[1], f"questions asked at 20 and 200 instances: {asked}"
    assert asked[0][1] == 1, "one grouped query of the changed rows serves every instance"


def test_other_filters_still_ask_per_instance_and_agree(tmp_path: Path) -> None:
    """An input whose partition is not picked by ``column = :param`` (here ``lower(customer)``) keeps the
    per-instance filter: the same answer, one question per instance of a changed table."""
    config, store, states = _trained(tmp_path, 20)
    toml = config.root / "tusk.toml"
    toml.write_text(CONFIG.replace("WHERE customer = :customer", "WHERE lower(customer) = :customer"))
    config = load_config(toml)
    try:
        for instance in expand(config, lambda sql: [r[0] for r in store.query(sql).rows], CodeHasher(config.root)):
            records = {
                n: read_input(store, q, states[instance.name].data_commit).record for n, q in instance.inputs.items()
            }
            states[instance.name].inputs = records
            states[instance.name].fingerprint = input_fingerprint(instance, records)
        plan, counting = _plan_after(config, store, states, "UPDATE examples SET label = 'lQ' WHERE id = 5")
    finally:
        store.close()
    assert {p.name for p in plan.instances if p.status != "fresh"} == {"m-c0005"}
    assert counting.filtered == 20


def test_what_queries_parse_to_is_remembered_between_plans(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second plan reads the parsed facts from .tusk/cache/sql.json and parses nothing; a damaged file or a
    stamp of other code is started afresh, with the same plan."""
    from tusk.core import inputs_sql as planning
    from tusk.train.plan_cache import SqlFacts

    config, store, states = _trained(tmp_path / "p", 20)
    facts_file = tmp_path / "sql.json"
    try:
        with store.writer() as conn:
            conn.execute("UPDATE examples SET label = 'lQ' WHERE id = 5")
            conn.commit("edit")
        first_facts = SqlFacts(facts_file)
        first = Planner(config, store, states, facts=first_facts).plan()
        first_facts.save()
        assert facts_file.exists()

        def no_parsing(*args: Any) -> Any:
            raise AssertionError("parsed a query the facts file knew")

        for name in ("_tables_of", "_filter_query", "_partition_query", "_rehash_query", "_distinct_shape"):
            monkeypatch.setattr(planning, name, no_parsing)
        again = Planner(config, store, states, facts=SqlFacts(facts_file)).plan()
        assert [(p.name, p.status) for p in again.instances] == [(p.name, p.status) for p in first.instances]
        monkeypatch.undo()

        for damage in ("{not json", '{"stamp": "other code", "facts": {"tables\\u001fsqlite\\u001fx": ["t"]}}'):
            facts_file.write_text(damage)
            afresh = SqlFacts(facts_file)
            assert afresh.known == {}
            planned = Planner(config, store, states, facts=afresh).plan()
            assert [p.status for p in planned.instances] == [p.status for p in first.instances]
    finally:
        store.close()


LISTED = """
[data]
url = "doltlite:///data/training.db"

[[models]]
name = "m-{customer}"
train = "m.py:train"
matrix.customer = {customers}
inputs.examples = "{query}"
"""
GROUPED = "SELECT id, text, label FROM examples WHERE customer = :customer AND label != 'skip' ORDER BY id"


class Reading(Counting):
    """Counting, and the grouped reads (``iter_query``) too."""

    def __init__(self, store: Any) -> None:
        super().__init__(store)
        self.scans = 0

    def iter_query(self, sql: str, params: Any = None, ref: str | None = None) -> Any:
        self.scans += 1
        return self.store.iter_query(sql, params, ref=ref)


def _listed(folder: Path, customers: int, query: str = GROUPED) -> tuple[Any, DoltliteStore, dict[str, InstanceState]]:
    """``customers`` customers of 3 rows each and a matrix that lists them (so an instance outlives its rows),
    plus ``cnew`` (no rows yet); every instance trained at the first commit."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"c{i:04d}" for i in range(customers)] + ["cnew"]
    (folder / "tusk.toml").write_text(LISTED.replace("{customers}", json.dumps(names)).replace("{query}", query))
    (folder / "m.py").write_text("def train(ctx):\n    return {}\n")
    config = load_config(folder / "tusk.toml")
    store = DoltliteStore(config.data.url, config)
    store.create()
    with store.writer() as conn:
        conn.execute("CREATE TABLE examples (id INTEGER PRIMARY KEY, customer TEXT, text TEXT, label TEXT)")
        conn.executemany(
            "INSERT INTO examples VALUES (?, ?, ?, ?)",
            [(i, f"c{i % customers:04d}", f"text {i}", f"l{i % 2}") for i in range(3 * customers)],
        )
        conn.commit("load")
    commit = store.resolve("main")
    states = {}
    for instance in expand(config, lambda sql: [], CodeHasher(config.root)):
        records = {n: read_input(store, q, commit).record for n, q in instance.inputs.items()}
        states[instance.name] = InstanceState(
            instance.name,
            "1",
            input_fingerprint(instance, records),
            commit,
            instance.code_digest,
            dict(instance.code_files),
            dict(instance.params),
            records,
            instance.spec.name,
        )
    return config, store, states


MANY_EDITS = [
    "UPDATE examples SET label = 'lQ' WHERE id % 2 = 0",  # many partitions changed
    "DELETE FROM examples WHERE customer = 'c0001'",  # a partition emptied
    "UPDATE examples SET customer = 'c0003' WHERE customer = 'c0002'",  # a partition's rows moved to another
    "UPDATE examples SET label = 'skip' WHERE id = 4",  # a row leaves its partition by the other term
    "INSERT INTO examples VALUES (100000, 'cnew', 'new text', 'l1')",  # a partition that had no rows
]


def _said(plan: Any) -> list[tuple[Any, ...]]:
    return [
        (
            p.name,
            p.status,
            p.reasons,
            p.fingerprint,
            {k: (r.query, r.params, r.digest, r.rows) for k, r in p.inputs.items()},
        )
        for p in plan.instances
    ]


def _full_rehash(config: Any, store: DoltliteStore) -> dict[str, str]:
    """Every instance's input fingerprint the obvious way: each input read in full."""
    commit = store.resolve("main")
    found = {}
    for instance in expand(config, lambda sql: [], CodeHasher(config.root)):
        records = {n: read_input(store, q, commit).record for n, q in instance.inputs.items()}
        found[instance.name] = input_fingerprint(instance, records)
    return found


def test_many_changed_partitions_are_read_in_one_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After many rows changed (partitions changed, emptied, moved, new), the stale instances' inputs are read by
    one grouped query, at 20 as at 200 instances, and the plan says exactly what reading each input alone says."""
    from tusk.core import plan as planning

    asked = []
    for customers in (20, 200):
        config, store, states = _listed(tmp_path / str(customers), customers)
        try:
            with store.writer() as conn:
                for edit in MANY_EDITS:
                    conn.execute(edit)
                conn.commit("many edits")
            counting = Reading(store)
            grouped = Planner(config, counting, states).plan()  # type: ignore[arg-type]
            monkeypatch.setattr(planning, "GROUP_AFTER", 10**9)
            alone = Planner(config, store, states).plan()
            monkeypatch.undo()
            oracle = _full_rehash(config, store)
        finally:
            store.close()
        assert _said(grouped) == _said(alone)
        assert {p.name: p.fingerprint for p in grouped.instances} == oracle
        stale = {p.name for p in grouped.instances if p.status == "stale"}
        assert {"m-c0000", "m-c0001", "m-c0002", "m-c0003", "m-c0004", "m-cnew"} <= stale
        assert len(stale) == customers // 2 + 3  # the even customers, the emptied, the moved into, the new
        assert counting.scans == 1
        asked.append(counting.queries)
    assert asked[0] == asked[1], f"questions asked at 20 and 200 instances: {asked}"


@pytest.mark.parametrize(
    "query",
    [
        "SELECT id, text, label FROM examples WHERE customer = :customer AND label != 'skip'",  # no ORDER BY
        "SELECT id, text, label FROM examples WHERE customer = :customer ORDER BY label",  # not a total order
        "SELECT text AS id, label FROM examples WHERE customer = :customer ORDER BY id",  # id is another column
    ],
)
def test_an_input_without_a_total_order_is_read_per_instance(tmp_path: Path, query: str) -> None:
    """Each partition's rows are digested in its own query's order: when the order is not total, a grouped read
    could order ties otherwise, so every stale instance reads its own input (the same plan, one read each)."""
    config, store, states = _listed(tmp_path, 20, query)
    try:
        with store.writer() as conn:
            for edit in MANY_EDITS:
                conn.execute(edit)
            conn.commit("many edits")
        counting = Reading(store)
        plan = Planner(config, counting, states).plan()  # type: ignore[arg-type]
        oracle = _full_rehash(config, store)
    finally:
        store.close()
    assert {p.name: p.fingerprint for p in plan.instances} == oracle
    assert counting.scans == 0
    assert counting.queries >= sum(1 for p in plan.instances if p.status == "stale")


def test_an_edited_input_query_rereads_every_partition_in_one_scan(tmp_path: Path) -> None:
    """Editing the input query in tusk.toml makes every instance re-read its input: one grouped query."""
    config, store, states = _listed(tmp_path, 20)
    toml = config.root / "tusk.toml"
    toml.write_text(toml.read_text().replace("ORDER BY id", "ORDER BY id DESC"))
    config = load_config(toml)
    try:
        counting = Reading(store)
        plan = Planner(config, counting, states).plan()  # type: ignore[arg-type]
        oracle = _full_rehash(config, store)
    finally:
        store.close()
    assert {p.name: p.fingerprint for p in plan.instances} == oracle
    assert all(p.status == "stale" and p.reasons == ["examples: query changed"] for p in plan.instances)
    assert counting.scans == 1
