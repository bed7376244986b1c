"""Defaults and output that fit: shell completion, 80-column tables, cost assumptions, internal models hidden."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.cells import cell_len

from train_fixtures import TrainProject, make_project

TUSK = str(Path(sys.executable).parent / "tusk")


def complete(words: str, shell: str = "bash") -> list[str]:
    env = {
        **{k: v for k, v in os.environ.items() if k != "_DOLTLITE_BOOTSTRAPPED"},
        "_TUSK_COMPLETE": f"{shell}_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - 1),
    }
    out = subprocess.run([TUSK], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [line.split(",", 1)[1] for line in out.stdout.splitlines() if "," in line]


def test_shell_completion_as_the_readme_says() -> None:
    env = {**os.environ, "_TUSK_COMPLETE": "bash_source"}
    script = subprocess.run([TUSK], env=env, capture_output=True, text=True, timeout=60).stdout
    assert "_tusk_completion()" in script and "complete -o nosort -F _tusk_completion tusk" in script
    assert complete("tusk da") == ["data"]
    assert complete("tusk data remote a") == ["add"]
    assert "--follow" in complete("tusk logs --f")
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert 'eval "$(_TUSK_COMPLETE=bash_source tusk)"' in readme


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> TrainProject:
    """Two releases of three models whose names and metrics are long enough to crowd 80 columns."""
    project = make_project(
        tmp_path_factory.mktemp("narrow"),
        customers=3,
        name="customer-intent-model-{customer}",
        params={"accuracy": 0.912345},
    )
    config = (project.root / "tusk.toml").read_text().replace('builder = "auto"', 'builder = "none"')
    (project.root / "tusk.toml").write_text(config)
    project.run()
    project.json("release", "create")
    project.import_rows([[1, "c1", "text 1", "l2"]], message="relabel one row")
    project.run()
    project.json("release", "create")
    return project


def narrow(project: TrainProject, *args: str) -> str:
    result = project.runner.invoke(
        __import__("tusk.cli", fromlist=["cli"]).cli,
        ["-C", str(project.root), *args],
        env={"COLUMNS": "80"},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def test_tables_fit_80_columns_with_every_column_headed_and_nothing_cut(released: TrainProject) -> None:
    commands = [
        ["status"],
        ["plan", "--all"],
        ["models", "list"],
        ["models", "show", "customer-intent-model-c1"],
        ["release", "list"],
        ["release", "show", "v1"],
        ["release", "diff", "v1", "v2"],
        ["release", "log"],
        ["data", "log"],
        ["cost"],
        ["lineage", "customer-intent-model-c1@2"],
        ["data", "diff"],
    ]
    for command in commands:
        text = narrow(released, *command)
        assert "\x1b[" not in text, f"{command}: colour codes when not a terminal"
        assert "…" not in text, f"{command}: a value cut short:\n{text}"
        for line in text.splitlines():
            assert cell_len(line) <= 80, f"{command}: wider than 80 columns:\n{text}"
        lines = text.splitlines()
        for number, line in enumerate(lines):
            if "╇" in line:  # the rule under a table's heading: the line above names every column
                assert all(cell.strip() for cell in lines[number - 1].split("┃")), f"{command}: unheaded:\n{text}"


def test_a_modified_cell_reads_old_to_new_without_colour(released: TrainProject) -> None:
    text = narrow(released, "data", "diff")
    assert "l1 → l2" in text and "\x1b[" not in text


def test_the_run_report_shows_whole_metric_values_in_80_columns(tmp_path: Path) -> None:
    project = make_project(
        tmp_path, customers=2, name="customer-intent-model-{customer}", params={"accuracy": 0.912345}
    )
    text = narrow(project, "run")
    assert "accuracy=0.912" in text.replace(" ", "").replace("│", "") or "accuracy=0.912" in text
    assert "…" not in text and all(cell_len(line) <= 80 for line in text.splitlines())


def test_models_list_hides_the_release_model(released: TrainProject) -> None:
    names = [m["name"] for m in released.json("models", "list")["models"]]
    assert names == [f"customer-intent-model-c{i}" for i in range(3)]
    assert "tusk-release" not in narrow(released, "models", "list")


def test_cost_of_a_cpu_only_project_prices_no_gpus_and_shows_its_assumptions(released: TrainProject) -> None:
    report = released.json("cost")
    rows = {row["option"]: row for row in report["table"]}
    assert rows["self-hosted"]["fixed"] == 2000.0, "a host, no GPUs: no recorded job used one"
    assert any("0 GPU(s) (no recorded job used a GPU" in line for line in report["assumptions"])
    text = narrow(released, "cost")
    assert "[cost]" in text and "edit any figure in [cost] of tusk.toml" in " ".join(text.split())


def test_cost_follows_owned_gpus_when_set_and_gpu_jobs_when_recorded(tmp_path: Path) -> None:
    from tusk import Project
    from tusk.tracking.base import InstanceState, TrainRecord

    project = make_project(tmp_path, customers=1)
    config = project.root / "tusk.toml"
    with Project.open(project.root) as opened:  # a job that used 2 GPUs for an hour, as a GPU runner records it
        job = project.root / ".tusk" / "gpu-job"
        (job / "model").mkdir(parents=True)
        (job / "job.log").write_text("trained on cuda:0,1\n")
        state = InstanceState(name="gpu-model", version="", fingerprint="f", data_commit="c" * 40)
        record = TrainRecord(
            state=state,
            metrics={},
            params={},
            output_dir=job / "model",
            log_file=job / "job.log",
            tags={"tusk.seconds": "3600", "tusk.cpus": "1", "tusk.gpus": "2"},
            seconds=3600,
            resources={"cpus": 1, "gpus": 2},
        )
        opened.tracker.register(record)
    report = project.json("cost")
    assert report["total"]["gpu_hours"] == 2.0
    assert {r["option"]: r for r in report["table"]}["self-hosted"]["fixed"] == 2 * 3500 + 2000
    config.write_text(config.read_text() + "\n[cost]\nowned_gpus = 8\n")
    assert {r["option"]: r for r in project.json("cost")["table"]}["self-hosted"]["fixed"] == 8 * 3500 + 2000
    config.write_text(config.read_text().replace("owned_gpus = 8", "owned_gpus = -1"))
    assert "owned_gpus" in project.tusk("cost", code=1).output


def test_progress_counts_a_retried_job_as_running_once() -> None:
    """Each attempt is "started" and ends in "retrying" or "finished": a job on its second attempt is one running."""
    from tusk.cli.run import _Display
    from tusk.execute.base import JobEvent, JobResult

    display = _Display(quiet=True)
    display.event(JobEvent("started", "a", 1))
    display.event(JobEvent("started", "b", 1))
    display.event(JobEvent("retrying", "a", 2))
    display.event(JobEvent("started", "a", 2))
    assert display.running == 2
    display.event(JobEvent("finished", "a", 2, JobResult("a", "succeeded")))
    assert display.running == 1


def test_long_json_lists_have_one_element_per_line_and_read_back_the_same() -> None:
    import json

    from tusk.cli._common import LONG_LIST, json_text

    small = {"instances": [{"name": "a", "reasons": ["x"]}], "ref": "main"}
    assert json_text(small) == json.dumps(small, indent=2), "small documents are indented as before"
    big = {
        "ref": "main",
        "instances": [{"name": f"m-{i}", "reasons": ["é", {"n": i}]} for i in range(LONG_LIST + 1)],
        "empty": [],
        "summary": {"fresh": 3},
    }
    text = json_text(big)
    assert json.loads(text) == big
    lines = text.splitlines()
    assert len(lines) == 1 + 1 + 1 + (LONG_LIST + 1) + 1 + 2 + 1 and lines[3].startswith('    {"name": "m-0"')
