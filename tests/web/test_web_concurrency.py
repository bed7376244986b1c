"""A page action beside a CLI command at the same moment (issue "Reliability and security"): a page run beside
``tusk run`` (one project lock: the second waits or is refused naming the holder, nothing trained twice), a
page merge beside ``tusk data merge`` (merged once; the page's merge refused once main moved under it), a page
release beside ``tusk release rollback`` (one release lock: they take turns, the log and the current release
agree).

The page is the in-process app (httpx); the CLI is a real ``tusk`` process. Where the order matters the test
makes it happen: the page's thread is held at the exact step (just before the store's write lock, or just
after the release lock is taken) while the CLI command runs, then let go.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

from crash_helpers import duplicate_fingerprints, mlflow_db, output, start, tusk, tusk_json, wait_gone
from train_fixtures import TrainProject, make_project, project_template, rows, trained_project
from web_client import client
from web_client import csrf as _csrf
from web_client import edited as _edited
from web_client import form as _form
from web_client import wait as _wait

pytestmark = pytest.mark.slow


def _wait_for_holder(root: Path, what: str) -> str:
    lock, deadline = root / ".tusk" / "project.lock", time.monotonic() + 300
    while time.monotonic() < deadline:
        text = lock.read_text(errors="replace") if lock.exists() else ""
        if what in text:
            return text
        time.sleep(0.05)
    raise AssertionError(f"nobody took the run lock as {what!r}")


def _trained_once(project: TrainProject, names: list[str]) -> None:
    assert duplicate_fingerprints(mlflow_db(project.root)) == {}
    versions = project.client().search_model_versions("name LIKE 'm-%'")
    assert sorted(v.name for v in versions) == sorted(names), "each instance trained once"


def test_a_page_run_is_refused_while_a_cli_run_holds_the_project(tmp_path: Path) -> None:
    project = make_project(tmp_path, customers=3, params={"sleep": 2})
    root = project.root
    cli = start(root, "run", "--json")
    _wait_for_holder(root, "tusk run")
    with client(root) as web:
        page = web.get("/runs").text
        refused = web.post("/runs/start", data={"csrf": _csrf(page), "at": "", "only": ""})
        assert refused.status_code == 409, refused.text[:500]
        assert f"tusk run (pid {cli.pid}" in refused.text and "holds this project" in refused.text
        assert "no runs started from this page yet" in web.get("/runs").text  # nothing started, nothing queued
        cli.wait(timeout=300)
        assert cli.returncode == 0, output(cli)[1]
        output(cli)
        # once it is done, the page's run finds nothing left to train
        again = web.post("/runs/start", data={"csrf": _csrf(page), "at": "", "only": ""})
        ident = re.search(r"Run <code>([^<]+)</code>", again.text).group(1)  # type: ignore[union-attr]
        final = _wait(
            lambda: (lambda s: s if s["status"] not in ("starting", "running") else None)(
                web.get(f"/run/status?id={ident}").json()
            ),
            timeout=120,
        )
    assert final["status"] == "succeeded" and final["jobs"] == [], final
    _trained_once(project, ["m-c0", "m-c1", "m-c2"])
    assert wait_gone(root) == []


def test_a_cli_run_waits_for_a_page_run_and_trains_nothing_twice(tmp_path: Path) -> None:
    project = make_project(tmp_path, customers=3, params={"sleep": 2})
    root = project.root
    with client(root) as web:
        page = web.get("/runs").text
        started = web.post("/runs/start", data={"csrf": _csrf(page), "at": "", "only": ""})
        ident = re.search(r"Run <code>([^<]+)</code>", started.text).group(1)  # type: ignore[union-attr]
        holder = _wait_for_holder(root, "tusk run")
        page_pid = int(re.search(r"pid (\d+)", holder).group(1))  # type: ignore[union-attr]
        refused = tusk(root, "run", "--no-wait")
        assert refused.returncode == 1 and f"(pid {page_pid} " in refused.stderr, refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
        waited = tusk(root, "run", "--json")
        assert waited.returncode == 0, waited.stderr
        assert "waiting for tusk run" in waited.stderr
        final = _wait(
            lambda: (lambda s: s if s["status"] not in ("starting", "running") else None)(
                web.get(f"/run/status?id={ident}").json()
            ),
            timeout=120,
        )
    assert final["status"] == "succeeded" and len(final["jobs"]) == 3, final
    _trained_once(project, ["m-c0", "m-c1", "m-c2"])
    assert wait_gone(root) == []


@contextlib.contextmanager
def _held(owner: Any, name: str, at: Callable[..., bool]) -> Iterator[tuple[threading.Event, threading.Event]]:
    """Wrap ``owner.name`` so that a call in another thread for which ``at(*args)`` is true stops (after
    setting ``reached``) until ``go`` is set. The wrapped function runs unchanged otherwise."""
    reached, go = threading.Event(), threading.Event()
    original = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is not threading.main_thread() and at(*args, **kwargs) and not reached.is_set():
            reached.set()
            assert go.wait(300), "the test never let the page go on"
        return original(*args, **kwargs)

    setattr(owner, name, wrapper)
    try:
        yield reached, go
    finally:
        go.set()
        setattr(owner, name, original)


def _in_thread(work: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(work()))
    thread.start()
    return thread, result


@pytest.fixture
def reviewed(tmp_path: Path) -> TrainProject:
    return project_template(tmp_path, (__name__, "reviewed"), _reviewed)  # built once, copied for each test


def _reviewed(tmp_path: Path) -> TrainProject:
    project = trained_project(tmp_path)
    _edited(project, "fix")
    return project


def test_a_page_merge_beside_a_cli_merge_merges_once(reviewed: TrainProject) -> None:
    """The page checked the heads it showed, then `tusk data merge fix` lands before the page's merge takes
    the store's write lock: the page's merge is refused there (main moved), and fix is merged once."""
    import sys

    from tusk.data.doltlite import DoltliteStore

    root = reviewed.root
    with client(root) as web:
        form = _form(web.get("/review/impact?branch=fix").text, "/review/merge")
        # the store's merge asks for the target's connection right before it takes the write lock
        with _held(
            DoltliteStore, "branch_connection", lambda store, branch: sys._getframe(2).f_code.co_name == "merge"
        ) as (reached, go):
            thread, answers = _in_thread(lambda: web.post("/review/merge", data=form))
            assert reached.wait(300), "the page's merge never reached the store"
            cli = tusk(root, "data", "merge", "fix", "--json")
            assert cli.returncode == 0, cli.stderr
            go.set()
            thread.join(120)
        answer = answers[0]
    assert answer.status_code == 400, answer.text[:500]
    assert "main moved" in answer.text and "before the merge could start" in answer.text
    log = reviewed.json("data", "log")["commits"]
    assert log[0]["hash"] == reviewed.json("data", "log", "fix")["commits"][0]["hash"]  # the CLI's fast-forward
    assert sum(1 for c in log if c["message"] == "relabel c1 and c2 on fix") == 1
    assert sum(1 for c in log if c["message"].startswith("Merge fix")) <= 1
    actions = (root / ".tusk" / "ui-actions.log").read_text()
    assert "review merge" in actions and "refused: main moved" in actions


def test_a_page_merge_merges_the_commit_it_showed(reviewed: TrainProject) -> None:
    """A commit lands on the branch after the page's checks: only the rows the reviewer saw are merged."""
    from tusk.data.doltlite import DoltliteStore

    root = reviewed.root
    with client(root) as web:
        form = _form(web.get("/review/impact?branch=fix").text, "/review/merge")
        with _held(DoltliteStore, "merge", lambda store, branch, *a, **k: True) as (reached, go):
            thread, answers = _in_thread(lambda: web.post("/review/merge", data=form))
            assert reached.wait(300)
            data = rows()
            for row in data:
                if row[1] in ("c1", "c2"):
                    row[3] = "relabelled"
            data[0][2] = "unseen edit"
            reviewed.import_rows(data, branch="fix", message="an edit nobody reviewed")
            go.set()
            thread.join(120)
    assert answers[0].status_code == 200 and "merged fix into main" in answers[0].text, answers[0].text[:500]
    on_main = reviewed.json("data", "sql", f"SELECT text FROM examples WHERE id = {rows()[0][0]}")
    assert on_main["rows"][0][0] != "unseen edit"
    assert reviewed.json("review", "list")["reviews"][0]["merged"] is False  # fix still holds the unseen edit


def _blocked_on(path: Path) -> bool:
    """Some process waits for the flock on ``path`` (Linux lists waiters in /proc/locks with '->')."""
    inode = os.stat(path).st_ino
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if "->" in fields and fields[fields.index("->") + 1] == "FLOCK" and fields[-3].endswith(f":{inode}"):
            return True
    return False


def test_a_page_release_and_a_cli_rollback_take_turns(tmp_path: Path) -> None:
    project = make_project(tmp_path, customers=3)
    root = project.root
    project.run()
    project.tusk("release", "create", "--no-build")
    data = rows(3)
    data[0][3] = "relabelled"
    project.import_rows(data, message="relabel one row")
    project.run()
    project.tusk("release", "create", "--no-build")
    data[1][3] = "relabelled"
    project.import_rows(data, message="relabel another")
    project.run()  # production has moved on: the page's release will be v3
    from tusk._internal import lock as locks

    with client(root) as web:
        page = web.get("/releases").text
        lock_file = root / ".tusk" / "release.lock"
        holding = threading.Event()
        original = locks.hold
        go = threading.Event()

        @contextlib.contextmanager
        def hold(path: Path, what: str, *args: Any, **kwargs: Any) -> Iterator[None]:
            with original(path, what, *args, **kwargs):
                if threading.current_thread() is not threading.main_thread() and path.name == "release.lock":
                    holding.set()
                    assert go.wait(300)
                yield

        locks.hold = hold  # type: ignore[assignment]
        try:
            thread, answers = _in_thread(lambda: web.post("/releases/create", data={"csrf": _csrf(page)}))
            assert holding.wait(300), "the page's release never took the release lock"
            cli = start(root, "release", "rollback", "--json")
            deadline = time.monotonic() + 300
            while not _blocked_on(lock_file) and cli.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert cli.poll() is None, "tusk release rollback did not wait for the page's release: " + output(cli)[1]
            go.set()
            thread.join(120)
            cli.wait(timeout=300)
        finally:
            go.set()
            locks.hold = original  # type: ignore[assignment]
        out, err = output(cli)
    assert answers[0].status_code == 200 and "created v3" in answers[0].text, answers[0].text[:500]
    assert cli.returncode == 0, err
    releases = {r["version"]: r for r in tusk_json(root, "release", "list")["releases"]}
    assert sorted(releases) == ["1", "2", "3"], "one release made by the page, none twice"
    current = [v for v, r in releases.items() if r["current"]]
    assert current == ["2"], "the rollback came after the page's release: from v3 back to v2"
    events = tusk_json(root, "release", "log")["events"]
    assert [(e["event"], e["release"]) for e in events[:2]] == [("rolled_back", "v2"), ("created", "v3")], events[:3]
