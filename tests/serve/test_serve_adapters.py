"""Adapters share their base when served: the adapters example trained by tusk (a base and a LoRA adapter for each
of 3 customers), served from the tracker and from a release's models folder. The base is loaded once per process
whatever the number of adapters; each adapter answers what its own pipeline (``mlflow.transformers.load_model`` of
the adapter on its base) answers, even where the base's path recorded at training time does not exist (an image);
a base that fails to load fails its adapters' requests with the reason, the other models still answer."""

from __future__ import annotations

import csv
import json
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import serve_client
from serve_client import Served
from train_fixtures import CliProject, project_template

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")
pytestmark = pytest.mark.slow

CUSTOMERS = ("acme", "globex", "initech")
ADAPTERS = [f"adapter-{c}" for c in CUSTOMERS]
TEXTS = ["where is my parcel", "please change my address", "why was i charged twice", "reset my password"]


def _adapters(folder: Path) -> CliProject:
    from click.testing import CliRunner

    from tusk.cli import (
        _register,  # noqa: F401
        cli,
    )

    root = folder / "proj"
    result = CliRunner().invoke(cli, ["init", str(root), "--example", "adapters"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    examples = root / "data" / "examples.csv"
    with examples.open() as handle:
        rows = list(csv.reader(handle))
    with examples.open("w", newline="") as handle:
        csv.writer(handle).writerows([rows[0], *(row for row in rows[1:] if row[1] in CUSTOMERS)])
    config = (root / "tusk.toml").read_text()
    (root / "tusk.toml").write_text(re.sub(r"(?m)^builder *=.*$", 'builder = "none"', config))
    project = CliProject(root)
    project.tusk("data", "import", str(examples), "--table", "examples", "--key", "id", "-m", "3 customers")
    project.tusk("run")
    project.json("release", "create", "--no-build")
    return project


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> CliProject:
    """The adapters example on 3 customers, trained once (copied per module), with a release."""
    project: CliProject = project_template(tmp_path_factory.mktemp("adapters"), ("serve-adapters",), _adapters)
    return project


@pytest.fixture(scope="module")
def models(fleet: CliProject, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The release's models folder (what its image holds in /models), with the base's path that each adapter
    recorded at training time pointing nowhere: as in an image, where that path does not exist."""
    fleet.json("release", "build")
    current = next(r for r in fleet.json("release", "list")["releases"] if r["current"])
    folder = tmp_path_factory.mktemp("image") / "models"
    shutil.copytree(fleet.root / ".tusk" / "releases" / current["md5"] / "models", folder)
    for name in ADAPTERS:
        mlmodel = folder / name / "MLmodel"
        text = re.sub(r"(local_base_model_path|source_model_name): .*", r"\1: /nowhere/base/model", mlmodel.read_text())
        mlmodel.write_text(text)
    return folder


def own_answers(models: Path) -> dict[str, list[dict[str, Any]]]:
    """What each adapter's own pipeline answers: MLflow's loader, the adapter on the release's base."""
    import mlflow.transformers

    out = {}
    for name in ADAPTERS:
        pipeline = mlflow.transformers.load_model(str(models / name), base_model_path=str(models / "base" / "model"))
        out[name] = [{"label": a["label"], "score": float(a["score"])} for a in pipeline(TEXTS)]
    return out


def same(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> bool:
    return [g["label"] for g in got] == [w["label"] for w in want] and all(
        abs(float(g["score"]) - w["score"]) < 1e-5 for g, w in zip(got, want)
    )


def test_the_base_is_loaded_once_and_each_adapter_answers_as_its_own_pipeline(models: Path) -> None:
    from tusk.serve.pool import ModelPool
    from tusk.serve.source import FolderSource

    want = own_answers(models)
    assert want["adapter-acme"] != want["adapter-globex"], "the adapters differ: the test can tell them apart"
    source = FolderSource(models)
    served = source.current()
    assert set(served.needs) == set(ADAPTERS)
    pool = ModelPool(source.files)

    def answer(name: str) -> list[dict[str, Any]]:
        model = pool.get((name, served.models[name]), served.needs.get(name))
        records: list[dict[str, Any]] = model.predict(TEXTS).to_dict("records")
        return records

    for name in ADAPTERS:
        assert same(answer(name), want[name]), name
    assert pool.bases.loads == 1, "one base for every adapter"
    assert [len(names) for names in pool.bases.held().values()] == [len(ADAPTERS)]

    # 8 clients at once across the adapters: each answer is its own adapter's (the adapter is set under a lock)
    wrong: list[str] = []

    def client(number: int) -> None:
        for turn in range(6):
            name = ADAPTERS[(number + turn) % len(ADAPTERS)]
            if not same(answer(name), want[name]):
                wrong.append(name)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not wrong and pool.bases.loads == 1

    # the base itself is a model of the release too, served as itself (not through an adapter)
    base = pool.get(("base", served.models["base"]), served.needs.get("base"))
    assert not hasattr(base, "drop")

    # adapters that leave the pool leave their base; the last one takes the base along; back again: same answers
    pool.keep_only({("base", served.models["base"]), ("adapter-acme", served.models["adapter-acme"])})
    assert [len(names) for names in pool.bases.held().values()] == [1]
    pool.keep_only({("base", served.models["base"])})
    assert pool.bases.held() == {}
    assert same(answer("adapter-globex"), want["adapter-globex"]) and pool.bases.loads == 2

    # under a budget that holds one adapter at a time: evicted and attached again, still its own answers
    small = ModelPool(source.files, budget=1)
    for name in [*ADAPTERS, *ADAPTERS]:
        model = small.get((name, served.models[name]), served.needs.get(name))
        assert same(model.predict(TEXTS).to_dict("records"), want[name]), name
    assert small.evictions >= 5 and len(small.held()) == 1


def call(port: int, path: str, body: Any = None) -> tuple[int, Any]:
    """(status, JSON body); 120 s for a first request that loads a base."""
    status, _, answer = serve_client.call(port, path, body, timeout=120)
    return status, answer


@pytest.fixture
def serving(fleet: CliProject) -> Iterator[Served]:
    served = Served(fleet.root)
    yield served
    served.stop()


def test_tusk_serve_answers_every_adapter_from_the_tracker_and_from_the_image_folder(
    fleet: CliProject, models: Path, serving: Served, tmp_path: Path
) -> None:
    want = own_answers(models)
    for name in ADAPTERS:
        status, answer = call(serving.port, f"/models/{name}/invocations", {"inputs": TEXTS})
        assert status == 200 and same(answer["predictions"], want[name]), (name, answer)
    image = Served(tmp_path, "--models", str(models), "--preload")
    try:
        for name in ADAPTERS:
            status, answer = call(image.port, f"/models/{name}/invocations", {"inputs": TEXTS})
            assert status == 200 and same(answer["predictions"], want[name]), (name, answer)
        status, answer = call(image.port, "/models/base/invocations", {"inputs": TEXTS})
        assert status == 200 and len(answer["predictions"]) == len(TEXTS)
        assert call(image.port, "/health")[1]["status"] == "ok"
    finally:
        image.stop()


def test_a_base_that_fails_to_load_fails_its_adapters_with_the_reason_and_the_rest_serves(
    models: Path, tmp_path: Path
) -> None:
    """The adapters need base v0 (a folder of its own, ``base@0``) whose weights are broken; base v1 is fine."""
    broken = tmp_path / "models"
    shutil.copytree(models, broken)
    shutil.copytree(broken / "base", broken / "base@0")
    (broken / "base@0" / "model" / "model.safetensors").write_bytes(b"not weights")
    needs = json.loads((broken / "needs.json").read_text())
    for held in needs.values():
        held["base"].update(version="0", folder="base@0")
    (broken / "needs.json").write_text(json.dumps(needs))
    served = Served(tmp_path, "--models", str(broken))
    try:
        for name in ADAPTERS:
            status, answer = call(served.port, f"/models/{name}/invocations", {"inputs": TEXTS})
            assert status == 503 and answer["status"] == 503, answer
            assert f"{name} v1 failed to load: its base base v0 failed to load" in answer["error"], answer
        status, answer = call(served.port, "/models/base/invocations", {"inputs": TEXTS})
        assert status == 200 and len(answer["predictions"]) == len(TEXTS)
        health = call(served.port, "/health")[1]
        assert health["status"] == "degraded" and set(health["failed"]) == set(ADAPTERS)
    finally:
        served.stop()
