"""A project copied or moved elsewhere is self-contained: MLflow's absolute artifact locations (experiments'
artifact_location, runs' artifact_uri, versions' source) follow the project, so the copy writes into its own
folder and reads its old artifacts from there, even once the original is gone (issue 23)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from train_fixtures import TrainProject, make_project

pytestmark = pytest.mark.slow


def _locations(root: Path) -> list[str]:
    db = sqlite3.connect(f"file:{root / '.tusk' / 'mlflow.db'}?mode=ro", uri=True)
    try:
        return [
            *(r[0] for r in db.execute("SELECT artifact_location FROM experiments WHERE name LIKE 'tusk%'")),
            *(r[0] for r in db.execute("SELECT artifact_uri FROM runs")),
            *(r[0] for r in db.execute("SELECT source FROM model_versions")),
        ]
    finally:
        db.close()


def test_a_copied_project_writes_and_reads_its_own_artifacts(tmp_path: Path) -> None:
    original = make_project(tmp_path / "a", customers=2)
    config = original.root / "tusk.toml"
    config.write_text(config.read_text().replace('builder = "auto"', 'builder = "none"'))
    original.tusk("run")
    copy_root = tmp_path / "b" / "proj"
    shutil.copytree(original.root, copy_root, symlinks=True)
    shutil.rmtree(original.root)
    copy = TrainProject(copy_root)
    copy.import_rows([[0, "c0", "changed", "l1"]])
    assert [j["status"] for j in copy.json("run")["jobs"]] == ["succeeded"]
    copy.tusk("logs", "m-c0@1")  # the log of a version trained before the copy, read from the copy's folder
    copy.tusk("release", "create", "--no-build")
    own = (copy_root / ".tusk" / "artifacts").resolve().as_uri()
    locations = _locations(copy_root)
    assert locations and all(loc.startswith(own) for loc in locations), locations
    assert not original.root.exists()  # nothing was written into the original's folder
    sources = [loc for loc in locations if loc.endswith("/model")]
    assert len(sources) == 3 and all(Path(src.removeprefix("file://")).is_dir() for src in sources), sources
