"""A long-lived data store: tusk collects its garbage when it has grown enough, and says so.

(How plan, log and status keep their speed over 2,000 commits is a benchmark: benchmarks/bench_longlife.py.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tusk.data.doltlite as doltlite
from train_fixtures import make_project, rows, write_csv


def test_garbage_is_collected_when_the_store_has_doubled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doltlite, "GC_FLOOR", 0)
    project = make_project(tmp_path, customers=4, per_customer=500)
    db, record = project.root / "data" / "training.db", project.root / ".tusk" / "gc.json"
    assert json.loads(record.read_text())["size"] > 0, "the first write notes the size"
    noted = json.loads(record.read_text())["size"]
    from tusk import Project
    from tusk.data.ingest import import_file

    with Project.open(project.root) as opened:  # writes that are not tusk commands: no gc after them
        for i in range(6):  # branches whose commits become garbage once deleted
            path = write_csv(tmp_path / "b.csv", [[j, f"c{j % 4}", f"branch {i} {j}", "l0"] for j in range(2000)])
            import_file(opened.data, str(path), "examples", ["id"], "replace", f"tmp{i}")  # type: ignore[arg-type]
            opened.data.delete_branch(f"tmp{i}", force=True)
    grown = db.stat().st_size
    assert grown >= 2 * noted
    result = project.tusk(
        "data",
        "import",
        str(write_csv(tmp_path / "one.csv", [[0, "c0", "one", "l1"]])),
        "--table",
        "examples",
        "--key",
        "id",
        "--mode",
        "upsert",
    )
    assert "data store: collected garbage" in result.stderr
    assert db.stat().st_size < grown and json.loads(record.read_text())["size"] == db.stat().st_size
    again = project.tusk(
        "data",
        "import",
        str(write_csv(tmp_path / "two.csv", [[1, "c1", "two", "l1"]])),
        "--table",
        "examples",
        "--key",
        "id",
        "--mode",
        "upsert",
    )
    assert "collected garbage" not in again.stderr, "not due again until it doubles again"
    assert len(project.json("data", "sql", "SELECT * FROM examples")["rows"]) == len(rows(4, 500))
