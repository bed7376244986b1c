"""``tusk reproduce``: the recorded data and code give the same fingerprint; dirty code is refused."""

from __future__ import annotations

import subprocess
from pathlib import Path

from train_fixtures import make_project, rows, trained_project


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def test_reproduce_from_recorded_commits(tmp_path: Path) -> None:
    project = make_project(tmp_path, customers=2)
    git(project.root, "init", "-q")
    git(project.root, "add", "tusk.toml", "models/m.py", ".gitignore")
    git(project.root, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "models")
    project.run()
    data = rows(2)
    data[1][3] = "changed"
    project.import_rows(data)
    (project.root / "models" / "m.py").write_text((project.root / "models" / "m.py").read_text() + "\n# later\n")
    result = project.json("reproduce", "m-c1@1")
    assert result["fingerprint_equal"] and result["fingerprint"] == result["recorded_fingerprint"]
    assert result["metric_deltas"] == {"accuracy": 0.0, "rows": 0.0}
    client = project.client()
    original = client.get_model_version("m-c1", "1")
    run = client.get_run(result["run_id"])
    assert run.data.tags["tusk.reproduces"] == original.run_id
    assert len(client.search_model_versions("name='m-c1'")) == 1, "a reproduction registers nothing"
    listed = subprocess.run(["git", "-C", str(project.root), "worktree", "list"], capture_output=True, text=True)
    assert len(listed.stdout.strip().splitlines()) == 1, "the temporary worktree is gone"
    project.run()  # the edited code trains v2 from dirty code
    refused = project.tusk("reproduce", "m-c1@2", code=1)
    assert "not committed" in refused.output
    assert project.tusk("reproduce", "m-c1", code=1).output.startswith("error: give the version")


def test_reproduce_outside_git_is_refused(tmp_path: Path) -> None:
    project = trained_project(tmp_path, customers=1)
    assert "not committed" in project.tusk("reproduce", "m-c0@1", code=1).output
