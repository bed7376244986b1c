"""Files as spreadsheets save them import: a semicolon CSV (European Excel), Latin-1/cp1252 and UTF-16 text, a
header with spaces (``Customer Name``, kept and quoted, or normalized), a named XLSX sheet, date cells as ISO
text. How a file was read (encoding, delimiter, sheet) is said in the output and in --json; a forced delimiter or
encoding is used as given; a bad option is one line, exit 1, nothing written."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tusk.cli import (
    _register,  # noqa: F401
    cli,
)
from tusk.data.ingest import ReadOptions, iso_text, read_source
from tusk.data.names import normalize_column_name


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sheets") / "proj"
    assert CliRunner().invoke(cli, ["init", str(folder), "--no-git"]).exit_code == 0
    return folder


def tusk(root: Path, *args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(cli, ["-C", str(root), *args])
    assert result.exit_code == code, result.output
    return result


def imported(root: Path, name: str, content: bytes, table: str, *extra: str) -> dict[str, Any]:
    (root / name).write_bytes(content)
    out = tusk(root, "data", "import", str(root / name), "-t", table, "-k", "id", "--json", *extra).stdout
    return dict(json.loads(out))


def rows(root: Path, sql: str) -> list[list[Any]]:
    return list(json.loads(tusk(root, "data", "sql", sql, "--json").stdout)["rows"])


def test_a_semicolon_csv_is_sniffed_and_said(root: Path) -> None:
    out = imported(root, "semi.csv", b"id;market;price\n1;de;1,50\n2;fr;2,00\n", "prices")
    assert (out["added"], out["delimiter"], out["encoding"]) == (2, ";", "utf-8")
    assert rows(root, "SELECT id, market, price FROM prices ORDER BY id") == [[1, "de", "1,50"], [2, "fr", "2,00"]]
    (root / "semi2.csv").write_bytes(b"id;market;price\n3;it;3,00\n")
    shown = tusk(root, "data", "import", str(root / "semi2.csv"), "-t", "prices", "--mode", "append").output
    assert "';'-separated" in shown


def test_commas_inside_a_semicolon_file_and_semicolons_inside_a_comma_file(root: Path) -> None:
    out = imported(root, "c.csv", b'id,note\n1,"a; b; c"\n2,x;y\n', "notes")
    assert out["delimiter"] == ","
    assert rows(root, "SELECT note FROM notes ORDER BY id") == [["a; b; c"], ["x;y"]]
    out = imported(root, "t.txt", b"id\tname\n1\tann\n", "tabbed")
    assert out["delimiter"] == "\t"
    out = imported(root, "bar.csv", b"id|name\n1|ann\n", "barred")
    assert out["delimiter"] == "|"


def test_latin1_cp1252_and_utf16_files_are_detected_and_said(root: Path) -> None:
    out = imported(root, "latin.csv", "id,city\n1,Düsseldorf\n2,Besançon\n".encode("latin-1"), "cities")
    assert out["encoding"] in ("cp1252", "latin-1", "iso8859_1") and out["added"] == 2
    assert rows(root, "SELECT city FROM cities ORDER BY id") == [["Düsseldorf"], ["Besançon"]]
    out = imported(root, "win.csv", "id,price\n1,5 €\n2,“quoted”\n".encode("cp1252"), "winprices")
    assert out["encoding"] == "cp1252"
    assert rows(root, "SELECT price FROM winprices ORDER BY id") == [["5 €"], ["“quoted”"]]
    for encoding in ("utf-16", "utf-16-le"):
        table = encoding.replace("-", "_")
        out = imported(root, f"{table}.csv", "id,city\n1,Zürich\n2,Kraków\n".encode(encoding), table)
        assert out["encoding"].startswith("utf-16"), out
        assert rows(root, f"SELECT city FROM {table} ORDER BY id") == [["Zürich"], ["Kraków"]]
    shown = tusk(root, "data", "import", str(root / "utf_16.csv"), "-t", "utf_16").output
    assert "read as utf-16" in shown and "nothing changed" in shown
    semi16 = "id;city\n1;Zürich\n".encode("utf-16")
    out = imported(root, "semi16.csv", semi16, "semi16")
    assert (out["encoding"], out["delimiter"]) == ("utf-16", ";")


def test_forced_delimiter_and_encoding_are_used_as_given(root: Path) -> None:
    content = "id;name\n1;Jörg\n".encode("latin-1")
    out = imported(root, "forced.csv", content, "forced", "--delimiter", ";", "--encoding", "latin-1")
    assert (out["encoding"], out["delimiter"]) == ("latin-1", ";")
    assert rows(root, "SELECT name FROM forced") == [["Jörg"]]
    out = imported(root, "tabname.csv", b"id\tname\n1\tx\n", "tabname", "--delimiter", "tab")
    assert out["delimiter"] == "\t"
    (root / "wrong.csv").write_bytes("id,name\n1,Jörg\n".encode("latin-1"))
    before = rows(root, "SELECT count(*) FROM dolt_log")
    result = tusk(root, "data", "import", str(root / "wrong.csv"), "-t", "w", "-k", "id", "--encoding", "utf-8", code=1)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "not utf-8 (line 2" in lines[0] and "wrong.csv" in lines[0]
    assert rows(root, "SELECT count(*) FROM dolt_log") == before, "nothing written"


def test_spaced_headers_are_kept_quoted_or_normalized(root: Path) -> None:
    out = imported(root, "spaced.csv", b"id,Customer Name,Price (EUR)\n1,Ann,2\n2,Bob,3\n", "people")
    assert out["added"] == 2
    assert rows(root, 'SELECT "Customer Name", "Price (EUR)" FROM people ORDER BY id') == [["Ann", 2], ["Bob", 3]]
    (root / "spaced2.csv").write_bytes(b"id,Customer Name,Price (EUR)\n2,Bobby,3\n")
    tusk(root, "data", "import", str(root / "spaced2.csv"), "-t", "people", "--mode", "upsert", "--branch", "fix")
    diff = json.loads(tusk(root, "data", "diff", "main...fix", "--json").stdout)
    [table] = diff["tables"]
    assert table["modified"] == 1 and "Bobby" in json.dumps(table["rows"])
    tusk(root, "data", "merge", "fix", "-m", "merge fix")
    assert rows(root, 'SELECT "Customer Name" FROM people WHERE id = 2') == [["Bobby"]]
    exported = tusk(root, "data", "export", "people", "-o", str(root / "people-out.csv")).output
    assert "people" in exported and (root / "people-out.csv").read_text().startswith("id,Customer Name,Price (EUR)")
    out = imported(root, "norm.csv", b"id, Customer Name ,Price (EUR),2024 total\n1,Ann,2,5\n", "normed")
    assert out["added"] == 1
    tusk(root, "data", "import", str(root / "norm.csv"), "-t", "normal", "-k", "id", "--normalize-headers")
    cols = [c[1] for c in rows(root, "PRAGMA table_info(normal)")]
    assert cols == ["id", "customer_name", "price_eur", "c_2024_total"]
    (root / "twice.csv").write_bytes(b"id,Customer Name,customer_name\n1,a,b\n")
    result = tusk(
        root, "data", "import", str(root / "twice.csv"), "-t", "twice", "-k", "id", "--normalize-headers", code=1
    )
    assert "'customer_name' appears twice" in result.output and len(result.output.strip().splitlines()) == 1


def test_xlsx_sheet_by_name_and_dates_as_iso_text(root: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    first = book.active
    first.title = "Notes"
    first.append(["id", "note"])
    first.append([1, "not this one"])
    data = book.create_sheet("Orders 2024")
    data.append(["id", "Order Date", "Shipped At", "amount"])
    data.append([1, dt.datetime(2024, 1, 2), dt.datetime(2024, 1, 2, 13, 45), 3.5])
    data.append([2, dt.date(2024, 2, 29), None, 4])
    book.save(root / "book.xlsx")
    out = json.loads(
        tusk(
            root,
            "data",
            "import",
            str(root / "book.xlsx"),
            "-t",
            "orders",
            "-k",
            "id",
            "--sheet",
            "Orders 2024",
            "--json",
        ).stdout
    )
    assert out["sheet"] == "Orders 2024" and out["added"] == 2 and out["encoding"] is None
    got = rows(root, 'SELECT id, "Order Date", "Shipped At", amount FROM orders ORDER BY id')
    assert got == [[1, "2024-01-02", "2024-01-02 13:45:00", 3.5], [2, "2024-02-29", None, 4.0]]
    result = tusk(root, "data", "import", str(root / "book.xlsx"), "-t", "o2", "-k", "id", "--sheet", "Nope", code=1)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "no sheet 'Nope'" in lines[0] and "'Orders 2024'" in lines[0]
    assert "o2" not in json.dumps(rows(root, "SELECT name FROM sqlite_master WHERE type = 'table'"))
    default = tusk(root, "data", "import", str(root / "book.xlsx"), "-t", "notes_sheet", "-k", "id").output
    assert "sheet 'Notes'" in default


def test_dates_in_parquet_and_the_helpers() -> None:
    assert iso_text(dt.datetime(2024, 1, 2)) == "2024-01-02"
    assert iso_text(dt.datetime(2024, 1, 2, 0, 0, 1)) == "2024-01-02 00:00:01"
    assert iso_text(dt.date(2024, 1, 2)) == "2024-01-02" and iso_text(dt.time(9, 30)) == "09:30:00"
    assert normalize_column_name("Straße Nº 1") == "strae_no_1"
    assert normalize_column_name("  Customer   Name ") == "customer_name"


def test_parquet_dates_and_the_project_call(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tusk import Project

    folder = tmp_path / "p"
    assert CliRunner().invoke(cli, ["init", str(folder), "--no-git"]).exit_code == 0
    pq.write_table(
        pa.table({"id": [1], "day": [dt.date(2024, 3, 1)], "at": [dt.datetime(2024, 3, 1, 8, 0)]}), folder / "d.parquet"
    )
    got = read_source(str(folder / "d.parquet"))
    assert got.by_column is not None and got.by_column[1:] == [["2024-03-01"], ["2024-03-01 08:00:00"]]
    (folder / "up.csv").write_bytes("id;Full Name\n1;Zoë\n".encode("cp1252"))
    with Project.open(folder) as project:  # what the page calls for an upload
        result = project.import_file(
            str(folder / "up.csv"), "uploads", ["id"], "upsert", "upload-1", "from the page", normalize_headers=True
        )
        assert (result.encoding, result.delimiter, result.branch) == ("cp1252", ";", "upload-1")
        assert project.sql("SELECT full_name FROM uploads", at="upload-1").rows == [["Zoë"]]
        options = ReadOptions(delimiter=";", encoding="cp1252")
        assert read_source(str(folder / "up.csv"), options).columns == ["id", "Full Name"]


def test_merge_conflicts_show_both_values_and_the_log_is_in_date_order(tmp_path: Path) -> None:
    import time

    folder = tmp_path / "p"
    assert CliRunner().invoke(cli, ["init", str(folder), "--no-git"]).exit_code == 0
    good = b"id,text,label\n1,hello,greet\n2,bye,leave\n"
    imported(folder, "a.csv", good, "examples")
    (folder / "b.csv").write_bytes(good.replace(b"leave", b"farewell"))
    tusk(folder, "data", "import", str(folder / "b.csv"), "-t", "examples", "--branch", "fix", "-m", "on fix")
    time.sleep(1.1)
    (folder / "c.csv").write_bytes(good.replace(b"leave", b"exit"))
    tusk(folder, "data", "import", str(folder / "c.csv"), "-t", "examples", "-m", "on main")
    result = CliRunner().invoke(cli, ["-C", str(folder), "data", "merge", "fix"])
    assert result.exit_code == 1
    line = next(x for x in result.output.splitlines() if "id=2" in x and "label" in x)
    assert "exit" in line and "farewell" in line, result.output
    time.sleep(1.1)
    tusk(folder, "data", "merge", "fix", "--theirs", "-m", "merge fix")
    dates = [c["date"] for c in json.loads(tusk(folder, "data", "log", "--json").stdout)["commits"]]
    assert dates == sorted(dates, reverse=True)
    assert len(json.loads(tusk(folder, "data", "log", "-n", "2", "--json").stdout)["commits"]) == 2
