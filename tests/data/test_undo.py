"""Undo and round trips for people who work in spreadsheets, on real doltlite: a stale file re-imported onto
main is stopped, revert, export (byte-stable, re-imports as no change), and merge conflicts settled whole or
row by row through a conflicts file."""

from __future__ import annotations

import csv
import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

from train_fixtures import TrainProject, make_project, rows, write_csv


def labels(project: TrainProject, ids: list[int], ref: str = "main") -> list[str]:
    marks = ", ".join(str(i) for i in ids)
    result = project.json("data", "sql", f"SELECT label FROM examples WHERE id IN ({marks}) ORDER BY id", "--at", ref)
    return [r[0] for r in result["rows"]]


def parents(project: TrainProject, commit: str) -> int:
    sql = f"SELECT count(*) FROM dolt_commit_ancestors WHERE commit_hash = '{commit}' AND parent_hash IS NOT NULL"
    return int(project.json("data", "sql", sql)["rows"][0][0])


@pytest.fixture
def project(tmp_path: Path) -> TrainProject:
    return make_project(tmp_path)  # 40 rows: ids 0..39, customer c{id % 4}, label l{id % 3}


# ----- scenario 3: a stale file re-imported onto main -----------------------------------------------
def test_reimporting_a_stale_file_onto_main_asks_first(project: TrainProject) -> None:
    stale = project.root / "stale.csv"
    project.tusk("data", "export", "examples", "-o", str(stale))
    data = rows()
    for row in data[:12]:
        row[3] = "fixed"
    project.import_rows(data, branch="fix", message="fix 12 labels")
    project.tusk("data", "merge", "fix", "-m", "merge fix")
    merged = project.head()

    refused = project.tusk("data", "import", str(stale), "--table", "examples", code=1)
    assert refused.output.count("\n") == 1 and "modify 12" in refused.output and "--yes" in refused.output
    assert project.head() == merged and labels(project, [0, 11]) == ["fixed", "fixed"], "nothing was imported"
    as_json = project.tusk("data", "import", str(stale), "--table", "examples", "--json", code=1)
    assert as_json.stdout == "" and "modify 12" in as_json.stderr and project.head() == merged

    small = [list(r) for r in data]  # main as merged, and one more row changed
    small[20][3] = "one row"
    project.import_rows(small, mode="upsert", message="a small edit", yes=False)  # 1 row: below the threshold
    assert labels(project, [20]) == ["one row"]

    applied = project.json("data", "import", str(stale), "--table", "examples", "--yes")
    assert (applied["modified"], applied["removed"]) == (13, 0) and labels(project, [0]) == ["l0"]
    reverted = project.json("data", "revert", "main")
    assert labels(project, [0, 11, 20]) == ["fixed", "fixed", "one row"], "the fix is back"
    assert reverted["commit"] == project.head() != applied["commit"]


def _tusk_in_a_terminal(project: TrainProject, args: list[str], answer: str) -> tuple[int, str]:
    from tusk._internal.sqlite import child_env

    main, child = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-c", "from tusk.cli import main; main()", "-C", str(project.root), *args],
        stdin=child,
        stdout=child,
        stderr=child,
        env=child_env(),
        close_fds=True,
    )
    os.close(child)
    output = b""
    answered = False
    waiting = select.poll()  # not select(): this test process may hold file descriptors past 1024 by now
    waiting.register(main, select.POLLIN)
    while True:
        if not waiting.poll(60_000):
            break
        try:
            chunk = os.read(main, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
        if not answered and b"[y/N]" in output:
            os.write(main, answer.encode() + b"\n")
            answered = True
    os.close(main)
    return process.wait(timeout=300), output.decode(errors="replace")


def test_in_a_terminal_a_large_import_shows_the_change_and_asks(project: TrainProject) -> None:
    data = rows()
    for row in data[:15]:
        row[3] = "bulk"
    path = write_csv(project.root / "bulk.csv", data)
    head = project.head()
    code, output = _tusk_in_a_terminal(project, ["data", "import", str(path), "--table", "examples"], "n")
    assert code == 1 and "modify 15" in output and "not confirmed" in output and project.head() == head
    code, output = _tusk_in_a_terminal(project, ["data", "import", str(path), "--table", "examples"], "y")
    assert code == 0 and "15 modified" in output and labels(project, [14]) == ["bulk"]


def test_the_threshold_is_configurable(project: TrainProject) -> None:
    config = project.root / "tusk.toml"
    config.write_text(config.read_text().replace('branch = "main"', 'branch = "main"\nconfirm_fraction = 0.5'))
    data = rows()
    for row in data[:15]:
        row[3] = "bulk"
    project.import_rows(data, yes=False)  # 15 of 40 rows: under 50%
    assert labels(project, [0]) == ["bulk"]
    config.write_text(config.read_text().replace("confirm_fraction = 0.5", "confirm_fraction = 2"))
    assert "confirm_fraction" in project.tusk("plan", code=1).output


# ----- revert --------------------------------------------------------------------------------------
def test_revert_undoes_a_commit_and_refuses_what_it_cannot(project: TrainProject) -> None:
    first = project.head()
    data = rows()
    data[5][3] = "OOPS"
    project.import_rows(data, message="oops")
    oops = project.head()
    data[6][3] = "later"
    project.import_rows(data, message="later edit")
    project.json("data", "revert", oops)
    assert labels(project, [5, 6]) == ["l2", "later"], "only the oops commit is undone"
    assert "already undone" in project.tusk("data", "revert", oops, code=1).output

    data[6][3] = "again"
    project.import_rows(data, message="edit 6 again")
    later = project.json("data", "log")["commits"][2]["hash"]  # "later edit"
    head = project.head()
    conflict = project.tusk("data", "revert", later, code=1)
    assert "conflicts in 1 row" in conflict.output and "id=6" in conflict.output and project.head() == head

    root = project.json("data", "log")["commits"][-1]["hash"]
    assert "first commit" in project.tusk("data", "revert", root, code=1).output
    assert "not a merge commit" in project.tusk("data", "revert", first, "--mainline", "1", code=1).output
    assert project.tusk("data", "revert", "nope", code=1).output.startswith("error:")
    assert project.head() == head


def test_reverting_a_merge_needs_mainline(project: TrainProject) -> None:
    data = rows()
    data[0][3] = "FIX"
    project.import_rows(data, branch="fix", message="fix")
    other = rows()
    other[1][3] = "MAIN"
    project.import_rows(other, message="main moves on")
    merge = project.json("data", "merge", "fix", "-m", "merge fix")["commit"]
    assert parents(project, merge) == 2
    head = project.head()
    refused = project.tusk("data", "revert", merge, code=1)
    assert "merge commit" in refused.output and "--mainline 1" in refused.output and project.head() == head
    project.json("data", "revert", merge, "--mainline", "1")
    assert labels(project, [0, 1]) == ["l0", "MAIN"], "what the merge brought in is undone, main's own change kept"


# ----- export ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["csv", "xlsx", "parquet"])
def test_export_is_byte_stable_and_imports_back_as_no_change(tmp_path: Path, fmt: str) -> None:
    project = make_project(tmp_path, customers=2)
    odd = project.root / "odd.csv"
    with odd.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "score", "note"])
        writer.writerows(
            [
                [1, "0.1", "plain"],
                [2, "", "=1+1"],
                [3, "1e-07", ""],
                [4, "2.5", 'comma, "quote"\nline'],
                [10, "3", "ünïcode ✓"],
            ]
        )
    project.tusk("data", "import", str(odd), "--table", "odd", "--key", "id")
    for table in ("examples", "odd"):
        first, second = project.root / f"a.{fmt}", project.root / f"b.{fmt}"
        out = project.json("data", "export", table, "-o", str(first))
        project.tusk("data", "export", table, "--format", fmt, "-o", str(second))
        assert out["format"] == fmt and out["commit"] == project.head() and out["rows"] > 0
        assert first.read_bytes() == second.read_bytes(), f"{table} as {fmt} is byte-stable"
        head = project.head()
        result = project.json("data", "import", str(first), "--table", table)
        assert result["commit"] is None and project.head() == head, f"{table} as {fmt} imports back unchanged"
    if fmt == "xlsx":
        from openpyxl import load_workbook

        sheet = load_workbook(project.root / "a.xlsx").worksheets[0]
        formula = [c for c in sheet["C"] if c.value == "=1+1"]
        assert formula and formula[0].data_type == "s", "text that looks like a formula stays text"


def test_export_at_a_ref_to_stdout_and_bad_requests(project: TrainProject) -> None:
    before = project.head()
    data = rows()
    data[0][3] = "changed"
    project.import_rows(data, message="change id 0")
    old = project.tusk("data", "export", "examples", "--at", before, "-o", "-").stdout
    assert next(csv.reader(old.splitlines()[1:2])) == ["0", "c0", "text 0", "l0"]
    assert old.splitlines()[0] == "id,customer,text,label" and len(old.splitlines()) == 41
    default = project.root / "examples.csv"
    cwd = os.getcwd()
    os.chdir(project.root)
    try:
        project.tusk("data", "export", "examples")
    finally:
        os.chdir(cwd)
    assert default.read_text().splitlines()[1] == "0,c0,text 0,changed"
    assert "no_table" in project.tusk("data", "export", "no_table", code=1).output
    assert project.tusk("data", "export", "examples", "--at", "nope", code=1).output.startswith("error:")
    assert "standard output" in project.tusk("data", "export", "examples", "--format", "xlsx", "-o", "-", code=1).output
    assert project.tusk("data", "export", "examples", "--format", "ods", code=2).exit_code == 2


# ----- merge conflicts ------------------------------------------------------------------------------
@pytest.fixture
def conflicting(project: TrainProject) -> TrainProject:
    """fix and main both changed rows 0 and 1 since fix left main; fix relabelled row 2, which main removed."""
    data = rows()
    data[0][3], data[1][3], data[2][3] = "fix0", "fix1", "fix2"
    data[3][3] = "fix only"
    project.import_rows(data, branch="fix", message="fix")
    data = [r for r in rows() if r[0] != 2]
    data[0][3], data[1][3] = "main0", "main1"
    project.import_rows(data, mode="replace", message="main moves on")
    return project


def test_a_conflicting_merge_merges_nothing_and_says_how_to_settle(conflicting: TrainProject) -> None:
    head = conflicting.head()
    result = conflicting.tusk("data", "merge", "fix", code=1)
    assert "conflicts in 3 row" in result.output and "--theirs" in result.output and conflicting.head() == head


@pytest.mark.parametrize(
    "side,expected", [("--theirs", ["fix0", "fix1", "fix2", "fix only"]), ("--ours", ["main0", "main1", "fix only"])]
)
def test_ours_or_theirs_settles_every_conflict(conflicting: TrainProject, side: str, expected: list[str]) -> None:
    merged = conflicting.json("data", "merge", "fix", side)
    assert merged["merged"] and merged["resolved"] == 3 and parents(conflicting, merged["commit"]) == 2
    assert labels(conflicting, [0, 1, 2, 3]) == expected


def test_conflicts_resolved_row_by_row_through_a_file(conflicting: TrainProject) -> None:
    path = conflicting.root / "conflicts.csv"
    head = conflicting.head()
    written = conflicting.tusk("data", "merge", "fix", "--conflicts-file", str(path), code=1)
    assert "written to" in written.output and conflicting.head() == head
    lines = list(csv.DictReader(path.open()))
    assert [(r["key.id"], r["ours.label"], r["theirs.label"], r["ours_change"], r["theirs_change"]) for r in lines] == [
        ("0", "main0", "fix0", "modified", "modified"),
        ("1", "main1", "fix1", "modified", "modified"),
        ("2", "", "fix2", "removed", "modified"),
    ]
    assert all(r["resolution"] == "" for r in lines)

    refused = conflicting.tusk("data", "merge", "fix", "--resolve", str(path), code=1)
    assert "row 2: resolution must be ours or theirs" in refused.output and conflicting.head() == head
    for line, choice in zip(lines, ["theirs", "Ours ", "theirs"]):
        line["resolution"] = choice
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(lines[0]))
        writer.writeheader()
        writer.writerows(lines)
    assert conflicting.tusk("data", "merge", "fix", "--resolve", str(path), "--ours", code=2).exit_code == 2
    merged = conflicting.json("data", "merge", "fix", "--resolve", str(path), "-m", "merge fix, row by row")
    assert merged["resolved"] == 3 and parents(conflicting, merged["commit"]) == 2
    assert labels(conflicting, [0, 1, 2, 3]) == ["fix0", "main1", "fix2", "fix only"]
    assert conflicting.json("data", "log")["commits"][0]["message"] == "merge fix, row by row"
    assert conflicting.json("data", "merge", "fix")["commit"] is None, "merged: nothing more to merge"


def test_a_conflicts_file_is_refused_once_a_branch_moved(conflicting: TrainProject) -> None:
    path = conflicting.root / "conflicts.csv"
    conflicting.tusk("data", "merge", "fix", "--conflicts-file", str(path), code=1)
    lines = list(csv.DictReader(path.open()))
    for line in lines:
        line["resolution"] = "theirs"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(lines[0]))
        writer.writeheader()
        writer.writerows(lines)
    data = [r for r in rows() if r[0] != 2]
    data[0][3], data[1][3], data[5][3] = "main0", "main1", "main moved"
    conflicting.import_rows(data, mode="replace", message="main moves again")
    head = conflicting.head()
    refused = conflicting.tusk("data", "merge", "fix", "--resolve", str(path), code=1)
    assert "moved since this file was written" in refused.output and conflicting.head() == head
    assert json.loads(conflicting.tusk("data", "merge", "fix", "--json", code=1).stdout)["merged"] is False


def test_a_conflicts_file_neutralizes_formulas_and_is_a_regular_file(project: TrainProject) -> None:
    """The conflicts file is opened in a spreadsheet too: a formula in a conflicting row is written with a leading
    apostrophe (and read back without it); the file is written whole, never through a link."""
    data = rows()
    data[0][3] = '=HYPERLINK("http://x.invalid","click")'
    project.import_rows(data, branch="fix", message="fix")
    data = rows()
    data[0][3] = "@SUM(A1)"
    project.import_rows(data, message="main moves on")
    link = project.root / "link.csv"
    link.symlink_to(project.root / "elsewhere.csv")
    refused = project.tusk("data", "merge", "fix", "--conflicts-file", str(link), code=1)
    assert "symbolic link" in refused.stderr and link.is_symlink() and not (project.root / "elsewhere.csv").exists()
    path = project.root / "conflicts.csv"
    project.tusk("data", "merge", "fix", "--conflicts-file", str(path), code=1)
    lines = list(csv.DictReader(path.open(newline="")))
    assert (lines[0]["ours.label"], lines[0]["theirs.label"]) == (
        "'@SUM(A1)",
        '\'=HYPERLINK("http://x.invalid","click")',
    )
    lines[0]["resolution"] = "theirs"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(lines[0]))
        writer.writeheader()
        writer.writerows(lines)
    assert project.json("data", "merge", "fix", "--resolve", str(path))["resolved"] == 1
    assert labels(project, [0]) == ['=HYPERLINK("http://x.invalid","click")']
