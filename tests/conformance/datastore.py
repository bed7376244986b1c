"""The DataStore conformance suite: every backend of the data port subclasses ``DataStoreSuite`` and
provides a ``store`` fixture returning an empty store with one commit on its default branch.

Writes go through ``store.writer(branch)`` and ``store.commit(conn, message)``, the two write calls
every backend offers.
"""

from __future__ import annotations

from typing import Any

import pytest

from tusk.data.base import DataStore
from tusk.errors import DataError, MergeConflict, RefNotFound


def write(store: Any, sql: list[str], message: str, branch: str | None = None) -> str | None:
    with store.writer(branch) as conn:
        for statement in sql:
            conn.execute(statement)
        return store.commit(conn, message)  # type: ignore[no-any-return]


def seed(store: Any) -> str:
    commit = write(store, ["CREATE TABLE ex (id INTEGER PRIMARY KEY, cust TEXT, label TEXT)",
                           *[f"INSERT INTO ex VALUES ({i}, 'c{i % 3}', 'a')" for i in range(9)]], "seed")
    assert commit is not None
    return commit


class DataStoreSuite:
    @pytest.fixture
    def store(self) -> DataStore:  # pragma: no cover - overridden
        raise NotImplementedError

    def test_is_a_data_store(self, store: DataStore) -> None:
        assert isinstance(store, DataStore)

    def test_commit_log_and_resolve(self, store: Any) -> None:
        commit = seed(store)
        log = store.log()
        assert log[0].hash == commit and log[0].message == "seed"
        assert store.resolve(store.default_branch) == commit
        assert store.resolve(commit[:8]) == commit
        with pytest.raises(RefNotFound):
            store.resolve("no-such-ref")

    def test_a_write_that_changes_nothing_makes_no_commit(self, store: Any) -> None:
        head = seed(store)
        assert write(store, ["UPDATE ex SET label = 'a' WHERE id = 1"], "noop") is None
        assert store.resolve(store.default_branch) == head

    def test_a_failed_write_leaves_head_and_tables_as_they_were(self, store: Any) -> None:
        head = seed(store)
        with pytest.raises(Exception):
            write(store, ["UPDATE ex SET label = 'b' WHERE id = 1", "INSERT INTO nope VALUES (1)"], "bad")
        assert store.resolve(store.default_branch) == head
        assert store.query("SELECT label FROM ex WHERE id = 1").rows == [("a",)]

    def test_branches_diff_and_merge(self, store: Any) -> None:
        base = seed(store)
        store.create_branch("fix")
        write(store, ["UPDATE ex SET label = 'b' WHERE id = 1", "INSERT INTO ex VALUES (100, 'c1', 'z')",
                      "DELETE FROM ex WHERE id = 2"], "fix it", branch="fix")
        assert store.resolve(store.default_branch) == base, "a branch write leaves main alone"
        assert {b.name for b in store.branches()} >= {store.default_branch, "fix"}
        stat = store.diff_stat(store.default_branch, "fix")["ex"]
        assert (stat.added, stat.modified, stat.removed) == (1, 1, 1)
        [diff] = store.diff(store.default_branch, "fix", table="ex")
        changes = {r.diff_type: r for r in diff.rows}
        assert changes["modified"].key == {"id": 1} and changes["modified"].changed_columns == ["label"]
        assert changes["added"].after == {"id": 100, "cust": "c1", "label": "z"}
        assert changes["removed"].before == {"id": 2, "cust": "c2", "label": "a"}
        assert store.query("SELECT count(*) FROM ex", ref="fix").rows == [(9,)]
        result = store.merge("fix", message="merge fix")
        assert result.commit == store.resolve(store.default_branch)
        assert store.query("SELECT label FROM ex WHERE id = 1").rows == [("b",)]
        store.delete_branch("fix")
        assert "fix" not in {b.name for b in store.branches()}

    def test_a_conflicting_merge_applies_nothing(self, store: Any) -> None:
        seed(store)
        store.create_branch("theirs")
        write(store, ["UPDATE ex SET label = 'ours' WHERE id = 1"], "ours")
        write(store, ["UPDATE ex SET label = 'theirs' WHERE id = 1"], "theirs", branch="theirs")
        head = store.resolve(store.default_branch)
        with pytest.raises(MergeConflict) as caught:
            store.merge("theirs")
        assert caught.value.conflicts and caught.value.conflicts[0]["table"] == "ex"
        assert store.resolve(store.default_branch) == head
        assert store.query("SELECT label FROM ex WHERE id = 1").rows == [("ours",)]

    def test_merge_base_and_merge_preview(self, store: Any) -> None:
        base = seed(store)
        main = store.default_branch
        store.create_branch("fix")
        assert store.merge_base(main, "fix") == base
        write(store, ["UPDATE ex SET label = 'fix' WHERE id = 0"], "fix", branch="fix")
        fix = store.resolve("fix")
        with store.merge_preview("fix") as preview:  # main has not moved: a fast-forward to fix
            assert (preview.kind, preview.commit, preview.persists) == ("fast-forward", fix, True)
        moved = write(store, ["UPDATE ex SET label = 'main' WHERE id = 1"], "main moves on")
        assert store.merge_base(main, "fix") == store.merge_base("fix", main) == base
        with store.merge_preview("fix") as preview:
            assert (preview.kind, preview.into_head, preview.branch_head, preview.merge_base) == (
                "merge", moved, fix, base)
            assert not preview.persists
            assert store.query("SELECT label FROM ex WHERE id IN (0, 1) ORDER BY id", ref=preview.commit).rows == [
                ("fix",), ("main",)]
            assert len(store.branches()) == 3, "the merge is made on a scratch branch"
        assert sorted(b.name for b in store.branches()) == sorted([main, "fix"]), "the scratch branch is gone"
        assert store.resolve(main) == moved, "the data branch is untouched"
        store.merge("fix")
        with store.merge_preview("fix") as preview:
            assert (preview.kind, preview.commit) == ("up-to-date", store.resolve(main))
        assert store.merge("fix").commit is None, "merging again changes nothing"
        write(store, ["UPDATE ex SET label = 'x' WHERE id = 2"], "ours")
        write(store, ["UPDATE ex SET label = 'y' WHERE id = 2"], "theirs", branch="fix")
        with pytest.raises(MergeConflict) as caught, store.merge_preview("fix"):
            pass
        assert [c["key"] for c in caught.value.conflicts] == [{"id": 2}]
        assert sorted(b.name for b in store.branches()) == sorted([main, "fix"])
        assert store.clean_scratch() == []
        with pytest.raises(DataError):
            store.create_branch("tusk-preview/mine")

    def test_revert(self, store: Any) -> None:
        seed(store)
        oops = write(store, ["UPDATE ex SET label = 'oops' WHERE id = 1"], "oops")
        write(store, ["UPDATE ex SET label = 'later' WHERE id = 2"], "later")
        result = store.revert(oops)
        assert result.commit == store.resolve(store.default_branch)
        assert store.query("SELECT label FROM ex WHERE id IN (1, 2) ORDER BY id").rows == [("a",), ("later",)]
        with pytest.raises(DataError):
            store.revert(oops)  # already undone: nothing to commit
        again = write(store, ["UPDATE ex SET label = 'again' WHERE id = 2"], "again")
        later = store.log()[2].hash
        with pytest.raises(MergeConflict) as caught:
            store.revert(later)
        assert [c["key"] for c in caught.value.conflicts] == [{"id": 2}]
        assert store.resolve(store.default_branch) == again
        with pytest.raises(DataError):
            store.revert(store.log()[-1].hash)  # the first commit

    @pytest.mark.parametrize("take", ["ours", "theirs", "by row"])
    def test_conflicts_resolved(self, store: Any, take: str) -> None:
        seed(store)
        store.create_branch("fix")
        write(store, ["UPDATE ex SET label = 'fix' WHERE id IN (1, 2)", "UPDATE ex SET label = 'f3' WHERE id = 3"],
              "fix", branch="fix")
        write(store, ["UPDATE ex SET label = 'main' WHERE id = 1", "DELETE FROM ex WHERE id = 2"], "main")
        seen: list[dict[str, Any]] = []

        def by_row(conflicts: list[dict[str, Any]]) -> list[str]:
            seen.extend(conflicts)
            return ["ours" if c["key"] == {"id": 1} else "theirs" for c in conflicts]

        result = store.merge("fix", resolve=by_row if take == "by row" else take)
        assert result.resolved == 2 and result.commit == store.resolve(store.default_branch)
        got = dict(store.query("SELECT id, label FROM ex WHERE id IN (1, 2, 3)").rows)
        expected = {"ours": {1: "main", 3: "f3"}, "theirs": {1: "fix", 2: "fix", 3: "f3"},
                    "by row": {1: "main", 2: "fix", 3: "f3"}}[take]
        assert got == expected
        if seen:
            assert {(c["ours_change"], c["theirs_change"]) for c in seen} == {("modified", "modified"),
                                                                              ("removed", "modified")}
        assert store.merge("fix").commit is None

    def test_snapshots_are_pinned_and_read_only(self, store: Any) -> None:
        first = seed(store)
        write(store, ["UPDATE ex SET label = 'later' WHERE id = 1"], "later")
        assert store.query("SELECT label FROM ex WHERE id = 1", ref=first).rows == [("a",)]
        with pytest.raises(DataError):
            store.query("DELETE FROM ex", ref=first)
        assert list(store.iter_query("SELECT id FROM ex WHERE cust = :c ORDER BY id", {"c": "c0"})) == [
            (0,), (3,), (6,)]

    def test_tags_tables_columns(self, store: Any) -> None:
        commit = seed(store)
        store.tag("v1", message="first")
        assert store.resolve("v1") == commit and [t.name for t in store.tags()] == ["v1"]
        assert store.tables() == ["ex"]
        assert store.columns("ex") == [("id", "INTEGER", True), ("cust", "TEXT", False), ("label", "TEXT", False)]
        with pytest.raises(RefNotFound):
            store.columns("nope")
        with pytest.raises(DataError):
            store.tag("v1")
        with pytest.raises(DataError):
            store.create_branch("bad name; drop")

    def test_gc_keeps_history(self, store: Any) -> None:
        commit = seed(store)
        store.gc()
        assert store.resolve(store.default_branch) == commit
        assert store.query("SELECT count(*) FROM ex").rows == [(9,)]
