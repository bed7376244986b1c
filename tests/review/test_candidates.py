"""Candidate models: a review's blast radius trained on its merge preview without touching production, a gate
that blocks a regression and lets an improvement through, and a merge after which ``tusk run`` promotes the
candidates instead of retraining them; with the unhappy orders (the review or the data branch moving after
the candidates were trained, a model with no production version yet). Real doltlite and MLflow."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from train_fixtures import TrainProject, model_block, project_template

MODEL = textwrap.dedent("""
    def train(ctx):
        df = ctx.inputs["examples"]
        (ctx.output_dir / "m.txt").write_text(str(len(df)))
        return {"accuracy": float((df["label"] == "l0").mean()), "rows": float(len(df))}
""")
GATE = '\n[review]\ngate = "accuracy >= production.accuracy - 0.01"\n'


def data(customers: int = 2, n: int = 16, **labels: str) -> list[list[Any]]:
    rows = [[i, f"c{i % customers}", f"text {i}", "l0" if i % 4 < 2 else "l1"] for i in range(n)]
    for key, label in labels.items():
        rows[int(key.removeprefix("id"))][3] = label
    return rows


@pytest.fixture
def project(tmp_path: Path) -> TrainProject:
    return project_template(tmp_path, (__name__, "project"), _project)  # built once, copied for each test


def _project(tmp_path: Path) -> TrainProject:
    from click.testing import CliRunner

    from tusk.cli import _register, cli  # noqa: F401

    root = tmp_path / "proj"
    assert CliRunner().invoke(cli, ["init", str(root)]).exit_code == 0
    proj = TrainProject(root)
    (root / "models").mkdir()
    (root / "models" / "m.py").write_text(MODEL)
    proj.set_models(model_block(params={}) + GATE)
    proj.import_rows(data(), mode="replace", message="load")
    proj.run()
    return proj


def production(project: TrainProject) -> dict[str, str]:
    return {m["name"]: m["production"] for m in project.json("models", "list")["models"]}


def review(project: TrainProject, branch: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    shown = project.json("review", "show", branch)
    return shown, {m["name"]: m for m in shown["models"]}


def edit(project: TrainProject, branch: str, message: str, **labels: str) -> None:
    project.import_rows(data(**labels), branch=branch, message=message)


def test_candidates_gate_an_improvement_and_are_promoted_after_the_merge(project: TrainProject) -> None:
    edit(project, "fix", "relabel row 2", id2="l0")  # c0 gets better: 5 of 8 rows l0
    before = production(project)
    states = project.json("status")["instances"]
    run = project.json("run", "--at", "fix", "--candidates")
    assert {j["name"]: j["status"] for j in run["jobs"]} == {"m-c0": "succeeded"}
    assert run["candidates_for"]["review"] == "fix" and run["data_commit"] == run["candidates_for"]["preview"]
    candidate = run["jobs"][0]["version"]

    # production is untouched: aliases, the data branch's plan, the current states, releases
    assert production(project) == before
    assert project.json("status")["instances"] == states
    assert all(i["status"] == "fresh" for i in project.plan().values())
    assert project.json("release", "list")["releases"] == []
    tags = project.client().get_model_version("m-c0", candidate).tags
    assert (tags["tusk.candidate"], tags["tusk.review"], tags["tusk.data_commit"]) == (
        "true",
        "fix",
        run["data_commit"],
    )

    again = project.json("run", "--at", "fix", "--candidates")["jobs"]
    assert [(j["name"], j["status"], j["version"]) for j in again] == [("m-c0", "reused", candidate)]  # not retrained

    shown, models = review(project, "fix")
    assert shown["mergeable"] and list(models) == ["m-c0"]
    m = models["m-c0"]
    assert (m["verdict"], m["candidate"], m["production"]) == ("passed", candidate, before["m-c0"])
    assert (m["metrics"]["accuracy"], m["production_metrics"]["accuracy"]) == (0.625, 0.5)
    assert m["deltas"] == {"accuracy": 0.125, "rows": 0.0}
    text = project.tusk("review", "show", "fix").stdout
    assert (
        f"passed m-c0: candidate v{candidate} vs production v1: accuracy 0.625 (0.5, +0.125), rows 8 (8, ±0)" in text
        and "mergeable" in text
    )

    project.tusk("data", "merge", "fix", "-m", "accept")
    after = project.json("run")
    assert [(j["name"], j["status"], j["version"]) for j in after["jobs"]] == [("m-c0", "reused", candidate)]
    assert production(project)["m-c0"] == candidate
    assert all(i["status"] == "fresh" for i in project.plan().values())
    assert project.json("run")["jobs"] == []


def test_the_gate_blocks_a_regression_naming_the_model_and_its_numbers(project: TrainProject) -> None:
    edit(project, "worse", "c1 all l1", id1="l1", id5="l1", id9="l1", id13="l1")
    project.json("run", "--at", "worse", "--candidates")
    before = project.head()
    refused = project.tusk("data", "merge", "worse", code=1).stderr
    assert refused.startswith(
        "error: merge of worse refused: m-c1: gate 'accuracy >= production.accuracy - 0.01' "
        "fails: candidate v2: accuracy 0 (production v1: 0.5, −0.5)"
    )
    assert project.head() == before
    shown, models = review(project, "worse")
    assert not shown["mergeable"] and models["m-c1"]["verdict"] == "failed" and models["m-c1"]["blocks"]
    project.tusk("data", "merge", "worse", "--force", "--reason", "c1 is relabelled on purpose")
    assert (
        "forced: c1 is relabelled on purpose\npast: m-c1 (failed)"
        in project.json("data", "log")["commits"][0]["message"]
    )


def test_no_candidate_or_an_outdated_one_blocks(project: TrainProject) -> None:
    edit(project, "fix", "relabel row 2", id2="l0")
    refused = project.tusk("data", "merge", "fix", code=1).stderr
    assert "m-c0: no candidate (run tusk run --at fix --candidates)" in refused
    project.json("run", "--at", "fix", "--candidates")
    assert review(project, "fix")[0]["mergeable"]

    edit(project, "fix", "relabel row 6 too", id2="l0", id6="l0")  # the review changes after its candidates
    shown, models = review(project, "fix")
    assert models["m-c0"]["verdict"] == "outdated" and not shown["mergeable"]
    assert "was trained on other inputs than the review now has" in project.tusk("data", "merge", "fix", code=1).stderr
    edit(project, "fix", "c1 change only", id2="l0", id6="l0", id3="l0")  # touches c1: m-c0 is still outdated
    project.json("run", "--at", "fix", "--candidates")
    shown, models = review(project, "fix")
    assert shown["mergeable"] and set(models) == {"m-c0", "m-c1"}
    assert {m["verdict"] for m in models.values()} == {"passed"}


def test_the_data_branch_moving_after_the_candidates(project: TrainProject) -> None:
    edit(project, "fix", "relabel row 2", id2="l0")
    candidate = project.json("run", "--at", "fix", "--candidates")["jobs"][0]["version"]
    project.import_rows(data(id3="l0"), message="main changes c1")  # main moves on, c0 untouched
    assert [j["name"] for j in project.json("run")["jobs"]] == ["m-c1"]
    shown, models = review(project, "fix")
    assert shown["preview"]["kind"] == "merge" and shown["mergeable"]
    assert list(models) == ["m-c0"]  # main's own change to c1 is not the review's
    assert models["m-c0"]["candidate"] == candidate  # same inputs for c0 at the new preview

    edit(project, "fix", "relabel row 2 and 4", id2="l0", id4="l1")  # trained on a preview that is a real merge
    run = project.json("run", "--at", "fix", "--candidates")
    assert run["candidates_for"]["preview"] not in (project.head(), run["candidates_for"]["review_head"])
    assert [j["status"] for j in run["jobs"]] == ["succeeded"]  # its jobs read the scratch merge while it lived
    branches = [b["name"] for b in project.json("data", "branch")["branches"]]
    assert not [b for b in branches if b.startswith("tusk-preview/")]  # and it is gone after the run
    project.tusk("data", "merge", "fix")
    after = project.json("run")["jobs"]
    assert [(j["name"], j["status"], j["version"]) for j in after] == [("m-c0", "reused", run["jobs"][0]["version"])]


def test_a_gate_on_a_model_with_no_production_version(project: TrainProject) -> None:
    project.import_rows(data(customers=3, n=24), branch="grow", message="a third customer")
    run = project.json("run", "--at", "grow", "--candidates")
    assert sorted(j["name"] for j in run["jobs"]) == ["m-c0", "m-c1", "m-c2"]  # c0, c1 rows move to c2 as well
    assert "m-c2" not in production(project)
    shown, models = review(project, "grow")
    assert models["m-c2"]["verdict"] == "passed" and models["m-c2"]["production"] is None
    assert models["m-c2"]["message"].startswith("no production version to compare with")

    config = (project.root / "tusk.toml").read_text().replace(GATE, '\n[review]\ngate = "accuracy >= 0.9"\n')
    (project.root / "tusk.toml").write_text(config)
    shown, models = review(project, "grow")  # a gate that does not compare with production applies as usual
    assert models["m-c2"]["verdict"] == "failed" and not shown["mergeable"]
    project.tusk("data", "merge", "grow", "--force", "--reason", "new customer")
    jobs = {j["name"]: j for j in project.json("run")["jobs"]}
    assert {n: j["status"] for n, j in jobs.items()} == {"m-c0": "reused", "m-c1": "reused", "m-c2": "reused"}
    assert production(project)["m-c2"] == jobs["m-c2"]["version"]


def test_candidates_need_a_review_branch(project: TrainProject) -> None:
    assert "--candidates trains a review: give --at BRANCH" in project.tusk("run", "--candidates", code=1).stderr
    assert "('main' is not one)" in project.tusk("run", "--at", "main", "--candidates", code=1).stderr
    assert "unknown branch, tag or commit 'nope'" in project.tusk("run", "--at", "nope", "--candidates", code=1).stderr


def test_review_list_and_show(project: TrainProject) -> None:
    edit(project, "fix", "relabel row 2", id2="l0")
    edit(project, "done", "relabel row 6", id6="l0")
    project.json("run", "--at", "done", "--candidates")
    project.tusk("data", "merge", "done")
    edit(project, "clash", "row 3 on clash", id6="l0", id3="l0")
    project.import_rows(data(id6="l0", id3="x"), message="row 3 on main")
    found = {r["branch"]: r for r in project.json("review", "list")["reviews"]}
    assert set(found) == {"fix", "done", "clash"}
    assert (found["fix"]["merged"], found["fix"]["commits"], found["fix"]["message"]) == (False, 1, "relabel row 2")
    assert found["done"]["merged"] and found["done"]["commits"] == 0
    assert [r["branch"] for r in project.json("review", "list")["reviews"]][-1] == "done"  # merged ones last

    clash = project.json("review", "show", "clash")
    assert not clash["mergeable"] and clash["conflicts"][0]["key"] == {"id": 3}
    assert clash["tables"] == [{"table": "examples", "added": 0, "modified": 1, "removed": 0, "schema_changed": False}]
    assert project.json("review", "show", "done")["models"] == []  # merged: nothing left to judge
    assert "is not a review" in project.tusk("review", "show", "main", code=1).stderr
    assert "unknown" in project.tusk("review", "show", "nope", code=1).stderr


def _preview_candidate(project: TrainProject) -> dict[str, Any]:
    """A candidate trained on a review's merge preview that is a real merge (main moved on meanwhile)."""
    edit(project, "fix", "relabel row 2", id2="l0")
    project.import_rows(data(id3="l0"), message="main changes c1")
    project.json("run")
    run = project.json("run", "--at", "fix", "--candidates")
    assert run["candidates_for"]["preview"] not in (project.head(), run["candidates_for"]["review_head"])
    assert [j["status"] for j in run["jobs"]] == ["succeeded"]
    return run


def test_a_candidate_reused_after_the_merge_names_a_commit_that_still_resolves(project: TrainProject) -> None:
    run = _preview_candidate(project)
    preview, version = run["data_commit"], run["jobs"][0]["version"]
    project.tusk("data", "merge", "fix", "-m", "merge fix")
    merge = project.head()
    assert [(j["name"], j["status"], j["version"]) for j in project.json("run")["jobs"]] == [
        ("m-c0", "reused", version)
    ]
    project.tusk("review", "close", "fix", code=None)
    project.tusk("data", "branch", "-d", "fix", code=None)  # the review's branch may go: its data stays

    from tusk import Project

    with Project.open(project.root) as opened:
        opened.data.gc()  # dolt_gc: what a version names is kept
    lineage = project.json("lineage", f"m-c0@{version}")
    assert lineage["data_commit"] == preview
    assert lineage["same_data_as"] == merge
    assert f"same data as merge commit {merge[:7]}" in project.tusk("lineage", f"m-c0@{version}").stdout
    for ref in (preview, preview[:7]):
        rows = project.json("data", "sql", "SELECT count(*) FROM examples", "--at", ref)["rows"]
        assert rows == [[16]]
    assert [v["version"] for v in project.json("lineage", "--data-commit", preview[:7])["versions"]] == [version]
    kept = [t for t in project.json("data", "tags")["tags"] if t["commit"] == preview]
    assert len(kept) == 1 and kept[0]["name"].startswith("tusk/")  # one tag per preview that trained something


def test_a_candidate_reused_after_the_merge_and_gc_reproduces(project: TrainProject) -> None:
    """tusk reproduce reaches the preview commit a reused candidate names, after its branch and gc are gone."""
    import subprocess

    git = ["git", "-C", str(project.root), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "tusk.toml", "models", ".gitignore"], check=True)
    subprocess.run([*git, "commit", "-qm", "models"], check=True)
    run = _preview_candidate(project)
    version = run["jobs"][0]["version"]
    project.tusk("data", "merge", "fix", "-m", "merge fix")
    assert [j["status"] for j in project.json("run")["jobs"]] == ["reused"]
    project.tusk("data", "branch", "-d", "fix", code=None)
    from tusk import Project

    with Project.open(project.root) as opened:
        opened.data.gc()
    result = project.json("reproduce", f"m-c0@{version}")
    assert result["data_commit"] == run["data_commit"]  # the preview, kept by its tag
    assert result["fingerprint_equal"] and result["fingerprint"] == result["recorded_fingerprint"]


def test_a_preview_that_trained_nothing_leaves_no_tag(project: TrainProject) -> None:
    run = _preview_candidate(project)
    again = project.json("run", "--at", "fix", "--candidates")  # a second preview: its candidate is reused
    assert [j["status"] for j in again["jobs"]] == ["reused"] and again["data_commit"] != run["data_commit"]
    tags = [t["commit"] for t in project.json("data", "tags")["tags"]]
    assert tags == [run["data_commit"]]
