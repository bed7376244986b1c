"""``tusk init``: the project file, a doltlite store, and a tracking DB that plain SQLite and MLflow read."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

from click.testing import CliRunner

from tusk.cli import _register  # noqa: F401
from tusk.cli import cli


def test_init_writes_config_stores_and_no_models(tmp_path: Path) -> None:
    root = tmp_path / "p"
    result = CliRunner().invoke(cli, ["init", str(root)])
    assert result.exit_code == 0, result.output
    config = tomllib.loads((root / "tusk.toml").read_text())
    assert set(config) == {"data", "tracking", "executor", "release"}
    assert "# [[models]]" in (root / "tusk.toml").read_text(), "a commented example, no models"
    assert (root / "data" / "training.db").is_file()
    db = root / ".tusk" / "mlflow.db"
    plain = subprocess.run(["/usr/bin/python3", "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]);"
                            "print(c.execute(\"select name from experiments where name='tusk'\").fetchone()[0])",
                            str(db)], capture_output=True, text=True)
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
