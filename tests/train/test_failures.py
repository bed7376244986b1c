"""Failures are first-class: a failed job is a FAILED MLflow run (params, error, job.log, the tags a success would
have had), and the plan, status and --json say ``failed`` with the error's last line until a job of the same
fingerprint succeeds. Real doltlite and MLflow."""

from __future__ import annotations

from pathlib import Path

from train_fixtures import TrainProject, make_project, model_block


def test_a_failed_job_is_a_failed_run_and_shows_failed_until_it_succeeds(tmp_path: Path) -> None:
    project: TrainProject = make_project(
        tmp_path, customers=2, per_customer=4, params={"fail": "c1"}, resources="resources = { retries = 0 }"
    )
    jobs = project.run(code=3)
    assert (jobs["m-c0"]["status"], jobs["m-c1"]["status"]) == ("succeeded", "failed")

    status = {i["name"]: i for i in project.json("status")["instances"]}
    failed = status["m-c1"]
    assert failed["status"] == "failed" and failed["version"] is None
    assert failed["error"].endswith("RuntimeError: boom for c1") and "\n" not in failed["error"]
    assert project.plan()["m-c1"]["status"] == "failed"
    assert "its last job failed" in project.plan()["m-c1"]["reasons"][0]

    client = project.client()
    runs = client.search_runs(
        [client.get_experiment_by_name("tusk").experiment_id], filter_string="attributes.status = 'FAILED'"
    )
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


def test_the_page_of_a_model_whose_only_job_failed_shows_the_failure_and_its_log(tmp_path: Path) -> None:
    from web_client import client

    project: TrainProject = make_project(
        tmp_path, customers=2, per_customer=4, params={"fail": "c1"}, resources="resources = { retries = 0 }"
    )
    project.run(code=3)
    with client(project.root) as web:
        page = web.get("/model?name=m-c1")
        listed = web.get("/models?status=failed")
    assert page.status_code == 200, page.text
    assert "its last job failed" in page.text and "RuntimeError: boom for c1" in page.text
    assert "[tusk] job failed" in page.text  # the log itself
    assert listed.status_code == 200 and "m-c1" in listed.text and "m-c0" not in listed.text
