"""``tusk init``: the project file, a doltlite store, and a tracking DB that plain SQLite and MLflow read."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

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
    assert (root / "requirements.txt").read_text().splitlines()[-1] == "tusk-mlops==0.1.0"


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
    assert (root / "requirements.txt").read_text().splitlines()[-1] == "tusk-mlops[adapters]==0.1.0"
    from tusk.core.config import load_config

    assert load_config(root / "tusk.toml").models[1].needs == {"base": "base"}
