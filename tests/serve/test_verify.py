"""`tusk release verify` on the intents example: the release served (its image where a container runtime can run
it, else its build context, as here), every model sent its logged input example, and the verdict recorded in the
release log as a `verified` event that moves nothing: what is current, what was current when, and where a rollback
goes stay as they were. A release whose model files are gone fails its verification, recorded, exit 1."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from intents_fixtures import intents_project, relabel_acme
from train_fixtures import CliProject
from tusk.release.history import ReleaseEvent, deployments


@pytest.fixture(scope="module")
def intents(tmp_path_factory: pytest.TempPathFactory) -> CliProject:
    """The intents example trained once (copied for this module), a release recorded without an image."""
    project = intents_project(tmp_path_factory, "verify")
    project.json("release", "create", "--no-build")
    return project


def _client(root: Path) -> object:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{root / '.tusk' / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _current(project: CliProject) -> dict[str, object]:
    return next(r for r in project.json("release", "list")["releases"] if r["current"])


def _event(kind: str, md5: str, at: int) -> ReleaseEvent:
    return ReleaseEvent(kind, md5, at, "u", "", "", "done", f"run-{at}")


def test_a_verified_event_is_not_a_deployment() -> None:
    """A, B, rollback to A, then B verified: still only A deployed (a verify pushing B would make it current)."""
    events = [_event("created", "a", 1), _event("created", "b", 2), _event("rolled_back", "a", 3)]
    events.append(_event("verified", "b", 4))
    assert deployments(list(reversed(events))) == ["a"]


def test_verify_ok_is_in_the_release_log_and_moves_nothing_then_rollback(intents: CliProject) -> None:
    first = _current(intents)
    relabel_acme(intents.root)  # a second release: intent-acme retrained
    intents.tusk("run")
    second = intents.json("release", "create", "--no-build")
    assert second["created"] and second["md5"] != first["md5"]

    verdict = intents.json("release", "verify", f"v{first['version']}")  # the one that is not current
    assert verdict["ok"] and verdict["md5"] == first["md5"]
    assert verdict["verified_by"] in ("context", "podman", "docker")
    assert verdict["models"] == {name: "ok" for name in first["models"]}  # type: ignore[attr-defined]
    now = str(time.time())

    assert _current(intents)["md5"] == second["md5"], "a verify does not make its release current"
    assert intents.json("release", "current", "--at", now)["md5"] == second["md5"], "nor current at any time"
    shown = intents.json("release", "show", f"v{first['version']}")
    assert shown["verified"]["verdict"] == "ok" and shown["verified"]["verified_by"] == verdict["verified_by"]
    assert intents.json("release", "show", second["md5"])["verified"] is None
    text = intents.tusk("release", "show", f"v{first['version']}").output
    assert "verified ok at " in text and f"({verdict['verified_by']})" in text

    moved = intents.json("release", "rollback")
    assert moved["md5"] == first["md5"] and moved["from"] == second["md5"], "rollback's target is unchanged"

    events = intents.json("release", "log")["events"]
    assert [(e["event"], e["md5"]) for e in events[:4]] == [
        ("rolled_back", first["md5"]),
        ("verified", first["md5"]),
        ("created", second["md5"]),
        ("created", first["md5"]),
    ]
    assert events[1]["verdict"] == "ok" and events[1]["status"] == "done"
    assert "verdict" not in events[0], "the other events keep their shape"
    table = intents.tusk("release", "log").output
    assert f"verified ok ({verdict['verified_by']})" in table


def test_release_build_marks_the_release_built(intents: CliProject) -> None:
    """A release recorded --no-build is not built; `release build` with a builder that makes images (buildah, on
    `scratch`) marks its record built; with builder "none" it stays unbuilt."""
    current = _current(intents)
    assert not current["built"]
    config = (intents.root / "tusk.toml").read_text()
    try:
        (intents.root / "tusk.toml").write_text(re.sub(r"(?m)^builder *=.*$", 'builder = "none"', config))
        assert not intents.json("release", "build")["builder"] and not _current(intents)["built"]
        if shutil.which("buildah") is None:
            pytest.skip("buildah not installed (.ci/install adds it)")
        chosen = re.sub(r"(?m)^builder *=.*$", 'builder = "buildah"', config)
        (intents.root / "tusk.toml").write_text(re.sub(r"(?m)^base_image *=.*$", 'base_image = "scratch"', chosen))
        built = intents.json("release", "build")
        assert built["builder"] == "buildah" and built["built"]
        listed = _current(intents)
        assert listed["md5"] == current["md5"] and listed["built"], "the record says the image was built"
        subprocess.run(["buildah", "--storage-driver", "vfs", "rmi", built["image"]], capture_output=True)
    finally:
        (intents.root / "tusk.toml").write_text(config)


def test_verify_with_a_models_files_gone_fails_is_recorded_and_exits_1(intents: CliProject) -> None:
    current = _current(intents)
    version = current["models"]["intent-globex"]  # type: ignore[index]
    uri = _client(intents.root).get_model_version_download_uri("intent-globex", version)  # type: ignore[attr-defined]
    local = Path(unquote(urlsplit(uri).path))
    assert local.is_dir(), uri
    shutil.rmtree(local)

    verdict = intents.json("release", "verify", code=1)
    assert not verdict["ok"]
    assert verdict["models"]["intent-globex"].startswith("its files could not be fetched")
    assert all(result == "ok" for name, result in verdict["models"].items() if name != "intent-globex")
    kept = json.loads((intents.root / ".tusk" / "releases" / current["md5"] / "verify.json").read_text())
    assert kept["ok"] is False

    (event, *_) = intents.json("release", "log")["events"]
    assert event["event"] == "verified" and event["verdict"] == "failed" and event["md5"] == current["md5"]
    assert "intent-globex" in event["detail"]
    shown = intents.json("release", "show", current["md5"])
    assert shown["verified"]["verdict"] == "failed"
    assert _current(intents)["md5"] == current["md5"]
    text = intents.tusk("release", "verify", code=1).output
    assert "verified failed" in text and "intent-globex: its files could not be fetched" in text
