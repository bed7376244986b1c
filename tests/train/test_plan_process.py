"""A plan's process after a run: the first plan after a change parses no SQL (the run left what its queries parse
to), and a one-shot read command leaves Python's garbage collector off in its own process only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from train_fixtures import make_project, rows
from tusk._internal.sqlite import child_env

IMPORTS = """
import sys
from tusk.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(sorted(m for m in ("sqlglot",) if m in sys.modules), file=sys.stderr)
"""


def test_the_first_plan_after_a_first_run_parses_no_sql(tmp_path: Path) -> None:
    """A first run plans every instance as new (nothing is asked of its queries), yet it leaves behind what its
    queries parse to: the first plan after the next change, in a fresh process, imports no sqlglot."""
    project = make_project(tmp_path, customers=3)
    project.run()
    data = rows(3)
    data[1][3] = "changed"
    project.import_rows(data)
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS, "-C", str(project.root), "plan", "--json"],
        capture_output=True,
        text=True,
        env=child_env({"MLFLOW_DISABLE_TELEMETRY": "true"}),
        timeout=300,
    )
    plan = json.loads(done.stdout)
    assert [(i["name"], i["status"]) for i in plan["instances"] if i["status"] != "fresh"] == [("m-c1", "stale")]
    assert done.stderr.strip().splitlines()[-1] == "[]", "the first plan after a run parsed a query"


def test_a_one_shot_read_leaves_the_collector_off_only_in_the_command_process(tmp_path: Path) -> None:
    """``tusk plan`` as a command ends after its answer: nothing it built is collected. Called in a process
    that goes on (here, this test's), the collector stays on."""
    import gc

    project = make_project(tmp_path, customers=2)
    probe = (
        "import gc, sys\nfrom tusk.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n"
        "    pass\nprint(gc.isenabled(), file=sys.stderr)\n"
    )
    for command in ("plan", "status"):
        done = subprocess.run(
            [sys.executable, "-c", probe, "-C", str(project.root), command, "--json"],
            capture_output=True,
            text=True,
            env=child_env({"MLFLOW_DISABLE_TELEMETRY": "true"}),
            timeout=300,
        )
        assert json.loads(done.stdout) and done.stderr.strip().splitlines()[-1] == "False", done.stderr
    assert gc.isenabled()
    project.plan()
    project.json("status")
    assert gc.isenabled(), "a library user's (or a test's) collector is left on"
