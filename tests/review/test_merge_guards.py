"""Seams that hold (issue 22): a merge whose result cannot be planned is refused (CLI, page, approve), tusk's own
tables cannot be imported into, a merge commit's page diffs against its first parent, logging in keeps the page
asked for, and -m on a fast-forward says it was not used. Real doltlite and MLflow stores, through the CLI."""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from train_fixtures import TrainProject, make_project, rows, write_csv


def _add(project: TrainProject, branch: str | None, *customers: str, start: int = 1000) -> None:
    data = [[start + i, c, f"new {i}", "l0"] for i, c in enumerate(customers)]
    path = write_csv(project.root / "add.csv", data)
    extra = ["--branch", branch] if branch else ["--yes"]
    project.tusk(
        "data",
        "import",
        str(path),
        "--table",
        "examples",
        "--key",
        "id",
        "--mode",
        "append",
        "-m",
        f"add {customers}",
        *extra,
    )


@pytest.fixture
def project(tmp_path: Path) -> TrainProject:
    return make_project(tmp_path)


@pytest.mark.parametrize("customers", [("C1",), ("$(id)", "`id`")], ids=["case", "same-name"])
def test_a_merge_whose_preview_cannot_be_planned_is_refused_even_forced(
    project: TrainProject, customers: tuple[str, ...]
) -> None:
    _add(project, "clash", *customers)
    head = project.head()
    shown = project.json("review", "show", "clash")  # says why instead of erroring
    assert shown["mergeable"] is False and shown["unplannable"]
    assert any("cannot be planned" in b for b in shown["blocking"])
    for extra in ([], ["--force", "--reason", "I know"]):
        result = project.tusk("data", "merge", "clash", "-m", "merge clash", *extra, code=1)
        assert "cannot be planned" in result.output and result.output.count("\n") == 1, result.output
        assert project.head() == head, "main is untouched"
    assert project.json("data", "merge", "clash", code=1)["merged"] is False
    assert project.plan()  # main still plans: one bad row did not stop all training
    # the branch fixed, then merged
    data = [[1000 + i, f"c{9 + i}", f"new {i}", "l0"] for i in range(len(customers))]
    project.tusk(
        "data",
        "import",
        str(write_csv(project.root / "fix.csv", data)),
        "--table",
        "examples",
        "--key",
        "id",
        "--mode",
        "upsert",
        "--branch",
        "clash",
        "-m",
        "fixed",
    )
    project.tusk("data", "merge", "clash", "-m", "merge clash")
    assert project.head() != head and "m-c9" in project.plan()


def test_a_branch_becomes_unplannable_when_main_moves(project: TrainProject) -> None:
    _add(project, "caps", "ACME")
    assert project.json("review", "show", "caps")["unplannable"] is None  # fine on its own
    _add(project, None, "acme", start=2000)  # main gains a value the branch's collides with
    head = project.head()
    assert "cannot be planned" in project.tusk("data", "merge", "caps", code=1).output
    assert project.head() == head


def test_approve_per_model_of_a_clashing_branch_is_refused(project: TrainProject) -> None:
    _add(project, "clash", "C1")
    head = project.head()
    for only in ("m-c1", "m-C1"):
        result = project.tusk("review", "approve", "clash", "--only", only, code=1)
        assert "cannot be planned" in result.output and result.output.count("\n") == 1
    assert project.head() == head


def test_the_pages_merge_of_a_clashing_branch_is_refused(project: TrainProject) -> None:
    from web_client import client
    from web_client import form as _form

    _add(project, "clash", "C1")
    head = project.head()
    with client(project.root) as web:
        impact = web.get("/review/impact?branch=clash").text
        answer = web.post("/review/merge", data={**_form(impact, "/review/merge"), "force": "yes", "reason": "x"})
        assert answer.status_code == 400 and "cannot be planned" in answer.text
    assert project.head() == head


@pytest.mark.parametrize("table", ["tusk_reviews", "tusk_sources", "TUSK_Review_Comments"])
def test_tusks_own_tables_cannot_be_imported_into(project: TrainProject, table: str) -> None:
    path = project.root / "own.csv"
    path.write_text("id,title\n1,x\n")
    branches = project.json("data", "branch")["branches"]
    result = project.tusk("data", "import", str(path), "--table", table, "--key", "id", "--branch", "tb", code=1)
    assert "reserved" in result.output and result.output.count("\n") == 1
    assert project.json("data", "branch")["branches"] == branches, "no branch made"


def test_data_sql_reads_tusks_tables_but_writes_nothing(project: TrainProject) -> None:
    project.tusk("data", "branch", "fix")
    project.tusk("review", "comment", "fix", "hello")
    assert project.json("data", "sql", "SELECT count(*) FROM tusk_review_comments", "--at", "tusk-reviews")["rows"] == [
        [1]
    ]
    result = project.tusk("data", "sql", "DELETE FROM tusk_review_comments", "--at", "tusk-reviews", code=1)
    assert "read-only" in result.output
    assert project.json("data", "sql", "SELECT count(*) FROM tusk_review_comments", "--at", "tusk-reviews")["rows"] == [
        [1]
    ]


def test_a_merge_commits_page_diffs_against_its_first_parent(project: TrainProject) -> None:
    from tusk import Project

    project.tusk("data", "branch", "fix")
    data = rows()
    data[1][3] = "MAIN"
    project.import_rows(data, message="main edits row 1")
    time.sleep(1.1)  # commit dates have whole seconds: fix's edit is the newest commit of the two
    data = rows()
    data[0][3] = "FIX"
    project.import_rows(data, branch="fix", message="fix edits row 0")  # newer than main's own edit
    merged = project.json("data", "merge", "fix", "-m", "merge fix")
    assert not merged["fast_forward"]
    with Project.open(project.root) as opened:
        page = opened.commit_page(merged["commit"])
    assert page.diff is not None
    assert [r.key for r in page.diff.rows] == [{"id": 0}], "only what the merge brought, not main's own edit"


def test_logging_in_keeps_the_query_of_the_page_asked_for(project: TrainProject) -> None:
    from web_client import client

    project.tusk("data", "branch", "fix")
    with client(project.root, token="alice:s3cret-token-1") as web:
        answer = web.get("/review?branch=fix", follow_redirects=False)
        target = parse_qs(urlsplit(answer.headers["location"]).query)["next"][0]
        assert target == "/review?branch=fix"
        form = web.get(answer.headers["location"]).text
        assert re.search(r'name="next" value="/review\?branch=fix"', form), form
        ok = web.post("/login", data={"token": "s3cret-token-1", "next": target}, follow_redirects=False)
        assert ok.headers["location"] == "/review?branch=fix"
        assert web.get(ok.headers["location"]).status_code == 200


def test_a_message_on_a_fast_forward_is_said_to_be_unused(project: TrainProject) -> None:
    _add(project, "ff", "c9")
    result = project.tusk("data", "merge", "ff", "-m", "my words")
    assert "fast-forward" in result.stderr and "'my words' was not used" in " ".join(result.stderr.split())
    _add(project, "ff2", "c8", start=3000)
    answer = project.json("data", "merge", "ff2", "-m", "other words")
    assert answer["fast_forward"] and "was not used" in answer["note"]
    _add(project, "ff3", "c7", start=4000)
    assert project.json("data", "merge", "ff3")["note"] is None  # no -m: nothing to say
