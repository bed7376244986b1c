"""Releases, rollbacks, lineage and cost on real doltlite and MLflow stores (and a real buildah build)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from train_fixtures import TrainProject, make_project, register_instances, rows, trained_project
from tusk.core.manifest import canonical, diff, hashes


def test_manifest_hashes_are_of_the_canonical_json() -> None:
    manifest = {"m-b": 2, "m-a": "10"}
    assert canonical(manifest) == '{"m-a":"10","m-b":"2"}'
    md5, sha = hashes(manifest)
    assert md5 == hashlib.md5(b'{"m-a":"10","m-b":"2"}').hexdigest()
    assert sha == hashlib.sha256(b'{"m-a":"10","m-b":"2"}').hexdigest()
    changes = diff({"a": "1", "b": "1"}, {"b": "2", "c": "1"})
    assert (changes.added, changes.removed, changes.changed) == ({"c": "1"}, {"a": "1"}, {"b": ("1", "2")})


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainProject, dict, dict]:
    project = trained_project(tmp_path_factory.mktemp("rel"), customers=3)
    a = project.json("release", "create", "--no-build")
    data = rows(3)
    data[1][3] = "changed"  # id 1 → c1
    project.import_rows(data, message="edit c1")
    project.run()
    b = project.json("release", "create", "--no-build")
    return project, a, b


def test_release_create_dedups_and_differs_only_where_models_changed(released: tuple) -> None:
    project, a, b = released
    assert a["models"] == {"m-c0": "1", "m-c1": "1", "m-c2": "1"} and a["created"]
    assert a["image"].endswith(":" + a["md5"]) and a["md5"] == hashes(a["models"])[0]
    assert b["models"] == {**a["models"], "m-c1": "2"}
    again = project.json("release", "create", "--no-build")
    assert again["md5"] == b["md5"] and not again["created"]
    assert [r["md5"] for r in project.json("release", "list")["releases"]] == [a["md5"], b["md5"]]
    shown = project.json("release", "show", a["md5"][:8])
    assert shown["models"] == a["models"] and shown["sha256"] == a["sha256"]
    changes = project.json("release", "diff", a["md5"], b["md5"])
    assert changes["added"] == {} and changes["removed"] == {}
    [changed] = changes["changed"]
    assert (changed["name"], changed["old"], changed["new"]) == ("m-c1", "1", "2")
    assert changed["data_commit"][0] != changed["data_commit"][1]
    assert changed["metric_deltas"] == {"accuracy": 0.0, "rows": 0.0}


def test_release_and_model_rollbacks(released: tuple) -> None:
    project, a, b = released
    project.json("release", "create", "--no-build")  # b is current
    rolled = project.json("release", "rollback")
    assert rolled["md5"] == a["md5"] and rolled["from"] == b["md5"]
    assert project.json("release", "current")["md5"] == a["md5"]
    result = project.tusk("release", "rollback", code=1)
    assert "nothing to roll back to" in result.output
    assert project.json("release", "rollback", b["md5"])["md5"] == b["md5"]
    assert project.json("models", "rollback", "m-c1")["production"] == "1"
    restored = project.json("release", "create", "--no-build")
    assert restored["md5"] == a["md5"] and not restored["created"], "the old manifest returns the old release"
    project.json("models", "promote", "m-c1", "2")
    assert project.tusk("release", "show", "nope", code=1).output.startswith("error:")


def test_lineage_both_ways(released: tuple) -> None:
    project, a, b = released
    head = project.head()
    version = project.json("lineage", "m-c1@2")
    assert version["data_commit"] == head and version["version"] == "2"
    assert b["md5"] in version["releases"] and a["md5"] not in version["releases"]
    assert version["data_changes"]["examples"]["modified"] == 1 and version["previous"] == "1"
    assert version["inputs"]["examples"]["rows"] == "10"
    by_commit = project.json("lineage", "--data-commit", head)
    assert [(v["name"], v["version"]) for v in by_commit["versions"]] == [("m-c1", "2")]
    assert by_commit["releases"] == [b["md5"]]
    by_release = project.json("lineage", "--release", a["md5"])
    assert {m["name"]: m["version"] for m in by_release["models"]} == a["models"]
    assert project.tusk("lineage", "m-c1@9", code=1).output.startswith("error:")
    assert project.tusk("lineage", code=2).exit_code == 2


def test_a_version_deleted_in_mlflow_is_a_one_line_error(tmp_path: Path) -> None:
    """Someone deletes a released model version in MLflow's UI: lineage, release diff and rollback say so in one
    line (exit 1); nothing tusk reads leaks an MlflowException."""
    project = trained_project(tmp_path, customers=2)
    first = project.json("release", "create", "--no-build")
    project.import_rows([[0, "c0", "changed", "l1"]], message="edit c0")
    project.run()
    second = project.json("release", "create", "--no-build")
    project.client().delete_model_version("m-c0", "1")
    for args in (
        ["lineage", "--release", first["md5"]],
        ["lineage", "m-c0@1"],
        ["release", "rollback", first["md5"]],
        ["models", "promote", "m-c0", "1"],
        ["logs", "m-c0@1"],
        ["reproduce", "m-c0@1"],
    ):
        result = project.tusk(*args, code=1)
        assert result.output.startswith("error: ") and len(result.output.strip().splitlines()) == 1, args
        assert "Traceback" not in result.output and "MlflowException" not in result.output, args
    assert "m-c0 v1" in project.tusk("lineage", "--release", first["md5"], code=1).output
    assert project.json("lineage", "m-c1@1")["releases"] == [first["md5"], second["md5"]], "the rest still answers"


def test_cost_counts_recorded_jobs(released: tuple) -> None:
    project, a, b = released
    report = project.json("cost")
    assert report["total"]["jobs"] == 4 and report["total"]["cpu_hours"] > 0 and report["total"]["gpu_hours"] == 0
    assert set(report["by_model"]) == {"m-c0", "m-c1", "m-c2"} and report["by_model"]["m-c1"]["jobs"] == 2
    assert report["by_release"][a["md5"]]["jobs"] == 3
    options = {row["option"]: row for row in report["table"]}
    assert (
        options["self-hosted"]["year_2"]
        == options["self-hosted"]["fixed"] + 2 * options["self-hosted"]["variable_per_year"]
    )
    assert options["cloud"]["fixed"] == 0
    assert any("GPU-hours" in line for line in report["assumptions"])


def test_nothing_to_release_is_an_error(tmp_path: Path) -> None:
    project = make_project(tmp_path, customers=1)
    result = project.tusk("release", "create", "--no-build", code=1)
    assert "nothing to release" in result.output


@pytest.mark.skipif(shutil.which("buildah") is None, reason="buildah not installed (.ci/install adds it)")
def test_image_build_with_buildah_and_a_failed_build_records_nothing(tmp_path: Path) -> None:
    project = make_project(tmp_path, customers=2)
    config = (project.root / "tusk.toml").read_text()
    (project.root / "tusk.toml").write_text(
        config.replace('base_image = "python:3.11-slim"', 'base_image = "localhost/tusk-no-such-base:1"')
    )
    project.run()
    failed = project.tusk("release", "create", code=1)
    assert "buildah failed" in failed.output
    assert project.json("release", "list")["releases"] == [], "a failed build records no release"
    (project.root / "tusk.toml").write_text(config.replace('base_image = "python:3.11-slim"', 'base_image = "scratch"'))
    built = project.json("release", "create")
    assert built["built"] and built["created"]
    images = subprocess.run(
        ["buildah", "--storage-driver", "vfs", "images", "--format", "{{.Name}}:{{.Tag}}"],
        capture_output=True,
        text=True,
    ).stdout
    assert built["image"] in images
    context = project.root / ".tusk" / "releases" / built["md5"]
    assert json.loads((context / "models" / "manifest.json").read_text()) == built["models"]
    assert (context / "models" / "m-c0" / "model.json").is_file()
    inspect = subprocess.run(
        ["buildah", "--storage-driver", "vfs", "inspect", "--type", "image", built["image"]],
        capture_output=True,
        text=True,
    ).stdout
    assert built["md5"] in inspect and built["sha256"] in inspect
    subprocess.run(["buildah", "--storage-driver", "vfs", "rmi", built["image"]], capture_output=True)


@pytest.mark.slow
def test_a_release_of_1000_models(tmp_path: Path) -> None:
    project = make_project(tmp_path, customers=1)
    config = (project.root / "tusk.toml").read_text()
    (project.root / "tusk.toml").write_text(config.replace('base_image = "python:3.11-slim"', 'base_image = "scratch"'))
    names = [f"m-c{i:04d}" for i in range(1000)]
    register_instances(project.root, names)

    first = project.json("release", "create")  # an image with buildah when it is here, else the context only
    if first["built"]:
        subprocess.run(["buildah", "--storage-driver", "vfs", "rmi", first["image"]], capture_output=True)
    assert first["created"] and first["models"] == {name: "1" for name in names}
    context = project.root / ".tusk" / "releases" / first["md5"] / "models"
    assert json.loads((context / "manifest.json").read_text()) == first["models"]
    assert sorted(p.name for p in context.iterdir() if p.is_dir()) == names
    assert all((context / name / "weights.txt").is_file() for name in names[::97])
    assert project.json("release", "create", "--no-build")["id"] == first["id"], "no duplicate"

    register_instances(project.root, ["m-c0007"], fingerprint="retrained")
    second = project.json("release", "create", "--no-build")
    assert second["id"] != first["id"] and second["models"] == {**first["models"], "m-c0007": "2"}
    changed = project.json("release", "diff", f"v{first['version']}", f"v{second['version']}")
    assert changed["added"] == {} and changed["removed"] == {}
    assert [c["name"] for c in changed["changed"]] == ["m-c0007"]

    project.tusk("models", "rollback", "m-c0007")
    again = project.json("release", "create", "--no-build")
    assert again["id"] == first["id"] and not again["created"], "the older manifest's release comes back"


def test_a_manifest_too_big_for_a_tag_is_read_from_its_local_artifact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ~5,000 models a manifest does not fit in a version tag; on a local store it is read from the release
    run's artifact folder, still without MLflow's client (release list stays a plain read at 10,000 models)."""
    from tusk import Project
    from tusk.tracking import mlflow_releases

    project = trained_project(tmp_path, customers=2)
    monkeypatch.setattr(mlflow_releases, "MANIFEST_TAG_LIMIT", 10)
    created = project.json("release", "create", "--no-build")
    with Project.open(project.root) as opened:
        local = opened.tracker.release_registry()._releases_local()  # type: ignore[attr-defined]
    assert local is not None and [r.manifest for r in local] == [created["models"]]
    assert "tusk.release.manifest" not in local[0].tags
    assert project.json("release", "list")["releases"][0]["models"] == created["models"]
