"""The MLflow tracker on a real sqlite store: state in one tag, aliases, promotion, rollback history."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tusk.config import Config
from tusk.errors import TrackingError
from tusk.tracking.base import InputRecord, InstanceState, TrainRecord
from tusk.tracking.mlflow import MlflowTracker


@pytest.fixture
def tracker(tmp_path: Path) -> MlflowTracker:
    config = Config(root=tmp_path, path=tmp_path / "tusk.toml")
    return MlflowTracker("sqlite:///.tusk/mlflow.db", config)


def record(tmp_path: Path, name: str, fingerprint: str, accuracy: float = 0.9,
           promote_if: str | None = None) -> TrainRecord:
    job = tmp_path / "jobs" / f"{name}-{fingerprint}"
    (job / "model").mkdir(parents=True)
    (job / "model" / "weights.txt").write_text(fingerprint)
    (job / "job.log").write_text("trained\n")
    state = InstanceState(name=name, version="", fingerprint=fingerprint, data_commit="c" * 40,
                          inputs={"examples": InputRecord("SELECT 1", {}, "d" * 64, 3)}, spec="m-{c}")
    return TrainRecord(state=state, metrics={"accuracy": accuracy}, params={"C": 1.0},
                       tags={"tusk.fingerprint": fingerprint}, output_dir=job / "model", log_file=job / "job.log",
                       seconds=1.0, resources={"cpus": 1, "gpus": 0}, promote_if=promote_if)


def test_store_is_plain_sqlite_and_starts_empty(tracker: MlflowTracker) -> None:
    tracker.ensure_ready()
    assert tracker.states() == {} and tracker.aliases() == {}
    db = tracker.sqlite_path
    out = subprocess.run(["/usr/bin/python3", "-c", "import sqlite3,sys;"
                          "print(sqlite3.connect(sys.argv[1]).execute('select count(*) from experiments').fetchone()[0])",
                          str(db)], capture_output=True, text=True)
    assert out.returncode == 0 and int(out.stdout) >= 1, out.stderr


def test_register_promote_and_state(tracker: MlflowTracker, tmp_path: Path) -> None:
    v1 = tracker.register(record(tmp_path, "m-a", "f1"))
    states = tracker.states()
    assert v1 == "1" and states["m-a"].version == "1" and states["m-a"].fingerprints == {"f1": "1"}
    assert states["m-a"].inputs["examples"].rows == 3
    v2 = tracker.register(record(tmp_path, "m-a", "f2", accuracy=0.1, promote_if="accuracy > 0.5"),
                          previous=states["m-a"])
    assert v2 == "2"
    assert tracker.aliases() == {"m-a": "1"}, "a version below promote_if is not promoted"
    state = tracker.states()["m-a"]
    assert state.version == "2" and state.fingerprints == {"f1": "1", "f2": "2"} and state.production == ["1"]
    info = tracker.version("m-a", "2")
    assert info.tags["tusk.fingerprint"] == "f2" and info.metrics == {"accuracy": 0.1}
    assert [v.version for v in tracker.versions("m-a")] == ["2", "1"]
    files = tracker.download("m-a", "1", tmp_path / "dl")
    assert (files / "weights.txt").read_text() == "f1"


def test_rollback_walks_back_through_production_history(tracker: MlflowTracker, tmp_path: Path) -> None:
    state = None
    for fp in ("f1", "f2", "f3"):
        tracker.register(record(tmp_path, "m-b", fp), previous=state)
        state = tracker.states()["m-b"]
    assert tracker.aliases()["m-b"] == "3"
    assert tracker.rollback("m-b") == ("3", "2")
    assert tracker.rollback("m-b") == ("2", "1")
    assert tracker.rollback("m-b") == ("1", "1"), "nothing earlier: nothing moves"
    assert tracker.aliases()["m-b"] == "1"
    assert tracker.rollback("m-b", to="3") == ("1", "3")
    with pytest.raises(TrackingError):
        tracker.rollback("m-b", to="42")
    assert tracker.aliases()["m-b"] == "3", "a refused rollback moves nothing"


def test_reuse_moves_the_alias_and_the_current_version(tracker: MlflowTracker, tmp_path: Path) -> None:
    tracker.register(record(tmp_path, "m-c", "f1"))
    tracker.register(record(tmp_path, "m-c", "f2"), previous=tracker.states()["m-c"])
    state = tracker.states()["m-c"]
    state.version, state.fingerprint = "1", "f1"
    tracker.reuse(state)
    assert tracker.aliases()["m-c"] == "1" and tracker.states()["m-c"].version == "1"
    assert len(tracker.versions("m-c")) == 2
