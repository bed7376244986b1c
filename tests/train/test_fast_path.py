"""The fast paths of ``tusk run``: with nothing to do it loads no MLflow (it costs what a plan costs); with
something to do, MLflow is started and written by the recorder process (``tusk.tracking.recorder``) while the jobs
train."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from train_fixtures import make_project, rows, trained_project
from tusk._internal.sqlite import child_env

PROBE = """
import json, sys
from tusk.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "mlflow": sorted(m for m in ("mlflow", "sqlalchemy", "pandas") if m in sys.modules)}),
      file=sys.stderr)
"""


def _probe(root: Path, *args: str) -> tuple[dict, dict]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "-C", str(root), *args, "--json"],
        capture_output=True,
        text=True,
        env=child_env({"MLFLOW_DISABLE_TELEMETRY": "true"}),
        timeout=300,
    )
    assert done.stdout.strip(), done.stderr[-2000:]
    return json.loads(done.stdout), json.loads(done.stderr.strip().splitlines()[-1])


def test_a_run_with_nothing_to_do_loads_no_mlflow(tmp_path: Path) -> None:
    project = trained_project(tmp_path, customers=3)
    report, seen = _probe(project.root, "run")
    assert seen == {"code": 0, "mlflow": []}, "nothing to train, nothing to record: no MLflow, no pandas"
    assert report["jobs"] == [] and report["fresh"] == 3
    data = rows(3)
    data[1][3] = "changed"
    project.import_rows(data)
    report, seen = _probe(project.root, "run")
    assert [(j["name"], j["version"]) for j in report["jobs"]] == [("m-c1", "2")]
    assert seen["mlflow"] == ["pandas"], "MLflow is started by the recorder process, never by the run itself"


def test_recording_overlaps_with_training(tmp_path: Path) -> None:
    """One worker, three jobs: the second job starts before the first is registered (the recorder registers it
    meanwhile; it even starts MLflow meanwhile), and every job is registered when the run ends."""
    project = make_project(
        tmp_path, customers=3, executor="local://?workers=1", params={"marks": str(tmp_path / "marks")}
    )
    jobs = project.run()
    assert {name: j["version"] for name, j in jobs.items()} == {"m-c0": "1", "m-c1": "1", "m-c2": "1"}
    started = {c: float((tmp_path / "marks" / f"{c}.start").read_text()) for c in ("c0", "c1", "c2")}
    client = project.client()
    registered = {c: client.get_model_version(f"m-{c}", "1").creation_timestamp / 1000 for c in ("c0", "c1", "c2")}
    order = sorted(started, key=started.get)  # type: ignore[arg-type]
    first, second = order[0], order[1]
    assert started[second] < registered[first], "the next job waited for the registration of the one before"


def test_a_recorder_that_dies_stops_the_run_in_one_line_and_nothing_is_trained_twice(tmp_path: Path) -> None:
    """The recorder killed right after it created the second version (before its alias): the run says so in one
    line (exit 1); the next run finishes that registration and trains only what was never registered."""
    project = make_project(tmp_path, customers=3, executor="local://?workers=1")
    tusk = str(Path(sys.executable).with_name("tusk"))
    env = child_env({"TUSK_CRASH_AT": "register.version:2", "MLFLOW_DISABLE_TELEMETRY": "true"})
    # under a shell that leads the group: tusk does not, so the crash point kills only the recorder
    done = subprocess.run(
        ["setsid", "sh", "-c", '"$0" -C "$1" run --json; exit $?', tusk, str(project.root)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: the recorder stopped") and "trains again" in line
    again = project.run()
    client = project.client()
    versions = {
        c: [str(v.version) for v in client.search_model_versions(f"name = 'm-{c}'")] for c in ("c0", "c1", "c2")
    }
    assert versions == {"c0": ["1"], "c1": ["1"], "c2": ["1"]}, versions
    assert sorted(again) == ["m-c2"], "the registered jobs are not trained again"
    assert {c: str(client.get_registered_model(f"m-{c}").aliases.get("production")) for c in ("c0", "c1", "c2")} == {
        "c0": "1",
        "c1": "1",
        "c2": "1",
    }


def test_the_store_commits_to_a_write_ahead_log_and_a_kill_loses_nothing_committed(tmp_path: Path) -> None:
    """The local store runs in WAL mode (commits without a rollback journal synced per commit). tusk's whole group
    killed (-9) in the recorder after the 2nd version of the run got its alias: both are in the store for a plain
    reader (no checkpoint ran), and the next run trains nothing again."""
    project = make_project(tmp_path, customers=3, executor="local://?workers=1")
    db = project.root / ".tusk" / "mlflow.db"
    journal = [
        "/usr/bin/python3",
        "-c",
        "import sqlite3,sys; c = sqlite3.connect(sys.argv[1]);"
        "print(c.execute('pragma journal_mode').fetchone()[0],"
        " c.execute('select count(*) from model_versions').fetchone()[0])",
        str(db),
    ]
    tusk = str(Path(sys.executable).with_name("tusk"))
    env = child_env({"MLFLOW_DISABLE_TELEMETRY": "true"})
    subprocess.run([tusk, "-C", str(project.root), "run", "--only", "m-c0"], check=True, env=env, timeout=300)
    assert subprocess.run(journal, capture_output=True, text=True).stdout.split() == ["wal", "1"]
    wal = db.with_name("mlflow.db-wal")
    assert not wal.exists() or wal.stat().st_size == 0, "the recorder leaves the log copied back, for the readers"
    env["TUSK_CRASH_AT"] = "register.alias:2"
    done = subprocess.run(
        ["setsid", tusk, "-C", str(project.root), "run", "--json"], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == -9, done.stderr
    assert subprocess.run(journal, capture_output=True, text=True).stdout.split() == ["wal", "3"]
    assert project.run() == {}, "every job was registered whole before the kill: nothing trains again"
    status = {i["name"]: (i["version"], i["status"]) for i in project.json("status")["instances"]}
    assert status == {"m-c0": ("1", "fresh"), "m-c1": ("1", "fresh"), "m-c2": ("1", "fresh")}
