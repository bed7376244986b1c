"""``tusk run`` on real stores: tracking, failures, timeouts, retries, shards, Ctrl-C, cmd models."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from train_fixtures import make_project, model_block, trained_project


def test_run_records_runs_versions_tags_and_aliases(tmp_path: Path) -> None:
    project = make_project(tmp_path, customers=3)
    jobs = project.run()
    assert {n: (j["status"], j["version"]) for n, j in jobs.items()} == {
        "m-c0": ("succeeded", "1"),
        "m-c1": ("succeeded", "1"),
        "m-c2": ("succeeded", "1"),
    }
    head = project.head()
    client = project.client()
    version = client.get_model_version_by_alias("m-c1", "production")
    tags = version.tags
    assert tags["tusk.data_commit"] == head
    assert tags["tusk.inputs.examples.rows"] == "10"
    assert len(tags["tusk.inputs.examples.digest"]) == 64 and len(tags["tusk.fingerprint"]) == 64
    assert tags["tusk.code_dirty"] == "true"  # the project is not a git repository
    run = client.get_run(version.run_id)
    assert run.data.metrics == {"accuracy": 0.9, "rows": 10.0}
    assert run.data.params["C"] == "1.0" and run.data.params["customer"] == "c1"
    assert run.data.tags["tusk.fingerprint"] == tags["tusk.fingerprint"]
    assert run.info.run_name == run.data.tags["mlflow.runName"] == "m-c1" and run.info.status == "FINISHED"
    artifacts = {a.path for a in client.list_artifacts(version.run_id)}
    assert {"model", "job.log"} <= artifacts
    assert "training m-c1 on 10 rows" in (Path(jobs["m-c1"]["log"])).read_text()
    status = {i["name"]: i for i in project.json("status")["instances"]}
    assert status["m-c1"] == {
        **status["m-c1"],
        "version": "1",
        "fingerprint": tags["tusk.fingerprint"],
        "data_commit": head,
        "status": "fresh",
    }


def test_a_plain_mlflow_process_reads_the_store(tmp_path: Path) -> None:
    project = trained_project(tmp_path, customers=2)
    db = project.root / ".tusk" / "mlflow.db"
    script = (
        "import sys, mlflow; c = mlflow.MlflowClient(sys.argv[1], sys.argv[1]);"
        "print(sorted(m.name for m in c.search_registered_models()),"
        " len(c.search_runs([c.get_experiment_by_name('tusk').experiment_id])))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, f"sqlite:///{db}"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "_DOLTLITE_BOOTSTRAPPED"},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['m-c0', 'm-c1'] 2"
    plain = subprocess.run(
        [
            "/usr/bin/python3",
            "-c",
            "import sqlite3,sys; print(sqlite3.connect(sys.argv[1])"
            ".execute('select count(*) from registered_models').fetchone()[0])",
            str(db),
        ],
        capture_output=True,
        text=True,
    )
    assert plain.stdout.strip() == "2", plain.stderr


def test_failures_are_isolated_and_register_nothing(tmp_path: Path) -> None:
    project = make_project(
        tmp_path, customers=3, params={"fail": "c1", "exit": "c2"}, resources="resources = { retries = 0 }"
    )
    result = project.tusk("run", "--json", code=3)
    jobs = {j["name"]: j for j in json.loads(result.stdout)["jobs"]}
    assert {n: j["status"] for n, j in jobs.items()} == {"m-c0": "succeeded", "m-c1": "failed", "m-c2": "failed"}
    assert "boom for c1" in jobs["m-c1"]["error"]
    assert "3" in jobs["m-c2"]["error"]  # the worker's exit code
    client = project.client()
    assert {m.name for m in client.search_registered_models()} == {"m-c0"}
    assert "boom for c1" in Path(jobs["m-c1"]["log"]).read_text()
    assert {n for n, i in project.plan().items() if i["status"] != "fresh"} == {"m-c1", "m-c2"}


def test_timeout_and_retries(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    project = make_project(
        tmp_path, customers=2, params={"flaky": "c0", "marks": str(marks)}, resources="resources = { retries = 1 }"
    )
    jobs = project.run()
    assert jobs["m-c0"]["status"] == "succeeded" and (marks / "c0.tried").exists()
    ends = tmp_path / "ends"
    project.set_models(
        model_block(params={"sleep": 120, "C": 2.0, "marks": str(ends)}, resources='resources = { timeout = "2s" }')
    )
    result = project.tusk("run", "--json", code=3)
    jobs = {j["name"]: j for j in json.loads(result.stdout)["jobs"]}
    assert {j["status"] for j in jobs.values()} == {"failed"}
    assert "timed out" in jobs["m-c0"]["error"]
    assert sorted(p.name for p in ends.iterdir()) == ["c0.start", "c1.start"], "stopped in their sleep, not at its end"


def test_jobs_run_in_parallel(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    project = make_project(tmp_path, customers=2, params={"meet": 2, "marks": str(marks)})
    project.run("--workers", "2")
    assert [(marks / f"c{i}.met").read_text() for i in range(2)] == ["2", "2"], (
        "each job saw the other started (one after the other, the first would wait alone)"
    )


def test_shards_and_only(tmp_path: Path) -> None:
    project = make_project(tmp_path, customers=6)
    seen: list[str] = []
    for shard in ("1/3", "2/3", "3/3"):
        seen += project.run("--shard", shard)
    assert sorted(seen) == [f"m-c{i}" for i in range(6)]
    assert project.run("--only", "m-c1", "--force").keys() == {"m-c1"}
    result = project.tusk("run", "--shard", "4/3", code=1)
    assert "--shard" in result.output


def test_cmd_models_get_inputs_params_and_report_metrics(tmp_path: Path) -> None:
    project = make_project(tmp_path, customers=2)
    script = (
        'import json, os, pathlib; p = json.loads(os.environ["TUSK_PARAMS_JSON"]);'
        'n = len(pathlib.Path(os.environ["TUSK_INPUTS_DIR"], "examples.csv").read_text().splitlines()) - 1;'
        'pathlib.Path(os.environ["TUSK_OUTPUT_DIR"], "m.txt").write_text(p["customer"]);'
        'pathlib.Path(os.environ["TUSK_METRICS_FILE"]).write_text(json.dumps({"rows": n}))'
    )
    (project.root / "models" / "cmd.py").write_text(script)
    project.set_models(
        '\n[[models]]\nname = "k-{customer}"\ncmd = "python3 models/cmd.py"\n'
        'code = ["models/cmd.py"]\n'
        'matrix.customer = "SELECT DISTINCT customer FROM examples"\n'
        'inputs.examples = "SELECT * FROM examples WHERE customer = :customer"\n'
    )
    jobs = project.run()
    assert {j["status"] for j in jobs.values()} == {"succeeded"}
    assert jobs["k-c0"]["metrics"] == {"rows": 10.0}


def test_promote_if_gates_production_and_manual_rollback_sticks(tmp_path: Path) -> None:
    project = trained_project(tmp_path, customers=1, extra='promote_if = "accuracy >= 0.8"')
    project.set_models(model_block(params={"accuracy": 0.5}, extra='promote_if = "accuracy >= 0.8"'))
    jobs = project.run()
    assert jobs["m-c0"]["version"] == "2"
    client = project.client()
    assert str(client.get_model_version_by_alias("m-c0", "production").version) == "1", "0.5 < 0.8: not promoted"
    project.set_models(model_block(params={"accuracy": 0.95}, extra='promote_if = "accuracy >= 0.8"'))
    project.run()
    assert str(client.get_model_version_by_alias("m-c0", "production").version) == "3"
    rolled = project.json("models", "rollback", "m-c0")
    assert rolled == {"name": "m-c0", "from": "3", "production": "1", "moved": True}
    assert all(i["status"] == "fresh" for i in project.plan().values()), "a rollback by hand stays rolled back"
    result = project.tusk("models", "rollback", "m-c0", "--to", "99", code=1)
    assert result.output.startswith("error:")


def test_ctrl_c_cancels_cleanly(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    project = make_project(tmp_path, customers=4, params={"sleep": 300, "marks": str(marks)})
    env = {k: v for k, v in os.environ.items() if k != "_DOLTLITE_BOOTSTRAPPED"}
    tusk = Path(sys.executable).with_name("tusk")
    proc = subprocess.Popen(
        [str(tusk), "-C", str(project.root), "run", "--json", "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 300  # until both workers train (not a fixed sleep: a loaded machine is slow)
    while len(list(marks.glob("*.start"))) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    jobs = json.loads(out)["jobs"]
    assert jobs and {j["status"] for j in jobs} == {"cancelled"}
    assert project.client().search_registered_models() == []
    children = subprocess.run(["pgrep", "-f", str(project.root)], capture_output=True, text=True).stdout.split()
    assert children == [], "no worker outlives the run"


def test_a_run_is_cancelled_from_another_thread_with_a_handle(tmp_path: Path) -> None:
    """What the web face does: Project.run in a thread, progress as events, a RunCancel from another thread. The
    running jobs are killed, nothing is registered for them, the report says interrupted; a run handed a handle
    that is already cancelled trains nothing."""
    import threading

    from tusk import Project, RunCancel

    marks = tmp_path / "marks"
    project = make_project(tmp_path, customers=3, params={"sleep": 60, "marks": str(marks)})
    cancel, started, events, outcomes, done = RunCancel(), [], [], [], {}
    with Project.open(project.root) as opened:

        def train() -> None:
            done["report"] = opened.run(
                workers=2,
                cancel=cancel,
                on_start=lambda plan, count: started.append(count),
                on_event=events.append,
                on_outcome=outcomes.append,
            )

        thread = threading.Thread(target=train)
        thread.start()
        deadline = time.monotonic() + 300  # until two jobs are in their train function
        while time.monotonic() < deadline:
            if len(list(marks.glob("*.start"))) >= 2 or not thread.is_alive():
                break
            time.sleep(0.1)
        cancel.cancel()
        thread.join(300)
        assert not thread.is_alive(), "the run returned"
        report = done["report"]
        assert report.interrupted and report.jobs and {j.status for j in report.jobs} == {"cancelled"}
        assert started == [3] and [o.name for o in outcomes] == [j.name for j in report.jobs]
        assert "started" in {e.kind for e in events}
        assert not list(marks.glob("*.end")), "no job ran to its end"
        again = opened.run(cancel=cancel)
        assert again.interrupted and again.jobs == []
    assert project.client().search_registered_models() == []
