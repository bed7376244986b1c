"""Commands at the same moment: everything lands or is refused clearly, nothing is trained twice.

Each test starts real ``tusk`` processes together (the page's actions beside a CLI command wait for the
page: issue "Review in the browser").
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path

import pytest

from crash_helpers import duplicate_fingerprints, mlflow_db, output, start, tusk, wait_gone
from train_fixtures import make_project, write_csv

pytestmark = pytest.mark.slow


def _all(procs: list) -> list[tuple[int, str, str]]:  # type: ignore[type-arg]
    results = []
    for proc in procs:
        proc.wait(timeout=600)
        out, err = output(proc)
        results.append((proc.returncode, out, err))
    return results


def _rows(root: Path, ref: str) -> list[list[object]]:
    done = tusk(
        root, "data", "sql", "SELECT id, customer, text, label FROM examples ORDER BY id", "--at", ref, "--json"
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["rows"]


def _integrity(root: Path) -> str:
    conn = sqlite3.connect(root / "data" / "training.db")
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


@pytest.mark.parametrize("same_branch", [False, True])
def test_four_imports_at_once(tmp_path: Path, same_branch: bool) -> None:
    project = make_project(tmp_path, customers=2)
    root = project.root
    main_before = _rows(root, "main")
    files = []
    for i in range(4):
        rows = [[10_000 * (i + 1) + j, f"c{i}", f"from import {i} row {j}", "l0"] for j in range(3000)]
        files.append((write_csv(tmp_path / f"edit{i}.csv", rows), rows))
    procs = [
        start(
            root,
            "data",
            "import",
            str(path),
            "--table",
            "examples",
            "--key",
            "id",
            "--mode",
            "upsert",
            "--branch",
            "edits" if same_branch else f"edit-{i}",
            "-m",
            f"import {i}",
        )
        for i, (path, _) in enumerate(files)
    ]
    results = _all(procs)
    landed = [i for i, (code, _, err) in enumerate(results) if code == 0]
    for code, _, err in results:
        assert code == 0 or (code == 1 and len(err.strip().splitlines()) == 1), err
    assert len(landed) == 4, [r[2] for r in results]
    assert _rows(root, "main") == main_before
    if same_branch:
        got = _rows(root, "edits")
        assert len(got) == len(main_before) + 4 * 3000
        messages = [c["message"] for c in json.loads(tusk(root, "data", "log", "edits", "--json").stdout)["commits"]]
        assert sorted(m for m in messages if m.startswith("import ")) == [f"import {i}" for i in range(4)]
    else:
        for i, (_, rows) in enumerate(files):
            assert _rows(root, f"edit-{i}") == sorted(main_before + rows)
    assert _integrity(root) == "ok"


def test_imports_onto_a_new_branch_beside_one_that_fails(tmp_path: Path) -> None:
    """Whichever of them makes the branch, the failing one (append of a key main has) removes nothing of the
    others': every good import lands, one commit each (tests/test_import_race.py places each gap exactly)."""
    project = make_project(tmp_path, customers=2)
    root = project.root
    main_before = _rows(root, "main")
    args = ["--table", "examples", "--key", "id", "--branch", "edits"]
    good = [
        write_csv(
            tmp_path / f"edit{i}.csv", [[1000 * (i + 1) + j, f"c{i}", f"import {i} row {j}", "l0"] for j in range(20)]
        )
        for i in range(5)
    ]
    bad = write_csv(tmp_path / "bad.csv", [main_before[0]])
    procs = [
        start(root, "data", "import", str(bad), *args, "--mode", "append", "-m", "import bad"),
        *(
            start(root, "data", "import", str(path), *args, "--mode", "upsert", "-m", f"import {i}")
            for i, path in enumerate(good)
        ),
    ]
    results = _all(procs)
    code, _, err = results[0]
    assert code == 1 and "already in the table" in err and len(err.strip().splitlines()) == 1, err
    assert [r[0] for r in results[1:]] == [0] * 5, [r[2] for r in results[1:]]
    assert len(_rows(root, "edits")) == len(main_before) + 5 * 20
    messages = [c["message"] for c in json.loads(tusk(root, "data", "log", "edits", "--json").stdout)["commits"]]
    assert sorted(m for m in messages if m.startswith("import ")) == [f"import {i}" for i in range(5)]
    assert _rows(root, "main") == main_before
    assert _integrity(root) == "ok"


def test_a_run_stays_pinned_while_an_import_lands(tmp_path: Path) -> None:
    project = make_project(tmp_path, customers=3, params={"sleep": 1.5})
    root = project.root
    pinned = project.head()
    proc = start(root, "run", "--json")
    deadline = time.monotonic() + 300  # until it trains (no more: a loaded machine is slow to start it)
    while time.monotonic() < deadline and not list((root / ".tusk" / "jobs").glob("*/*/job.log")):
        time.sleep(0.05)
    path = write_csv(tmp_path / "moved.csv", [[i, f"c{i % 3}", f"moved {i}", "l1"] for i in range(30)])
    landed = tusk(
        root,
        "data",
        "import",
        str(path),
        "--table",
        "examples",
        "--key",
        "id",
        "--mode",
        "upsert",
        "--yes",
        "-m",
        "moved while training",
    )
    assert landed.returncode == 0, landed.stderr
    proc.wait(timeout=300)
    out, err = output(proc)
    assert proc.returncode == 0, err
    report = json.loads(out)
    assert report["data_commit"] == pinned
    client = project.client()
    for job in report["jobs"]:
        version = client.get_model_version(job["name"], job["version"])
        assert version.tags["tusk.data_commit"] == pinned
    plan = project.plan()
    assert {n for n, p in plan.items() if p["status"] == "stale"} == {"m-c0", "m-c1", "m-c2"}, (
        "the run trained what it planned; the import made everything stale again"
    )


@pytest.mark.parametrize("second", [["run"], ["watch", "--once"]])
def test_two_trainers_at_once_train_each_instance_once(tmp_path: Path, second: list[str]) -> None:
    project = make_project(tmp_path, customers=4, params={"sleep": 3})  # the first holds the lock ~6 s
    root = project.root
    first = start(root, "run", "--json")
    _wait_for_holder(root, "tusk run")
    results = _all([first, start(root, *second, "--json")])
    assert [code for code, _, _ in results] == [0, 0], [err for _, _, err in results]
    assert duplicate_fingerprints(mlflow_db(root)) == {}
    versions = project.client().search_model_versions("name LIKE 'm-%'")
    assert sorted(v.name for v in versions) == ["m-c0", "m-c1", "m-c2", "m-c3"], "each instance trained once"
    watch_log = root / ".tusk" / "watch.log"
    waited = " ".join(err for _, _, err in results) + (watch_log.read_text() if watch_log.exists() else "")
    assert "waiting for" in waited, "the later one waited for the other (on stderr, or in the watch log)"
    assert wait_gone(root) == []


def _wait_for_holder(root: Path, what: str) -> None:
    lock, deadline = root / ".tusk" / "project.lock", time.monotonic() + 300
    while time.monotonic() < deadline and not (lock.exists() and what in lock.read_text(errors="replace")):
        time.sleep(0.05)


def test_a_second_run_with_no_wait_is_refused_naming_the_holder(tmp_path: Path) -> None:
    project = make_project(tmp_path, customers=2, params={"sleep": 2})
    root = project.root
    first = start(root, "run")
    _wait_for_holder(root, "tusk run")
    refused = tusk(root, "run", "--no-wait")
    first.wait(timeout=300)
    output(first)
    assert refused.returncode == 1
    line = refused.stderr.strip()
    assert len(line.splitlines()) == 1 and f"tusk run (pid {first.pid}" in line and "holds this project" in line
    assert first.returncode == 0


def test_two_release_creates_at_once_record_one_release(tmp_path: Path) -> None:
    project = make_project(tmp_path, customers=3)
    root = project.root
    project.run()
    results = _all([start(root, "release", "create", "--no-build", "--json") for _ in range(3)])
    assert [code for code, _, _ in results] == [0, 0, 0], [err for _, _, err in results]
    md5s = {json.loads(out)["md5"] for _, out, _ in results}
    assert len(md5s) == 1
    assert len(project.json("release", "list")["releases"]) == 1
    digest = hashlib.md5(
        json.dumps({"m-c0": "1", "m-c1": "1", "m-c2": "1"}, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    assert md5s == {digest}
