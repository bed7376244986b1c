"""``tusk watch`` and ``tusk ci github`` on real projects."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest


from train_fixtures import make_project, rows
from tusk.ci_github import workflow
from tusk.config import load_config
from tusk.errors import ConfigError, LockHeld
from tusk.triggers import project_lock


def test_watch_once_trains_new_commits_and_survives_failures(tmp_path: Path) -> None:
    project = make_project(tmp_path, customers=2, params={"fail": "c9"})
    first = project.json("watch", "--once")["ticks"][0]
    assert first["changed"] and first["jobs"] == 2 and first["failed"] == 0
    assert project.json("watch", "--once")["ticks"][0]["changed"] is False, "nothing new: nothing to do"
    data = rows(2) + [[500, "c9", "x", "l0"]]
    project.import_rows(data, message="adds c9, whose model fails")
    result = project.tusk("watch", "--once", "--json", code=3)
    assert '"failed": 1' in result.stdout
    again = project.json("watch", "--once")["ticks"][0]
    assert not again["changed"], "a failing state is handled once, not retried in a loop"
    project.import_rows(rows(2), mode="replace", message="drops c9")
    nxt = project.json("watch", "--once")["ticks"][0]
    assert nxt["changed"] and nxt["failed"] == 0
    log = (project.root / ".tusk" / "watch.log").read_text()
    assert "1 failed" in log


def test_watch_releases_only_when_auto(tmp_path: Path) -> None:
    project = make_project(tmp_path, customers=1)
    config = (project.root / "tusk.toml").read_text()
    config = config.replace('builder = "auto"', 'builder = "none"\nauto = true')
    (project.root / "tusk.toml").write_text(config)
    tick = project.json("watch", "--once")["ticks"][0]
    assert tick["release"] and project.json("release", "current")["md5"] == tick["release"]


def test_one_watcher_per_project(tmp_path: Path) -> None:
    lock = tmp_path / "watch.lock"
    with project_lock(lock):
        script = ("import sys; from tusk.triggers import project_lock\n"
                  "from pathlib import Path\n"
                  "try:\n    project_lock(Path(sys.argv[1])).__enter__()\nexcept Exception as e:\n    print(e)")
        out = subprocess.run([sys.executable, "-c", script, str(lock)], capture_output=True, text=True).stdout
        assert "another watcher runs for this project" in out and f"pid {__import__('os').getpid()}" in out
        with pytest.raises(LockHeld):
            with project_lock(lock):
                pass
    with project_lock(lock):
        pass  # free again once released


@pytest.fixture
def config(tmp_path: Path):
    project = make_project(tmp_path, customers=2)
    return load_config(project.root / "tusk.toml")


def test_workflow_shape_and_limits(config) -> None:
    data = workflow(config, shards=3, runs_on=["self-hosted", "gpu"], max_parallel=2)
    train = data["jobs"]["train"]
    assert train["runs-on"] == ["self-hosted", "gpu"] and data["jobs"]["plan"]["runs-on"] == ["self-hosted"]
    assert train["strategy"] == {"fail-fast": False, "max-parallel": 2, "matrix": {"shard": [1, 2, 3]}}
    assert "--shard" in train["steps"][-1]["run"] and "/3" in train["steps"][-1]["run"]
    assert data["on"]["push"]["paths"] == ["models/m.py", "tusk.toml"]
    assert set(data["on"]["workflow_dispatch"]["inputs"]) == {"data_ref", "only"}
    assert data["on"]["repository_dispatch"]["types"] == ["tusk-data-push"]
    assert data["jobs"]["release"]["needs"] == ["plan", "train"]
    with pytest.raises(ConfigError, match="at most 256"):
        workflow(config, shards=257)
    assert workflow(config, shards=256)["jobs"]["train"]["strategy"]["matrix"]["shard"][-1] == 256


@pytest.mark.parametrize("options", [[], ["--shards", "8", "--runs-on", "self-hosted", "--runs-on", "gpu",
                                          "--max-parallel", "4", "--timeout-minutes", "90"]])
def test_generated_workflow_passes_the_github_schema(tmp_path: Path, options: list[str]) -> None:
    project = make_project(tmp_path, customers=1)
    project.tusk("ci", "github", *options)
    path = project.root / ".github" / "workflows" / "tusk.yml"
    first = path.read_bytes()
    project.tusk("ci", "github", *options)
    assert path.read_bytes() == first, "deterministic output"
    checker = shutil.which("check-jsonschema") or str(Path(sys.executable).with_name("check-jsonschema"))
    result = subprocess.run([checker, "--builtin-schema", "vendor.github-workflows", str(path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
