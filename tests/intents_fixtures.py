"""The intents example trained by tusk (20 customers, one MLflow model each with its logged input example), built
once per session and copied per module: what the serving, verify and "try it" tests run on."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from train_fixtures import CliProject, project_template


def _intents(folder: Path) -> CliProject:
    from click.testing import CliRunner

    from tusk.cli import (
        _register,  # noqa: F401
        cli,
    )

    root = folder / "proj"
    result = CliRunner().invoke(cli, ["init", str(root), "--example", "intents"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    project = CliProject(root)
    project.tusk("data", "import", str(root / "data" / "examples.csv"), "--table", "examples", "--key", "id", "-m", "l")
    project.tusk("run")
    return project


def intents_project(factory: pytest.TempPathFactory, name: str) -> CliProject:
    """A copy of the trained intents example (the template ``serve-intents``, shared with tests/serve)."""
    project: CliProject = project_template(factory.mktemp(name), ("serve-intents",), _intents)
    return project


def relabel_acme(root: Path) -> None:
    """acme's rows relabelled: intent-acme retrains (a new version), the other customers do not."""
    with (root / "data" / "examples.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    with (root / "edit.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        for row in rows:
            if row["customer"] == "acme":
                row = {**row, "label": "zz_refund" if int(row["id"]) % 2 else "zz_cancel"}
            writer.writerow(row)
    edit = ["data", "import", str(root / "edit.csv"), "--table", "examples", "--key", "id", "--mode", "upsert"]
    CliProject(root).tusk(*edit, "--yes", "-m", "acme relabelled")
