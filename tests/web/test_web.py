"""``tusk ui``: security (binding, tokens, sessions, CSRF, Host), hostile values, a crawl of every page, and the
review actions in the orders that go wrong (the branch moves while the page is open, a double-submitted
merge), against real doltlite and MLflow stores through the in-process ASGI app (httpx)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

from starlette.testclient import TestClient

from train_fixtures import TrainProject, make_project, model_block, project_template, rows, trained_project
from tusk import Project
from tusk.errors import TuskError
from web_client import BASE, Links, client
from web_client import csrf as _csrf
from web_client import edited as _edited
from web_client import form as _form
from web_client import wait as _wait

HOSTILE = ["<script>alert(1)</script>", "\"'><img src=x onerror=alert(2)>", "x" * 10_000]


def crawl(web: TestClient, limit: int = 120) -> dict[str, str]:
    """Every page reachable from / (GETs only) → its HTML; asserts each answers 200."""
    seen: dict[str, str] = {}
    todo = ["/"]
    while todo and len(seen) < limit:
        path = todo.pop(0)
        if path in seen or path.startswith("/static"):
            continue
        response = web.get(path)
        assert response.status_code == 200, f"GET {path} answered {response.status_code}: {response.text[:300]}"
        seen[path] = response.text
        parser = Links()
        parser.feed(response.text)
        todo += [link.replace("&amp;", "&") for link in parser.links]
    return seen


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with models trained, and a review whose cells are hostile (script, quotes, 10 kB, binary)."""
    project = trained_project(tmp_path_factory.mktemp("web"))
    project.tusk("release", "create", "--no-build")
    data = rows()
    data[3][3] = "relabelled on main"
    project.import_rows(data, message="main: relabel one row of c3")
    project.run()
    project.tusk("release", "create", "--no-build")
    data = rows()
    for i, text in enumerate(HOSTILE):
        data[i][2] = text
    project.import_rows(data, branch="hostile", message="hostile <b>text</b>")
    from tusk.review.meta import commit_write

    # a binary cell: no CSV can carry one
    with Project.open(project.root) as opened, opened.data.writer("hostile") as conn:
        conn.execute("UPDATE examples SET text = ? WHERE id = 5", [b"\x00\xff<script>"])
        commit_write(conn, "binary cell")
    return project.root


def state(root: Path) -> tuple[Any, ...]:
    with Project.open(root) as project:
        store = project.data
        return (
            tuple((b.name, b.head) for b in store.branches()),
            project.tracker.aliases(),
            {n: s.version for n, s in project.tracker.states().items()},
        )


def test_every_page_from_home_answers_and_escapes_hostile_values(hostile: Path) -> None:
    before = state(hostile)
    with client(hostile) as web:
        pages = crawl(web)
        review = web.get("/review?branch=hostile").text
        impact = web.get("/review/impact?branch=hostile").text
    assert len(pages) >= 10, sorted(pages)
    assert any(p.startswith("/review?branch=hostile") for p in pages)
    assert any(p.startswith("/model?") for p in pages) and any(p.startswith("/data/commit") for p in pages)
    for path, html in {**pages, "review": review, "impact": impact}.items():
        assert "<script>alert(1)" not in html, path
        assert "<img src=x" not in html, path
        assert "<b>text</b>" not in html, path
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in review
    assert "&lt;img src=x onerror=alert(2)&gt;" in review
    assert "10,000 characters" in review and "x" * 201 not in review  # a 10 kB cell is cut, with its length
    assert "&lt;10 bytes: 00ff3c" in review  # binary shown as hex
    assert "merging retrains 4 of 4" in impact  # c0-c2 edited; c3 because the branch has its old row 3
    assert state(hostile) == before  # GETs changed nothing


def test_security_headers_and_host(hostile: Path) -> None:
    with client(hostile) as web:
        answer = web.get("/models")
        assert "script-src 'self'" in answer.headers["content-security-policy"]
        assert answer.headers["x-frame-options"] == "DENY"
        cookie = answer.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert web.get("/", headers={"host": "evil.example:8765"}).status_code == 421  # DNS rebinding
        assert web.get("/data/table?name=examples%20WHERE%201=1").status_code in (400, 404)  # no SQL from a request
        assert web.get("/data/table?name=examples&col=label%3D1%20OR&val=x").status_code in (400, 404)
        assert web.get("/run?id=../../etc").status_code == 400  # no path from a request


def test_every_post_form_refuses_a_missing_or_wrong_csrf_token(hostile: Path) -> None:
    before = state(hostile)
    with client(hostile) as web:
        pages = crawl(web)
        forms = {}
        for path in list(pages) + ["/review/impact?branch=hostile", "/releases/rollback"]:
            parser = Links()
            parser.feed(pages.get(path) or web.get(path).text)
            for form in parser.forms:
                forms.setdefault(form["action"], form["fields"])
        assert {
            "/review/merge",
            "/review/approve",
            "/review/comment",
            "/review/close",
            "/model/promote",
            "/model/rollback",
            "/runs/start",
            "/releases/create",
            "/releases/rollback",
        } <= set(forms)
        for action, fields in forms.items():
            assert "csrf" in fields, action
            for sent in ({k: v for k, v in fields.items() if k != "csrf"}, {**fields, "csrf": "forged"}):
                answer = web.post(action, data=sent, follow_redirects=False)
                assert answer.status_code == 403, f"POST {action} with csrf={sent.get('csrf')!r}: {answer.status_code}"
        cross = web.post(
            "/review/comment", data={**forms["/review/comment"], "text": "x"}, headers={"origin": "http://evil.example"}
        )
        assert cross.status_code == 403 and "another site" in cross.text  # even with the right token
        # a session's token does not serve another session
        other = client(hostile)
        other.get("/")
        token = forms["/review/comment"]["csrf"]
        assert other.post("/review/comment", data={"csrf": token, "branch": "hostile", "text": "x"}).status_code == 403
    assert state(hostile) == before


def test_open_binding_needs_a_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tusk.web import create
    from tusk.web.security import UnsafeBinding

    project = make_project(tmp_path)
    monkeypatch.delenv("TUSK_UI_TOKEN", raising=False)
    for host in ("0.0.0.0", "192.168.1.5", "::"):
        with pytest.raises(UnsafeBinding, match="without a token"):
            create(project.root / "tusk.toml", host)
    create(project.root / "tusk.toml", "0.0.0.0", token="alice:long-enough-secret")
    monkeypatch.setenv("TUSK_UI_TOKEN", "bob:another-long-secret")
    create(project.root / "tusk.toml", "0.0.0.0")
    with pytest.raises(TuskError, match="at least 8"):
        create(project.root / "tusk.toml", "127.0.0.1", token="short")
    monkeypatch.delenv("TUSK_UI_TOKEN")
    result = project.tusk("ui", "--host", "0.0.0.0", "--port", "1", code=1)
    assert "refuses to listen on 0.0.0.0 without a token" in result.output


def test_ui_errors_are_one_line_before_anything_listens(tmp_path: Path) -> None:
    import socket

    project = make_project(tmp_path)
    result = project.tusk("ui", "--review", "nosuch", code=1)
    assert "no review 'nosuch'" in result.output and len(result.output.strip().splitlines()) == 1
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = project.tusk("ui", "--port", str(port), code=1)
    assert f"could not listen on 127.0.0.1:{port}: address already in use" in result.output
    assert "Traceback" not in result.output


def test_ui_without_a_form_parser_refuses_to_start(tmp_path: Path) -> None:
    """Without python-multipart every POST of the page was a 500 (after `make demo`): the page refuses to start,
    naming what to install, and the base install brings it."""
    import subprocess
    import sys
    from importlib.metadata import requires

    project = make_project(tmp_path)
    script = (
        "import sys; sys.modules['python_multipart'] = sys.modules['multipart'] = None\n"
        "from tusk.cli import main; sys.argv = ['tusk', '-C', sys.argv[1], 'ui', '--port', '1']; main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(project.root)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stderr
    assert "tusk ui needs python-multipart to read its forms: pip install python-multipart" in done.stderr
    assert "Traceback" not in done.stderr
    base = [r for r in requires("tusk-mlops") or [] if "extra ==" not in r]
    assert any(r.startswith("python-multipart") for r in base), base


def test_a_token_logs_in_once_and_names_who_did_what(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    project.tusk("data", "branch", "fix")
    with client(project.root, token="alice:s3cret-token-1,bob:s3cret-token-2") as web:
        answer = web.get("/reviews", follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
        assert web.post("/review/comment", data={"branch": "fix", "text": "x"}).status_code == 403
        assert web.get("/static/tusk.css").status_code == 200
        refused = web.post("/login", data={"token": "s3cret-token-3", "next": "/reviews"}, follow_redirects=False)
        assert refused.status_code == 403 and "tusk_session" not in refused.headers.get("set-cookie", "")
        ok = web.post("/login", data={"token": "s3cret-token-1", "next": "//evil.example/"}, follow_redirects=False)
        assert ok.status_code == 303 and ok.headers["location"] == "/"  # never off-site after logging in
        cookie = ok.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        page = web.get("/review?branch=fix").text
        assert "alice" in page
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        done = web.post("/review/comment", data={"csrf": csrf, "branch": "fix", "text": "looks right"})
        assert done.status_code == 200 and "looks right" in done.text
    log = (project.root / ".tusk" / "ui-actions.log").read_text()
    assert '"who": "alice"' in log and '"action": "review comment"' in log and '"action": "login"' in log
    meta = project.json("review", "show", "fix")  # the CLI still sees the review
    assert meta["branch"] == "fix"


@pytest.fixture
def reviewed(tmp_path: Path) -> TrainProject:
    return project_template(tmp_path, (__name__, "reviewed"), _reviewed)  # built once, copied for each test


def _reviewed(tmp_path: Path) -> TrainProject:
    project = trained_project(tmp_path)
    _edited(project, "fix")
    return project


def test_approve_one_model_then_merge_the_rest(reviewed: TrainProject) -> None:
    root = reviewed.root
    with client(root) as web:
        impact = web.get("/review/impact?branch=fix").text
        assert "merging retrains 2 of 4" in impact
        form = _form(impact, "/review/approve")
        answer = web.post("/review/approve", data={**form, "model": ["m-c1"]})
        assert answer.status_code == 200, answer.text[:500]
        assert "approved fix for m-c1" in answer.text
        main = {
            r[0]: r[3] for r in reviewed.json("data", "sql", "SELECT id, customer, text, label FROM examples")["rows"]
        }
        relabelled = {i for i, label in main.items() if label == "relabelled"}
        assert relabelled == {r[0] for r in rows() if r[1] == "c1"}  # c1's rows only, c2's stay on the branch
        assert set(reviewed.plan()) and reviewed.plan()["m-c1"]["status"] == "stale"
        assert reviewed.plan()["m-c2"]["status"] == "fresh"
        assert "merging retrains 1 of 4" in web.get("/review/impact?branch=fix").text  # only c2 is left
        again = web.post(
            "/review/approve",
            data={**_form(web.get("/review/impact?branch=fix").text, "/review/approve"), "model": ["m-c1"]},
        )
        assert "already holds" in again.text
        page = web.get("/review?branch=fix").text
        assert "approved the rows feeding m-c1" in page  # the approval is in the conversation
        merge = _form(web.get("/review/impact?branch=fix").text, "/review/merge")
        merged = web.post("/review/merge", data=merge)
        assert "merged fix into main" in merged.text
        twice = web.post("/review/merge", data=merge)  # the same form posted again
        assert twice.status_code == 400 and "moved since the review was shown" in twice.text
    log = reviewed.json("data", "log")["commits"]
    assert sum(1 for c in log if c["message"].startswith("Merge fix")) == 1
    assert reviewed.json("review", "list")["reviews"][0]["merged"] is True


def test_a_merge_is_refused_when_the_branch_moved_after_the_page_showed_it(reviewed: TrainProject) -> None:
    with client(reviewed.root) as web:
        merge = _form(web.get("/review/impact?branch=fix").text, "/review/merge")
        data = rows()
        data[0][2] = "a later edit"
        reviewed.import_rows(data, branch="fix", message="someone else edits fix")  # the world moves
        head = reviewed.json("data", "log", "fix")["commits"][0]["hash"]
        answer = web.post("/review/merge", data=merge)
        assert answer.status_code == 400 and "fix moved since the review was shown" in answer.text
        assert reviewed.json("data", "log")["commits"][0]["message"] == "load"  # main untouched
        approve = _form(web.get("/review/impact?branch=fix").text, "/review/approve")
        assert approve["head"] == head
        approve["head"] = merge["head"]
        refused = web.post("/review/approve", data={**approve, "model": ["m-c1"]})
        assert refused.status_code == 400 and "moved since the page showed it" in refused.text


def test_approve_refuses_rows_that_main_changed_too(reviewed: TrainProject) -> None:
    data = rows()
    for row in data:
        if row[1] == "c1":
            row[3] = "changed on main"
    reviewed.import_rows(data, message="main relabels c1 differently")
    with pytest.raises(TuskError, match="changed on the data branch too"), Project.open(reviewed.root) as project:
        project.approve("fix", ["m-c1"], "carol")
    assert reviewed.json("data", "log")["commits"][0]["message"] == "main relabels c1 differently"


def test_review_conversation_travels_through_push_and_pull(reviewed: TrainProject, tmp_path: Path) -> None:
    reviewed.tusk("review", "edit", "fix", "--title", "Relabel c1 <and> c2", "--description", "why: audit")
    reviewed.tusk("review", "comment", "fix", "c2 looks wrong")
    remote = tmp_path / "remote"
    reviewed.tusk("data", "remote", "add", "origin", f"file://{remote}")
    reviewed.tusk("data", "push", "origin")
    reviewed.tusk("data", "push", "origin", "--branch", "fix")
    with Project.open(reviewed.root) as project:
        mine = project.review_meta("fix")
    assert mine.title == "Relabel c1 <and> c2" and [c.text for c in mine.comments] == ["c2 looks wrong"]
    second = _second_clone(reviewed.root, tmp_path / "second", remote)
    with Project.open(second) as project:
        project.shared_data().fetch("origin")
        project.data.create_branch("fix", "origin/fix")
        theirs = project.review_meta("fix")
    assert theirs.title == mine.title and [c.text for c in theirs.comments] == ["c2 looks wrong"]
    assert theirs.description == "why: audit" and theirs.status == "open"
    reviewed.tusk("review", "close", "fix", "-m", "not needed")
    assert reviewed.json("review", "close", "fix", "--reopen")["status"] == "open"


def _second_clone(root: Path, target: Path, remote: Path) -> Path:
    import shutil

    shutil.copytree(root, target, ignore=shutil.ignore_patterns("training.db", ".training.db-lock", ".tusk"))
    from tusk.data.doltlite import DoltliteStore

    (target / "data").mkdir(exist_ok=True)
    DoltliteStore.clone(f"file://{remote}", target / "data" / "training.db")
    return target


def test_models_page_sorts_filters_and_pages(reviewed: TrainProject) -> None:
    with client(reviewed.root) as web:
        page = web.get("/models?sort=name&dir=desc&limit=2").text
        names = re.findall(r"/model\?name=(m-c\d)", page)
        assert names == ["m-c3", "m-c2"] and "1–2 of 4" in page
        assert re.findall(r"/model\?name=(m-c\d)", web.get("/models?q=c1").text) == ["m-c1"]
        assert web.get("/models?sort=drop%20table").status_code == 400
        assert "accuracy 0.9" in web.get("/models?sort=metric").text


def test_the_models_page_plans_again_only_when_something_changed(
    reviewed: TrainProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The models list keeps its plan between requests: reused while nothing it depends on changed, made again
    after the data branch, the registry, tusk.toml or the code moved."""
    from tusk.train import planning

    made: list[str] = []
    plan = planning.make_plan

    def counting(*args: Any, **kwargs: Any) -> Any:
        made.append("plan")
        return plan(*args, **kwargs)

    monkeypatch.setattr(planning, "make_plan", counting)

    def statuses(web: TestClient) -> tuple[dict[str, str], bool]:
        before = len(made)
        page = web.get("/models?sort=status").text  # a sort that needs every instance's status
        found = dict(re.findall(r'/model\?name=(m-c\d)">m-c\d</a></td>\s*<td><span class="badge (\w+)"', page))
        return found, len(made) > before

    root = reviewed.root
    fresh = {f"m-c{i}": "fresh" for i in range(4)}
    stale = {f"m-c{i}": "stale" for i in range(4)}
    with client(root) as web:
        assert statuses(web) == (fresh, True)
        assert statuses(web) == (fresh, False), "nothing changed: the plan is reused"
        _edited(reviewed, "main")  # the data branch moves: c1 and c2 relabelled
        assert statuses(web) == ({**fresh, "m-c1": "stale", "m-c2": "stale"}, True)
        reviewed.run()  # the registry moves
        assert statuses(web) == (fresh, True)
        assert statuses(web) == (fresh, False)
        code = root / "models" / "m.py"
        code.write_text(code.read_text() + "\n# changed\n")  # the code moves
        assert statuses(web) == (stale, True)
        reviewed.run()
        assert statuses(web) == (fresh, True)
        config = root / "tusk.toml"
        assert "C = 1.0" in config.read_text()
        config.write_text(config.read_text().replace("C = 1.0", "C = 2.0"))  # tusk.toml moves
        assert statuses(web) == (stale, True)


def test_the_models_page_plans_only_its_rows_and_counts_after(
    reviewed: TrainProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listed by name (the default), the page reads only its rows' states and says of each what the whole plan
    says; the counts per status come in their own request. The world moving between two requests, a damaged
    cache and an orphan change nothing of that."""
    from tusk.tracking.mlflow import MlflowTracker

    asked: list[Any] = []
    states = MlflowTracker.states

    def recording(self: Any, names: Any = None) -> Any:
        asked.append(None if names is None else sorted(names))
        return states(self, names)

    monkeypatch.setattr(MlflowTracker, "states", recording)

    def listed(web: TestClient, url: str) -> list[tuple[str, str]]:
        asked.clear()
        page = web.get(url).text
        assert 'data-load="/models/counts?part=1"' in page
        return re.findall(
            r'<td>(?:<a href="/model\?name=[^"]+">)?([\w-]+)(?:</a>)?</td>\s*<td><span class="badge (\w+)"', page
        )

    def whole() -> list[tuple[str, str]]:
        return sorted((p["name"], p["status"]) for p in reviewed.json("plan")["instances"])

    def counts(web: TestClient) -> dict[str, int]:
        return {
            s: int(n) for s, n in re.findall(r'class="badge (\w+)">\w+ (\d+)<', web.get("/models/counts?part=1").text)
        }

    root = reviewed.root
    with client(root) as web:
        first = listed(web, "/models?limit=2")
        assert None not in asked and set(sum(asked, [])) <= {"m-c0", "m-c1"}, asked
        assert first == whole()[:2]
        assert counts(web) == {"fresh": 4}
        _edited(reviewed, "main")  # the world moves between the page and its counts
        assert counts(web) == {"fresh": 2, "stale": 2}
        assert listed(web, "/models?limit=2&offset=1") == whole()[1:3] == [("m-c1", "stale"), ("m-c2", "stale")]
        for damaged in ("matrix.json", "sql.json"):
            (root / ".tusk" / "cache" / damaged).write_text("{not json")
        assert listed(web, "/models?dir=desc") == whole()[::-1]
        reviewed.set_models(
            model_block(
                matrix='matrix.customer = "SELECT DISTINCT customer FROM examples '
                "WHERE customer != 'c3' ORDER BY customer\""
            )
        )
        assert ("m-c3", "orphaned") in whole()
        assert listed(web, "/models?dir=desc&limit=1") == [("m-c3", "orphaned")]
        assert listed(web, "/models?q=c2") == [("m-c2", "stale")]
        assert counts(web) == {"fresh": 1, "stale": 2, "orphaned": 1}


def test_sqlite_is_never_given_request_text(hostile: Path) -> None:
    """Filters are bound values: a quote in a value finds nothing and breaks nothing."""
    with client(hostile) as web:
        answer = web.get("/data/table?name=examples&col=customer&val=c1'%20OR%20'1'='1")
        assert answer.status_code == 200 and "0 rows" in answer.text
        answer = web.get("/review?branch=hostile&table=examples&col=customer&val=c0")
        assert answer.status_code == 200 and "c0" in answer.text
    assert sqlite3.sqlite_version


def test_a_run_started_from_the_page_is_watched_and_cancelled_mid_way(tmp_path: Path) -> None:
    project = make_project(tmp_path, customers=6, params={"C": 1.0, "sleep": 30})
    with client(project.root) as web:
        page = web.get("/runs").text
        answer = web.post("/runs/start", data={"csrf": _csrf(page), "at": "", "only": ""})
        assert answer.status_code == 200 and "started" in answer.text
        ident = re.search(r"Run <code>([^<]+)</code>", answer.text).group(1)  # type: ignore[union-attr]
        running = _wait(
            lambda: [j for j in web.get(f"/run/status?id={ident}").json()["jobs"] if j["status"] == "running"]
        )
        assert running and "attempt 1 started" in _wait(
            lambda: web.get(f"/run/status?id={ident}").json()["jobs"][0]["log_tail"]
        )
        second = web.post("/runs/start", data={"csrf": _csrf(page)})  # one at a time
        assert second.status_code == 409 and "still going" in second.text
        cancelled = web.post("/run/cancel", data={"csrf": _csrf(page), "id": ident})
        assert cancelled.status_code == 200
        final = _wait(
            lambda: (lambda s: s if s["status"] not in ("starting", "running") else None)(
                web.get(f"/run/status?id={ident}").json()
            ),
            timeout=60,
        )
    assert final["status"] == "cancelled", final
    assert all(j["status"] in ("cancelled", "waiting") for j in final["jobs"]), final["jobs"]
    with client(project.root) as web:  # what the jobs did, not "6 of 6 jobs done"
        summary = re.search(r'<p id="run-summary">([^<]*)</p>', web.get(f"/run?id={ident}").text)
    assert summary and "cancelled" in summary.group(1) and "done" not in summary.group(1), summary
    assert project.json("models", "list")["models"] == []  # nothing registered, nothing half-registered
    plan = project.plan()
    assert {p["status"] for p in plan.values()} == {"new"}


def test_the_cli_pages_diffs_and_models_as_the_page_does(reviewed: TrainProject) -> None:
    page = reviewed.json(
        "data", "diff", "main...fix", "--table", "examples", "--where", "customer=c2", "--offset", "1", "--limit", "2"
    )
    c2 = [r[0] for r in rows() if r[1] == "c2"]
    assert page["total"] == len(c2) and [r["key"]["id"] for r in page["rows"]] == c2[1:3]
    assert all(r["changed"] == ["label"] for r in page["rows"])
    assert "need --table" in reviewed.tusk("data", "diff", "main...fix", "--where", "customer=c2", code=2).output
    listed = reviewed.json("models", "list", "--sort", "name", "--desc", "--limit", "2")
    assert [m["name"] for m in listed["models"]] == ["m-c3", "m-c2"] and listed["matched"] == 4
    assert all(m["metric"] == "accuracy" and m["value"] == 0.9 for m in listed["models"])
    assert [m["name"] for m in reviewed.json("models", "list", "--name", "c1")["models"]] == ["m-c1"]


def _listed(html: str) -> set[int]:
    """The ids of the rows a page's diff table shows (their text cells read "text N")."""
    table = html.split('<table class="diff">', 1)[1].split("</table>", 1)[0]
    return {int(n) for n in re.findall(r">text (\d+)<", table)}


def test_rows_approved_per_model_leave_the_review_and_its_diff(reviewed: TrainProject) -> None:
    """Approved, m-c1's rows are on main as on fix: the review page and `tusk data diff main...fix` leave them
    out (counted as landed), pages and filters over what is left; both can list them again."""
    c1 = {r[0] for r in rows() if r[1] == "c1"}
    c2 = {r[0] for r in rows() if r[1] == "c2"}
    reviewed.tusk("review", "approve", "fix", "--only", "m-c1")
    report = reviewed.json("data", "diff", "main...fix", "--table", "examples")
    examples = report["tables"][0]
    assert (examples["modified"], examples["landed"]) == (len(c2), len(c1))
    assert {r["key"]["id"] for r in examples["rows"]} == c2
    every = reviewed.json("data", "diff", "main...fix", "--table", "examples", "--with-landed")["tables"][0]
    assert (every["modified"], every["landed"]) == (len(c1) + len(c2), 0)
    only_c1 = reviewed.json("data", "diff", "main...fix", "--table", "examples", "--where", "customer=c1")
    assert only_c1["total"] == 0 and only_c1["rows"] == []
    again = reviewed.json(
        "data", "diff", "main...fix", "--table", "examples", "--where", "customer=c1", "--with-landed"
    )
    assert {r["key"]["id"] for r in again["rows"]} == c1
    with client(reviewed.root) as web:
        page = web.get("/review?branch=fix").text
        assert _listed(page) == c2 and f"{len(c1)} changed rows are on main already" in page
        first = web.get("/review?branch=fix&table=examples&limit=4").text
        second = web.get("/review?branch=fix&table=examples&limit=4&offset=4").text
        assert f"1–4 of {len(c2)}" in first and f"5–8 of {len(c2)}" in second
        assert _listed(first) | _listed(second) <= c2 and len(_listed(first) | _listed(second)) == 8
        assert _listed(web.get("/review?branch=fix&table=examples&col=customer&val=c1").text) == set()
        assert _listed(web.get("/review?branch=fix&table=examples&col=customer&val=c2").text) == c2
        shown = web.get("/review?branch=fix&table=examples&landed=1").text
        assert _listed(shown) == c1 | c2 and "listing rows main holds already too" in shown
        assert "landed=1" in shown.split('class="pager"', 1)[-1] or len(c1 | c2) <= 50
    from tusk import Project

    with Project.open(reviewed.root) as project:
        assert project.review_page("fix").to_json()["landed"] == len(c1)


def test_team_mode_serves_the_names_people_open_it_by(tmp_path: Path) -> None:
    """`tusk ui --host 0.0.0.0 --token ...` (the README's team mode) answered 421 for 127.0.0.1, localhost and the
    machine's own name; only the literal 0.0.0.0 worked, and no other name could be given."""
    import socket

    from tusk.web import create

    project = make_project(tmp_path)
    config = project.root / "tusk.toml"
    names = [
        "127.0.0.1:8765",
        "localhost:8765",
        "LOCALHOST",
        "[::1]:8765",
        f"{socket.gethostname()}:8765",
        f"{socket.getfqdn()}:8765",
        "192.168.1.5:8765",
        "0.0.0.0:8765",
    ]
    app = create(config, "0.0.0.0", 8765, "alice:a-long-secret-1", allowed_hosts=["https://tusk.example.com/"])
    with TestClient(app, base_url=BASE) as web:
        for host in [*names, "tusk.example.com", "tusk.example.com:443"]:
            assert web.get("/login", headers={"host": host}).status_code == 200, host
        assert web.get("/login", headers={"host": "evil.example:8765"}).status_code == 421  # DNS rebinding
        assert web.get("/login", headers={"host": "tusk.example.com.evil.example"}).status_code == 421
    with TestClient(create(config, "127.0.0.1", 8765), base_url=BASE) as web:  # loopback: loopback names only
        assert web.get("/login", headers={"host": "localhost:8765"}).status_code == 200
        assert web.get("/login", headers={"host": "192.168.1.5:8765"}).status_code == 421
        assert web.get("/login", headers={"host": f"{socket.gethostname()}:8765"}).status_code == 421
    with pytest.raises(TuskError, match="--allowed-host"):
        create(config, "0.0.0.0", 8765, "alice:a-long-secret-1", allowed_hosts=["not a host"])


def test_team_mode_over_http_refuses_a_request_without_host(tmp_path: Path) -> None:
    """The README's command in a real process: its host names answer, an HTTP/1.0 request without Host was
    served and is now refused (400)."""
    import socket
    import subprocess
    import sys
    import time

    project = make_project(tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        str(Path(sys.executable).parent / "tusk"),
        "-C",
        str(project.root),
        "ui",
        "--host",
        "0.0.0.0",
        "--port",
        str(port),
        "--token",
        "alice:a-long-secret-1",
        "--allowed-host",
        "tusk.example.com",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def ask(head: str) -> str:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            conn.sendall(head.encode() + b"\r\n")
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
        return answer.decode("latin-1").split("\r\n", 1)[0]

    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and process.poll() is None, "tusk ui did not start"
                time.sleep(0.2)
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"{socket.gethostname()}:{port}", "tusk.example.com"):
            assert " 421 " not in ask(f"GET /login HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"), host
        assert " 421 " in ask(f"GET /login HTTP/1.1\r\nHost: evil.example:{port}\r\nConnection: close\r\n")
        assert " 400 " in ask("GET /login HTTP/1.0\r\n")
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_wrong_tokens_are_throttled_per_address(tmp_path: Path) -> None:
    """200 wrong tokens were answered in 0.2 s. After FREE_FAILURES wrong ones an address waits 1, 2, 4 ... s
    between tries; a try before that is refused (429) without looking at the token, even the right one."""
    from tusk.web import create
    from tusk.web.security import FREE_FAILURES

    project = make_project(tmp_path)
    app = create(project.root / "tusk.toml", "0.0.0.0", 8765, "alice:a-long-secret-1")
    gate = app.state.web.gate
    with TestClient(app, base_url=BASE) as web:

        def login(token: str) -> Any:
            return web.post("/login", data={"token": token, "next": "/"}, follow_redirects=False)

        assert [login(f"wrong-token-{i}").status_code for i in range(FREE_FAILURES)] == [403] * FREE_FAILURES
        throttled = login("wrong-token-again")
        assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) >= 1
        assert login("a-long-secret-1").status_code == 429  # the token is not looked at while throttled
        count, last = gate.failures["testclient"]
        gate.failures["testclient"] = (count, last - 2)  # the wait has passed
        assert login("wrong-token-late").status_code == 403
        assert login("a-long-secret-1").status_code == 429, "each failure doubles the wait"
        count, last = gate.failures["testclient"]
        gate.failures["testclient"] = (count, last - 3)
        assert login("a-long-secret-1").status_code == 303
        assert "testclient" not in gate.failures  # the right token clears the count
    log = (project.root / ".tusk" / "ui-actions.log").read_text()
    assert '"throttled"' in log


def test_a_run_started_from_the_page_with_only_lists_only_its_jobs(tmp_path: Path) -> None:
    project = make_project(tmp_path, customers=2, per_customer=4)
    with client(project.root) as web:
        page = web.get("/runs").text
        answer = web.post("/runs/start", data={"csrf": _csrf(page), "at": "", "only": "m-c1"})
        ident = re.search(r"Run <code>([^<]+)</code>", answer.text).group(1)  # type: ignore[union-attr]
        final = _wait(
            lambda: (lambda s: s if s["status"] not in ("starting", "running") else None)(
                web.get(f"/run/status?id={ident}").json()
            ),
            timeout=120,
        )
        shown = web.get(f"/run?id={ident}").text
    assert final["status"] == "succeeded", final
    assert [(j["name"], j["status"]) for j in final["jobs"]] == [("m-c1", "succeeded")]  # not m-c0 "waiting"
    assert (final["done"], final["total"]) == (1, 1)
    assert 'id="run-error" hidden' in shown  # the place a failure's reason is shown live (tusk.js fills it)


def test_every_data_commit_a_release_diff_names_is_a_link_that_resolves(hostile: Path) -> None:
    """The release diff named each changed model's data commits as bare text: they resolve (issue 22), so link them."""
    with client(hostile) as web:
        html = web.get("/releases/diff").text
        links = sorted(set(re.findall(r'href="(/data/commit\?hash=[0-9a-f]+)"', html)))
        assert len(links) == 2, html  # c3's version moved from the load commit to the relabel commit
        for link in links:
            assert web.get(link).status_code == 200, link
