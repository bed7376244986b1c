"""Every text pattern of doltlite's refusals tusk reads (``tusk.data._sql.refusal``, the one function that holds
them), each triggered for real on a doltlite file: the error doltlite raises, the kind it is told apart as, and the
tusk error the store answers with."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tusk.data._sql import mapped, refusal
from tusk.data.doltlite import DoltliteStore
from tusk.errors import DataError, MergeConflict, RefNotFound
from tusk.testing.datastore import seed, write


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DoltliteStore]:
    store = DoltliteStore("doltlite:///t.db", path=tmp_path / "t.db")
    store.create()
    yield store
    store.close()


def driver_error(run: Callable[[], Any]) -> sqlite3.Error:
    with pytest.raises(sqlite3.Error) as caught:
        run()
    return caught.value


def in_transaction(store: DoltliteStore, branch: str, sql: str, *params: Any) -> sqlite3.Error:
    conn = store.branch_connection(branch)
    try:
        conn.execute("BEGIN IMMEDIATE")
        return driver_error(lambda: conn.execute(sql, params).fetchall())
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def test_unknown_ref(store: DoltliteStore) -> None:
    seed(store)
    merging = driver_error(lambda: store.main.execute("SELECT dolt_merge('no-such')").fetchall())
    assert refusal(merging) == "unknown ref"
    assert type(mapped(merging, "cannot merge")) is RefNotFound
    opening = driver_error(lambda: sqlite3.connect(f"{store.path}@no-such").execute("SELECT 1").fetchall())
    assert refusal(opening) == "unknown ref" and type(mapped(opening, "cannot open")) is RefNotFound
    with pytest.raises(RefNotFound):
        store.merge("no-such")


def test_conflict(store: DoltliteStore) -> None:
    base = seed(store)
    store.create_branch("theirs", base)
    write(store, ["UPDATE ex SET label = 'x' WHERE id = 1"], "ours")
    write(store, ["UPDATE ex SET label = 'y' WHERE id = 1"], "theirs", "theirs")
    exc = in_transaction(store, store.default_branch, "SELECT dolt_merge('theirs')")
    assert refusal(exc) == "conflict"
    with pytest.raises(MergeConflict):
        store.merge("theirs")
    reverted = write(store, ["UPDATE ex SET label = 'q' WHERE id = 5"], "q")
    write(store, ["UPDATE ex SET label = 'w' WHERE id = 5"], "w")
    assert reverted is not None
    assert refusal(in_transaction(store, store.default_branch, "SELECT dolt_revert(?)", reverted)) == "conflict"
    with pytest.raises(MergeConflict):
        store.revert(reverted)


def test_schema_conflict(store: DoltliteStore) -> None:
    seed(store)
    created = write(store, ["CREATE TABLE t2 (id INTEGER PRIMARY KEY, v TEXT)"], "t2")
    write(store, ["INSERT INTO t2 VALUES (1, 'a')"], "a row of t2")
    assert created is not None
    exc = in_transaction(store, store.default_branch, "SELECT dolt_revert(?)", created)
    assert refusal(exc) == "schema conflict", "told apart from a conflict of rows"
    with pytest.raises(DataError, match="a table being created or dropped") as caught:
        store.revert(created)
    assert type(caught.value) is DataError


def test_nothing_to_commit(store: DoltliteStore) -> None:
    seed(store)
    assert refusal(driver_error(lambda: store.main.execute("SELECT dolt_commit('-m', 'x')").fetchall())) == (
        "nothing to commit"
    )
    undone = write(store, ["UPDATE ex SET label = 'k' WHERE id = 6"], "k")
    write(store, ["UPDATE ex SET label = 'a' WHERE id = 6"], "undone by hand")
    assert undone is not None
    exc = in_transaction(store, store.default_branch, "SELECT dolt_revert(?)", undone)
    assert refusal(exc) == "nothing to commit"
    with pytest.raises(DataError, match="already undone"):
        store.revert(undone)


def test_not_a_fast_forward(store: DoltliteStore, tmp_path: Path) -> None:
    seed(store)
    store.add_remote("origin", str(tmp_path / "remote.db"))
    store.push("origin")
    other = DoltliteStore.clone(f"file://{tmp_path / 'remote.db'}", tmp_path / "other.db")
    try:
        write(other, ["UPDATE ex SET label = 'p' WHERE id = 7"], "theirs")
        other.push("origin")
    finally:
        other.close()
    write(store, ["UPDATE ex SET label = 'o' WHERE id = 7"], "ours")
    exc = driver_error(lambda: store.main.execute("SELECT dolt_push('origin', 'main')").fetchall())
    assert refusal(exc) == "not a fast-forward"
    with pytest.raises(DataError, match="push rejected: origin/main has commits that main lacks"):
        store.push("origin")


def test_an_error_of_no_pattern_is_none(store: DoltliteStore) -> None:
    seed(store)
    assert refusal(driver_error(lambda: store.main.execute("SELEC 1"))) is None
