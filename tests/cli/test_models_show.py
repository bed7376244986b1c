"""``tusk models show NAME`` says what the current version scored: its metrics above the versions, and in --json
as the added key ``current`` (the versions' shape unchanged)."""

from __future__ import annotations

from pathlib import Path

from train_fixtures import trained_project


def test_models_show_has_the_current_versions_metrics(tmp_path: Path) -> None:
    project = trained_project(tmp_path)
    shown = project.json("models", "show", "m-c1")
    assert set(shown) == {"name", "versions", "current"}
    assert set(shown["versions"][0]) == {
        "version",
        "aliases",
        "data_commit",
        "code_commit",
        "fingerprint",
        "run_id",
        "created",
    }
    current = shown["current"]
    assert current["version"] == shown["versions"][0]["version"] == "1"
    assert current["metrics"] == {"accuracy": 0.9, "rows": 10.0}
    text = project.tusk("models", "show", "m-c1").stdout
    assert text.splitlines()[0] == "current v1: accuracy 0.9, rows 10"
