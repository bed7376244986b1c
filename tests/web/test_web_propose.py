"""An analyst proposes a change from the page: a file uploaded from the home, reviews or data page lands on a review
branch through the same import as ``tusk data import --branch`` and opens the review's page, with the changed cell
and its blast radius. The page speaks its own words: no CLI flags, a blocked merge disabled with its reasons, the
failing check's rows named, candidates trained from the review, errors that lead back to where the person was."""

from __future__ import annotations

import csv
import html as markup
import io
import re
from pathlib import Path
from typing import Any

import pytest

from train_fixtures import TrainProject, rows, trained_project
from web_client import Links, client, csrf

LABELS_CHECK = """
[[checks]]
name = "labels"
table = "examples"
accepted_values = { column = "label", values = ["l0", "l1", "l2"] }
"""


def _csv(data: list[list[object]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "customer", "text", "label"])
    writer.writerows(data)
    return out.getvalue().encode()


def _relabelled() -> bytes:
    """Row 1 (customer c1) relabelled: retrains m-c1 only."""
    first = rows()[1]
    return _csv([[*first[:3], "relabelled"]])


def _propose_fields(html: str) -> dict[str, str]:
    parser = Links()
    parser.feed(html)
    found = next(f["fields"] for f in parser.forms if f["action"] == "/propose")
    return {k: v for k, v in found.items() if k != "file"}


@pytest.fixture
def project(tmp_path: Path) -> TrainProject:
    return trained_project(tmp_path)


def _branches(project: TrainProject) -> set[str]:
    return {b["name"] for b in project.json("data", "branch")["branches"]}


@pytest.mark.parametrize("start", ["/", "/reviews", "/data"])
def test_an_upload_opens_a_review_with_the_changed_cell_and_its_blast_radius(project: TrainProject, start: str) -> None:
    head = project.head()
    with client(project.root) as web:
        html = web.get(start).text
        assert 'type="file"' in html and 'enctype="multipart/form-data"' in html
        fields = _propose_fields(html)
        assert 'value="upsert" selected' in html  # upsert is the default: it cannot drop the table's other rows
        answer = web.post(
            "/propose",
            data={**fields, "table": "examples", "mode": "upsert", "title": "Relabel row 1"},
            files={"file": ("relabel.csv", _relabelled(), "text/csv")},
            follow_redirects=False,
        )
        assert answer.status_code == 303, answer.text[:500]
        target = answer.headers["location"]
        assert target.startswith("/review?branch=propose%2Frelabel-row-1&")
        review = web.get(target).text
        assert "Relabel row 1" in review and "opened the review propose/relabel-row-1: +0 ~1 −0 rows" in review
        assert re.search(r'<td class="changed"><del>l1</del> → <ins>relabelled</ins></td>', review)
        impact = web.get("/review/impact?branch=propose/relabel-row-1&part=1").text
        assert "merging retrains 1 of 4" in impact and "m-c1" in impact
    assert project.head() == head, "the data branch is untouched until the review is merged"
    meta = project.json("review", "show", "propose/relabel-row-1")
    assert meta["title"] == "Relabel row 1"
    log = (project.root / ".tusk" / "ui-actions.log").read_text()
    assert '"action": "propose"' in log and '"file": "relabel.csv"' in log


def test_an_upload_is_validated_as_the_cli_validates_and_errors_lead_back(project: TrainProject) -> None:
    before = _branches(project)
    with client(project.root) as web:
        fields = _propose_fields(web.get("/reviews").text)

        def post(data: dict[str, str], name: str, body: bytes) -> str:
            answer = web.post(
                "/propose",
                data={**fields, "title": "t", **data},
                files={"file": (name, body, "text/csv")},
                headers={"referer": "http://127.0.0.1:8765/reviews"},
            )
            assert answer.status_code == 400, answer.text[:300]
            assert '<a class="button" href="/reviews">' in answer.text  # back to where the person was
            assert "--" not in re.sub(r"<[^>]+>", "", answer.text.split("<main>")[1])  # no CLI flag
            return answer.text

        assert "choose a CSV or an Excel workbook" in post({"table": "examples"}, "rows.json", b"{}")
        assert "new table: name its key column(s)" in post({"new_table": "fresh"}, "f.csv", b"id,x\n1,a\n")
        assert "never writes main itself" in post({"table": "examples", "branch": "main"}, "r.csv", _relabelled())
        bad = _csv([[1, "c1", "t", "l1"], [1, "c1", "t", "l2"]])
        said = post({"table": "examples"}, "dup.csv", bad)
        assert "dup.csv: rows 2 and 3 have the same key id=1" in said and "tusk-upload" not in said
        same = _csv([rows()[1]])
        assert "changes nothing" in post({"table": "examples"}, "same.csv", same)
        # without the form's token: refused before anything is read
        answer = web.post(
            "/propose",
            data={k: v for k, v in fields.items() if k != "csrf"} | {"table": "examples", "title": "t"},
            files={"file": ("r.csv", _relabelled(), "text/csv")},
        )
        assert answer.status_code == 403
    assert _branches(project) == before, "no branch left by a refused upload"


def test_a_new_table_is_proposed_with_its_key(project: TrainProject) -> None:
    with client(project.root) as web:
        fields = _propose_fields(web.get("/data").text)
        answer = web.post(
            "/propose",
            data={**fields, "table": "", "new_table": "prices", "key": "id", "title": "Prices", "branch": "prices"},
            files={"file": ("prices.csv", b"id,price\n1,2.5\n2,3\n", "text/csv")},
        )
        assert answer.status_code == 200 and "opened the review prices: +2 ~0 −0 rows of prices" in answer.text
    assert project.json("data", "sql", "SELECT count(*) FROM prices", "--at", "prices")["rows"] == [[2]]


def test_a_blocked_review_says_why_in_the_pages_words(project: TrainProject) -> None:
    config = project.root / "tusk.toml"
    config.write_text(config.read_text() + LABELS_CHECK)
    with client(project.root) as web:
        fields = _propose_fields(web.get("/").text)
        web.post(
            "/propose",
            data={**fields, "table": "examples", "title": "odd label", "branch": "odd"},
            files={"file": ("odd.csv", _relabelled(), "text/csv")},
        )
        impact = web.get("/review/impact?branch=odd&part=1").text
        text = re.sub(r"<[^>]+>", " ", impact)
        assert "--" not in text and "tusk " not in text, text  # no flag, no command
        assert "Merging is blocked" in impact and "check labels failed: 1 row with label not in" in text
        merge = re.search(r"<button[^>]*>merge odd into main</button>", impact)
        assert merge and "disabled" in merge.group(0) and "primary" not in merge.group(0)
        assert "merge anyway" in impact and 'name="reason"' in impact
        # the failing check names its row: the id and the label it has
        assert re.search(r"<td>1</td><td>c1</td><td>text 1</td><td>relabelled</td>", impact), impact
        assert "train candidates" in impact
        token = csrf(impact)
        answer = web.post("/review/merge", data={"csrf": token, "branch": "odd", "force": "yes", "reason": " "})
        assert answer.status_code == 400 and "say why you merge it anyway" in answer.text
        refused = web.post("/review/merge", data={"csrf": token, "branch": "odd"})
        assert refused.status_code == 400
        said = re.sub(r"<[^>]+>", " ", refused.text.split("<main>")[1])
        assert "check labels failed" in said and "--force" not in said and "tusk review" not in said


def test_the_empty_lists_speak_the_pages_words(tmp_path: Path) -> None:
    from train_fixtures import make_project

    project = make_project(tmp_path)
    with client(project.root) as web:
        for path in ("/", "/reviews"):
            html = web.get(path).text
            assert "tusk data import" not in html and "--table" not in html
            assert "propose a change below" in html


def test_candidates_are_trained_from_the_reviews_page(project: TrainProject) -> None:
    from web_client import wait

    head = project.head()
    with client(project.root) as web:
        fields = _propose_fields(web.get("/").text)
        web.post(
            "/propose",
            data={**fields, "table": "examples", "title": "relabel", "branch": "cand"},
            files={"file": ("r.csv", _relabelled(), "text/csv")},
        )
        impact = web.get("/review/impact?branch=cand&part=1").text
        parser = Links()
        parser.feed(impact)
        train = next(f["fields"] for f in parser.forms if f["action"] == "/runs/start")
        assert train["at"] == "cand" and train["candidates"] == "yes"
        answer = web.post("/runs/start", data=train)
        assert answer.status_code == 200 and "candidates for cand started" in answer.text
        ident = re.search(r"Run <code>([^<]+)</code>", answer.text).group(1)  # type: ignore[union-attr]
        final = wait(
            lambda: (lambda s: s if s["status"] not in ("starting", "running") else None)(
                web.get(f"/run/status?id={ident}").json()
            ),
            timeout=180,
        )
        assert final["status"] == "succeeded", final
        assert [j["name"] for j in final["jobs"]] == ["m-c1"]
        ended = web.get(f"/run?id={ident}").text
        assert "1 trained · 1 job" in ended and "of 1 jobs done" not in ended
        impact = web.get("/review/impact?branch=cand&part=1").text
        assert "no candidate" not in impact, impact
    assert project.head() == head


def test_a_merged_proposal_says_merged_and_offers_no_merge(project: TrainProject) -> None:
    with client(project.root) as web:
        fields = _propose_fields(web.get("/").text)
        web.post(
            "/propose",
            data={**fields, "table": "examples", "title": "relabel", "branch": "m1"},
            files={"file": ("r.csv", _relabelled(), "text/csv")},
        )
        impact = web.get("/review/impact?branch=m1&part=1").text
        parser = Links()
        parser.feed(impact)
        merge = next(f["fields"] for f in parser.forms if f["action"] == "/review/merge")
        answer = web.post("/review/merge", data=merge)
        assert answer.status_code == 200 and "merged m1 into main" in answer.text
        page = web.get("/review?branch=m1").text
        assert 'class="badge merged">merged</span>' in page and "merged by" in page
        assert 'action="/review/merge"' not in page and "data-load" not in page
        assert ">merge " not in page  # no merge button of any kind


def test_an_excel_workbook_is_proposed_as_a_csv_is(project: TrainProject) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["id", "customer", "text", "label"])
    sheet.append([*rows()[1][:3], "relabelled"])
    out = io.BytesIO()
    book.save(out)
    with client(project.root) as web:
        fields = _propose_fields(web.get("/").text)
        answer = web.post(
            "/propose",
            data={**fields, "table": "examples", "title": "from excel"},
            files={"file": ("Relabel (v2).xlsx", out.getvalue(), "application/octet-stream")},
        )
        assert answer.status_code == 200 and "opened the review propose/from-excel: +0 ~1 −0 rows" in answer.text
        assert "<ins>relabelled</ins>" in answer.text
    log = project.json("data", "log", "propose/from-excel")["commits"][0]["message"]
    assert log == "from excel"


def test_the_upload_reads_files_as_spreadsheets_save_them(project: TrainProject) -> None:
    """A semicolon, Latin-1 file (European Excel's CSV) is read with the delimiter sniffed and the encoding detected,
    or as the form's "how to read" says; a spaced header kept or made plain; a workbook's sheet picked by name."""
    semicolon = "id;city;Customer Name\n1;Düsseldorf;Ann\n2;Besançon;Bob\n".encode("latin-1")
    with client(project.root) as web:
        fields = _propose_fields(web.get("/data").text)
        assert {"delimiter", "encoding"} <= set(re.findall(r'<select name="(\w+)"', web.get("/data").text))
        new = {**fields, "table": "", "key": "id"}
        auto = web.post(
            "/propose",
            data={**new, "new_table": "cities", "title": "Cities auto", "branch": "auto"},
            files={"file": ("cities.csv", semicolon, "text/csv")},
        )
        assert auto.status_code == 200, auto.text[:500]
        assert "opened the review auto: +2 ~0 −0 rows of cities (read as cp1252, separated by ';')" in markup.unescape(
            auto.text
        )
        forced = web.post(
            "/propose",
            data={
                **new,
                "new_table": "towns",
                "title": "Towns forced",
                "branch": "forced",
                "delimiter": ";",
                "encoding": "latin-1",
                "normalize_headers": "on",
            },
            files={"file": ("towns.csv", semicolon, "text/csv")},
        )
        assert forced.status_code == 200, forced.text[:500]
        assert "rows of towns (read as latin-1, separated by ';')" in markup.unescape(forced.text)
        # forced wrong: a comma file read at semicolons is one column, and the page says so in its words
        wrong = web.post(
            "/propose",
            data={**fields, "table": "examples", "title": "t", "delimiter": ";"},
            files={"file": ("r.csv", _relabelled(), "text/csv")},
        )
        assert wrong.status_code == 400 and "--" not in re.sub(r"<[^>]+>", "", wrong.text.split("<main>")[1])
        encoded = web.post(
            "/propose",
            data={**new, "new_table": "cities", "title": "t", "encoding": "utf-8"},
            files={"file": ("cities.csv", semicolon, "text/csv")},
        )
        said = markup.unescape(re.sub(r"<[^>]+>", "", encoded.text.split("<main>")[1]))
        assert encoded.status_code == 400 and "cities.csv: not utf-8 (line 2" in said, said
        assert "choose the file's “encoding” in the form" in said and "--" not in said
        assert (
            re.search(r'<option value="utf-8" selected>', encoded.text)
            and '<details class="read" open>' in encoded.text
        )
    auto_rows = project.json("data", "sql", 'SELECT city, "Customer Name" FROM cities ORDER BY id', "--at", "auto")
    assert auto_rows["rows"] == [["Düsseldorf", "Ann"], ["Besançon", "Bob"]]
    town_rows = project.json("data", "sql", "SELECT city, customer_name FROM towns ORDER BY id", "--at", "forced")
    assert town_rows["rows"] == [["Düsseldorf", "Ann"], ["Besançon", "Bob"]]


def test_a_workbooks_sheet_is_picked_by_name_and_an_option_that_does_not_apply_is_refused(
    project: TrainProject,
) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    book.active.title = "notes"
    book.active.append(["nothing to import here"])
    sheet = book.create_sheet("labels")
    sheet.append(["id", "customer", "text", "label"])
    sheet.append([*rows()[1][:3], "relabelled"])
    out = io.BytesIO()
    book.save(out)
    with client(project.root) as web:
        fields = _propose_fields(web.get("/").text)
        assert "sheet" in fields  # without scripts the field is there (a script shows it for a workbook only)
        picked = web.post(
            "/propose",
            data={**fields, "table": "examples", "title": "from a sheet", "sheet": "labels"},
            files={"file": ("book.xlsx", out.getvalue(), "application/octet-stream")},
        )
        assert picked.status_code == 200, picked.text[:500]
        assert (
            "+0 ~1 −0 rows of examples (sheet 'labels')" in markup.unescape(picked.text)
            and "<ins>relabelled</ins>" in picked.text
        )
        unknown = web.post(
            "/propose",
            data={**fields, "table": "examples", "title": "no such sheet", "sheet": "Sheet9"},
            files={"file": ("book.xlsx", out.getvalue(), "application/octet-stream")},
        )
        assert unknown.status_code == 400 and "Sheet9" in unknown.text and "labels" in unknown.text
        # a sheet for a CSV: refused in the page's words, the form kept as it was filled in (not the file)
        refused = web.post(
            "/propose",
            data={**fields, "table": "examples", "title": "Keep me", "branch": "kept", "sheet": "labels"},
            files={"file": ("r.csv", _relabelled(), "text/csv")},
            headers={"referer": "http://127.0.0.1:8765/data"},
        )
        assert refused.status_code == 400
        said = re.sub(r"<[^>]+>", "", refused.text.split("<main>")[1])
        assert "r.csv is a text file, not an Excel workbook: a sheet is chosen only for an .xlsx file" in said
        assert "--" not in said and "form is kept" in said
        assert '<a class="button" href="/data">' in refused.text
        kept = _propose_fields(refused.text)
        assert kept["title"] == "Keep me" and kept["branch"] == "kept" and kept["sheet"] == "labels"
        assert re.search(r'<option value="examples" selected>', refused.text)
        for name, option in (("delimiter", ";"), ("encoding", "cp1252")):
            answer = web.post(
                "/propose",
                data={**fields, "table": "examples", "title": "t", name: option},
                files={"file": ("book.xlsx", out.getvalue(), "application/octet-stream")},
            )
            assert answer.status_code == 400 and "book.xlsx is an Excel workbook" in answer.text
            assert re.search(rf'<option value="{re.escape(option)}" selected>', answer.text)
    assert "kept" not in _branches(project)


def test_a_few_cells_are_edited_as_a_review_from_the_tables_page(project: TrainProject) -> None:
    head = project.head()
    before = _branches(project)
    with client(project.root) as web:
        page = web.get("/data/table?name=examples").text
        assert 'action="/propose/edit"' in page and "edit a few cells as a review" in page
        parser = Links()
        parser.feed(page)
        fields = next(f["fields"] for f in parser.forms if f["action"] == "/propose/edit")
        assert fields["table"] == "examples" and {"key1", "value1", "title", "branch"} <= set(fields)
        assert (
            '<option value="id">' not in page.split('action="/propose/edit"')[1].split("</form>")[0]
        )  # the key names the row

        def post(data: dict[str, str]) -> Any:
            return web.post(
                "/propose/edit",
                data={**fields, **data},
                headers={"referer": "http://127.0.0.1:8765/data/table?name=examples"},
                follow_redirects=False,
            )

        answer = post(
            {
                "key1": "1",
                "column1": "label",
                "value1": "relabelled",
                "key2": "2",
                "column2": "text",
                "value2": "a new text",
                "title": "Fix two cells",
            }
        )
        assert answer.status_code == 303, answer.text[:500]
        review = web.get(answer.headers["location"]).text
        assert "opened the review propose/fix-two-cells: ~2 rows of examples" in review
        assert re.search(r'<td class="changed"><del>l1</del> → <ins>relabelled</ins></td>', review)
        assert "<ins>a new text</ins>" in review
        impact = web.get("/review/impact?branch=propose/fix-two-cells&part=1").text
        assert "merging retrains 2 of 4" in impact and "m-c1" in impact and "m-c2" in impact
        # refused in the page's words, back to the table's page, nothing left behind
        for data, said in (
            ({"key1": "999", "column1": "label", "value1": "x", "title": "t"}, "examples on main has no row id=999"),
            ({"key1": "1", "column1": "id", "value1": "5", "title": "t"}, "id is examples's key"),
            ({"key1": "1", "column1": "nope", "value1": "5", "title": "t"}, "examples has no column 'nope'"),
            ({"key1": "1", "column1": "label", "value1": "l1", "title": "t"}, "the edit changes nothing"),
            ({"key1": "", "column1": "label", "value1": "x", "title": "t"}, "which row?"),
        ):
            refused = post(data)
            assert refused.status_code == 400 and said in markup.unescape(refused.text), refused.text[-800:]
            assert '<a class="button" href="/data/table?name=examples">' in refused.text
        token_less = web.post("/propose/edit", data={**{k: v for k, v in fields.items() if k != "csrf"}, "key1": "1"})
        assert token_less.status_code == 403
    assert project.head() == head, "main is untouched until the review is merged"
    assert _branches(project) == before | {"propose/fix-two-cells"}
    rows = project.json(
        "data",
        "sql",
        "SELECT id, text, label FROM examples WHERE id IN (1, 2) ORDER BY id",
        "--at",
        "propose/fix-two-cells",
    )["rows"]
    assert rows == [[1, "text 1", "relabelled"], [2, "a new text", "l2"]]
    assert project.json("review", "show", "propose/fix-two-cells")["title"] == "Fix two cells"
