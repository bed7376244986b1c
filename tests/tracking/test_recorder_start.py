"""The recorder's start (``tusk.tracking.recorder``), which a 1-model ``tusk run`` waits for: MLflow is imported with
its
optional data-science packages hidden (a registration uses none of them), and the unhappy orders around that:
a record that needs one of them after all, an MLflow that cannot start without one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tusk._internal.sqlite import child_env
from tusk.tracking.base import InputRecord, InstanceState, TrainRecord
from tusk.tracking.recorder import HIDE_ENV, OPTIONAL, Recorder


def _init(tmp_path: Path) -> Path:
    from tusk.cli import (
        _register,  # noqa: F401
        cli,
    )

    root = tmp_path / "proj"
    result = CliRunner().invoke(cli, ["init", str(root)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return root


def _record(root: Path, name: str, params: dict[str, object]) -> TrainRecord:
    job = root / ".tusk" / "jobs" / "test" / name
    (job / "model").mkdir(parents=True)
    (job / "model" / "weights.txt").write_text("w")
    (job / "job.log").write_text("log\n")
    state = InstanceState(
        name=name,
        version="",
        fingerprint=f"f-{name}",
        data_commit="c" * 40,
        inputs={"examples": InputRecord("SELECT 1", {}, "d", 1)},
        spec="m-{customer}",
    )
    return TrainRecord(
        state=state,
        metrics={"accuracy": 0.9},
        params=params,
        tags={"tusk.seconds": "0.01"},
        output_dir=job / "model",
        log_file=job / "job.log",
        seconds=0.01,
        resources={"cpus": 1, "gpus": 0},
    )


def _client(root: Path) -> object:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{root / '.tusk' / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _loaded_after(root: Path, code: str) -> list[str]:
    """The optional packages loaded in a fresh process after ``code`` ran."""
    probe = (
        f"import json, sys\nfrom pathlib import Path\nroot = Path(sys.argv[1])\n{code}\n"
        f"print(json.dumps(sorted(m for m in {OPTIONAL!r} if m in sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(root)],
        capture_output=True,
        text=True,
        timeout=300,
        env=child_env({"MLFLOW_DISABLE_TELEMETRY": "true"}),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def test_the_recorder_starts_mlflow_without_its_optional_packages(tmp_path: Path) -> None:
    root = _init(tmp_path)
    assert {"numpy", "pandas"} <= set(_loaded_after(root, "import mlflow.tracking")), (
        "a plain import of MLflow loads them (what the recorder saves)"
    )
    started = (
        "import gc\nfrom tusk.tracking.recorder import start_tracker\nstart_tracker(root)\n"
        "assert gc.isenabled(), 'the collector runs again after the start'\n"
        "assert gc.get_freeze_count() > 10000, 'what the start made is frozen, never scanned again'"
    )
    assert _loaded_after(root, started) == []
    assert (root / ".tusk" / "mlflow.db").is_file(), "the tracker is ready: its store is made"


def test_a_record_that_needs_a_hidden_package_after_the_start_is_registered(tmp_path: Path) -> None:
    """The packages are hidden only while MLflow starts: a record carrying a numpy number (unpickled in the
    recorder) imports numpy then, as usual."""
    import numpy

    root = _init(tmp_path)
    recorder = Recorder(root)
    recorder.submit("m-a", _record(root, "m-a", {"alpha": numpy.float64(0.5)}), None)
    answers = list(recorder.close())
    assert [(a.key, a.version, a.error) for a in answers] == [("m-a", "1", "")]
    client = _client(root)
    version = client.get_model_version("m-a", "1")  # type: ignore[attr-defined]
    assert client.get_run(version.run_id).data.params == {"alpha": "0.5"}  # type: ignore[attr-defined]


def test_a_tracker_that_cannot_start_without_a_hidden_package_starts_again_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another MLflow (or a plugin) that imports one of the hidden packages unguarded: the recorder starts again
    without hiding any, and registers; it does not die, nor start again forever."""
    root = _init(tmp_path)
    monkeypatch.setenv(HIDE_ENV, "numpy,sqlalchemy")  # MLflow's SQL store cannot import without SQLAlchemy
    recorder = Recorder(root)
    recorder.submit("m-a", _record(root, "m-a", {}), None)
    recorder.submit("m-b", _record(root, "m-b", {}), None)
    answers = list(recorder.close())
    assert [(a.key, a.version, a.error) for a in answers] == [("m-a", "1", ""), ("m-b", "1", "")]
    assert recorder.process.returncode == 0


def test_a_store_of_an_older_mlflow_schema_is_refused_in_one_line_and_not_mistaken_for_a_hidden_package(
    tmp_path: Path,
) -> None:
    """A store whose schema is older than this MLflow's (made by an older MLflow): the recorder does not start again
    without hiding (that would not help), and answers every record with MLflow's reason, which the run shows."""
    import sqlite3

    from tusk import Project

    root = _init(tmp_path)
    with Project.open(root) as project:
        project.tracker.ensure_ready()
    store = root / ".tusk" / "mlflow.db"
    with sqlite3.connect(store) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '451aebb31d03'")  # MLflow's first schema
    recorder = Recorder(root)
    recorder.submit("m-a", _record(root, "m-a", {}), None)
    recorder.submit("m-b", _record(root, "m-b", {}), None)
    answers = list(recorder.close())
    assert [a.key for a in answers] == ["m-a", "m-b"] and all(a.version is None for a in answers)
    assert "out-of-date database schema" in answers[0].error and "\n" not in answers[0].error, answers[0].error
    assert answers[0].error.startswith("cannot open the tracking store"), answers[0].error
    assert recorder.process.returncode == 0
    with sqlite3.connect(store) as conn:
        assert conn.execute("SELECT count(*) FROM model_versions").fetchone() == (0,), "nothing written"
