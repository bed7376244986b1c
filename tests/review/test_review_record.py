"""Issue 22 "Seams that hold": a merged review says so and keeps its title; a review's conversation (comments,
titles, approvals' notes) lives on tusk-reviews, never in a data branch's history, and still travels with pushes."""

from __future__ import annotations

from pathlib import Path

import pytest

from train_fixtures import TrainProject, make_project, project_template, rows, trained_project


@pytest.fixture
def fixed(tmp_path: Path) -> TrainProject:
    return project_template(tmp_path, (__name__, "fixed"), _fixed)  # built once, copied for each test


def _fixed(tmp_path: Path) -> TrainProject:
    project = make_project(tmp_path)
    data = rows()
    data[0][3] = "FIX"
    project.import_rows(data, branch="fix", message="fix row 0")
    return project


@pytest.mark.parametrize("main_moves", [False, True], ids=["fast-forward", "merge-commit"])
def test_a_merged_review_keeps_its_title_and_says_merged(fixed: TrainProject, main_moves: bool) -> None:
    project = fixed
    project.tusk("review", "edit", "fix", "--title", "Relabel row 0", "--description", "audit")
    project.tusk("review", "comment", "fix", "looks right")
    if main_moves:
        data = rows()
        data[5][3] = "MAIN"
        project.import_rows(data, message="main moves on")
    before = project.head()
    project.tusk("data", "merge", "fix", "-m", "merge fix")
    listed = {r["branch"]: r for r in project.json("review", "list", "--all")["reviews"]}
    assert (listed["fix"]["title"], listed["fix"]["status"]) == ("Relabel row 0", "merged")
    meta = project.json("review", "comment", "fix", "merged fine")
    assert meta["status"] == "merged" and meta["merge_commit"] == project.head() and meta["merged_from"] == before
    assert meta["merged_by"] and [c["kind"] for c in meta["comments"]] == ["comment", "merge", "comment"]
    project.tusk("data", "branch", "fix", "-d")  # the branch goes; the review's record stays
    assert "fix" not in {r["branch"] for r in project.json("review", "list")["reviews"]}
    gone = {r["branch"]: r for r in project.json("review", "list", "--all")["reviews"]}["fix"]
    assert (gone["title"], gone["status"], gone["head"]) == ("Relabel row 0", "merged", project.head())


def test_a_closed_review_whose_branch_is_deleted_stays_closed_with_its_title(fixed: TrainProject) -> None:
    project = fixed
    project.tusk("review", "edit", "fix", "--title", "Not this one")
    project.tusk("review", "close", "fix", "-m", "wrong rows")
    project.tusk("data", "branch", "fix", "-d")
    gone = {r["branch"]: r for r in project.json("review", "list", "--all")["reviews"]}["fix"]
    assert (gone["title"], gone["status"]) == ("Not this one", "closed")


def test_conversation_is_not_data(fixed: TrainProject) -> None:
    project = fixed
    head = project.json("data", "log", "fix")["commits"][0]["hash"]
    project.tusk("review", "edit", "fix", "--title", "Relabel row 0")
    project.tusk("review", "comment", "fix", "row 0 looks right")
    project.tusk("review", "close", "fix", "-m", "later")
    project.tusk("review", "close", "fix", "--reopen")
    assert project.json("data", "log", "fix")["commits"][0]["hash"] == head, "the review branch did not move"
    project.tusk("data", "merge", "fix", "-m", "merge fix")
    messages = [c["message"] for c in project.json("data", "log")["commits"]]
    assert not [m for m in messages if m.startswith("review ")], messages
    tables = [r[0] for r in project.json("data", "sql", "SELECT name FROM sqlite_master WHERE type = 'table'")["rows"]]
    assert not [t for t in tables if t.startswith("tusk_review")], tables
    meta = project.json("review", "comment", "fix", "after the merge")
    assert meta["title"] == "Relabel row 0"
    assert [c["kind"] for c in meta["comments"]] == ["comment", "close", "reopen", "merge", "comment"]


def test_an_approvals_note_is_not_on_the_data_branch(tmp_path: Path) -> None:
    project = trained_project(tmp_path)
    data = rows()
    for row in data:
        if row[1] in ("c1", "c2"):
            row[3] = "relabelled"
    project.import_rows(data, branch="fix", message="relabel c1 and c2")
    before = project.head()
    project.tusk("review", "approve", "fix", "--only", "m-c1")
    diff = project.json("data", "diff", before, project.head())
    assert [t["table"] for t in diff["tables"]] == ["examples"], "the approval's commit holds rows only"
    tables = [r[0] for r in project.json("data", "sql", "SELECT name FROM sqlite_master WHERE type = 'table'")["rows"]]
    assert not [t for t in tables if t.startswith("tusk_review")], tables
    meta = project.json("review", "comment", "fix", "the rest later")
    assert [c["kind"] for c in meta["comments"]] == ["approve", "comment"]
    assert "m-c1" in meta["comments"][0]["text"]


def test_the_conversation_travels_both_ways_and_merges(fixed: TrainProject, tmp_path: Path) -> None:
    import shutil

    project = fixed
    remote = tmp_path / "remote" / "training.db"
    project.tusk("data", "remote", "add", "origin", f"file://{remote}")
    project.tusk("review", "edit", "fix", "--title", "Relabel row 0")
    project.tusk("review", "comment", "fix", "from A")
    project.tusk("data", "push", "origin")
    project.tusk("data", "push", "origin", "--branch", "fix")
    second = tmp_path / "second"
    shutil.copytree(project.root, second, ignore=shutil.ignore_patterns("training.db", ".training.db-lock", ".tusk"))
    project.tusk("data", "clone", str(remote), str(second))
    other = TrainProject(second)
    other.tusk("data", "pull", "origin", "--branch", "fix")
    seen = other.json("review", "comment", "fix", "from B")  # B's comment written beside A's
    assert seen["title"] == "Relabel row 0" and [c["text"] for c in seen["comments"]] == ["from A", "from B"]
    project.tusk("review", "comment", "fix", "A again")  # both moved: B's push merges A's copy, then A's
    other.tusk("data", "push", "origin", "--branch", "fix")
    project.tusk("data", "push", "origin", "--branch", "fix")
    project.tusk("data", "pull", "origin")
    mine = project.json("review", "comment", "fix", "last")
    assert sorted(c["text"] for c in mine["comments"]) == ["A again", "from A", "from B", "last"]
    assert [c["message"] for c in other.json("data", "log", "fix")["commits"]][0] == "fix row 0"


# ----- a merged (or closed) review's page says so -----------------------------------------------------------------
def _page(project: TrainProject, path: str) -> str:
    pytest.importorskip("starlette")
    pytest.importorskip("httpx")
    from starlette.testclient import TestClient

    from tusk.web import create

    with TestClient(
        create(project.root / "tusk.toml", "127.0.0.1", 8765, None), base_url="http://127.0.0.1:8765"
    ) as web:
        answer = web.get(path)
    assert answer.status_code == 200, answer.text[:500]
    return answer.text


@pytest.fixture
def relabelled(tmp_path: Path) -> TrainProject:
    return project_template(tmp_path, (__name__, "relabelled"), _relabelled)  # built once, copied for each test


def _relabelled(tmp_path: Path) -> TrainProject:
    """m-c0..m-c3 trained; ``fix`` relabels c1's rows (titled); main then relabels c2's on its own."""
    project = trained_project(tmp_path)
    data = rows()
    for row in data:
        if row[1] == "c1":
            row[3] = "relabelled"
    project.import_rows(data, branch="fix", message="relabel c1")
    project.tusk("review", "edit", "fix", "--title", "Relabel c1", "--description", "c1 was swapped")
    for row in data:
        if row[1] == "c2":
            row[3] = "main-own"
    data_main = rows()
    for row in data_main:
        if row[1] == "c2":
            row[3] = "main-own"
    project.import_rows(data_main, message="main relabels c2")
    return project


def test_a_merged_reviews_page_says_who_when_what_it_brought_and_retrained(relabelled: TrainProject) -> None:
    project = relabelled
    before = project.head()
    project.tusk("data", "merge", "fix", "-m", "merge fix")
    merged = project.head()
    page = _page(project, "/review?branch=fix")
    assert "/review/merge" not in page and "merging retrains" not in page and "/review/impact" not in page
    assert "Relabel c1" in page and "c1 was swapped" in page and "merged</span>" in page
    assert "merged by" in page and f"/data/commit?hash={merged}" in page
    assert "relabelled" in page and "main-own" not in page, "the merge brought c1's rows, not main's own c2 edit"
    retrained = page.split('id="retrained"', 1)[1].split("</table>", 1)[0]
    assert "m-c1" in retrained and "not trained yet" in retrained and "m-c2" not in retrained
    shown = project.json("review", "show", "fix")
    assert (shown["status"], shown["title"], shown["merge_commit"], shown["merged_from"]) == (
        "merged",
        "Relabel c1",
        merged,
        before,
    )
    assert shown["merged_by"] and shown["merged_at"]
    assert [(r["name"], r["version"]) for r in shown["retrained"]] == [("m-c1", None)]
    assert [t["table"] for t in shown["brought"]] == ["examples"] and shown["brought"][0]["modified"] == 10
    project.run()
    shown = project.json("review", "show", "fix")
    assert [(r["name"], r["version"]) for r in shown["retrained"]] == [("m-c1", "2")]
    project.tusk("data", "branch", "fix", "-d")  # the branch goes: the page still says what happened
    page = _page(project, "/review?branch=fix")
    assert "/model?name=m-c1&amp;version=2" in page and "merged by" in page and "relabelled" in page
    listed = _page(project, "/reviews?status=all")
    assert "Relabel c1" in listed
    assert project.json("review", "show", "fix")["status"] == "merged"


def test_a_closed_reviews_page_has_no_merge_and_shows_its_change(relabelled: TrainProject) -> None:
    project = relabelled
    project.tusk("review", "close", "fix", "-m", "not now")
    page = _page(project, "/review?branch=fix")
    assert "/review/merge" not in page and "/review/impact" not in page and "merging retrains" not in page
    assert "closed by" in page and "not now" in page and "relabelled" in page and "Relabel c1" in page
    shown = project.json("review", "show", "fix")
    assert (shown["status"], shown["title"]) == ("closed", "Relabel c1") and shown["closed_by"]
    assert "Relabel c1" in _page(project, "/reviews?status=closed")


# ----- tusk-reviews is tusk's, not the user's -------------------------------------------------------------------
def test_tusk_reviews_is_refused_as_a_users_branch(fixed: TrainProject, tmp_path: Path) -> None:
    from train_fixtures import write_csv

    project = fixed
    project.tusk("review", "comment", "fix", "a comment")  # tusk-reviews exists now
    meta_head = project.json("data", "log", "tusk-reviews")["commits"][0]["hash"]
    csv = write_csv(tmp_path / "x.csv", rows())
    refusals = [
        ("data", "import", str(csv), "--table", "examples", "--key", "id", "--branch", "tusk-reviews"),
        ("data", "branch", "tusk-reviews", "-d"),
        ("data", "branch", "tusk-reviews", "--from", "main"),
        ("data", "revert", meta_head, "--branch", "tusk-reviews"),
        ("data", "merge", "tusk-reviews"),
    ]
    for args in refusals:
        result = project.tusk(*args, code=1)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "tusk-reviews" in lines[0] and "Traceback" not in result.output, (args, lines)
    assert project.json("data", "log", "tusk-reviews")["commits"][0]["hash"] == meta_head, "nothing written"
    listed = [b["name"] for b in project.json("data", "branch")["branches"]]
    assert "tusk-reviews" not in listed and "fix" in listed
    assert "tusk-reviews" not in project.tusk("data", "branch").output


def test_review_show_strips_terminal_escapes(fixed: TrainProject) -> None:
    project = fixed
    project.tusk(
        "review",
        "edit",
        "fix",
        "--title",
        "evil \x1b]0;pwned\x07title \x1b[31mred",
        "--description",
        "desc \x1b[2J cleared",
    )
    project.tusk("review", "comment", "fix", "comment \x1b[31mred")
    for shown in (project.tusk("review", "show", "fix").output, project.tusk("review", "list").output):
        assert "\x1b" not in shown and "\x07" not in shown, repr(shown)
        assert "evil" in shown
    project.tusk("data", "merge", "fix", "-m", "merge")
    shown = project.tusk("review", "show", "fix").output
    assert "\x1b" not in shown and "\x07" not in shown and "evil" in shown and "merged by" in shown


# ----- a store written by older tusk upgrades on open -------------------------------------------------------------
OLD_REVIEWS = (
    "CREATE TABLE IF NOT EXISTS tusk_reviews (branch TEXT NOT NULL PRIMARY KEY, title TEXT, description TEXT, "
    "status TEXT, author TEXT, created TEXT, updated TEXT)"
)
OLD_COMMENTS = (
    "CREATE TABLE IF NOT EXISTS tusk_review_comments (id TEXT NOT NULL PRIMARY KEY, branch TEXT, kind TEXT, "
    "author TEXT, time TEXT, text TEXT)"
)


def _old_write(store: object, branch: str, title: str, comment_id: str, status: str = "open") -> None:
    """What tusk before 38a5fe9's successor wrote: the review's row and a comment, as a commit on the branch."""
    with store.writer(branch) as conn:  # type: ignore[attr-defined]
        conn.execute(OLD_REVIEWS)
        conn.execute(OLD_COMMENTS)
        conn.execute(
            "INSERT OR REPLACE INTO tusk_reviews VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                branch,
                title,
                f"about {branch}",
                status,
                "ann",
                "2026-01-01T00:00:00+00:00",
                f"2026-01-0{len(branch) % 9 + 1}T00:00:00+00:00",
            ],
        )
        conn.execute(
            "INSERT INTO tusk_review_comments VALUES (?, ?, ?, ?, ?, ?)",
            [comment_id, branch, "comment", "ann", "2026-01-01T00:00:01+00:00", f"old comment on {branch}"],
        )
        conn.commit(f"review {branch}: comment by ann")


@pytest.fixture
def old_store(tmp_path: Path) -> TrainProject:
    """A store as older tusk left it: ``open1`` (unmerged), ``merged1`` (merged, branch kept), ``gone1`` (merged,
    branch deleted) and ``closed1`` (closed, unmerged), each with its conversation in tables on the branch; main
    holds the merged ones' tables."""
    from tusk import Project

    project = make_project(tmp_path)
    marker = project.root / ".tusk" / "reviews-upgraded"
    marker.write_text("fixture")  # build the old layout without the upgrade running meanwhile
    for i, name in enumerate(["open1", "merged1", "gone1", "closed1"]):
        data = rows()
        data[i][3] = name
        project.import_rows(data, branch=name, message=f"edit on {name}")
    with Project.open(project.root / "tusk.toml") as opened:
        store = opened.data
        _old_write(store, "open1", "Open one", "c-open1")
        _old_write(store, "closed1", "Closed one", "c-closed1", status="closed")
        _old_write(store, "merged1", "Merged one", "c-merged1")
        store.merge("merged1", "main", "Merge merged1")
        _old_write(store, "gone1", "Gone one", "c-gone1")
        store.merge("gone1", "main", "Merge gone1")
        store.delete_branch("gone1", force=True)
        project.merged_head = store.resolve("merged1")  # type: ignore[attr-defined]
    marker.unlink()
    return project


def _tables(project: TrainProject, ref: str) -> list[str]:
    found = project.json("data", "sql", "SELECT name FROM sqlite_master WHERE type = 'table'", "--at", ref)["rows"]
    return sorted(r[0] for r in found if r[0].startswith("tusk_review"))


def _heads(project: TrainProject) -> dict[str, str]:
    from tusk import Project

    with Project.open(project.root / "tusk.toml") as opened:
        return {b.name: b.head for b in opened.data.branches()}


def _upgraded(project: TrainProject, merged_head: str) -> None:
    listed = {r["branch"]: r for r in project.json("review", "list", "--all")["reviews"]}
    assert {b: (listed[b]["title"], listed[b]["status"]) for b in ("open1", "merged1", "gone1", "closed1")} == {
        "open1": ("Open one", "open"),
        "merged1": ("Merged one", "merged"),
        "gone1": ("Gone one", "merged"),
        "closed1": ("Closed one", "closed"),
    }
    assert _tables(project, "main") == [] and _tables(project, "open1") == [] and _tables(project, "closed1") == []
    assert _tables(project, "tusk-reviews") == ["tusk_review_comments", "tusk_reviews"]
    assert _heads(project)["merged1"] == merged_head, "a merged branch is not written to: it stays merged"
    comments = project.json("data", "sql", "SELECT id FROM tusk_review_comments ORDER BY id", "--at", "tusk-reviews")
    assert [r[0] for r in comments["rows"]] == ["c-closed1", "c-gone1", "c-merged1", "c-open1"]
    meta = project.json("review", "comment", "open1", "new comment")
    assert [c["text"] for c in meta["comments"]] == ["old comment on open1", "new comment"]
    assert (project.root / ".tusk" / "reviews-upgraded").exists()


def test_an_old_store_upgrades_once_on_open(old_store: TrainProject) -> None:
    project = old_store
    merged_head = project.merged_head  # type: ignore[attr-defined]
    assert _tables(project, "main") == [], "opening the store upgraded it"  # this very command opened it
    _upgraded(project, merged_head)
    before = _heads(project)
    project.tusk("review", "list")
    assert _heads(project) == before, "the second open writes nothing"
    project.tusk("data", "merge", "open1", "-m", "merge open1")  # the dropped tables do not come back
    assert _tables(project, "main") == []


@pytest.mark.parametrize("point", ["review.upgrade.copied", "review.upgrade.dropped"])
def test_an_upgrade_killed_half_way_is_finished_by_the_next_open(old_store: TrainProject, point: str) -> None:
    from crash_helpers import tusk as tusk_process

    project = old_store
    merged_head = project.merged_head  # type: ignore[attr-defined]
    killed = tusk_process(project.root, "review", "list", crash_at=point)
    assert killed.returncode == -9, (killed.returncode, killed.stdout, killed.stderr)
    assert not (project.root / ".tusk" / "reviews-upgraded").exists()
    _upgraded(project, merged_head)


# ----- a comment write killed half-way: the old state or the new, never half -----------------------------------------
@pytest.mark.parametrize("point,kept", [("review.write", False), ("review.written", True)])
def test_a_comment_killed_at_its_crash_point_leaves_old_or_new(fixed: TrainProject, point: str, kept: bool) -> None:
    from crash_helpers import tusk as tusk_process

    project = fixed
    project.tusk("review", "edit", "fix", "--title", "Relabel row 0")
    project.tusk("review", "comment", "fix", "first")
    meta_head = project.json("data", "log", "tusk-reviews")["commits"][0]["hash"]
    killed = tusk_process(project.root, "review", "edit", "fix", "--title", "Renamed", crash_at=point)
    assert killed.returncode == -9, (killed.returncode, killed.stdout, killed.stderr)
    killed = tusk_process(project.root, "review", "comment", "fix", "second", crash_at=point)
    assert killed.returncode == -9, (killed.returncode, killed.stdout, killed.stderr)
    meta = project.json("review", "comment", "fix", "third")  # and the store takes the next write
    texts = [c["text"] for c in meta["comments"]]
    assert texts == (["first", "second", "third"] if kept else ["first", "third"])
    assert meta["title"] == ("Renamed" if kept else "Relabel row 0")
    log = project.json("data", "log", "tusk-reviews")["commits"]
    assert [c["hash"] for c in log].index(meta_head) == (3 if kept else 1), "one commit per write, none half"
    rows = project.json("data", "sql", "SELECT count(*) FROM tusk_review_comments", "--at", "tusk-reviews")["rows"]
    assert rows == [[len(texts)]]
