"""File import through the command line: formats, modes, and the bad-input corpus.

Every bad input gives one line naming the file (and row and column where it applies), exit code 1, no
traceback, and leaves every branch head and the table exactly as they were.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tusk.cli import (
    _register,  # noqa: F401
    cli,
)

GOOD = "id,customer,text,label\n1,c1,hello,greet\n2,c1,bye,leave\n3,c2,hi,greet\n"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ingest") / "proj"
    assert CliRunner().invoke(cli, ["init", str(root)]).exit_code == 0
    (root / "good.csv").write_text(GOOD)
    tusk(root, "data", "import", str(root / "good.csv"), "--table", "examples", "--key", "id", "-m", "load")
    return root


def tusk(root: Path, *args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(cli, ["-C", str(root), *args])
    assert result.exit_code == code, result.output
    return result


def state(root: Path) -> tuple[Any, ...]:
    """Every branch head and a digest of the examples table."""
    branches = json.loads(tusk(root, "data", "branch", "--json").stdout)["branches"]
    rows = json.loads(tusk(root, "data", "sql", "SELECT * FROM examples ORDER BY id", "--json").stdout)["rows"]
    return tuple(sorted((b["name"], b["head"]) for b in branches)), hashlib.sha256(repr(rows).encode()).hexdigest()


BAD_FILES: dict[str, tuple[bytes | str, list[str], str]] = {
    # name: (content, extra args, expected message part)
    "missing": ("", [], "no such file"),
    "latin1": ("id,customer,text,label\n9,c1,caf\xe9,x\n".encode("latin-1"), ["--encoding", "utf-8"], "not utf-8"),
    "ragged": ("id,customer,text,label\n9,c1,a,b\n10,c1,a,b,EXTRA\n", [], "row 3 has 5 fields"),
    "nokey": ("num,customer,text,label\n9,c1,a,b\n", [], "no key column 'id'"),
    "dupkey": ("id,customer,text,label\n9,c1,a,b\n9,c1,c,d\n", [], "rows 2 and 3 have the same key id=9"),
    "emptykey": ("id,customer,text,label\n9,c1,a,b\n,c1,c,d\n", [], "row 3, column 'id': empty key"),
    "badtype": ("id,customer,text,label\n9,c1,a,b\nten,c1,c,d\n", [], "row 3, column 'id': 'ten' is not an integer"),
    "extracol": ("id,customer,text,label,mood\n9,c1,a,b,ok\n", [], "column 'mood' is not in table"),
    "quotedcol": ('id,customer,text,"label""; DROP TABLE examples; --"\n9,c1,a,b\n', [], "is not in table"),
    "ctrlcol": ('id,customer,text,"la\x07bel"\n9,c1,a,b\n', [], "invalid column name"),
    "baddelimiter": (GOOD, ["--delimiter", "ab"], "is not one character"),
    "badencoding": (GOOD, ["--encoding", "klingon"], "unknown encoding"),
    "sheetofcsv": (GOOD, ["--sheet", "Data"], "--sheet picks a sheet of an XLSX workbook"),
    "semicolon_ragged": ("id;customer;text;label\n9;c1;a;b\n10;c1;a\n", [], "split at ';'"),
    "badmode": (GOOD, ["--mode", "merge"], "Invalid value for '--mode'"),
    "badbranch": (GOOD, ["--branch", "x;y"], "invalid branch name"),
    "sqltable": (GOOD, ["--table", "examples; DROP TABLE examples"], "invalid table name"),
    "append_existing": (GOOD, ["--mode", "append"], "key id=1 is already in the table"),
    "keymismatch": (GOOD, ["--key", "text"], "differs from the table's key id"),
    "emptyfile": ("", [], "the file is empty"),
    "unknownext": ("x", [], "unknown file type"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_input_is_refused_and_changes_nothing(project: Path, case: str) -> None:
    content, extra, expected = BAD_FILES[case]
    name = {"unknownext": "bad.xyz"}.get(case, f"{case}.csv")
    path = project / name
    if case != "missing":
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    table = [] if "--table" in extra else ["--table", "examples"]
    before = state(project)
    result = CliRunner().invoke(cli, ["-C", str(project), "data", "import", str(path), *table, "--key", "id", *extra])
    assert result.exit_code in (1, 2), result.output
    lines = result.output.strip().splitlines()
    assert expected in result.output, result.output
    assert "Traceback" not in result.output
    if result.exit_code == 1:
        assert len(lines) == 1 and lines[0].startswith("error: ")
        if case not in ("badbranch", "sqltable", "badmode"):
            assert name in lines[0], "the message names the file"
    assert state(project) == before


def test_unknown_refs_and_tables_are_one_line_errors(project: Path) -> None:
    before = state(project)
    for args in (
        ["data", "log", "nope"],
        ["data", "diff", "main", "nope"],
        ["data", "merge", "nope"],
        ["data", "sql", "SELECT * FROM nope"],
        ["data", "sql", "SELECT 1", "--at", "deadbeef"],
        ["data", "diff", "main", "main", "--table", "nope"],
    ):
        result = tusk(project, *args, code=1)
        assert result.output.startswith("error: ") and len(result.output.strip().splitlines()) == 1, args
    assert state(project) == before


def test_formats_modes_and_no_op_imports(tmp_path: Path) -> None:
    import openpyxl
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = tmp_path / "p"
    CliRunner().invoke(cli, ["init", str(root)])
    (root / "a.tsv").write_text("id\tname\tscore\n1\tann\t0.5\n2\tbob\t1\n")
    out = json.loads(tusk(root, "data", "import", str(root / "a.tsv"), "-t", "people", "-k", "id", "--json").stdout)
    assert out["created_table"] and out["added"] == 2 and out["commit"]
    cols = json.loads(tusk(root, "data", "sql", "PRAGMA table_info(people)", "--json").stdout)["rows"]
    assert [(c[1], c[2]) for c in cols] == [("id", "INTEGER"), ("name", "TEXT"), ("score", "REAL")]
    again = json.loads(tusk(root, "data", "import", str(root / "a.tsv"), "-t", "people", "--json").stdout)
    assert again["commit"] is None and again["message"].startswith("nothing changed")
    assert "nothing changed, no commit made" in tusk(root, "data", "import", str(root / "a.tsv"), "-t", "people").output
    (root / "b.jsonl").write_text('{"id": 3, "name": "cy", "score": 2}\n{"id": 1, "name": "ann", "score": 0.75}\n')
    out = json.loads(
        tusk(root, "data", "import", str(root / "b.jsonl"), "-t", "people", "--mode", "upsert", "--json").stdout
    )
    assert (out["added"], out["modified"], out["removed"]) == (1, 1, 0)
    book = openpyxl.Workbook()
    book.active.append(["id", "name", "score"])
    book.active.append([4, "dee", 3.5])
    book.save(root / "c.xlsx")
    out = json.loads(
        tusk(root, "data", "import", str(root / "c.xlsx"), "-t", "people", "--mode", "append", "--json").stdout
    )
    assert out["added"] == 1
    pq.write_table(pa.table({"id": [1, 4], "name": ["ann", "dee"], "score": [0.75, 3.5]}), root / "d.parquet")
    out = json.loads(tusk(root, "data", "import", str(root / "d.parquet"), "-t", "people", "--json").stdout)
    assert (out["added"], out["modified"], out["removed"]) == (0, 0, 2), "replace makes the table equal the file"
    rows = json.loads(tusk(root, "data", "sql", "SELECT id, name, score FROM people ORDER BY id", "--json").stdout)
    assert rows["rows"] == [[1, "ann", 0.75], [4, "dee", 3.5]]
    log = json.loads(tusk(root, "data", "log", "--json").stdout)["commits"]
    assert len(log) == 5, "four imports that changed something, one that did not, plus the initial commit"


def test_composite_keys_and_branch_created_from_main(tmp_path: Path) -> None:
    root = tmp_path / "p"
    CliRunner().invoke(cli, ["init", str(root)])
    (root / "a.csv").write_text("cust,day,n\nx,1,5\nx,2,6\ny,1,7\n")
    tusk(root, "data", "import", str(root / "a.csv"), "-t", "counts", "-k", "cust", "-k", "day")
    (root / "b.csv").write_text("cust,day,n\nx,1,9\n")
    out = json.loads(
        tusk(
            root, "data", "import", str(root / "b.csv"), "-t", "counts", "--mode", "upsert", "--branch", "new", "--json"
        ).stdout
    )
    assert out["branch"] == "new" and out["modified"] == 1
    diff = json.loads(tusk(root, "data", "diff", "main", "new", "--json").stdout)
    [table] = diff["tables"]
    assert (table["added"], table["modified"], table["removed"]) == (0, 1, 0)
    assert table["rows"][0]["key"] == {"cust": "x", "day": 1}
    assert "new" in tusk(root, "data", "branch").output
    (root / "dup.csv").write_text("cust,day,n\nx,1,1\nx,1,2\n")
    result = tusk(root, "data", "import", str(root / "dup.csv"), "-t", "counts", "--branch", "other", code=1)
    assert "same key cust=x, day=1" in result.output
    assert "other" not in tusk(root, "data", "branch").output, "a refused import leaves no new branch behind"


def test_diff_shows_changed_cells_and_merge_conflicts_row_by_row(tmp_path: Path) -> None:
    root = tmp_path / "p"
    CliRunner().invoke(cli, ["init", str(root)])
    (root / "a.csv").write_text(GOOD)
    tusk(root, "data", "import", str(root / "a.csv"), "-t", "examples", "-k", "id")
    (root / "b.csv").write_text(GOOD.replace("bye,leave", "bye,farewell"))
    tusk(root, "data", "import", str(root / "b.csv"), "-t", "examples", "--branch", "fix")
    shown = tusk(root, "data", "diff", "main", "fix", "--table", "examples").output
    assert "0 added" in shown and "1 modified" in shown and "leave" in shown and "farewell" in shown
    (root / "c.csv").write_text(GOOD.replace("bye,leave", "bye,exit"))
    tusk(root, "data", "import", str(root / "c.csv"), "-t", "examples")
    head = json.loads(tusk(root, "data", "log", "--json").stdout)["commits"][0]["hash"]
    result = tusk(root, "data", "merge", "fix", code=1)
    assert "conflicts in 1 row" in result.output and "id=2" in result.output
    assert json.loads(tusk(root, "data", "log", "--json").stdout)["commits"][0]["hash"] == head


def test_type_inference_keeps_leading_zeros_and_quoted_newlines(tmp_path: Path) -> None:
    root = tmp_path / "p"
    CliRunner().invoke(cli, ["init", str(root)])
    (root / "z.csv").write_text('id,zip,score,note\n1,01234,1.5,"two\nlines"\n2,99999,2,\n')
    tusk(root, "data", "import", str(root / "z.csv"), "-t", "places", "-k", "id")
    cols = json.loads(tusk(root, "data", "sql", "PRAGMA table_info(places)", "--json").stdout)["rows"]
    assert [(c[1], c[2]) for c in cols] == [("id", "INTEGER"), ("zip", "TEXT"), ("score", "REAL"), ("note", "TEXT")]
    rows = json.loads(tusk(root, "data", "sql", "SELECT * FROM places ORDER BY id", "--json").stdout)["rows"]
    assert rows == [[1, "01234", 1.5, "two\nlines"], [2, "99999", 2.0, None]]
