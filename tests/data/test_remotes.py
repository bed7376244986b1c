"""Sharing training data through doltlite remotes: the analyst → reviewer → trainer flow with separate
clones of one ``file://`` remote, and every refusal (behind, conflict, bad remote) loses nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from train_fixtures import TrainProject, make_project, rows
from tusk.data.doltlite import DoltliteStore


def cli(*args: str, code: int = 0) -> str:
    from tusk.cli import _register  # noqa: F401
    from tusk.cli import cli as root

    result = CliRunner().invoke(root, list(args), catch_exceptions=False)
    assert result.exit_code == code, f"tusk {' '.join(args)} exited {result.exit_code}:\n{result.output}"
    return result.output


def remote_head(remote: Path, branch: str = "main") -> str:
    store = DoltliteStore("doltlite:///remote", path=remote)
    try:
        return store.resolve(branch)
    finally:
        store.close()


def shared_trainer(tmp_path: Path) -> tuple[TrainProject, Path]:
    """A trained project whose tusk.toml names the shared remote (relative to the project)."""
    trainer = make_project(tmp_path / "trainer")
    config = (trainer.root / "tusk.toml").read_text()
    config = config.replace(
        'branch = "main"\n', 'branch = "main"\nremotes = { origin = "../../shared/training.db" }\n', 1
    )
    (trainer.root / "tusk.toml").write_text(config)
    trainer.run()
    trainer.tusk("data", "push")
    return trainer, tmp_path / "shared" / "training.db"


def test_analyst_reviewer_trainer_flow(tmp_path: Path) -> None:
    trainer, remote = shared_trainer(tmp_path)
    assert remote_head(remote) == trainer.head()

    # the analyst clones the data alone (a new project), fixes one row on a branch and pushes it
    cli("data", "clone", str(remote), str(tmp_path / "analyst"))
    analyst = TrainProject(tmp_path / "analyst")
    assert analyst.head() == trainer.head()
    fixed = [r for r in rows() if r[0] == 1]
    fixed[0][3] = "relabelled"
    analyst.import_rows(fixed, branch="fix", message="relabel row 1")
    analyst.tusk("data", "push", "--branch", "fix")

    # the reviewer has the project's code from git and shares the tracking server: clone the data into it
    reviewer_root = tmp_path / "reviewer"
    reviewer_root.mkdir()
    shutil.copytree(trainer.root / "models", reviewer_root / "models")
    tracking = f'url = "sqlite:///{trainer.root / ".tusk" / "mlflow.db"}"'
    (reviewer_root / "tusk.toml").write_text(
        (trainer.root / "tusk.toml")
        .read_text()
        .replace('url = "sqlite:///.tusk/mlflow.db"', tracking)
        .replace("../../shared/training.db", f"file://{remote}")
    )
    cli("data", "clone", str(remote), str(reviewer_root))
    reviewer = TrainProject(reviewer_root)
    pulled = reviewer.json("data", "pull")
    assert pulled["changed"] is False
    assert {b["name"] for b in pulled["remote_branches"]} == {"origin/main", "origin/fix"}
    diff = reviewer.json("data", "diff", "main", "origin/fix")
    assert [(t["table"], t["added"], t["modified"], t["removed"]) for t in diff["tables"]] == [("examples", 0, 1, 0)]
    plan = reviewer.plan("--at", "origin/fix")
    assert {n: p["status"] for n, p in plan.items() if p["status"] != "fresh"} == {"m-c1": "stale"}
    assert plan["m-c1"]["reasons"] == [f"examples: 1 row modified since {trainer.head()[:7]}"]
    reviewer.tusk("data", "merge", "origin/fix")
    reviewer.tusk("data", "push")
    assert remote_head(remote) == reviewer.head() != trainer.head()

    # the trainer pulls (a fast-forward) and retrains exactly the one model the fix touched
    before = trainer.head()
    pulled = trainer.json("data", "pull")
    assert pulled["changed"] and pulled["fast_forward"] and trainer.head() == reviewer.head() != before
    jobs = trainer.run()
    assert {n: j["status"] for n, j in jobs.items()} == {"m-c1": "succeeded"}
    assert jobs["m-c1"]["version"] == "2"


def test_a_push_that_is_behind_is_refused_and_sends_nothing(tmp_path: Path) -> None:
    trainer, remote = shared_trainer(tmp_path)
    cli("data", "clone", str(remote), str(tmp_path / "other"))
    other = TrainProject(tmp_path / "other")
    other.import_rows([[500, "c0", "new text", "l1"]], message="other adds a row")
    other.tusk("data", "push")
    trainer.import_rows([[600, "c1", "more text", "l2"]], message="trainer adds a row")
    pushed_by_other = remote_head(remote)

    refused = trainer.tusk("data", "push", code=1)
    assert refused.output.count("\n") == 1 and "push rejected" in refused.output and "tusk data pull" in refused.output
    assert remote_head(remote) == pushed_by_other

    trainer.tusk("data", "pull")  # a real merge of both rows
    ids = trainer.json("data", "sql", "SELECT id FROM examples WHERE id >= 500 ORDER BY id")["rows"]
    assert ids == [[500], [600]]
    trainer.tusk("data", "push")
    assert remote_head(remote) == trainer.head()


def test_a_conflicting_pull_is_reported_and_merges_nothing(tmp_path: Path) -> None:
    trainer, remote = shared_trainer(tmp_path)
    cli("data", "clone", str(remote), str(tmp_path / "other"))
    other = TrainProject(tmp_path / "other")
    other.import_rows([[3, "c3", "text 3", "theirs"]])
    other.tusk("data", "push")
    trainer.import_rows([[3, "c3", "text 3", "ours"]])
    head = trainer.head()

    failed = trainer.tusk("data", "pull", code=1)
    assert "conflicts in 1 row" in failed.output and "id=3" in failed.output and "nothing was merged" in failed.output
    assert trainer.head() == head
    assert trainer.json("data", "sql", "SELECT label FROM examples WHERE id = 3")["rows"] == [["ours"]]


def test_clone_failures_leave_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "new"
    out = cli("data", "clone", str(tmp_path / "missing" / "training.db"), str(target), code=1)
    assert out.startswith("error: cannot clone") and out.count("\n") == 1
    assert not target.exists(), "the folder the clone made is gone"
    existing = tmp_path / "checkout"
    (existing / "models").mkdir(parents=True)
    out = cli("data", "clone", str(tmp_path / "missing" / "training.db"), str(existing), code=1)
    assert sorted(p.name for p in existing.iterdir()) == ["models"], "only what was there before"

    trainer, remote = shared_trainer(tmp_path)
    head = trainer.head()
    out = cli("data", "clone", str(remote), str(trainer.root), code=1)
    assert "already exists" in out and trainer.head() == head


def test_remote_commands_refuse_bad_input(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    head = project.head()
    assert "unknown remote 'origin'" in project.tusk("data", "push", code=1).output
    assert "invalid remote name" in project.tusk("data", "remote", "add", "bad name", "/x", code=1).output
    assert "remote url 'ftp://x/y'" in project.tusk("data", "remote", "add", "up", "ftp://x/y", code=1).output
    project.tusk("data", "remote", "add", "up", str(tmp_path / "r.db"))
    project.tusk("data", "remote", "add", "up", str(tmp_path / "r.db"))  # the same again is fine
    assert "already points at" in project.tusk("data", "remote", "add", "up", "/elsewhere.db", code=1).output
    assert "unknown branch 'nope'" in project.tusk("data", "push", "up", "--branch", "nope", code=1).output
    assert "cannot fetch from up" in project.tusk("data", "pull", "up", code=1).output  # nothing there yet
    project.tusk("data", "push", "up")
    assert "has no branch 'other'" in project.tusk("data", "pull", "up", "--branch", "other", code=1).output
    assert [r["name"] for r in project.json("data", "remote")["remotes"]] == ["up"]
    project.tusk("data", "remote", "remove", "up")
    assert project.json("data", "remote")["remotes"] == []
    assert project.head() == head


def test_remote_add_and_remove_write_tusk_toml_and_keep_its_comments(tmp_path: Path) -> None:
    import tomllib

    project = make_project(tmp_path)
    config = project.root / "tusk.toml"
    config.write_text(config.read_text().replace('branch = "main"', 'branch = "main"   # the branch tusk trains from'))
    before = config.read_text()
    shared = tmp_path / "shared" / "training.db"
    added = project.json("data", "remote", "add", "origin", str(shared))
    assert added["url"] == f"file://{shared}"
    text = config.read_text()
    assert "# the branch tusk trains from" in text and text.startswith(before.split("[tracking]")[0].rstrip())
    assert tomllib.loads(text)["data"]["remotes"] == {"origin": f"file://{shared}"}
    project.tusk("data", "push")  # commands after it read the remote from tusk.toml
    project.tusk("data", "remote", "add", "backup", "https://data.example.com/tusk/training")
    assert set(tomllib.loads(config.read_text())["data"]["remotes"]) == {"origin", "backup"}

    for bad in (["bad name", "/x"], ["up", "ftp://x/y"], ["origin", "/elsewhere.db"]):
        unchanged = config.read_text()
        project.tusk("data", "remote", "add", *bad, code=1)
        assert config.read_text() == unchanged, f"a refused add leaves tusk.toml alone: {bad}"
    assert "no remote named 'nope'" in project.tusk("data", "remote", "remove", "nope", code=1).output

    project.tusk("data", "remote", "remove", "backup")
    project.tusk("data", "remote", "remove", "origin")
    assert config.read_text() == before, "removing both gives the file back as it was"
    assert project.json("data", "remote")["remotes"] == []


def test_an_inline_remotes_table_stays_inline(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    config = project.root / "tusk.toml"
    config.write_text(config.read_text().replace('branch = "main"\n', 'branch = "main"\nremotes = { }\n', 1))
    project.tusk("data", "remote", "add", "origin", str(tmp_path / "r.db"))
    assert f'remotes = {{ origin = "file://{tmp_path / "r.db"}"' in config.read_text().replace("{  ", "{ ")
