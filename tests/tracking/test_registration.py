"""Registration leaves nothing a reader can misread, whatever call it was killed after.

The registry states a killed registration can leave are built here directly with MLflow's client (what
each kill point leaves), then read back by the tracker: a pointer naming a version that was never created
is ignored (and removed by ``recover``), a version whose alias was never set is finished by ``recover``
unless someone moved production since, and NaN/inf metrics never promote.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from train_fixtures import migrated_tracking_store
from tusk.core.config import Config
from tusk.testing.tracker import record
from tusk.tracking.base import STATE_TAG, InstanceState
from tusk.tracking.mlflow import MlflowTracker
from tusk.tracking.state import RegistryView, resolve, version_state


@pytest.fixture
def tracker(tmp_path: Path) -> MlflowTracker:
    migrated_tracking_store(tmp_path)  # what ensure_ready would make, copied
    config = Config(root=tmp_path, path=tmp_path / "tusk.toml")
    tracker = MlflowTracker("sqlite:///.tusk/mlflow.db", config)
    tracker.ensure_ready()
    return tracker


def _state(name: str, fp: str, version: str = "") -> InstanceState:
    return InstanceState(name=name, version=version, fingerprint=fp, data_commit="c" * 40)


def test_an_old_style_phantom_pointer_is_ignored_then_removed(tracker: MlflowTracker) -> None:
    """What a first run killed right after create_registered_model left (before this fix)."""
    phantom = _state("m-a", "f1", "1")
    tracker.client.create_registered_model("m-a", tags={STATE_TAG: json.dumps(phantom.to_json())})
    assert tracker.states() == {}, "a state naming a version that does not exist is no state"
    notes = tracker.recover()
    assert any("m-a" in n and "v1" in n for n in notes)
    assert STATE_TAG not in tracker.client.get_registered_model("m-a").tags


def test_a_new_model_killed_before_its_version_is_planned_new_and_registers_v1(
    tracker: MlflowTracker, tmp_path: Path
) -> None:
    tracker.client.create_registered_model("m-b", tags={STATE_TAG: json.dumps(_state("m-b", "f0", "1").to_json())})
    assert "m-b" not in tracker.states()
    version = tracker.register(record(tmp_path, "m-b", "f1"), previous=None)
    assert version == "1"
    state = tracker.states()["m-b"]
    assert (state.version, state.fingerprint, state.fingerprints) == ("1", "f1", {"f1": "1"})
    assert tracker.aliases()["m-b"] == "1"


def test_a_version_without_its_alias_is_finished_by_recover(tracker: MlflowTracker, tmp_path: Path) -> None:
    tracker.register(record(tmp_path, "m-c", "f1"))
    first = tracker.states()["m-c"]
    run = tracker.client.create_run(tracker.experiment_id)
    tags = {"tusk.fingerprint": "f2", STATE_TAG: version_state(_state("m-c", "f2"), first, promote=True)}
    tracker.client.create_model_version("m-c", "file:///x", run_id=run.info.run_id, tags=tags)  # killed here
    state = tracker.states()["m-c"]
    assert (state.version, state.fingerprint, state.fingerprints) == ("2", "f2", {"f1": "1", "f2": "2"})
    assert tracker.aliases()["m-c"] == "1"
    assert tracker.recover() and tracker.aliases()["m-c"] == "2"
    assert tracker.recover() == [], "nothing left to finish"


def test_recover_leaves_a_production_alias_someone_moved(tracker: MlflowTracker, tmp_path: Path) -> None:
    tracker.register(record(tmp_path, "m-d", "f1"))
    tracker.register(record(tmp_path, "m-d", "f2"), previous=tracker.states()["m-d"])
    state = tracker.states()["m-d"]
    run = tracker.client.create_run(tracker.experiment_id)
    tags = {STATE_TAG: version_state(_state("m-d", "f3"), state, promote=True)}
    tracker.client.create_model_version("m-d", "file:///x", run_id=run.info.run_id, tags=tags)
    tracker.client.set_registered_model_alias("m-d", "production", "1")  # moved outside tusk meanwhile
    tracker.recover()
    assert tracker.aliases()["m-d"] == "1"


def test_moves_without_a_version_are_kept_over_older_versions(tracker: MlflowTracker, tmp_path: Path) -> None:
    tracker.register(record(tmp_path, "m-e", "f1"))
    tracker.register(record(tmp_path, "m-e", "f2"), previous=tracker.states()["m-e"])
    tracker.rollback("m-e")
    assert tracker.aliases()["m-e"] == "1" and tracker.states()["m-e"].version == "2"
    assert tracker.recover() == [], "a rollback is not an unfinished registration"
    state = tracker.states()["m-e"]
    state.version = "1"
    tracker.reuse(state)
    assert tracker.states()["m-e"].version == "1"
    tracker.register(record(tmp_path, "m-e", "f3"), previous=tracker.states()["m-e"])
    assert tracker.states()["m-e"].version == "3", "a newer version outranks the pointer"
    assert tracker.states()["m-e"].fingerprints == {"f1": "1", "f2": "2", "f3": "3"}


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_metrics_never_promote(tracker: MlflowTracker, tmp_path: Path, value: float) -> None:
    tracker.register(record(tmp_path, "m-f", "f1"))
    bad = record(tmp_path, "m-f", f"f2{value}", accuracy=value)
    tracker.register(bad, previous=tracker.states()["m-f"])
    assert not bad.promoted and "accuracy" in bad.not_promoted
    assert tracker.aliases()["m-f"] == "1"
    assert tracker.states()["m-f"].version == "2"
    version = tracker.version("m-f", "2")
    assert version.tags["tusk.not_promoted"].startswith("metric accuracy is")
    assert tracker.recover() == []


def test_a_version_without_a_state_does_not_hide_the_current_one(tracker: MlflowTracker, tmp_path: Path) -> None:
    """A review's candidate: a newer version with no tusk.state tag (and no alias) is never current."""
    tracker.register(record(tmp_path, "m-g", "f1"))
    run = tracker.client.create_run(tracker.experiment_id)
    tracker.client.create_model_version("m-g", "file:///x", run_id=run.info.run_id, tags={"tusk.fingerprint": "c"})
    state = tracker.states()["m-g"]
    assert (state.version, state.fingerprint) == ("1", "f1")
    assert tracker.recover() == []
    tracker.register(record(tmp_path, "m-g", "f3"), previous=state)
    assert tracker.states()["m-g"].version == "3" and tracker.aliases()["m-g"] == "3"


def test_resolve_without_any_registry() -> None:
    assert resolve(RegistryView()).states == {}
