"""Job logs where people look: an artifact of each version's MLflow run, `tusk logs NAME[@VERSION] [-f]`,
no second model copy in the job folder, and job folders pruned by count and age."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from train_fixtures import make_project, model_block, trained_project
from tusk.train import logs


def test_logs_of_the_current_version_and_of_each_version(tmp_path: Path) -> None:
    project = trained_project(tmp_path, customers=2)
    project.import_rows([[1, "c1", "one more", "l0"], [99, "c1", "another", "l1"]], message="c1 grows")
    project.run()
    shutil.rmtree(project.root / ".tusk" / "jobs")  # what a fresh checkout has: only the registry
    current = project.tusk("logs", "m-c1")
    assert "training m-c1 on 11 rows" in current.stdout and "[tusk] job succeeded" in current.stdout
    first = project.json("logs", "m-c1@1")
    assert first["version"] == "1" and first["source"] == "run" and "on 10 rows" in first["log"]
    assert "on 10 rows" in project.tusk("logs", "m-c1@v1").stdout
    client = project.client()
    run_id = client.get_model_version("m-c1", "2").run_id
    assert "job.log" in {a.path for a in client.list_artifacts(run_id)}, "the log is an artifact of the run"


def test_a_failure_after_the_last_success_is_what_logs_shows(tmp_path: Path) -> None:
    project = trained_project(tmp_path, customers=1)
    project.set_models(model_block(params={"C": 2.0, "fail": "c0"}))
    project.run(code=3)
    shown = project.json("logs", "m-c0")
    assert shown["source"] == "job folder" and shown["version"] is None
    assert "boom for c0" in shown["log"] and "[tusk] job failed" in shown["log"]
    assert "boom" not in project.json("logs", "m-c0@1")["log"], "the version's own log is unchanged"


def test_logs_of_what_does_not_exist_is_one_line(tmp_path: Path) -> None:
    project = trained_project(tmp_path, customers=1)
    for target, message in [("nope", "no log for 'nope'"), ("m-c0@7", "no version 7"), ("m-c0@x", "no version x")]:
        result = project.tusk("logs", target, code=1)
        assert message in result.output and len(result.output.strip().splitlines()) == 1, result.output


def test_the_job_folder_keeps_the_log_but_not_a_second_model(tmp_path: Path) -> None:
    project = make_project(tmp_path, customers=2, params={"fail": "c1"})
    jobs = project.run(code=3)
    ok, failed = Path(jobs["m-c0"]["log"]).parent, Path(jobs["m-c1"]["log"]).parent
    assert (ok / "job.log").is_file() and not (ok / "model").exists()
    assert (failed / "job.log").is_file(), "a failed job keeps its folder for inspection"
    client = project.client()
    version = client.get_model_version("m-c0", "1")
    assert "model/model.json" in {a.path for a in client.list_artifacts(version.run_id, "model")}


@pytest.mark.slow
def test_follow_prints_a_running_job_until_it_ends(tmp_path: Path) -> None:
    project = make_project(tmp_path, customers=1, params={"sleep": 4})
    env = {k: v for k, v in os.environ.items() if k != "_DOLTLITE_BOOTSTRAPPED"}
    tusk = [str(Path(sys.executable).parent / "tusk"), "-C", str(project.root)]
    run = subprocess.Popen(
        [*tusk, "run"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 300  # the job's log appears once the run has planned
        while time.monotonic() < deadline:
            found = logs.newest_job_log(project.root / ".tusk" / "jobs", "m-c0")
            if found and "attempt 1 started" in found.path.read_text():
                break
            time.sleep(0.1)
        follow = subprocess.run([*tusk, "logs", "m-c0", "-f"], capture_output=True, text=True, env=env, timeout=120)
        assert follow.returncode == 0, follow.stderr
        assert "running job" in follow.stderr, "it followed the live job"
        assert "training m-c0 on 10 rows" in follow.stdout, "what the job printed after -f started"
        assert follow.stdout.rstrip().splitlines()[-1].startswith("[tusk] job succeeded")
    finally:
        run.wait(300)


def _run_folder(root: Path, stamp: str, pid: int, age_days: float, done: bool = True) -> Path:
    folder = root / f"{stamp}-{pid}"
    (folder / "m-c0").mkdir(parents=True)
    (folder / "m-c0" / "job.log").write_text("x\n")
    if done:
        (folder / logs.DONE).touch()
    then = time.time() - age_days * 86400
    os.utime(folder, (then, then))
    return folder


def test_prune_by_count_and_age_never_a_running_run(tmp_path: Path) -> None:
    dead = 2**22 + 7  # above Linux's default pid_max: no such process
    old = [_run_folder(tmp_path, f"2020010{i}-000000", dead, 40 - i) for i in range(1, 5)]
    live = _run_folder(tmp_path, "20200101-000001", os.getpid(), 50, done=False)  # this process: still running
    recent = [_run_folder(tmp_path, f"2030010{i}-000000", dead, 0.1) for i in range(1, 4)]
    removed = logs.prune(tmp_path, keep=5, max_age=30 * 86400)
    assert set(removed) == set(old)
    assert live.exists() and all(r.exists() for r in recent)
    assert logs.prune(tmp_path, keep=1, max_age=None) == recent[:2]
    assert [p.name for p in logs.run_folders(tmp_path)] == [live.name, recent[2].name]


def test_a_run_prunes_job_folders_as_tusk_toml_says(tmp_path: Path) -> None:
    project = make_project(tmp_path, customers=1)
    jobs_root = project.root / ".tusk" / "jobs"
    dead = 2**22 + 7
    stale = [_run_folder(jobs_root, f"2020010{i}-000000", dead, 1) for i in range(1, 4)]
    config = (project.root / "tusk.toml").read_text()
    (project.root / "tusk.toml").write_text(
        config.replace("[release]", '[jobs]\nkeep = 2\nmax_age = "7d"\n\n[release]')
    )
    jobs = project.run()
    kept = logs.run_folders(jobs_root)
    assert [p.name for p in kept] == [stale[2].name, Path(jobs["m-c0"]["log"]).parent.parent.name]


@pytest.mark.parametrize(
    "setting, message", [("keep = -1", "jobs.keep"), ('max_age = "soon"', "jobs.max_age"), ("kept = 3", "unknown key")]
)
def test_bad_job_settings_are_refused(tmp_path: Path, setting: str, message: str) -> None:
    project = make_project(tmp_path, customers=1)
    config = (project.root / "tusk.toml").read_text()
    (project.root / "tusk.toml").write_text(config.replace("[release]", f"[jobs]\n{setting}\n\n[release]"))
    result = project.tusk("run", code=1)
    assert message in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert not (project.root / ".tusk" / "jobs").exists(), "nothing ran"
