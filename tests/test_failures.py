"""Failures are first-class: a failed job is a FAILED MLflow run (params, error, job.log, the tags a success would
have had), and the plan, status and --json say ``failed`` with the error's last line until a job of the same
fingerprint succeeds. Real doltlite and MLflow."""

from __future__ import annotations

from pathlib import Path

from train_fixtures import TrainProject, make_project, model_block


def test_a_failed_job_is_a_failed_run_and_shows_failed_until_it_succeeds(tmp_path: Path) -> None:
    project: TrainProject = make_project(tmp_path, customers=2, per_customer=4, params={"fail": "c1"},
                                         resources="resources = { retries = 0 }")
    jobs = project.run(code=3)
    assert (jobs["m-c0"]["status"], jobs["m-c1"]["status"]) == ("succeeded", "failed")

    status = {i["name"]: i for i in project.json("status")["instances"]}
    failed = status["m-c1"]
    assert failed["status"] == "failed" and failed["version"] is None
    assert failed["error"].endswith("RuntimeError: boom for c1") and "\n" not in failed["error"]
    assert project.plan()["m-c1"]["status"] == "failed"
    assert "its last job failed" in project.plan()["m-c1"]["reasons"][0]

    client = project.client()
    runs = client.search_runs([client.get_experiment_by_name("tusk").experiment_id],
                              filter_string="attributes.status = 'FAILED'")
    assert len(runs) == 1
    run = runs[0]
    assert run.data.tags["tusk.instance"] == "m-c1" and run.data.params["fail"] == "c1"
    assert run.data.tags["tusk.data_commit"] == project.head() and run.data.tags["tusk.fingerprint"]
    assert "boom for c1" in run.data.tags["tusk.error"]
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["job.log"]

    import shutil
    shutil.rmtree(project.root / ".tusk" / "jobs")  # another machine: the log comes from the tracker
    assert "boom for c1" in project.json("logs", "m-c1")["log"]

    project.set_models(model_block(params={"fail": "nobody"}, resources="resources = { retries = 0 }"))
    status = {i["name"]: i["status"] for i in project.json("status")["instances"]}
    assert status["m-c1"] == "new"  # another fingerprint: its failure is not this one's
    assert project.run()["m-c1"]["status"] == "succeeded"
    assert {i["status"] for i in project.json("status")["instances"]} == {"fresh"}
