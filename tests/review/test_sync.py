"""``tusk data sync``: sources (a replayed Google Sheet, files and globs, CSV and Parquet served over http on
loopback) brought onto their review branches ``sync/<name>`` on a real doltlite store, with the unhappy
orders: the data branch moving between syncs, a sync repeated, a sync killed half-way, hand edits on the
review branch, one failing source beside good ones."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from google_replay import SHEET_ID, ReplaySheets, service_account  # noqa: F401 (a fixture)
from train_fixtures import CliProject
from tusk._internal.sqlite import child_env
from tusk.cli import (
    _register,  # noqa: F401
    cli,
)
from tusk.data import sheets

HEADER = ["id", "customer", "text", "label"]


def table_rows(n: int = 12, relabel: dict[int, str] | None = None) -> list[list[str]]:
    return [[str(i), f"c{i % 2}", f"text {i}", (relabel or {}).get(i, f"l{i % 2}")] for i in range(n)]


def csv_text(data: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(data)
    return out.getvalue()


class Proj(CliProject):
    def sync(self, *names: str, code: int = 0) -> dict[str, dict[str, Any]]:
        return {s["name"]: s for s in self.json("data", "sync", *names, code=code)["sources"]}

    def log(self, ref: str) -> list[dict[str, Any]]:
        return list(self.json("data", "log", ref)["commits"])

    def rows(self, ref: str, where: str = "") -> list[list[Any]]:
        sql = f"SELECT id, label FROM examples {where} ORDER BY id"
        return list(self.json("data", "sql", sql, "--at", ref)["rows"])

    def branches(self) -> dict[str, str]:
        return {b["name"]: b["head"] for b in self.json("data", "branch")["branches"]}

    def add_sources(self, *blocks: str) -> None:
        with (self.root / "tusk.toml").open("a") as handle:
            handle.write("\n" + "\n".join(textwrap.dedent(b) for b in blocks))


def source(name: str, url: str, table: str = "examples", mode: str = "replace") -> str:
    return f'[[sources]]\nname = "{name}"\nurl = "{url}"\ntable = "{table}"\nkey = ["id"]\nmode = "{mode}"\n'


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One initialised project with the table loaded (nothing trained), copied for each test: init is slow."""
    root = tmp_path_factory.mktemp("template") / "p"
    assert CliRunner().invoke(cli, ["init", str(root)]).exit_code == 0
    (root / "load.csv").write_text(csv_text(table_rows()))
    Proj(root).tusk("data", "import", str(root / "load.csv"), "--table", "examples", "--key", "id", "-m", "load")
    return root


@pytest.fixture
def proj(template: Path, tmp_path: Path) -> Proj:
    shutil.copytree(template, tmp_path / "p")
    return Proj(tmp_path / "p")


# ----- a local file -----------------------------------------------------------------------------------------
def test_a_file_source_commits_each_change_once(proj: Proj) -> None:
    proj.add_sources(source("edits", "edits.csv"))
    (proj.root / "edits.csv").write_text(csv_text(table_rows(relabel={2: "l9"})))
    first = proj.sync()["edits"]
    assert first["status"] == "committed" and first["created"] and first["modified"] == 1
    main = proj.log("main")
    assert [c["hash"] for c in proj.log("sync/edits")][1:] == [c["hash"] for c in main]  # one commit on main
    assert proj.rows("sync/edits", "WHERE id = 2") == [[2, "l9"]] and proj.rows("main", "WHERE id = 2") == [[2, "l0"]]
    message = proj.log("sync/edits")[0]["message"]
    assert message.startswith("sync edits: edits.csv (sha256 ") and "1 modified" in message

    assert proj.sync()["edits"]["status"] == "unchanged"  # repeated: no commit
    (proj.root / "edits.csv").write_text(csv_text(table_rows(relabel={2: "l9"})).replace("\r\n", "\n"))
    assert proj.sync()["edits"]["status"] == "unchanged"  # same content, other line endings
    assert len(proj.log("sync/edits")) == len(main) + 1

    (proj.root / "edits.csv").write_text(csv_text(table_rows(13, relabel={2: "l9", 3: "l7"})))
    second = proj.sync("edits")["edits"]
    assert (second["status"], second["added"], second["modified"], second["rebased"]) == ("committed", 1, 1, False)
    assert len(proj.log("sync/edits")) == len(main) + 2
    assert "tusk-sync/edits" not in proj.branches()
    listed = proj.json("review", "list")["reviews"]
    assert [(r["branch"], r["source"], r["commits"], r["merged"]) for r in listed] == [
        ("sync/edits", "edits", 2, False)
    ]


def test_a_glob_source_reads_every_file(proj: Proj) -> None:
    proj.add_sources(source("parts", "edits/*.csv"))
    (proj.root / "edits").mkdir()
    data = table_rows(14, relabel={13: "new"})
    (proj.root / "edits" / "a.csv").write_text(csv_text(data[:7]))
    (proj.root / "edits" / "b.csv").write_text(csv_text(data[7:]))
    result = proj.sync()["parts"]
    assert (result["added"], result["modified"], result["removed"], result["rows"]) == (2, 0, 0, 14)
    (proj.root / "edits" / "b.csv").write_text("id,customer,text\n1,c1,x\n")
    failed = proj.sync(code=1)["parts"]
    assert failed["status"] == "failed" and "every file of edits/*.csv needs the same header" in failed["error"]


@pytest.mark.timeout(120)
def test_a_glob_source_walks_no_link_out_or_round(proj: Proj) -> None:
    """``**`` does not descend into linked folders: a link back up (a loop) or out to / walked without end."""
    proj.add_sources(source("parts", "edits/**/*.csv"))
    (proj.root / "edits" / "2026").mkdir(parents=True)
    data = table_rows(6)
    (proj.root / "edits" / "a.csv").write_text(csv_text(data[:3]))
    (proj.root / "edits" / "2026" / "b.csv").write_text(csv_text(data[3:]))
    (proj.root / "edits" / "2026" / "loop").symlink_to("..")
    (proj.root / "edits" / "disk").symlink_to("/")
    assert proj.sync()["parts"]["status"] != "failed"
    assert proj.rows("sync/parts") == [[int(r[0]), r[3]] for r in data]


# ----- the unhappy orders ---------------------------------------------------------------------------------
def test_the_data_branch_moves_between_syncs(proj: Proj) -> None:
    proj.add_sources(source("edits", "edits.csv"))
    (proj.root / "edits.csv").write_text(csv_text(table_rows(relabel={2: "l9"})))
    old = proj.sync()["edits"]["commit"]
    (proj.root / "other.csv").write_text(csv_text([["5", "c1", "text 5", "main-fix"]]))
    proj.tusk(
        "data", "import", str(proj.root / "other.csv"), "--table", "examples", "--mode", "upsert", "-m", "main moves on"
    )
    # the source unchanged: the review stays as it is (its merge preview takes main's change in)
    assert proj.sync()["edits"]["status"] == "unchanged"
    assert proj.branches()["sync/edits"] == old

    (proj.root / "edits.csv").write_text(csv_text(table_rows(relabel={2: "l9", 4: "l8"})))
    moved = proj.sync()["edits"]
    assert moved["status"] == "committed" and moved["rebased"]
    history = [c["hash"] for c in proj.log("sync/edits")]
    assert history[1:] == [c["hash"] for c in proj.log("main")] and old not in history
    # replace mode: the table is the source's content, so main's fix of row 5 (not in the source) is undone
    assert proj.rows("sync/edits", "WHERE id IN (2, 4, 5)") == [[2, "l9"], [4, "l8"], [5, "l1"]]
    proj.tusk("data", "merge", "sync/edits", "-m", "accept")
    assert proj.sync()["edits"]["status"] == "unchanged"  # the record came to main with the merge


def review_meta(proj: Proj, branch: str = "sync/edits") -> dict[str, Any]:
    from tusk import Project

    with Project.open(proj.root) as project:
        return project.review_meta(branch).to_json()


def test_a_rebuilt_sync_review_keeps_its_title_description_and_comments(proj: Proj) -> None:
    proj.add_sources(source("edits", "edits.csv"))
    (proj.root / "edits.csv").write_text(csv_text(table_rows(relabel={2: "l9"})))
    proj.sync()
    proj.tusk("review", "edit", "sync/edits", "--title", "Sheet fixes", "--description", "from the sheet")
    proj.tusk("review", "comment", "sync/edits", "row 2 looks right")
    before = review_meta(proj)
    (proj.root / "other.csv").write_text(csv_text([["5", "c1", "text 5", "main-fix"]]))
    proj.tusk(
        "data", "import", str(proj.root / "other.csv"), "--table", "examples", "--mode", "upsert", "-m", "main moves on"
    )
    (proj.root / "edits.csv").write_text(csv_text(table_rows(relabel={2: "l9", 4: "l8"})))
    moved = proj.sync()["edits"]
    assert moved["status"] == "committed" and moved["rebased"] and moved["kept_review"]
    after = review_meta(proj)
    assert (after["title"], after["description"], after["status"]) == ("Sheet fixes", "from the sheet", "open")
    assert [c["text"] for c in after["comments"]] == ["row 2 looks right"]
    assert after["comments"] == before["comments"] and after["created"] == before["created"]
    assert proj.rows("sync/edits", "WHERE id IN (2, 4)") == [[2, "l9"], [4, "l8"]]
    assert len(proj.log("sync/edits")) == len(proj.log("main")) + 1, "one commit: the rows and the review"

    heads = proj.branches()  # again with nothing new: nothing changes
    assert proj.sync()["edits"]["status"] == "unchanged"
    assert proj.branches() == heads
    assert review_meta(proj) == after


def test_a_sync_after_its_review_was_merged_starts_a_fresh_conversation_on_top(proj: Proj) -> None:
    """Merged, the conversation is on the data branch already: the next round carries nothing twice."""
    proj.add_sources(source("edits", "edits.csv"))
    (proj.root / "edits.csv").write_text(csv_text(table_rows(relabel={2: "l9"})))
    proj.sync()
    proj.tusk("review", "comment", "sync/edits", "first round")
    (proj.root / "other.csv").write_text(csv_text([["5", "c1", "text 5", "main-fix"]]))
    proj.tusk(
        "data", "import", str(proj.root / "other.csv"), "--table", "examples", "--mode", "upsert", "-m", "main moves on"
    )
    proj.tusk("data", "merge", "sync/edits", "-m", "accept")
    (proj.root / "edits.csv").write_text(csv_text(table_rows(relabel={2: "l9", 4: "l8"})))
    again = proj.sync()["edits"]
    assert again["status"] == "committed" and not again["kept_review"]
    comments = review_meta(proj)["comments"]
    assert [c["text"] for c in comments] == ["first round"]


@pytest.mark.parametrize("main_moves", [False, True], ids=["on-top", "rebuilt"])
def test_new_content_opens_a_closed_sync_review_again(proj: Proj, main_moves: bool) -> None:
    """A reviewer closes the sheet's review; the analyst edits the sheet again: the next round is a new proposal,
    so the sync opens the review again (one commit: rows and status), saying why; no change, no reopening."""
    proj.add_sources(source("edits", "edits.csv"))
    (proj.root / "edits.csv").write_text(csv_text(table_rows(relabel={2: "l9"})))
    proj.sync()
    proj.tusk("review", "close", "sync/edits", "-m", "row 2 is wrong")
    assert proj.sync()["edits"]["status"] == "unchanged"
    assert review_meta(proj)["status"] == "closed", "a sync with nothing new leaves the reviewer's decision"
    if main_moves:
        (proj.root / "other.csv").write_text(csv_text([["5", "c1", "text 5", "main-fix"]]))
        proj.tusk(
            "data",
            "import",
            str(proj.root / "other.csv"),
            "--table",
            "examples",
            "--mode",
            "upsert",
            "-m",
            "main moves on",
        )
    before = len(proj.log("sync/edits"))
    (proj.root / "edits.csv").write_text(csv_text(table_rows(relabel={2: "l7"})))
    shown = proj.tusk("data", "sync").output
    assert "its review was closed: opened again" in shown
    meta = review_meta(proj)
    assert meta["status"] == "open"
    assert [(c["kind"], c["author"]) for c in meta["comments"]] == [
        ("close", meta["comments"][0]["author"]),
        ("reopen", "tusk sync"),
    ]
    changed = 2 if main_moves else 1  # rebuilt from main: main's own fix of row 5 is undone too (replace mode)
    assert f"edits changed since this review was closed ({changed} modified)" in meta["comments"][-1]["text"]
    assert proj.rows("sync/edits", "WHERE id = 2") == [[2, "l7"]]
    if main_moves:
        assert len(proj.log("sync/edits")) == len(proj.log("main")) + 1, "one commit: the rows and the review"
    else:
        assert len(proj.log("sync/edits")) == before + 1, "one commit: the rows and the review"
    (proj.root / "edits.csv").write_text(csv_text(table_rows(relabel={2: "l6"})))
    again = proj.sync()["edits"]
    assert again["status"] == "committed" and not again["reopened"], "an open review is left as it is"
    assert [c["kind"] for c in review_meta(proj)["comments"]] == ["close", "reopen"]


def test_hand_edits_on_the_review_branch_are_overwritten_by_the_next_change(proj: Proj) -> None:
    proj.add_sources(source("edits", "edits.csv"))
    (proj.root / "edits.csv").write_text(csv_text(table_rows(relabel={2: "l9"})))
    proj.sync()
    (proj.root / "hand.csv").write_text(csv_text([["3", "c1", "text 3", "by-hand"]]))
    proj.tusk(
        "data",
        "import",
        str(proj.root / "hand.csv"),
        "--table",
        "examples",
        "--mode",
        "upsert",
        "--branch",
        "sync/edits",
        "-m",
        "by hand",
    )
    assert proj.sync()["edits"]["status"] == "unchanged"  # the source did not change: the hand edit stays
    assert proj.rows("sync/edits", "WHERE id = 3") == [[3, "by-hand"]]
    (proj.root / "edits.csv").write_text(csv_text(table_rows(relabel={2: "l9", 6: "l6"})))
    result = proj.sync()["edits"]
    assert result["status"] == "committed" and not result["rebased"]
    assert proj.rows("sync/edits", "WHERE id IN (3, 6)") == [[3, "l1"], [6, "l6"]]  # the source is the truth


def test_changing_a_sources_table_key_or_mode_resyncs(proj: Proj) -> None:
    proj.add_sources(source("edits", "edits.csv", mode="upsert"))
    (proj.root / "edits.csv").write_text(csv_text(table_rows(relabel={2: "l9"})))
    assert proj.sync()["edits"]["status"] == "committed"
    config = (proj.root / "tusk.toml").read_text().replace('mode = "upsert"', 'mode = "replace"')
    (proj.root / "tusk.toml").write_text(config)
    assert proj.sync()["edits"]["status"] == "committed"


KILLER = textwrap.dedent("""
    import os, signal, sys
    import tusk
    from tusk import Project
    from tusk.review import sync
    from tusk.data import doltlite

    point = sys.argv[2]
    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)
    real_move = doltlite.DoltliteStore.move_branch
    def move(self, name, commit):
        if point == "move" and name.startswith("sync/"):     # after the staging commit, before the branch moves
            die()
        branch = real_move(self, name, commit)
        if point == "cleanup" and name.startswith("sync/"):  # after the branch moved, before staging is removed
            die()
        return branch
    doltlite.DoltliteStore.move_branch = move
    if point == "write":                                     # while writing rows on the staging branch
        sync.write_record = die
    with Project.open(sys.argv[1]) as project:
        project.sync()
""")


@pytest.mark.parametrize("point", ["write", "move", "cleanup"])
def test_a_sync_killed_half_way_is_finished_by_the_next(proj: Proj, point: str) -> None:
    proj.add_sources(source("edits", "edits.csv"))
    (proj.root / "edits.csv").write_text(csv_text(table_rows(relabel={2: "l9"})))
    proj.sync()
    before = proj.branches()["sync/edits"]
    (proj.root / "edits.csv").write_text(csv_text(table_rows(relabel={2: "l9", 7: "l7"})))
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, str(proj.root), point],
        capture_output=True,
        text=True,
        env=child_env({"PYTHONPATH": os.pathsep.join(sys.path)}),
    )
    assert killed.returncode == -9, killed.stderr
    head = proj.branches()["sync/edits"]
    if point == "cleanup":  # the branch had moved: the sync was done, only its staging branch is left
        assert head != before and proj.rows(head, "WHERE id = 7") == [[7, "l7"]]
    else:  # never half made: the review branch is exactly as before
        assert head == before and proj.rows("sync/edits", "WHERE id = 7") == [[7, "l1"]]
    again = proj.sync()["edits"]
    assert again["status"] == ("unchanged" if point == "cleanup" else "committed")
    assert proj.rows("sync/edits", "WHERE id IN (2, 7)") == [[2, "l9"], [7, "l7"]]
    assert not [b for b in proj.branches() if b.startswith("tusk-sync/")]
    assert len(proj.log("sync/edits")) == len(proj.log("main")) + 2


# ----- a Google Sheet (replayed) ---------------------------------------------------------------------------
def sheet_values(relabel: dict[int, str] | None = None) -> list[list[str]]:
    return [HEADER, *table_rows(relabel=relabel)]


def test_a_sheet_that_changes_twice_makes_two_commits(
    proj: Proj, service_account: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    replay = ReplaySheets(sheet_values({1: "l5"}))
    monkeypatch.setattr(sheets, "TRANSPORT", replay)
    proj.add_sources(source("sheet", f"gsheet://{SHEET_ID}/Examples"))
    first = proj.sync()["sheet"]
    assert first["status"] == "committed" and first["revision"] == "1 2026-11-25T10:00:00.000Z"
    assert "revision 1 2026-11-25T10:00:00.000Z" in proj.log("sync/sheet")[0]["message"]
    replay.edit(sheet_values({1: "l5", 2: "l6"}))
    assert proj.sync()["sheet"]["modified"] == 1
    replay.edit(sheet_values({1: "l5", 2: "l6", 3: "l7"}))
    assert proj.sync()["sheet"]["modified"] == 1
    assert len(proj.log("sync/sheet")) == len(proj.log("main")) + 3  # the load, then three syncs

    reads = replay.value_reads
    assert proj.sync()["sheet"]["status"] == "unchanged"
    assert replay.value_reads == reads  # the same Drive version: the values are not read again
    replay.version += 1  # touched (e.g. a format change) but the same values: read, compared, no commit
    assert proj.sync()["sheet"]["status"] == "unchanged"
    assert replay.value_reads == reads + 1
    assert len(proj.log("sync/sheet")) == len(proj.log("main")) + 3


def test_a_sheet_without_drive_metadata_is_compared_by_content(
    proj: Proj, service_account: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    replay = ReplaySheets(sheet_values({1: "l5"}), drive=False)
    monkeypatch.setattr(sheets, "TRANSPORT", replay)
    proj.add_sources(source("sheet", f"gsheet://{SHEET_ID}/Examples"))
    assert proj.sync()["sheet"]["revision"] == ""
    assert proj.sync()["sheet"]["status"] == "unchanged"
    replay.edit(sheet_values({1: "l5", 2: "l6"}))
    assert proj.sync()["sheet"]["status"] == "committed"


# ----- URLs on loopback ------------------------------------------------------------------------------------
class Files(BaseHTTPRequestHandler):
    files: dict[str, tuple[bytes, str]] = {}
    hits: list[tuple[str, int]] = []

    def do_GET(self) -> None:
        if self.path not in self.files:
            self.hits.append((self.path, 404))
            self.send_error(404, "Not Found")
            return
        body, kind = self.files[self.path]
        etag = '"' + hashlib.md5(body).hexdigest() + '"'
        if self.headers.get("If-None-Match") == etag:
            self.hits.append((self.path, 304))
            self.send_response(304)
            self.end_headers()
            return
        self.hits.append((self.path, 200))
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[Files]]]:
    class Handler(Files):
        files: dict[str, tuple[bytes, str]] = {}
        hits: list[tuple[str, int]] = []

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", Handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def parquet_bytes(data: list[list[str]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({name: [int(r[0]) if name == "id" else r[i] for r in data] for i, name in enumerate(HEADER)})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def test_url_sources_on_loopback(proj: Proj, server: tuple[str, type[Files]]) -> None:
    base, handler = server
    handler.files["/edits.csv"] = (csv_text(table_rows(relabel={2: "l9"})).encode(), "text/csv")
    handler.files["/export"] = (parquet_bytes(table_rows(relabel={3: "pq"})), "application/vnd.apache.parquet")
    proj.add_sources(source("web", f"{base}/edits.csv"), source("pq", f"{base}/export", table="examples"))
    done = proj.sync()
    assert done["web"]["status"] == done["pq"]["status"] == "committed"
    assert done["web"]["revision"].startswith('etag "')
    assert proj.rows("sync/web", "WHERE id = 2") == [[2, "l9"]] and proj.rows("sync/pq", "WHERE id = 3") == [[3, "pq"]]
    handler.hits.clear()
    assert {n: s["status"] for n, s in proj.sync().items()} == {"web": "unchanged", "pq": "unchanged"}
    assert sorted(handler.hits) == [("/edits.csv", 304), ("/export", 304)]  # asked, not downloaded
    handler.files["/edits.csv"] = (csv_text(table_rows(relabel={2: "l9", 4: "l4"})).encode(), "text/csv")
    assert proj.sync("web")["web"]["modified"] == 1


def test_a_failing_source_beside_good_ones(
    proj: Proj, server: tuple[str, type[Files]], service_account: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, handler = server
    replay = ReplaySheets(sheet_values({1: "l5"}))
    replay.token_error = "invalid_grant"
    monkeypatch.setattr(sheets, "TRANSPORT", replay)
    (proj.root / "good.csv").write_text(csv_text(table_rows(relabel={2: "l9"})))
    (proj.root / "bad.csv").write_text("id,customer,text,label\n1,c1,x\n")
    proj.add_sources(
        source("good", "good.csv"),
        source("ragged", "bad.csv"),
        source("gone", f"{base}/gone.csv"),
        source("sheet", f"gsheet://{SHEET_ID}/Examples"),
        source("typo", "missing.csv"),
    )
    result = proj.tusk("data", "sync", code=1)
    assert "4 of 5 source(s) failed" in result.stderr.splitlines()[-1]
    report = {s["name"]: s for s in json.loads(proj.tusk("data", "sync", "--json", code=1).stdout)["sources"]}
    assert report["good"]["status"] == "unchanged"  # committed by the first sync, despite the others
    assert "row 2 has 3 fields" in report["ragged"]["error"]
    assert report["gone"]["error"] == f"{base}/gone.csv: HTTP 404 Not Found"
    assert "invalid_grant" in report["sheet"]["error"] and "Traceback" not in report["sheet"]["error"]
    assert "no such file" in report["typo"]["error"]
    assert set(proj.branches()) == {"main", "sync/good"}


def test_bad_source_names_and_config(proj: Proj) -> None:
    assert "no [[sources]]" in proj.tusk("data", "sync", code=1).stderr
    proj.add_sources(source("edits", "edits.csv"))
    assert "unknown source 'nope' (known: edits)" in proj.tusk("data", "sync", "nope", code=1).stderr
    config = (proj.root / "tusk.toml").read_text()
    for bad, message in [
        ('name = "edits"', 'name = "../x"'),
        ('table = "examples"', 'table = "tusk_sources"'),
        ('mode = "replace"', 'mode = "merge"'),
    ]:
        (proj.root / "tusk.toml").write_text(config.replace(bad, message))
        err = proj.tusk("data", "sync", code=1).stderr
        assert "source 'edits'" in err or "source '../x'" in err, err
    (proj.root / "tusk.toml").write_text(config + "\n" + source("edits", "other.csv"))
    assert "name 'edits' is used twice" in proj.tusk("data", "sync", code=1).stderr


def test_watch_syncs_on_its_interval_when_asked(proj: Proj) -> None:
    proj.add_sources(source("edits", "edits.csv"), source("broken", "missing.csv"))
    (proj.root / "edits.csv").write_text(csv_text(table_rows(relabel={2: "l9"})))
    assert proj.json("watch", "--once")["ticks"][0]["synced"] == []  # [watch] sync is off by default
    assert "sync/edits" not in proj.branches()
    with (proj.root / "tusk.toml").open("a") as handle:
        handle.write('\n[watch]\nsync = true\ninterval = "5m"\n')
    tick = proj.json("watch", "--once")["ticks"][0]
    assert {s["name"]: s["status"] for s in tick["synced"]} == {"edits": "committed", "broken": "failed"}
    assert "sync/edits" in proj.branches()
    assert {s["name"]: s["status"] for s in proj.json("watch", "--once")["ticks"][0]["synced"]} == {
        "edits": "unchanged",
        "broken": "failed",
    }
    log = (proj.root / ".tusk" / "watch.log").read_text()
    assert "sync edits: 0 added, 1 modified, 0 removed → sync/edits" in log and "sync broken failed" in log


def test_two_syncs_at_once_are_kept_apart(proj: Proj) -> None:
    from tusk._internal.lock import hold

    proj.add_sources(source("edits", "edits.csv"))
    (proj.root / "edits.csv").write_text(csv_text(table_rows(relabel={2: "l9"})))
    with hold(proj.root / ".tusk" / "sync.lock", "tusk data sync"):
        err = proj.tusk("data", "sync", code=1).stderr
    assert "tusk data sync (pid" in err and "holds this project" in err
    assert "sync/edits" not in proj.branches()
    assert proj.sync()["edits"]["status"] == "committed"
