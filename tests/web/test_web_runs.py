"""The run page before the run's own first job has finished: its ETA comes from what the same jobs took last time."""

from __future__ import annotations

import re
from pathlib import Path

from train_fixtures import rows, trained_project
from web_client import client, csrf, wait


def test_a_runs_eta_comes_from_its_jobs_last_time_before_the_first_finishes(tmp_path: Path) -> None:
    project = trained_project(tmp_path, customers=2, params={"C": 1.0, "sleep": 4})
    data = rows(2)
    for row in data:
        row[3] = "relabelled"
    project.import_rows(data, message="relabel everything")
    with client(project.root) as web:
        page = web.get("/runs").text
        answer = web.post("/runs/start", data={"csrf": csrf(page), "at": "", "only": ""})
        ident = re.search(r"Run <code>([^<]+)</code>", answer.text).group(1)  # type: ignore[union-attr]
        running = wait(
            lambda: (lambda s: s if any(j["status"] == "running" for j in s["jobs"]) else None)(
                web.get(f"/run/status?id={ident}").json()
            ),
            timeout=120,
        )
        assert running["eta"] is not None and 0 < running["eta"] < 60, running
        assert "after the first job" not in web.get(f"/run?id={ident}").text or running["done"]
        final = wait(
            lambda: (lambda s: s if s["status"] not in ("starting", "running") else None)(
                web.get(f"/run/status?id={ident}").json()
            ),
            timeout=180,
        )
    assert final["status"] == "succeeded" and final["eta"] is None, final
