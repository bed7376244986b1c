"""Errors before work: a broken train entry is refused by plan and run before any job; failures that
another attempt cannot fix are not retried; a promotion refused by promote_if says why."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from train_fixtures import MODEL_CODE, make_project, model_block

BROKEN = {
    "missing file": ("models/nope.py:train", None, "models/nope.py not found"),
    "missing function": ("models/m.py:trian", None, "has no function 'trian'"),
    "import error": (
        "models/m.py:train",
        "import not_a_module_anywhere\n" + MODEL_CODE,
        "does not import: ModuleNotFoundError",
    ),
    "syntax error": ("models/m.py:train", "def train(ctx)\n    return {}\n", "does not import: SyntaxError"),
    "raises at import": (
        "models/m.py:train",
        "raise RuntimeError('no config here')\n",
        "does not import: RuntimeError: no config here",
    ),
}


@pytest.mark.parametrize(
    "case, command",
    [(case, "run") for case in sorted(BROKEN)] + [("missing function", "plan"), ("import error", "plan")],
)
def test_a_broken_entry_is_refused_before_any_job(tmp_path: Path, case: str, command: str) -> None:
    entry, code, message = BROKEN[case]
    project = make_project(tmp_path, customers=3, resources="resources = { retries = 2 }")
    if code is not None:
        (project.root / "models" / "m.py").write_text(code)
    config = (project.root / "tusk.toml").read_text().replace('train = "models/m.py:train"', f'train = "{entry}"')
    (project.root / "tusk.toml").write_text(config)
    result = project.tusk(command, code=1)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "m-{customer}" in lines[0], result.output
    assert not (project.root / ".tusk" / "jobs").exists(), "no job started"
    json_result = project.tusk(command, "--json", code=1)
    assert json_result.stdout == "" and message in json_result.stderr
    if case != "missing file":  # (the planner hashes the entry file, so without it nothing can be planned)
        assert project.json("status")["instances"], "status still shows the models"


def test_the_entry_is_imported_once_in_another_process_until_its_code_changes(tmp_path: Path) -> None:
    project = make_project(tmp_path, customers=2)
    marks = tmp_path / "imports.txt"
    counted = f"import os\nopen({str(marks)!r}, 'a').write(str(os.getpid()) + '\\n')\n" + MODEL_CODE
    (project.root / "models" / "m.py").write_text(counted)
    project.plan()
    project.plan()
    importers = marks.read_text().split()
    assert len(importers) == 1 and int(importers[0]) != os.getpid(), "one import, in a worker process"
    (project.root / "models" / "helper.py").write_text("X = 1\n")  # a file beside the entry changed
    project.plan()
    assert len(marks.read_text().split()) == 2


RUNTIME = {
    "bad return type": ("return [1, 2]", "returned list; return a dict of metrics"),
    "non-numeric metric": ("return {'accuracy': 'high'}", "metric 'accuracy' is not a number"),
    "import inside train": ("import not_a_module_anywhere", "ModuleNotFoundError"),
}


@pytest.mark.parametrize("case", sorted(RUNTIME))
def test_deterministic_failures_are_not_retried(tmp_path: Path, case: str) -> None:
    body, message = RUNTIME[case]
    project = make_project(tmp_path, customers=1, resources="resources = { retries = 3 }")
    (project.root / "models" / "m.py").write_text(f"def train(ctx):\n    {body}\n")
    [job] = project.json("run", code=3)["jobs"]
    assert job["status"] == "failed" and message in job["error"], job
    log = Path(job["log"]).read_text()
    assert log.count("started") == 1 and "not retried" in log


def test_an_ordinary_failure_is_still_retried(tmp_path: Path) -> None:
    project = make_project(tmp_path, customers=1, resources="resources = { retries = 1 }", params={"fail": "c0"})
    [job] = project.json("run", code=3)["jobs"]
    assert Path(job["log"]).read_text().count("started") == 2


def test_a_refused_promotion_says_why(tmp_path: Path) -> None:
    project = make_project(
        tmp_path, customers=2, params={"accuracy": 0.41}, extra='promote_if = "accuracy >= 0.5 and rows > 0"'
    )
    data = project.json("run")
    by_name = {j["name"]: j for j in data["jobs"]}
    assert by_name["m-c0"]["promoted"] is False and by_name["m-c0"]["promotion"] == "accuracy 0.41 < 0.5"
    assert by_name["m-c0"]["version"] == "1" and project.json("models", "list")["models"][0]["production"] is None
    project.set_models(model_block(params={"accuracy": 0.8}, extra='promote_if = "accuracy >= 0.5"'))
    text = project.tusk("run").output
    assert "promoted" in text and "yes" in text
    project.set_models(model_block(params={"accuracy": 0.3}, extra='promote_if = "accuracy >= 0.5"'))
    text = project.tusk("run").output
    assert "m-c0 kept out of production: accuracy 0.3 < 0.5" in text, text
    assert json.loads(project.tusk("models", "list", "--json").stdout)["models"][0]["production"] == "2"
