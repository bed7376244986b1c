"""Release history that sticks, on real doltlite and MLflow stores: a rollback moves every production alias
to the rolled-back release, the next create does not re-ship what was rolled back, the release log, what was
in production at a time, and a crash half-way through the alias moves finished by the next command."""

from __future__ import annotations

import datetime
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from train_fixtures import TrainProject, make_project, project_template, rows, trained_project


def production(project: TrainProject) -> dict[str, str]:
    return {m["name"]: m["production"] for m in project.json("models", "list")["models"] if m["production"]}


def status_production(project: TrainProject) -> dict[str, str]:
    return {i["name"]: i["production"] for i in project.json("status")["instances"] if i["production"]}


@pytest.fixture
def two_releases(tmp_path: Path) -> tuple[TrainProject, dict, dict]:
    return project_template(tmp_path, (__name__, "two_releases"), _two_releases)  # built once, copied for each test


def _two_releases(tmp_path: Path) -> tuple[TrainProject, dict, dict]:
    """Release A (3 models, v1 each), then c1's data changes and a fourth customer arrives: release B."""
    project = trained_project(tmp_path, customers=3)
    a = project.json("release", "create", "--no-build")
    data = rows(3)
    data[1][3] = "changed"  # id 1 → c1
    data.append([900, "c9", "a new customer", "l0"])
    project.import_rows(data, message="edit c1, add c9")
    assert sorted(project.run()) == ["m-c1", "m-c9"]
    b = project.json("release", "create", "--no-build")
    assert b["models"] == {"m-c0": "1", "m-c1": "2", "m-c2": "1", "m-c9": "1"}
    return project, a, b


def test_a_rollback_sticks(two_releases: tuple[TrainProject, dict, dict]) -> None:
    project, a, b = two_releases
    rolled = project.json("release", "rollback")
    assert (rolled["md5"], rolled["from"]) == (a["md5"], b["md5"])
    assert production(project) == a["models"], "every alias is on A's version; m-c9, not in A, has none"
    assert status_production(project) == a["models"]
    assert project.json("release", "current")["md5"] == a["md5"]
    again = project.json("release", "create", "--no-build")
    assert again["md5"] == a["md5"] and not again["created"], "the rolled-back release is not re-shipped"
    assert {i["name"]: i["status"] for i in project.json("plan")["instances"]} == {n: "fresh" for n in b["models"]}, (
        "nothing is stale: the rolled-back models stay rolled back"
    )
    assert project.json("run")["jobs"] == []
    assert project.json("release", "create", "--no-build")["md5"] == a["md5"]
    state = project.client().get_registered_model("m-c1").tags["tusk.state"]
    assert '"production": ["1"]' in state, "the production history is back where the release was"
    assert project.json("models", "rollback", "m-c1")["production"] == "1", "a model rollback goes no further"
    assert project.json("release", "create", "--no-build")["md5"] == a["md5"]


def test_a_newer_version_after_a_rollback_ships(two_releases: tuple[TrainProject, dict, dict]) -> None:
    project, a, b = two_releases
    project.json("release", "rollback")
    data = rows(3)
    data[1][3] = "changed"
    data.append([900, "c9", "a new customer", "l0"])
    data[2][3] = "c2 changes"  # id 2 → c2
    project.import_rows(data, message="edit c2")
    assert sorted(project.run()) == ["m-c2"]
    c = project.json("release", "create", "--no-build")
    assert c["created"] and c["models"] == {**a["models"], "m-c2": "2"}, "m-c1 stays rolled back, m-c9 unaliased"
    back = project.json("release", "rollback")
    assert back["md5"] == a["md5"], "back to the release deployed before C (A), not to B, which was rolled back"
    assert production(project) == a["models"]
    assert "nothing to roll back to" in project.tusk("release", "rollback", code=1).output


def test_rollback_twice_goes_back_two_deployments(two_releases: tuple[TrainProject, dict, dict]) -> None:
    project, a, b = two_releases
    data = rows(3)
    data[1][3] = "changed"
    data.append([900, "c9", "a new customer", "l0"])
    data[0][3] = "c0 changes"
    project.import_rows(data, message="edit c0")
    project.run()
    c = project.json("release", "create", "--no-build")
    assert project.json("release", "rollback")["md5"] == b["md5"] and production(project) == b["models"]
    assert project.json("release", "rollback")["md5"] == a["md5"] and production(project) == a["models"]
    assert project.json("release", "create", "--no-build")["md5"] == a["md5"]
    assert project.json("release", "rollback", f"v{c['version']}")["md5"] == c["md5"], "and forward again"
    assert production(project) == c["models"]


def test_rollback_twice_forward_and_the_log(two_releases: tuple[TrainProject, dict, dict]) -> None:
    project, a, b = two_releases
    marks = [datetime.datetime.now().isoformat()]
    time.sleep(0.05)
    project.json("release", "rollback")  # B → A
    time.sleep(0.05)
    marks.append(datetime.datetime.now().isoformat())
    time.sleep(0.05)
    assert "nothing to roll back to" in project.tusk("release", "rollback", code=1).output, "A is the first"
    forward = project.json("release", "rollback", b["md5"][:8])  # A → B
    assert forward["md5"] == b["md5"] and production(project) == b["models"]
    events = project.json("release", "log")["events"]
    assert [(e["event"], e["md5"]) for e in events] == [
        ("rolled_forward", b["md5"]),
        ("rolled_back", a["md5"]),
        ("created", b["md5"]),
        ("created", a["md5"]),
    ]
    assert all(e["user"] and e["time"] and e["status"] == "done" for e in events)
    assert events[0]["from"] == a["md5"] and events[1]["from"] == b["md5"]
    assert [e["time"] for e in events] == sorted((e["time"] for e in events), reverse=True)
    assert project.json("release", "current", "--at", marks[0])["md5"] == b["md5"]
    assert project.json("release", "current", "--at", marks[1])["md5"] == a["md5"]
    assert project.json("release", "current")["md5"] == b["md5"]
    assert "no release was current" in project.tusk("release", "current", "--at", "2000-01-01", code=1).output
    assert project.tusk("release", "current", "--at", "yesterday-ish", code=1).output.startswith("error:")
    text = project.tusk("release", "log").output
    assert "rolled_back" in text and "rolled_forward" in text


def test_rollback_to_a_release_whose_versions_were_deleted(two_releases: tuple[TrainProject, dict, dict]) -> None:
    project, a, b = two_releases
    project.client().delete_model_version("m-c1", "1")
    result = project.tusk("release", "rollback", code=1)
    assert "m-c1 v1" in result.output and "nothing was moved" in result.output
    assert production(project) == b["models"] and project.json("release", "current")["md5"] == b["md5"]
    assert [e["event"] for e in project.json("release", "log")["events"]] == ["created", "created"]


def test_a_crash_between_alias_moves_is_finished_by_the_next_command(
    two_releases: tuple[TrainProject, dict, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    project, a, b = two_releases
    from mlflow.tracking import MlflowClient

    original = MlflowClient.delete_registered_model_alias

    def crash(self: Any, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("power cut between two alias moves")

    monkeypatch.setattr(MlflowClient, "delete_registered_model_alias", crash)  # m-c1 moved first, then m-c9 fails
    with pytest.raises(RuntimeError):
        project.tusk("release", "rollback")
    monkeypatch.setattr(MlflowClient, "delete_registered_model_alias", original)
    client = project.client()
    half = {n: str(client.get_registered_model(n).aliases.get("production")) for n in ("m-c1", "m-c9", "tusk-release")}
    assert half == {"m-c1": "1", "m-c9": "1", "tusk-release": "2"}, "stopped half-way: m-c1 moved, m-c9 not"
    runs = client.search_runs(
        [client.get_experiment_by_name("tusk-releases").experiment_id], filter_string="attributes.status = 'RUNNING'"
    )
    assert [r.data.tags["tusk.release.event"] for r in runs] == ["rolled_back"], "recorded as under way"
    # the next command (any that opens the tracker: here models list) finishes it
    assert production(project) == a["models"] and project.json("release", "current")["md5"] == a["md5"]
    events = project.json("release", "log")["events"]
    assert [(e["event"], e["status"]) for e in events][:1] == [("rolled_back", "done")]
    again = project.json("release", "create", "--no-build")
    assert again["md5"] == a["md5"] and not again["created"]


def test_kill_9_during_a_rollback_of_many_models(tmp_path: Path) -> None:
    from train_fixtures import register_instances

    project = make_project(tmp_path, customers=1)
    names = [f"m-x{i:03d}" for i in range(120)]
    register_instances(project.root, names)
    a = project.json("release", "create", "--no-build")
    register_instances(project.root, names, fingerprint="second")
    b = project.json("release", "create", "--no-build")
    assert set(b["models"].values()) == {"2"}
    registry = project.root / ".tusk" / "mlflow.db"
    code = textwrap.dedent(f"""
        from tusk.cli import main
        main(["-C", {str(project.root)!r}, "release", "rollback"])
    """)
    from tusk._internal.sqlite import child_env

    def moved() -> int:
        conn = sqlite3.connect(f"file:{registry}?mode=ro", uri=True)
        try:
            return conn.execute(
                "SELECT count(*) FROM registered_model_aliases WHERE alias = 'production' "
                "AND name LIKE 'm-x%' AND version = 1"
            ).fetchone()[0]
        except sqlite3.Error:
            return 0
        finally:
            conn.close()

    child = subprocess.Popen(
        [sys.executable, "-c", code],
        start_new_session=True,
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while child.poll() is None and moved() < 3:
            time.sleep(0.005)
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    count = moved()
    assert 3 <= count < len(names), f"the kill was meant to land half-way ({count} of {len(names)} moved)"
    assert project.json("release", "current")["md5"] == a["md5"], "the next command finished the rollback"
    assert set(production(project).values()) == {"1"}
    assert [e["event"] for e in project.json("release", "log")["events"]][0] == "rolled_back"
