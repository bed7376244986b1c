"""Security: queries cannot write, matrix values never reach a shell or escape a folder, a job's output
cannot drive the terminal, and no secret reaches logs, the registry or ``--json``."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from train_fixtures import TrainProject, make_project, model_block

WRITES = [
    "SELECT dolt_gc()",
    "ATTACH DATABASE '{pwn}' AS x",
    "VACUUM INTO '{pwn}'",
    "INSERT INTO examples (id, customer, text, label) VALUES (9999, 'c0', 'x', 'l0')",
    "UPDATE examples SET label = 'hacked'",
    "DELETE FROM examples",
    "CREATE TABLE evil (a)",
    "DROP TABLE examples",
    "PRAGMA query_only = OFF",
    "PRAGMA user_version = 7",
    "PRAGMA journal_mode = DELETE",
    "SELECT dolt_commit('-A', '-m', 'x')",
    "SELECT dolt_branch('evil')",
    "SELECT dolt_tag('evil')",
    "SELECT dolt_reset('--hard', 'HEAD~1')",
    "SELECT dolt_checkout('-b', 'evil')",
    "SELECT dolt_remote('add', 'evil', 'file://{pwn}')",
    "SELECT dolt_push('origin', 'main')",
    "SELECT load_extension('/tmp/evil.so')",
    "SELECT 1; DROP TABLE examples",
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> TrainProject:
    return make_project(tmp_path_factory.mktemp("security"), customers=2)


@pytest.mark.parametrize("statement", WRITES)
@pytest.mark.parametrize("at", [None, "main"])
def test_data_sql_cannot_write(project: TrainProject, statement: str, at: str | None, tmp_path: Path) -> None:
    pwn = tmp_path / "pwn.db"
    db = project.root / "data" / "training.db"
    before = (project.head(), db.stat().st_size, sorted(p.name for p in db.parent.iterdir()))
    rows_before = project.json("data", "sql", "SELECT count(*) AS n, max(label) AS l FROM examples")["rows"]
    result = project.tusk("data", "sql", statement.format(pwn=pwn), *(["--at", at] if at else []), code=None)
    assert result.exit_code == 1, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("error: ")
    assert not pwn.exists()
    assert (project.head(), db.stat().st_size, sorted(p.name for p in db.parent.iterdir())) == before
    assert project.json("data", "sql", "SELECT count(*) AS n, max(label) AS l FROM examples")["rows"] == rows_before
    assert [b["name"] for b in project.json("data", "branch")["branches"]] == ["main"]


def test_data_sql_still_reads(project: TrainProject) -> None:
    assert project.json("data", "sql", "PRAGMA table_info(examples)")["rows"][0][1] == "id"
    assert project.json("data", "sql", "SELECT count(*) FROM dolt_log")["rows"][0][0] >= 2
    assert project.json("data", "sql", "SELECT dolt_hashof('main')")["rows"][0][0] == project.head()


HOSTILE_VALUES = [
    "; touch PWNED #",
    "$(touch PWNED-2)",
    "`touch PWNED-3`",
    "../../escape",
    "a/b",
    "..",
    "-rf",
    "' OR 1=1 --",
    "\x1b[2Jclear",
    "x" * 5000,
    " ",
    "ümlaut/ü",
]


def test_hostile_matrix_values_stay_out_of_shells_and_folders(tmp_path: Path) -> None:
    project = make_project(tmp_path, customers=1)
    rows = [[i, value, f"t{i}", "l0"] for i, value in enumerate(HOSTILE_VALUES)]
    project.import_rows(rows, mode="replace", message="hostile")
    project.set_models(
        model_block(name="c-{customer}", extra="").replace(
            'train = "models/m.py:train"',
            'cmd = "python3 -c \\"import os, json; '
            "open(os.environ['TUSK_METRICS_FILE'], 'w').write(json.dumps({'n': 1}))\\\"\"",
        )
    )
    config = project.root / "tusk.toml"
    config.write_text(config.read_text().replace('builder = "auto"', 'builder = "none"'))
    jobs = project.run()
    assert {j["status"] for j in jobs.values()} == {"succeeded"} and len(jobs) == len(HOSTILE_VALUES)
    assert not list(tmp_path.rglob("PWNED")) and not (Path.cwd() / "PWNED").exists()
    assert all(len(name) <= 200 and "/" not in name and not name.startswith(".") for name in jobs)
    jobs_root = project.root / ".tusk" / "jobs"
    for job in jobs.values():
        log = Path(job["log"]).resolve()
        assert jobs_root.resolve() in log.parents, f"{log} escaped {jobs_root}"
    release = project.json("release", "create")
    context = project.root / ".tusk" / "releases" / release["md5"] / "models"
    assert sorted(p.name for p in context.iterdir()) == sorted([*jobs, "manifest.json"])


@pytest.mark.parametrize(
    "name",
    ["../evil-{customer}", "a/{customer}", "{customer}/..", ".hidden-{customer}", "", "m {customer}", "m-{customer!r}"],
)
def test_a_model_name_that_could_escape_is_refused(tmp_path: Path, name: str) -> None:
    project = make_project(tmp_path, customers=1)
    project.set_models(model_block(name=name))
    result = project.tusk("plan", code=1)
    assert "name" in result.stderr and len(result.stderr.strip().splitlines()) == 1


ESCAPES = "\x1b[2J\x1b[H\x1b]0;owned\x07\x1b[31mred\x1b[0m\x9b2J\r\x08"
ESCAPING_MODEL = f"""
import sys
def train(ctx):
    print({ESCAPES!r} * 3)
    sys.stderr.write({ESCAPES!r})
    raise RuntimeError("bad {{}}".format({ESCAPES!r}) + " [bold]markup[/] [/]")
"""


def test_a_jobs_output_cannot_drive_the_terminal(tmp_path: Path) -> None:
    project = make_project(tmp_path, customers=1, resources="resources = { retries = 0 }")
    (project.root / "models" / "m.py").write_text(ESCAPING_MODEL)
    result = project.tusk("run", code=3)
    shown = result.stderr + result.stdout
    assert "bad" in shown and "[bold]markup[/]" in shown, shown
    assert not any(ch in shown for ch in "\x1b\x07\x9b\r\x08"), repr(shown)
    data = json.loads(project.tusk("run", "--json", code=3).stdout)
    assert "\x1b" in data["jobs"][0]["error"], "--json keeps the text as it is (JSON escapes it)"


def test_no_secret_reaches_logs_registry_or_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-very-secret-token-0123456789"
    monkeypatch.setenv("TUSK_GSHEETS_CREDENTIALS", json.dumps({"type": "service_account", "private_key": secret}))
    monkeypatch.setenv("GITHUB_TOKEN", secret)
    project = make_project(tmp_path, customers=2)
    outputs = [
        project.tusk("run", "--json").stdout,
        project.tusk("status", "--json").stdout,
        project.tusk("release", "create", "--no-build", "--json").stdout,
        project.tusk("plan", "--json").stdout,
    ]
    assert not any(secret in out for out in outputs)
    for path in project.root.rglob("*"):
        if path.is_file() and path.suffix != ".db":
            assert secret.encode() not in path.read_bytes(), path
    db = sqlite3.connect(project.root / ".tusk" / "mlflow.db")
    for table in ("params", "tags", "model_version_tags", "registered_model_tags"):
        values = [str(v) for (v,) in db.execute(f"SELECT value FROM {table}")]
        assert not any(secret in v for v in values), table
    assert os.environ["GITHUB_TOKEN"] == secret


LOG_ESCAPES = (
    "\x1b[2J\x1b[H"  # clear the screen, cursor home
    "\x1b]0;window title\x07"  # OSC 0: the window's title
    "\x1b]8;;https://evil.example/\x1b\\click me\x1b]8;;\x1b\\"  # OSC 8: a hyperlink
    "\x1b]52;c;cm0gLXJmIH4=\x07"  # OSC 52: write the clipboard
    "\x9b31mC1 red\r\x08done"
)
LOGGING_MODEL = f"""
import sys
def train(ctx):
    print({LOG_ESCAPES!r})
    sys.stdout.flush()
    return {{"accuracy": 1.0}}
"""
TERMINAL = "\x1b\x07\x9b\x08\r"


def test_tusk_logs_prints_no_terminal_escapes_unless_raw(tmp_path: Path) -> None:
    """`tusk logs NAME` printed a job log's escapes as they were: screen clear, window title, hyperlink,
    clipboard write."""
    project = make_project(tmp_path, customers=1, resources="resources = { retries = 0 }")
    (project.root / "models" / "m.py").write_text(LOGGING_MODEL)
    project.run()
    shown = project.tusk("logs", "m-c0")
    assert "click me" in shown.stdout and "C1 red" in shown.stdout and "done" in shown.stdout
    assert not any(ch in shown.stdout + shown.stderr for ch in TERMINAL), repr(shown.stdout)
    assert "evil.example" not in shown.stdout and "cm0gLXJmIH4=" not in shown.stdout
    raw = project.tusk("logs", "m-c0", "--raw").stdout  # for a pipe: the log as it was written
    assert "\x1b]0;window title\x07" in raw and "\x1b]52;c;cm0gLXJmIH4=\x07" in raw
    assert "\x1b]52;c;cm0gLXJmIH4=\x07" in project.json("logs", "m-c0")["log"]


CELLS = {
    1: "a\x1b]0;PWNED\x07b",
    2: "[/]",
    3: "[bold red]not markup",
    4: "c\x1b[2Jd\x9b31me",
    5: "\x1b]52;c;cm0gLXJmIH4=\x07f",
}


def test_data_values_cannot_drive_the_terminal(tmp_path: Path) -> None:
    """`data sql` and `data diff` printed ESC from cell values; a cell "[/]" was read as rich markup and
    `data sql` died with a traceback."""
    project = make_project(tmp_path, customers=1)
    lines = [json.dumps({"id": i, "customer": "c0", "text": text, "label": "l0"}) for i, text in CELLS.items()]
    (project.root / "esc.jsonl").write_text("\n".join(lines) + "\n")
    project.tusk(
        "data", "import", str(project.root / "esc.jsonl"), "--table", "examples", "--mode", "upsert", "--branch", "esc"
    )
    sql = project.tusk(
        "data", "sql", "SELECT id, text FROM examples WHERE id BETWEEN 1 AND 5 ORDER BY id", "--at", "esc"
    )
    diff = project.tusk("data", "diff", "main", "esc")
    for shown in (sql, diff):
        text = shown.stdout + shown.stderr
        assert not any(ch in text for ch in TERMINAL), repr(text)
        assert "[/]" in text and "[bold red]not markup" in text and "Traceback" not in text
        assert "ab" in text and "cde" in text
    raw = project.tusk(
        "data", "sql", "SELECT text FROM examples WHERE id BETWEEN 1 AND 5 ORDER BY id", "--at", "esc", "--json"
    ).stdout
    assert not any(ch in raw for ch in TERMINAL), "JSON escapes C0 and C1 controls (\\u001b, \\u009b)"
    assert [r[0] for r in json.loads(raw)["rows"]] == list(CELLS.values())
