"""The fast paths of ``tusk run``: with nothing to do it loads no MLflow (it costs what a plan costs); with
something to do MLflow starts once the first job is under way, overlapping with it, not before it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from train_fixtures import make_project, rows

from tusk._sqlite import child_env

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
    done = subprocess.run([sys.executable, "-c", PROBE, "-C", str(root), *args, "--json"], capture_output=True,
                          text=True, env=child_env({"MLFLOW_DISABLE_TELEMETRY": "true"}), timeout=300)
    assert done.stdout.strip(), done.stderr[-2000:]
    return json.loads(done.stdout), json.loads(done.stderr.strip().splitlines()[-1])


def test_a_run_with_nothing_to_do_loads_no_mlflow(tmp_path: Path) -> None:
    project = make_project(tmp_path, customers=3)
    project.run()
    report, seen = _probe(project.root, "run")
    assert seen == {"code": 0, "mlflow": []}, "nothing to train, nothing to record: no MLflow, no pandas"
    assert report["jobs"] == [] and report["fresh"] == 3
    data = rows(3)
    data[1][3] = "changed"
    project.import_rows(data)
    report, seen = _probe(project.root, "run")
    assert [j["name"] for j in report["jobs"]] == ["m-c1"] and seen["mlflow"] == ["mlflow", "pandas", "sqlalchemy"]


def test_mlflow_starts_while_the_first_job_trains(tmp_path: Path) -> None:
    from tusk import Project

    project = make_project(tmp_path, customers=2, executor="local://?workers=1")
    order: list[str] = []
    with Project.open(project.root) as opened:
        tracker = opened.tracker
        ready = tracker.ensure_ready
        tracker.ensure_ready = lambda: (order.append("tracker ready"), ready())[1]  # type: ignore[method-assign]
        report = opened.run(on_event=lambda event: order.append(f"{event.kind} {event.job}"))
    assert [j.status for j in report.jobs] == ["succeeded", "succeeded"]
    assert order[:2] == ["started m-c0", "tracker ready"], order
    assert order.count("tracker ready") >= 1 and order.index("tracker ready") < order.index("finished m-c0")
