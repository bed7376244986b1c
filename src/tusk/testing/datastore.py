"""The DataStore conformance suite: every backend of the data port subclasses ``DataStoreSuite`` and
provides a ``store`` fixture returning an empty store with one commit on its default branch.

Writes go through the port's write side: ``store.writer(branch)`` gives a transaction (``execute``,
``executemany``, ``load_rows``, ``apply_changes``, ``drop_table``, ``put_review``, ``add_review_comments``,
``commit``). Errors are tusk's own, of the exact type: ``RefNotFound``, ``MergeConflict``, ``IngestError``,
``DataError`` — never a driver's.

Besides the store itself, the suite covers what tusk's use cases ask of it, so a backend that passes it works for
approving a review per model (``apply_changes``), a review's record and comments (``review_records``,
``review_comments`` and their writes, on a branch of their own), sync, sharing (``remote_branches``) and
housekeeping (``gc``, ``maybe_gc``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tusk.data.base import REVIEW_FIELDS, DataStore, LoadCounts, ReviewComment, SupportsRemotes
from tusk.errors import DataError, IngestError, MergeConflict, RefNotFound


def write(store: DataStore, sql: list[str], message: str, branch: str | None = None) -> str | None:
    with store.writer(branch) as transaction:
        for statement in sql:
            transaction.execute(statement)
        return transaction.commit(message)


@contextmanager
def raises_exactly(kind: type[Exception]) -> Iterator[Any]:
    """``pytest.raises`` for exactly ``kind``: a subclass (or a driver error) does not do."""
    with pytest.raises(Exception) as caught:
        yield caught
    assert type(caught.value) is kind, f"{type(caught.value).__module__}.{type(caught.value).__name__}: {caught.value}"


def seed(store: Any) -> str:
    commit = write(
        store,
        [
            "CREATE TABLE ex (id INTEGER PRIMARY KEY, cust TEXT, label TEXT)",
            *[f"INSERT INTO ex VALUES ({i}, 'c{i % 3}', 'a')" for i in range(9)],
        ],
        "seed",
    )
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
        with raises_exactly(RefNotFound):
            store.resolve("no-such-ref")

    def test_a_write_that_changes_nothing_makes_no_commit(self, store: Any) -> None:
        head = seed(store)
        assert write(store, ["UPDATE ex SET label = 'a' WHERE id = 1"], "noop") is None
        assert store.resolve(store.default_branch) == head

    def test_a_failed_write_leaves_head_and_tables_as_they_were(self, store: Any) -> None:
        head = seed(store)
        with raises_exactly(DataError):
            write(store, ["UPDATE ex SET label = 'b' WHERE id = 1", "INSERT INTO nope VALUES (1)"], "bad")
        with raises_exactly(DataError):
            write(store, ["UPDATE ex SET label = 'b' WHERE id = 1", "INSERT INTO ex VALUES (1, 'c1', 'x')"], "dup")
        assert store.resolve(store.default_branch) == head
        assert store.query("SELECT label FROM ex WHERE id = 1").rows == [("a",)]

    def test_branches_diff_and_merge(self, store: Any) -> None:
        base = seed(store)
        store.create_branch("fix")
        write(
            store,
            [
                "UPDATE ex SET label = 'b' WHERE id = 1",
                "INSERT INTO ex VALUES (100, 'c1', 'z')",
                "DELETE FROM ex WHERE id = 2",
            ],
            "fix it",
            branch="fix",
        )
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

    def test_parents_first_parent_first(self, store: Any) -> None:
        base = seed(store)
        assert store.parents(store.log()[-1].hash) == [], "the first commit has none"
        store.create_branch("fix")
        mine = write(store, ["UPDATE ex SET label = 'm' WHERE id = 1"], "main's own")
        theirs = write(store, ["UPDATE ex SET label = 'f' WHERE id = 2"], "fix's", branch="fix")
        assert store.parents(mine) == [base]
        merged = store.merge("fix", message="merge fix").commit
        assert store.parents(merged) == [mine, theirs], "the branch merged into first, the merged branch second"

    def test_a_diff_leaves_out_rows_a_third_commit_holds_already(self, store: Any) -> None:
        seed(store)
        base = write(
            store,
            [
                "CREATE TABLE pairs (a INTEGER NOT NULL, b TEXT NOT NULL, v TEXT, PRIMARY KEY (a, b))",
                "INSERT INTO pairs VALUES (0, 'w', 'zero')",
            ],
            "pairs",
        )
        assert base is not None
        store.create_branch("fix")
        write(
            store,
            [
                "UPDATE ex SET label = 'b' WHERE id IN (1, 3)",
                "INSERT INTO ex VALUES (100, 'c1', 'z')",
                "DELETE FROM ex WHERE id = 2",
                "INSERT INTO pairs VALUES (1, 'x', 'one'), (1, 'y', 'two')",
            ],
            "fix it",
            branch="fix",
        )
        main = write(
            store,
            [
                "UPDATE ex SET label = 'b' WHERE id = 1",
                "DELETE FROM ex WHERE id = 2",
                "UPDATE ex SET label = 'q' WHERE id = 3",  # the same row, another value: not landed
                "INSERT INTO pairs VALUES (1, 'x', 'one')",
            ],
            "approve part",
        )
        assert main is not None
        diffs = {d.table: d for d in store.diff(base, "fix", landed_at=main)}
        ex, pairs = diffs["ex"], diffs["pairs"]
        assert (ex.added, ex.modified, ex.removed, ex.landed) == (1, 1, 0, 2)
        assert sorted(r.key["id"] for r in ex.rows) == [3, 100]
        assert (pairs.added, pairs.landed) == (1, 1) and [r.key for r in pairs.rows] == [{"a": 1, "b": "y"}]
        total, page = store.diff_rows(base, "fix", "ex", {"cust": "c1"}, 0, 10, landed_at=main)
        assert (total, [r.key["id"] for r in page]) == (1, [100])
        assert store.diff_rows(base, "fix", "ex", None, 0, 1, landed_at=main)[0] == 2
        assert store.diff_rows(base, "fix", "ex", None, 0, 10)[0] == 4, "without landed_at: every changed row"

    def test_a_conflicting_merge_applies_nothing(self, store: Any) -> None:
        seed(store)
        store.create_branch("theirs")
        write(store, ["UPDATE ex SET label = 'ours' WHERE id = 1"], "ours")
        write(store, ["UPDATE ex SET label = 'theirs' WHERE id = 1"], "theirs", branch="theirs")
        head = store.resolve(store.default_branch)
        with raises_exactly(MergeConflict) as caught:
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
                "merge",
                moved,
                fix,
                base,
            )
            assert not preview.persists
            assert store.query("SELECT label FROM ex WHERE id IN (0, 1) ORDER BY id", ref=preview.commit).rows == [
                ("fix",),
                ("main",),
            ]
            assert len(store.branches()) == 3, "the merge is made on a scratch branch"
        assert sorted(b.name for b in store.branches()) == sorted([main, "fix"]), "the scratch branch is gone"
        assert store.resolve(main) == moved, "the data branch is untouched"
        store.merge("fix")
        with store.merge_preview("fix") as preview:
            assert (preview.kind, preview.commit) == ("up-to-date", store.resolve(main))
        assert store.merge("fix").commit is None, "merging again changes nothing"
        write(store, ["UPDATE ex SET label = 'x' WHERE id = 2"], "ours")
        write(store, ["UPDATE ex SET label = 'y' WHERE id = 2"], "theirs", branch="fix")
        with raises_exactly(MergeConflict) as caught, store.merge_preview("fix"):
            pass
        assert [c["key"] for c in caught.value.conflicts] == [{"id": 2}]
        assert sorted(b.name for b in store.branches()) == sorted([main, "fix"])
        assert store.clean_scratch() == []
        with raises_exactly(DataError):
            store.create_branch("tusk-preview/mine")

    def test_revert(self, store: Any) -> None:
        seed(store)
        oops = write(store, ["UPDATE ex SET label = 'oops' WHERE id = 1"], "oops")
        write(store, ["UPDATE ex SET label = 'later' WHERE id = 2"], "later")
        result = store.revert(oops)
        assert result.commit == store.resolve(store.default_branch)
        assert store.query("SELECT label FROM ex WHERE id IN (1, 2) ORDER BY id").rows == [("a",), ("later",)]
        with raises_exactly(DataError):
            store.revert(oops)  # already undone: nothing to commit
        again = write(store, ["UPDATE ex SET label = 'again' WHERE id = 2"], "again")
        later = store.log()[2].hash
        with raises_exactly(MergeConflict) as caught:
            store.revert(later)
        assert [c["key"] for c in caught.value.conflicts] == [{"id": 2}]
        assert store.resolve(store.default_branch) == again
        with raises_exactly(DataError):
            store.revert(store.log()[-1].hash)  # the first commit

    @pytest.mark.parametrize("take", ["ours", "theirs", "by row"])
    def test_conflicts_resolved(self, store: Any, take: str) -> None:
        seed(store)
        store.create_branch("fix")
        write(
            store,
            ["UPDATE ex SET label = 'fix' WHERE id IN (1, 2)", "UPDATE ex SET label = 'f3' WHERE id = 3"],
            "fix",
            branch="fix",
        )
        write(store, ["UPDATE ex SET label = 'main' WHERE id = 1", "DELETE FROM ex WHERE id = 2"], "main")
        seen: list[dict[str, Any]] = []

        def by_row(conflicts: list[dict[str, Any]]) -> list[str]:
            seen.extend(conflicts)
            return ["ours" if c["key"] == {"id": 1} else "theirs" for c in conflicts]

        result = store.merge("fix", resolve=by_row if take == "by row" else take)
        assert result.resolved == 2 and result.commit == store.resolve(store.default_branch)
        got = dict(store.query("SELECT id, label FROM ex WHERE id IN (1, 2, 3)").rows)
        expected = {
            "ours": {1: "main", 3: "f3"},
            "theirs": {1: "fix", 2: "fix", 3: "f3"},
            "by row": {1: "main", 2: "fix", 3: "f3"},
        }[take]
        assert got == expected
        if seen:
            assert {(c["ours_change"], c["theirs_change"]) for c in seen} == {
                ("modified", "modified"),
                ("removed", "modified"),
            }
        assert store.merge("fix").commit is None

    def test_snapshots_are_pinned_and_read_only(self, store: Any) -> None:
        first = seed(store)
        write(store, ["UPDATE ex SET label = 'later' WHERE id = 1"], "later")
        assert store.query("SELECT label FROM ex WHERE id = 1", ref=first).rows == [("a",)]
        with raises_exactly(DataError):
            store.query("DELETE FROM ex", ref=first)
        assert list(store.iter_query("SELECT id FROM ex WHERE cust = :c ORDER BY id", {"c": "c0"})) == [
            (0,),
            (3,),
            (6,),
        ]

    def test_tags_tables_columns(self, store: Any) -> None:
        commit = seed(store)
        store.tag("v1", message="first")
        assert store.resolve("v1") == commit and [t.name for t in store.tags()] == ["v1"]
        assert store.tables() == ["ex"]
        assert store.columns("ex") == [("id", "INTEGER", True), ("cust", "TEXT", False), ("label", "TEXT", False)]
        with raises_exactly(RefNotFound):
            store.columns("nope")
        with raises_exactly(DataError):
            store.tag("v1")
        with raises_exactly(DataError):
            store.create_branch("bad name; drop")

    def test_gc_keeps_history(self, store: Any) -> None:
        commit = seed(store)
        store.gc()
        assert store.resolve(store.default_branch) == commit
        assert store.query("SELECT count(*) FROM ex").rows == [(9,)]

    def test_a_transaction_keeps_only_what_it_commits(self, store: DataStore) -> None:
        head = seed(store)
        with store.writer() as transaction:
            assert transaction.branch == store.default_branch
            transaction.executemany("INSERT INTO ex VALUES (?, ?, ?)", [(20, "c2", "b"), (21, "c2", "b")])
            assert transaction.execute("SELECT count(*) FROM ex WHERE cust = ?", ["c2"]) == [(5,)]
        assert store.resolve(store.default_branch) == head, "left without a commit: nothing kept"
        assert store.query("SELECT count(*) FROM ex").rows == [(9,)]
        with raises_exactly(ValueError), store.writer() as transaction:
            transaction.execute("DELETE FROM ex")
            raise ValueError("before the commit")
        assert store.resolve(store.default_branch) == head, "left by an exception: nothing kept"
        assert store.query("SELECT count(*) FROM ex").rows == [(9,)]
        with store.writer() as transaction:
            transaction.execute("DELETE FROM ex WHERE id = 8")
            commit = transaction.commit("one less")
            with raises_exactly(DataError):
                transaction.execute("DELETE FROM ex")
        assert commit == store.resolve(store.default_branch) and store.log()[0].message == "one less"
        assert store.query("SELECT count(*) FROM ex").rows == [(8,)]

    def test_a_writer_makes_a_missing_branch_and_removes_it_if_nothing_was_committed(self, store: DataStore) -> None:
        head = seed(store)
        with raises_exactly(ValueError), store.writer("new", create_at=store.default_branch) as transaction:
            transaction.execute("DELETE FROM ex")
            raise ValueError("before the commit")
        assert [b.name for b in store.branches()] == [store.default_branch]
        with store.writer("new", create_at=store.default_branch) as transaction:
            transaction.execute("DELETE FROM ex WHERE id = 8")
            commit = transaction.commit("one less")
        assert store.resolve("new") == commit and store.resolve(store.default_branch) == head
        with raises_exactly(RefNotFound), store.writer("other"):
            pass  # without create_at a missing branch is an error

    def test_load_rows(self, store: DataStore) -> None:
        seed(store)
        types = {"k": "INTEGER", "name": "TEXT", "score": "REAL"}
        with store.writer() as transaction:
            counts = transaction.load_rows(
                "scores", ["k", "name", "score"], [(1, "a", 0.5), (2, "b", 1.5)], ["k"], create=types
            )
            transaction.commit("new table")
        assert counts == LoadCounts(added=2)
        assert store.columns("scores") == [("k", "INTEGER", True), ("name", "TEXT", False), ("score", "REAL", False)]

        def load(
            rows: list[tuple[Any, ...]], mode: Any, columns: tuple[str, ...] = ("k", "name", "score")
        ) -> LoadCounts:
            with store.writer() as transaction:
                counts = transaction.load_rows("scores", columns, rows, ["k"], mode)
                transaction.commit(f"load {mode}")
            return counts

        assert load([(2, "b", 2.5), (3, "c", None)], "upsert") == LoadCounts(added=1, modified=1)
        assert load([(1, "a", 0.5), (3, "c", None)], "replace") == LoadCounts(removed=1)
        assert load([("z", 4, 0.0)], "append", ("name", "k", "score")) == LoadCounts(added=1), "columns in any order"
        head = store.resolve(store.default_branch)
        with raises_exactly(IngestError):
            load([(5, "e", 1.0), (4, "again", 1.0)], "append")
        with raises_exactly(IngestError):
            load([(6, "f", 1.0), (6, "f again", 1.0)], "upsert")
        with raises_exactly(DataError):
            load([(7, "g", 1.0)], "upsert", ("k", "name", "no_such_column"))
        assert store.resolve(store.default_branch) == head
        assert store.query("SELECT k, name, score FROM scores ORDER BY k").rows == [
            (1, "a", 0.5),
            (3, "c", None),
            (4, "z", 0.0),
        ]

    def test_driver_errors_are_tusk_errors(self, store: DataStore) -> None:
        first = seed(store)
        with raises_exactly(DataError):
            store.query("SELEC 1")
        with raises_exactly(DataError):
            store.query("SELECT * FROM no_such_table")
        with raises_exactly(DataError):
            store.query("SELECT ?", [1, 2])
        with raises_exactly(RefNotFound):
            store.query("SELECT 1", ref="no-such-branch")
        with raises_exactly(RefNotFound):
            store.diff_stat(first, "no-such-branch")
        with raises_exactly(RefNotFound):
            store.delete_branch("no-such-branch")
        with raises_exactly(DataError), store.writer() as transaction:
            transaction.execute("INSERT INTO ex VALUES (NULL, 'c', 'x'), (0, 'c', 'x')")

    def test_row_filter_speaks_the_stores_dialect(self, store: DataStore) -> None:
        assert isinstance(store.dialect, str) and store.dialect
        rows = store.row_filter("ex", ["id", "cust", "__side"], [(1, "c1", "before"), (2, "c2", "after")])
        try:
            assert rows.select("SELECT id FROM ex WHERE cust = :c", {"c": "c2"}) == [(2,)]
            assert rows.select("SELECT count(*) FROM ex WHERE __side = ?", ["before"]) == [(1,)]
            with raises_exactly(DataError):
                rows.select("SELECT no_such_column FROM ex")
        finally:
            rows.close()

    def test_create_again_keeps_everything(self, store: DataStore) -> None:
        head = seed(store)
        store.create()
        assert store.resolve(store.default_branch) == head

    def test_clone_a_remote(self, store: DataStore, tmp_path: Path) -> None:
        if not isinstance(store, SupportsRemotes):
            pytest.skip("this store has no remotes")
        head = seed(store)
        store.add_remote("origin", str(tmp_path / "shared" / "remote.db"))
        store.push("origin")
        copy = type(store).clone(
            f"file://{tmp_path / 'shared' / 'remote.db'}", tmp_path / "copy" / "training.db", store.default_branch
        )
        try:
            assert copy.resolve(store.default_branch) == head
            assert copy.query("SELECT count(*) FROM ex").rows == [(9,)]
        finally:
            copy.close()
        with raises_exactly(DataError):
            type(store).clone(f"file://{tmp_path / 'nothing-here.db'}", tmp_path / "copy2" / "training.db")

    # ----- what the review wing needs: tusk's records of reviews, an approval's rows, remotes, gc ------------------
    def test_review_records_are_written_and_read_at_a_ref(self, store: DataStore) -> None:
        seed(store)
        meta = "tusk-reviews"
        first = store.log(store.default_branch)[-1].hash
        assert store.review_records(store.default_branch) == {}, "no records yet: none, not an error"
        assert store.review_comments(store.default_branch, "r1") == []
        row = {"branch": "r1", "title": "Relabel", "status": "open", "author": "ann", "updated": "2026-01-01"}
        late = ReviewComment("b" * 16, "r1", "comment", "bob", "2026-01-02T00:00:00.000001+00:00", "second")
        early = ReviewComment("c" * 16, "r1", "approve", "ann", "2026-01-01T00:00:00.000001+00:00", "first")
        other = ReviewComment("a" * 16, "r2", "comment", "bob", "2026-01-01T00:00:00.000001+00:00", "elsewhere")
        with store.writer(meta, create_at=first) as transaction:
            transaction.put_review(row)
            transaction.add_review_comments([late, early, other])
            commit = transaction.commit("review r1: edited by ann")
        assert commit is not None and store.resolve(meta) == commit
        assert store.tables(store.default_branch) == ["ex"], "the records stay on their own branch"
        found = store.review_records(meta)
        assert list(found) == ["r1"] and found == store.review_records(meta, "r1")
        assert found["r1"]["title"] == "Relabel" and found["r1"]["merged_by"] == "", "a field not given is empty"
        assert set(found["r1"]) == set(REVIEW_FIELDS)
        assert store.review_records(meta, "r2") == {}
        assert store.review_comments(meta, "r1") == [early, late], "in (time, id) order"
        assert len(store.review_comments(meta)) == 3
        assert store.review_records(commit) == found, "readable at any ref"
        with raises_exactly(RefNotFound):
            store.review_records("no-such-branch")
        with raises_exactly(RefNotFound):
            store.review_comments("no-such-branch", "r1")

    def test_review_records_written_again(self, store: DataStore) -> None:
        seed(store)
        meta = "tusk-reviews"
        comment = ReviewComment("d" * 16, "r1", "comment", "ann", "2026-01-01T00:00:00.000001+00:00", "hello")
        row = {"branch": "r1", "title": "One", "status": "open"}
        with store.writer(meta, create_at=store.default_branch) as transaction:
            transaction.put_review(row)
            transaction.add_review_comments([comment])
            head = transaction.commit("first")
        with store.writer(meta) as transaction:  # the same row and comment again: nothing changes, no commit
            transaction.put_review(row)
            transaction.add_review_comments([comment, ReviewComment(**{**comment.to_json(), "text": "changed"})])
            transaction.add_review_comments([])
            assert transaction.commit("again") is None
        assert store.resolve(meta) == head and store.review_comments(meta, "r1") == [comment], "a comment is kept"
        with store.writer(meta) as transaction:  # a row replaces its branch's row
            transaction.put_review({**row, "title": "Two", "status": "closed"})
            assert transaction.commit("second") is not None
        assert store.review_records(meta)["r1"]["title"] == "Two"
        assert store.review_records(meta)["r1"]["status"] == "closed"
        with raises_exactly(RefNotFound), store.writer("no-such-branch") as transaction:
            transaction.put_review(row)

    def test_apply_changes_where_the_branch_holds_the_rows_before(self, store: DataStore) -> None:
        base = seed(store)
        store.create_branch("review", base)
        write(
            store,
            [
                "UPDATE ex SET label = 'b' WHERE id = 1",
                "DELETE FROM ex WHERE id = 2",
                "INSERT INTO ex VALUES (20, 'c2', 'n')",
            ],
            "the review's change",
            "review",
        )
        changes = store.diff(base, "review", table="ex", with_rows=True)[0].rows
        assert len(changes) == 3
        with store.writer() as transaction:
            assert transaction.apply_changes("ex", ["id"], changes) == 3
            commit = transaction.commit("approve")
        assert commit is not None
        assert store.query("SELECT id, label FROM ex WHERE id IN (1, 2, 20) ORDER BY id").rows == [(1, "b"), (20, "n")]
        assert store.rows("ex", store.default_branch, limit=100) == store.rows("ex", "review", limit=100)
        with store.writer() as transaction:  # applied again: every row is there already
            assert transaction.apply_changes("ex", ["id"], changes) == 0
            assert transaction.commit("again") is None
        write(store, ["UPDATE ex SET label = 'z' WHERE id = 3"], "the data branch moves on")
        store.create_branch("late", base)
        write(
            store, ["UPDATE ex SET label = 'y' WHERE id = 3", "UPDATE ex SET label = 'y' WHERE id = 4"], "late", "late"
        )
        head = store.resolve(store.default_branch)
        late = store.diff(base, "late", table="ex", with_rows=True)[0].rows
        with raises_exactly(MergeConflict) as caught, store.writer() as transaction:
            transaction.apply_changes("ex", ["id"], late)
            transaction.commit("never")
        assert caught.value.conflicts == [{"table": "ex", "key": {"id": 3}}]
        assert store.resolve(store.default_branch) == head
        assert store.query("SELECT label FROM ex WHERE id = 4").rows == [("a",)], "nothing kept"

    def test_drop_table(self, store: DataStore) -> None:
        seed(store)
        with store.writer() as transaction:
            transaction.drop_table("ex")
            assert transaction.commit("drop") is not None
        assert store.tables() == []
        with store.writer() as transaction:  # gone already: nothing to do, nothing to commit
            transaction.drop_table("ex")
            assert transaction.commit("again") is None
        with raises_exactly(DataError), store.writer() as transaction:
            transaction.drop_table("bad name; drop")

    def test_remote_branches_name_the_remote(self, store: DataStore, tmp_path: Path) -> None:
        if not isinstance(store, SupportsRemotes):
            pytest.skip("this store has no remotes")
        head = seed(store)
        assert store.remote_branches() == []
        store.add_remote("origin", str(tmp_path / "shared" / "remote.db"))
        store.push("origin")
        store.fetch("origin")
        found = {b.name: b.head for b in store.remote_branches()}
        assert found == {f"origin/{store.default_branch}": head}
        assert store.resolve(f"origin/{store.default_branch}") == head

    def test_maybe_gc(self, store: DataStore, tmp_path: Path) -> None:
        commit = seed(store)
        record = tmp_path / "gc.json"
        assert store.maybe_gc(record) is None, "the first time: the size is recorded, nothing collected"
        assert record.exists()
        assert store.maybe_gc(record) is None, "not grown since: not due"
        record.write_text("not json")
        assert store.maybe_gc(record) is None, "an unreadable record starts again"
        assert store.resolve(store.default_branch) == commit
