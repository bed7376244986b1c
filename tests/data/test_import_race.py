"""Imports onto one new branch at once, with the other importer's step placed exactly in the gap.

Two stores on one file are two processes' connections. ``at_point`` runs the other import at a named step of
this one (``tusk._internal.crash``): between "the branch is missing" and "make it", and between "the branch is
there" and "take the write lock". Whatever the order, every import's rows land, one commit each, and a
failed import removes only a branch it made and nobody else wrote on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tusk._internal.crash import at_point
from tusk.data.doltlite import DoltliteStore
from tusk.data.ingest import import_file
from tusk.errors import IngestError


@pytest.fixture
def path(tmp_path: Path) -> Iterator[Path]:
    file = tmp_path / "t.db"
    store = DoltliteStore("doltlite:///t.db", path=file)
    store.create()
    csv = _csv(tmp_path / "seed.csv", range(1, 4))
    import_file(store, str(csv), "examples", ["id"], "replace", message="seed")
    store.close()
    yield file


def _csv(path: Path, ids: range, text: str = "row") -> Path:
    path.write_text("id,customer,text\n" + "".join(f"{i},c{i % 2},{text} {i}\n" for i in ids))
    return path


def _store(path: Path) -> DoltliteStore:
    return DoltliteStore("doltlite:///t.db", path=path)


def _ids(store: DoltliteStore, ref: str, table: str = "examples") -> list[int]:
    return [r[0] for r in store.query(f"SELECT id FROM {table} ORDER BY id", ref=ref).rows]


def _other_import(path: Path, table: str = "examples") -> Callable[[], None]:
    """Another process's import of rows 100.. onto edits, with its own connections to the file."""
    other, theirs = _store(path), _csv(path.parent / "theirs.csv", range(100, 103))

    def run() -> None:
        import_file(other, str(theirs), table, ["id"], "upsert", "edits", "import theirs")

    return run


def _messages(store: DoltliteStore, ref: str) -> list[str]:
    return sorted(c.message for c in store.log(ref) if c.message.startswith("import "))


def test_a_branch_made_by_another_import_after_this_one_found_it_missing_is_used(path: Path) -> None:
    mine = _store(path)
    with at_point("import.branch-missing", _other_import(path)):
        done = import_file(
            mine,
            str(_csv(path.parent / "mine.csv", range(200, 203))),
            "examples",
            ["id"],
            "upsert",
            "edits",
            "import mine",
        )
    assert done.added == 3
    assert _ids(mine, "edits") == [1, 2, 3, 100, 101, 102, 200, 201, 202]
    assert _messages(mine, "edits") == ["import mine", "import theirs"]
    assert _ids(mine, "main") == [1, 2, 3]


def test_a_failed_import_keeps_the_branch_it_made_when_another_import_wrote_on_it(path: Path) -> None:
    mine = _store(path)
    clash = _csv(path.parent / "clash.csv", range(101, 102))  # append of a key the other import added: refused
    with at_point("import.branch-ready", _other_import(path)), pytest.raises(IngestError, match="already in the table"):
        import_file(mine, str(clash), "examples", ["id"], "append", "edits", "import mine")
    assert "edits" in {b.name for b in mine.branches()}, "the other import's commit was deleted with the branch"
    assert _ids(mine, "edits") == [1, 2, 3, 100, 101, 102]
    assert _messages(mine, "edits") == ["import theirs"]


def test_a_failed_import_removes_the_branch_it_made_when_nobody_wrote_on_it(path: Path) -> None:
    store = _store(path)
    clash = _csv(path.parent / "clash.csv", range(2, 3))
    with pytest.raises(IngestError, match="already in the table"):
        import_file(store, str(clash), "examples", ["id"], "append", "edits", "import mine")
    assert [b.name for b in store.branches()] == ["main"]


def test_a_branch_removed_after_this_import_found_it_is_made_again(path: Path) -> None:
    """The import that made it failed and removed it (nothing was on it) while this one went for the lock."""
    mine, other = _store(path), _store(path)
    other.create_branch("edits")

    def removed() -> None:
        other.delete_branch("edits", force=True)

    with at_point("import.branch-ready", removed):
        import_file(
            mine,
            str(_csv(path.parent / "mine.csv", range(200, 202))),
            "examples",
            ["id"],
            "upsert",
            "edits",
            "import mine",
        )
    assert _ids(mine, "edits") == [1, 2, 3, 200, 201]
    assert _messages(mine, "edits") == ["import mine"]


def test_a_new_table_made_by_another_import_meanwhile_is_written_into(path: Path) -> None:
    mine = _store(path)
    with at_point("import.branch-missing", _other_import(path, "notes")):
        import_file(
            mine,
            str(_csv(path.parent / "mine.csv", range(200, 202))),
            "notes",
            ["id"],
            "upsert",
            "edits",
            "import mine",
        )
    assert _ids(mine, "edits", "notes") == [100, 101, 102, 200, 201]
    assert _messages(mine, "edits") == ["import mine", "import theirs"]


def test_a_branch_removed_while_this_import_waited_for_its_lock_is_made_again(path: Path) -> None:
    """Its maker's import failed and removed it (nobody had written on it) while this one held a connection to it
    and waited for the write lock: doltlite says "branch 'edits' no longer exists" (as SQLITE_BUSY); seen in
    test_concurrency as a good import failing beside a bad one."""
    mine, other = _store(path), _store(path)

    def remove() -> None:
        other.delete_branch("edits")

    with at_point("import.connected", remove):
        done = import_file(
            mine,
            str(_csv(path.parent / "mine.csv", range(200, 203))),
            "examples",
            ["id"],
            "upsert",
            "edits",
            "import mine",
        )
    assert done.added == 3
    assert _ids(mine, "edits") == [1, 2, 3, 200, 201, 202]
    assert _messages(mine, "edits") == ["import mine"]
