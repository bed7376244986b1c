"""`tusk serve` on real MLflow models trained by tusk on the intents example (20 customers): one process, one port,
MLflow's scoring protocol per model; a running server follows release create and rollback; bad payloads, unknown
and hostile names, a model whose files are gone: one JSON error each, the other models still answer."""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from intents_fixtures import intents_project, relabel_acme
from serve_client import Served, call
from train_fixtures import CliProject, free_port
from tusk.project import Project

SPLIT = {"dataframe_split": {"columns": ["text"], "data": [["where is my order"], ["please change my address"]]}}


@pytest.fixture(scope="module")
def intents(tmp_path_factory: pytest.TempPathFactory) -> CliProject:
    """The intents example trained once (copied per module), with a release recorded without an image."""
    project = intents_project(tmp_path_factory, "serve")
    project.json("release", "create", "--no-build")
    return project


@pytest.fixture
def server(intents: CliProject) -> Iterator[Served]:
    served = Served(intents.root)
    yield served
    served.stop()


def test_every_model_of_the_release_behind_one_port_in_each_of_mlflows_formats(
    intents: CliProject, server: Served
) -> None:
    current = next(r for r in intents.json("release", "list")["releases"] if r["current"])
    status, _, models = call(server.port, "/models")
    assert status == 200 and models["release"] == current["md5"] and models["models"] == current["models"]
    assert len(models["models"]) == 20 and models["loaded"] == [], "nothing loaded before its first request"
    status, _, health = call(server.port, "/health")
    assert (status, health["status"], health["models"]) == (200, "ok", 20), "ready: every model's files are there"
    assert call(server.port, "/models")[2]["loaded"] == [], "/health loads nothing"
    name = "intent-acme"
    status, headers, answer = call(server.port, f"/models/{name}/invocations", SPLIT)
    assert status == 200, answer
    assert len(answer["predictions"]) == 2 and all(isinstance(p, str) for p in answer["predictions"])
    assert headers["x-tusk-model-version"] == current["models"][name] and headers["x-tusk-release"] == current["md5"]
    texts = [["where is my order"], ["please change my address"]]
    for body in (
        {"dataframe_records": [{"text": t[0]} for t in texts]},
        {"inputs": {"text": [t[0] for t in texts]}},
        {"instances": [{"text": t[0]} for t in texts]},
    ):
        status, _, other = call(server.port, f"/models/{name}/invocations", body)
        assert (status, other) == (200, answer), body
    assert call(server.port, "/models")[2]["loaded"] == [name], "loaded on first use"
    globex = call(server.port, "/models/intent-globex/invocations", SPLIT)
    assert globex[0] == 200 and globex[1]["x-tusk-model-version"] == current["models"]["intent-globex"]


def test_the_releases_page_shows_which_release_is_served_where(intents: CliProject, server: Served) -> None:
    from web_client import client

    current = next(r for r in intents.json("release", "list")["releases"] if r["current"])
    with client(intents.root) as web:
        page = web.get("/releases").text
    served = page.split("<h2>Served</h2>", 1)[1].split("</table>", 1)[0]
    assert f"http://127.0.0.1:{server.port}/" in served and current["md5"][:8] in served


def test_bad_requests_are_one_json_error_each_and_the_server_keeps_serving(server: Served) -> None:
    port = server.port
    status, _, answer = call(port, "/models/no-such-model/invocations", SPLIT)
    assert status == 404 and "no-such-model" in answer["error"]
    for hostile in ("/models/..%2F..%2Fetc/invocations", "/models/../invocations", "/models/.hidden/invocations"):
        status, _, answer = call(port, hostile, SPLIT)
        assert status == 404 and "error" in answer, hostile
    status, _, answer = call(port, "/models/intent-acme/invocations", raw=b"{not json")
    assert status == 400 and "JSON" in answer["error"]
    status, _, answer = call(
        port, "/models/intent-acme/invocations", {"dataframe_split": {"columns": ["nope"], "data": [["x"]]}}
    )
    assert status == 400 and answer["error"]
    status, _, answer = call(port, "/models/intent-acme/invocations", {"what": 1})
    assert status == 400 and answer["error"]
    try:  # refused from its Content-Length: a 413, or the connection closed while the client still sends
        assert call(port, "/models/intent-acme/invocations", raw=b"x" * (65 * 1024 * 1024))[0] == 413
    except (urllib.error.URLError, ConnectionError):
        pass
    assert call(port, "/nowhere")[0] == 404
    assert call(port, "/models/intent-acme/invocations", SPLIT)[0] == 200


def test_a_running_server_follows_create_and_rollback_without_dropping_requests(intents: CliProject) -> None:
    first = next(r for r in intents.json("release", "list")["releases"] if r["current"])
    served = Served(intents.root)
    answers: list[tuple[int, str]] = []
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            status, headers, _ = call(served.port, "/models/intent-acme/invocations", SPLIT)
            answers.append((status, headers.get("x-tusk-release", "")))

    clients = [threading.Thread(target=traffic) for _ in range(2)]
    try:
        for client in clients:
            client.start()
        relabel_acme(intents.root)
        intents.tusk("run")
        second = intents.json("release", "create", "--no-build")
        assert second["created"] and second["md5"] != first["md5"]
        assert _serving(served.port, second["md5"]), "the new release reached the running server"
        again = intents.json("release", "create", "--no-build")
        assert not again["created"] and _serving(served.port, second["md5"]), "the same release twice: no change"
        intents.json("release", "rollback")
        assert _serving(served.port, first["md5"]), "the rollback reached the running server"
        _, headers, answer = call(served.port, "/models/intent-acme/invocations", SPLIT)
        with Project.open(intents.root / "tusk.toml") as project:
            (running,) = project.serving()
        assert running.url == f"http://127.0.0.1:{served.port}/" and running.release == first["md5"]
        log = [
            json.loads(line) for line in (intents.root / ".tusk" / "serve" / "served.jsonl").read_text().splitlines()
        ]
        assert [e["release"] for e in log if e["pid"] == running.pid] == [first["md5"], second["md5"], first["md5"]]
        assert headers["x-tusk-model-version"] == first["models"]["intent-acme"]
        assert not any(p.startswith("zz_") for p in answer["predictions"]), "the rolled-back version answers"
    finally:
        stop.set()
        for client in clients:
            client.join()
        served.stop()
    with Project.open(intents.root / "tusk.toml") as project:
        assert project.serving() == [], "a stopped server is no longer listed"
    # the release log's other half: what this server served when, its stop included, newest first
    served_log = json.loads(intents.tusk("release", "log", "--json").output)["served"]
    mine = [(e["event"], e["md5"]) for e in served_log if e["pid"] == running.pid]
    assert mine == [
        ("stopped", first["md5"]),
        ("serving", first["md5"]),
        ("serving", second["md5"]),
        ("serving", first["md5"]),
    ], served_log
    assert {e["release"] for e in served_log if e["pid"] == running.pid} == {
        f"v{first['version']}",
        f"v{second['version']}",
    }
    shown = intents.tusk("release", "log").output
    assert "served at" in shown and "stopped at" in shown and f"127.0.0.1:{served.port}" in shown, shown
    assert answers and {status for status, _ in answers} == {200}, "no request dropped while the release moved"
    assert {md5 for _, md5 in answers} == {first["md5"], second["md5"]}, "requests were answered by both releases"


def _serving(port: int, md5: str, seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if call(port, "/models")[2].get("release") == md5:
            return True
        time.sleep(0.1)
    return False


def test_a_release_folder_serves_and_a_model_whose_files_are_gone_fails_only_its_requests(
    intents: CliProject, tmp_path: Path
) -> None:
    """The image's way: `tusk serve --models /models` on a release's build context, no project."""
    config = (intents.root / "tusk.toml").read_text()
    (intents.root / "tusk.toml").write_text(re.sub(r"(?m)^builder *=.*$", 'builder = "none"', config))
    built = intents.json("release", "build")
    assert not built["builder"] and "build context left in" in built["note"]
    current = next(r for r in intents.json("release", "list")["releases"] if r["current"])
    context = intents.root / ".tusk" / "releases" / current["md5"]
    containerfile = (context / "Containerfile").read_text()
    assert 'CMD ["tusk", "serve", "--models", "/models", "--host", "0.0.0.0", "--port", "8080"]' in containerfile
    models = tmp_path / "models"
    shutil.copytree(context / "models", models)
    shutil.rmtree(models / "intent-globex")
    served = Served(tmp_path, "--models", str(models))
    try:
        status, _, listed = call(served.port, "/models")
        assert status == 200 and listed["models"] == current["models"] and listed["release"] == current["md5"]
        status, _, health = call(served.port, "/health")
        assert status == 200 and health["status"] == "degraded" and list(health["failed"]) == ["intent-globex"]
        assert "its files are not ready" in health["failed"]["intent-globex"]
        status, _, answer = call(served.port, "/models/intent-globex/invocations", SPLIT)
        assert status == 503 and "intent-globex" in answer["error"]
        status, _, answer = call(served.port, "/models/intent-acme/invocations", SPLIT)
        assert status == 200 and len(answer["predictions"]) == 2
    finally:
        served.stop()


def test_release_verify_serves_the_context_and_sends_each_model_its_input_example(intents: CliProject) -> None:
    verdict = intents.json("release", "verify")
    current = next(r for r in intents.json("release", "list")["releases"] if r["current"])
    assert verdict["md5"] == current["md5"] and verdict["ok"]
    assert verdict["models"] == {name: "ok" for name in current["models"]}
    kept = json.loads((intents.root / ".tusk" / "releases" / current["md5"] / "verify.json").read_text())
    assert kept["models"] == verdict["models"]


def test_a_fixed_release_preloaded_and_an_unknown_release_refused(intents: CliProject) -> None:
    refused = intents.tusk("serve", "--release", "nope", "--port", str(free_port()), code=1)
    assert "no release 'nope'" in refused.output
    current = next(r for r in intents.json("release", "list")["releases"] if r["current"])
    served = Served(intents.root, "--release", f"v{current['version']}", "--preload", "--memory-mb", "4096")
    try:
        status, _, listed = call(served.port, "/models")
        assert status == 200 and listed["release"] == current["md5"] and listed["source"].startswith("release v")
        assert listed["loaded"] == sorted(current["models"]), "--preload: every model loaded before /health answers"
    finally:
        served.stop()


def test_the_production_aliases_served_without_a_release(intents: CliProject) -> None:
    """`--production`: every instance's production version, whatever release is current; the md5 of that manifest."""
    from tusk.core.manifest import hashes

    with Project.open(intents.root / "tusk.toml") as project:
        trained = set(project.tracker.states())
        aliases = {name: version for name, version in project.tracker.aliases().items() if name in trained}
    assert len(aliases) == 20
    served = Served(intents.root, "--production")
    try:
        status, _, listed = call(served.port, "/models")
        assert status == 200 and listed["source"] == "the production aliases" and listed["version"] == ""
        assert listed["models"] == aliases and listed["release"] == hashes(aliases)[0]
        status, headers, answer = call(served.port, "/models/intent-acme/invocations", SPLIT)
        assert status == 200 and len(answer["predictions"]) == 2
        assert headers["x-tusk-model-version"] == aliases["intent-acme"]
        assert call(served.port, "/health")[2]["status"] == "ok"
    finally:
        served.stop()
    refused = intents.tusk("serve", "--production", "--release", "v1", "--port", str(free_port()), code=1)
    assert "exclusive" in refused.output
