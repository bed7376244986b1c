"""``tusk init``: the project file, a doltlite store, and a tracking DB that plain SQLite and MLflow read."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from tusk.cli import (
    _register,  # noqa: F401
    cli,
)


def test_init_writes_config_stores_and_no_models(tmp_path: Path) -> None:
    root = tmp_path / "p"
    result = CliRunner().invoke(cli, ["init", str(root)])
    assert result.exit_code == 0, result.output
    config = tomllib.loads((root / "tusk.toml").read_text())
    assert set(config) == {"data", "tracking", "executor", "release"}
    assert "# [[models]]" in (root / "tusk.toml").read_text(), "a commented example, no models"
    assert (root / "data" / "training.db").is_file()
    db = root / ".tusk" / "mlflow.db"
    plain = subprocess.run(
        [
            "/usr/bin/python3",
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]);"
            "print(c.execute(\"select name from experiments where name='tusk'\").fetchone()[0])",
            str(db),
        ],
        capture_output=True,
        text=True,
    )
    assert plain.returncode == 0 and plain.stdout.strip() == "tusk", plain.stderr
    again = CliRunner().invoke(cli, ["init", str(root)])
    assert again.exit_code == 1 and "already exists" in again.output


def test_example_intents_is_deterministic_and_declares_the_model(tmp_path: Path) -> None:
    for name in ("a", "b"):
        assert CliRunner().invoke(cli, ["init", str(tmp_path / name), "--example", "intents"]).exit_code == 0
    first, second = (tmp_path / n / "data" / "examples.csv" for n in ("a", "b"))
    assert first.read_bytes() == second.read_bytes()
    lines = first.read_text().splitlines()
    assert lines[0] == "id,customer,text,label" and len(lines) == 1 + 20 * 8 * 15
    config = tomllib.loads((tmp_path / "a" / "tusk.toml").read_text())
    [model] = config["models"]
    assert model["name"] == "intent-{customer}" and model["train"] == "models/intent.py:train"
    assert (tmp_path / "a" / "models" / "intent.py").is_file()
    bad = CliRunner().invoke(cli, ["init", str(tmp_path / "c"), "--example", "nope"])
    assert bad.exit_code == 2


def test_git_add_all_leaves_the_data_store_and_its_lock_out(tmp_path: Path) -> None:
    root = tmp_path / "p"
    assert CliRunner().invoke(cli, ["init", str(root), "--example", "intents"]).exit_code == 0
    from tusk import Project

    with Project.open(root) as project:  # touch the store so its lock file exists
        project.data.resolve("main")
    assert (root / "data" / ".training.db-lock").exists()
    subprocess.run(["git", "-C", str(root), "init", "-q"], check=True)
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    added = set(subprocess.run(["git", "-C", str(root), "ls-files"], capture_output=True, text=True).stdout.split())
    assert added == {".gitignore", "tusk.toml", "requirements.txt", "models/intent.py", "data/examples.csv"}
    assert "share it through remotes" in (root / ".gitignore").read_text()
    from tusk._internal.dist import requirement

    assert (root / "requirements.txt").read_text().splitlines()[-1] == requirement()


def test_init_adds_its_lines_to_an_existing_gitignore_once(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / ".gitignore").write_text("*.pyc\n/data/training.db\n")
    (root / "requirements.txt").write_text("tusk-mlops==0.0.9\n")
    assert CliRunner().invoke(cli, ["init", str(root)]).exit_code == 0
    lines = (root / ".gitignore").read_text().splitlines()
    assert lines[0] == "*.pyc" and lines.count("/data/training.db") == 1 and ".tusk/" in lines
    assert "/data/.training.db-lock" in lines
    assert (root / "requirements.txt").read_text() == "tusk-mlops==0.0.9\n", "the project's own pins are kept"


def test_the_distribution_is_ours_and_the_command_stays_tusk(tmp_path: Path) -> None:
    from importlib.metadata import version

    project_file = Path(__file__).parents[2] / "pyproject.toml"
    assert tomllib.loads(project_file.read_text())["project"]["name"] == "tusk-mlops"
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and version("tusk-mlops") in result.output


def test_example_adapters_declares_a_base_and_an_adapter_per_customer(tmp_path: Path) -> None:
    root = tmp_path / "fleet"
    assert CliRunner().invoke(cli, ["init", str(root), "--example", "adapters"]).exit_code == 0
    config = tomllib.loads((root / "tusk.toml").read_text())
    base, adapter = config["models"]
    assert base["name"] == "base" and adapter["needs"] == ["base"] and adapter["setup"] == "models/adapter.py:load_base"
    assert {p.name for p in (root / "models").iterdir()} == {"base.py", "adapter.py"}
    lines = (root / "data" / "examples.csv").read_text().splitlines()
    assert len({line.split(",")[1] for line in lines[1:]}) == 10 and len(lines) == 1 + 10 * 8 * 15
    from tusk._internal.dist import requirement

    assert (root / "requirements.txt").read_text().splitlines()[-1] == requirement("adapters")
    assert requirement("adapters").startswith("tusk-mlops[adapters]")
    from tusk.core.config import load_config

    assert load_config(root / "tusk.toml").models[1].needs == {"base": "base"}


def git_out(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True).stdout.strip()


def test_init_makes_a_git_repository_with_a_first_commit(tmp_path: Path) -> None:
    root = tmp_path / "p"
    result = CliRunner().invoke(cli, ["init", str(root), "--example", "intents", "--json"])
    assert result.exit_code == 0, result.output
    made = json.loads(result.stdout)
    assert made["git_commit"] == git_out(root, "rev-parse", "HEAD") and made["git_note"] == ""
    committed = set(git_out(root, "ls-files").split())
    assert committed == {".gitignore", "tusk.toml", "requirements.txt", "models/intent.py", "data/examples.csv"}
    assert git_out(root, "status", "--porcelain") == "", "nothing left uncommitted: the data store is ignored"
    assert len(git_out(root, "log", "--oneline").splitlines()) == 1
    from tusk._internal.git import code_version

    commit, dirty = code_version(root, ["tusk.toml", "models/intent.py"])
    assert commit == made["git_commit"] and not dirty, "the first model's code is committed: reproduce can use it"
    shown = CliRunner().invoke(cli, ["init", str(tmp_path / "q")])
    assert "git repository  first commit" in shown.output


def test_init_without_a_git_identity_still_commits(tmp_path: Path) -> None:
    empty = tmp_path / "gitconfig"
    empty.write_text("")
    env = {"GIT_CONFIG_GLOBAL": str(empty), "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(tmp_path)}
    env.update({name: None for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "EMAIL")})
    env["GIT_COMMITTER_EMAIL"] = None
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "p")], env=env)
    assert result.exit_code == 0, result.output
    assert git_out(tmp_path / "p", "log", "-1", "--format=%an <%ae>") == "tusk init <tusk@localhost>"


def test_init_inside_a_repository_or_with_no_git_makes_none(tmp_path: Path) -> None:
    outer = tmp_path / "repo"
    outer.mkdir()
    subprocess.run(["git", "-C", str(outer), "init", "-q"], check=True)
    result = CliRunner().invoke(cli, ["init", str(outer / "proj"), "--json"])
    assert result.exit_code == 0, result.output
    made = json.loads(result.stdout)
    assert made["git_commit"] is None and "inside the git repository" in made["git_note"]
    assert not (outer / "proj" / ".git").exists()
    (outer / ".gitignore").write_text("demo/\n")  # a folder the outer repository ignores (make demo's): its own
    assert CliRunner().invoke(cli, ["init", str(outer / "demo")]).exit_code == 0
    assert (outer / "demo" / ".git").is_dir() and git_out(outer / "demo", "rev-parse", "--show-toplevel") == str(
        (outer / "demo").resolve()
    )
    assert CliRunner().invoke(cli, ["init", str(tmp_path / "plain"), "--no-git"]).exit_code == 0
    assert not (tmp_path / "plain" / ".git").exists()


def test_requirement_is_written_as_this_tusk_was_installed(tmp_path: Path) -> None:
    from tusk._internal.dist import install_source

    assert install_source(direct_url={}).requirement == "tusk-mlops==0.1.0", "from an index: the version"
    vcs = {"url": "https://github.com/o/tusk", "vcs_info": {"vcs": "git", "commit_id": "abc123"}}
    got = install_source("adapters", vcs)
    assert got == type(got)("tusk-mlops[adapters] @ git+https://github.com/o/tusk@abc123")
    wheel = {"url": "https://example.com/tusk_mlops-0.1.0-py3-none-any.whl", "archive_info": {}}
    assert install_source(direct_url=wheel).requirement == f"tusk-mlops @ {wheel['url']}"
    assert not install_source(direct_url=wheel).warning
    local = install_source(direct_url={"url": f"file://{tmp_path}", "dir_info": {"editable": True}})
    assert local.requirement == f"tusk-mlops @ file://{tmp_path}" and "cannot reach" in local.warning
    local_wheel = install_source(direct_url={"url": f"file://{tmp_path}/t.whl", "archive_info": {}})
    assert "cannot reach" in local_wheel.warning
    clone = tmp_path / "clone"
    clone.mkdir()
    git = ["git", "-C", str(clone), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "remote", "add", "origin", "git@github.com:o/tusk.git"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    head = git_out(clone, "rev-parse", "HEAD")
    checkout = install_source(direct_url={"url": f"file://{clone}", "dir_info": {"editable": True}})
    assert checkout.requirement == f"tusk-mlops @ git+ssh://git@github.com/o/tusk.git@{head}"
    assert "push it" in checkout.warning, "a commit no remote branch holds yet"


def test_ci_github_warns_of_a_requirement_on_a_local_path(tmp_path: Path) -> None:
    root = tmp_path / "p"
    assert CliRunner().invoke(cli, ["init", str(root), "--no-git"]).exit_code == 0
    (root / "requirements.txt").write_text(f"# pins\ntusk-mlops @ file://{tmp_path}/wheels/t.whl\nscikit-learn\n")
    result = CliRunner().invoke(cli, ["-C", str(root), "ci", "github", "--json"])
    assert result.exit_code == 0, result.output
    warnings = json.loads(result.stdout)["warnings"]
    assert any("requirements.txt line 2 installs from a path on this machine" in w for w in warnings), warnings
    (root / "requirements.txt").write_text("tusk-mlops @ git+https://github.com/o/tusk@abc\n")
    result = CliRunner().invoke(cli, ["-C", str(root), "ci", "github", "--json"])
    assert not any("path on this machine" in w for w in json.loads(result.stdout)["warnings"])


def test_a_misspelt_key_of_tusk_toml_gets_a_did_you_mean(tmp_path: Path) -> None:
    root = tmp_path / "p"
    assert CliRunner().invoke(cli, ["init", str(root), "--example", "intents", "--no-git"]).exit_code == 0
    config = root / "tusk.toml"
    config.write_text(config.read_text().replace("promote_if =", "promote_fi ="))
    result = CliRunner().invoke(cli, ["-C", str(root), "plan"])
    assert result.exit_code == 1
    assert "promote_fi: unknown key (did you mean promote_if?)" in result.output, result.output


def test_auto_builder_says_when_docker_is_installed_but_does_not_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tusk.backends import open_builder

    tools = tmp_path / "bin"
    tools.mkdir()
    fake = tools / "docker"
    fake.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tools))  # docker alone, and its daemon does not answer
    chosen = open_builder("auto")
    assert chosen.name == "none" and not chosen.builds_images
    assert "docker is installed but does not answer" in getattr(chosen, "why", "")
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    assert getattr(open_builder("auto"), "why", None) == ""
