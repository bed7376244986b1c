"""Reviewing a data branch tells the truth after main moved on: the plan of the merge preview, and the
three-dot diff (the branch's own change since it left main), on real doltlite and MLflow stores."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from train_fixtures import TrainProject, project_template, rows, trained_project


def non_fresh(plan: dict) -> dict[str, str]:
    return {n: i["status"] for n, i in plan.items() if i["status"] != "fresh"}


def scratch_branches(project: TrainProject) -> list[str]:
    from tusk.data.doltlite import DoltliteStore

    store = DoltliteStore("doltlite:///x", path=project.root / "data" / "training.db")
    try:
        return [b.name for b in store.branches() if b.name.startswith("tusk-preview/")]
    finally:
        store.close()


@pytest.fixture
def moved_on(tmp_path: Path) -> TrainProject:
    return project_template(tmp_path, (__name__, "moved_on"), _moved_on)  # built once, copied for each test


def _moved_on(tmp_path: Path) -> TrainProject:
    """Scenario 1 of the issue: branch fix from main, row 0 (c0) changed on fix, then row 1 (c1) changed on
    main and main trained."""
    project = trained_project(tmp_path)
    project.tusk("data", "branch", "fix")
    data = rows()
    data[0][3] = "FIX"
    project.import_rows(data, branch="fix", message="fix row 0")
    data = rows()
    data[1][3] = "MAIN"
    project.import_rows(data, message="main moves on")
    assert sorted(project.run()) == ["m-c1"]
    return project


def test_plan_at_a_branch_plans_the_merge_preview(moved_on: TrainProject) -> None:
    project = moved_on
    main_before, fix_head = project.head(), project.json("data", "log", "fix")["commits"][0]["hash"]
    result = project.json("plan", "--at", "fix")
    plan = {i["name"]: i for i in result["instances"]}
    assert non_fresh(plan) == {"m-c0": "stale"}, "merging fix keeps main's change to c1: only m-c0 retrains"
    assert plan["m-c0"]["reasons"][0].startswith("examples: 1 row modified since")
    preview = result["preview"]
    assert (preview["branch"], preview["branch_head"]) == ("fix", fix_head)
    assert (preview["into"], preview["into_head"]) == ("main", main_before)
    assert preview["kind"] == "merge" and not preview["persists"]
    assert result["data_commit"] == preview["commit"] not in (main_before, fix_head)
    assert project.head() == main_before, "main is untouched"
    assert scratch_branches(project) == [], "the scratch ref is removed"
    again = project.json("plan", "--at", "fix")
    assert non_fresh({i["name"]: i for i in again["instances"]}) == {"m-c0": "stale"}, "a repeated preview agrees"
    assert scratch_branches(project) == []
    text = project.tusk("plan", "--at", "fix").output
    assert "merging fix into main" in text and "m-c1" not in text


def test_three_dot_diff_shows_only_the_branch_change(moved_on: TrainProject) -> None:
    project = moved_on
    three = project.json("data", "diff", "main...fix")
    assert [(t["table"], t["added"], t["modified"], t["removed"]) for t in three["tables"]] == [("examples", 0, 1, 0)]
    assert [r["key"] for r in three["tables"][0]["rows"]] == [{"id": 0}]
    assert three["to"] == project.json("data", "log", "fix")["commits"][0]["hash"]
    assert three["from"] == three["merge_base"] != project.head()
    two = project.json("data", "diff", "main..fix")
    assert sorted(r["key"]["id"] for r in two["tables"][0]["rows"]) == [0, 1], "two dots: the trees compared"
    assert two == project.json("data", "diff", "main", "fix")
    assert "merge_base" not in two
    text = project.tusk("data", "diff", "main...fix").output
    assert "FIX" in text and "MAIN" not in text
    assert project.tusk("data", "diff", "main...nope", code=1).output.startswith("error:")
    assert project.tusk("data", "diff", "main...fix", "main", code=2).exit_code == 2


def test_a_reviews_conversation_is_not_listed_as_its_changed_rows(moved_on: TrainProject) -> None:
    """Comments are kept on tusk-reviews (review_meta), not on the review branch: the diff of the review lists the
    rows it changes, and the branch has no table of tusk's conversation."""
    project = moved_on
    project.tusk("review", "comment", "fix", "row 0 looks right")
    three = project.json("data", "diff", "main...fix")
    assert [t["table"] for t in three["tables"]] == ["examples"]
    assert "tusk_review" not in project.tusk("data", "diff", "main...fix").output
    project.tusk("data", "diff", "main...fix", "--table", "tusk_review_comments", code=1)


def test_run_at_a_branch_that_needs_a_merge_is_refused(moved_on: TrainProject) -> None:
    project = moved_on
    versions = project.json("models", "list")
    result = project.tusk("run", "--at", "fix", code=1)
    assert "tusk data merge fix" in result.output and result.output.count("\n") == 1
    assert project.json("models", "list") == versions, "nothing trained, nothing registered"
    fix_head = project.json("data", "log", "fix")["commits"][0]["hash"]
    assert project.json("plan", "--at", fix_head)["data_commit"] == fix_head, "a commit is planned as it is"


def test_merge_then_preview_again_and_merge_twice(moved_on: TrainProject) -> None:
    project = moved_on
    project.tusk("data", "merge", "fix", "-m", "merge fix")
    merged = project.head()
    result = project.json("plan", "--at", "fix")
    assert result["preview"]["kind"] == "up-to-date" and result["data_commit"] == merged
    assert non_fresh({i["name"]: i for i in result["instances"]}) == {"m-c0": "stale"}
    again = project.json("data", "merge", "fix")
    assert again["commit"] is None and project.head() == merged, "merging twice changes nothing"
    assert project.json("data", "diff", "main...fix")["tables"] == []
    assert sorted(project.run()) == ["m-c0"]
    assert non_fresh(project.plan("--at", "fix")) == {}


def test_a_branch_that_fast_forwards_plans_and_runs_at_its_head(tmp_path: Path) -> None:
    project = trained_project(tmp_path)
    data = rows()
    data[2][3] = "FF"
    project.import_rows(data, branch="ff", message="ff change")
    ff_head = project.json("data", "log", "ff")["commits"][0]["hash"]
    result = project.json("plan", "--at", "ff")
    assert result["preview"]["kind"] == "fast-forward" and result["preview"]["persists"]
    assert result["data_commit"] == ff_head
    report = project.json("run", "--at", "ff")
    assert report["data_commit"] == ff_head and [j["name"] for j in report["jobs"]] == ["m-c2"]


def test_a_conflicting_preview_names_the_rows_and_plans_nothing(moved_on: TrainProject) -> None:
    project = moved_on
    data = rows()
    data[1][3] = "OTHER"  # main changed row 1 to MAIN since fix left it
    project.import_rows(data, branch="fix", message="conflicting edit")
    before = project.head()
    result = project.tusk("plan", "--at", "fix", code=1)
    assert "conflict" in result.output and "id=1" in result.output
    shown = project.tusk("plan", "--at", "fix", "--json", code=1)
    import json

    data_json = json.loads(shown.stdout)
    assert data_json["instances"] == [] and data_json["data_commit"] is None
    assert [(c["table"], c["key"]) for c in data_json["conflicts"]] == [("examples", {"id": 1})]
    assert project.head() == before and scratch_branches(project) == []


def test_merge_preview_context_is_removed_even_on_error(moved_on: TrainProject) -> None:
    from tusk import Project

    with Project.open(moved_on.root) as project:
        with project.merge_preview("fix") as preview:
            assert preview.kind == "merge"
            label = project.data.query(
                "SELECT label FROM examples WHERE id IN (0, 1) ORDER BY id", ref=preview.commit
            ).rows
            assert label == [("FIX",), ("MAIN",)]
        assert scratch_branches(moved_on) == []
        with pytest.raises(RuntimeError), project.merge_preview("fix"):
            raise RuntimeError("boom inside the preview")
        assert scratch_branches(moved_on) == []


def test_a_crash_during_a_preview_leaves_no_scratch_branch(moved_on: TrainProject) -> None:
    code = textwrap.dedent(f"""
        import sys, time
        from tusk import Project
        with Project.open({str(moved_on.root)!r}) as project, project.merge_preview("fix"):
            print("inside", flush=True)
            time.sleep(60)
    """)
    from tusk._internal.sqlite import child_env

    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True, env=child_env()
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "inside"
        assert len(scratch_branches(moved_on)) == 1, "the preview is on a scratch branch while it is held"
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    assert len(scratch_branches(moved_on)) == 1, "kill -9 left it behind"
    branches = moved_on.json("data", "branch")["branches"]
    assert sorted(b["name"] for b in branches) == ["fix", "main"]
    assert scratch_branches(moved_on) == [], "the next command removed the stale scratch branch"
    assert non_fresh(moved_on.plan("--at", "fix")) == {"m-c0": "stale"}
