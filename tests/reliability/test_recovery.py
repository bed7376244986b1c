"""A killed ``tusk run`` is finished or redone by the next command, never duplicated or left half-done.

Each test kills ``tusk run``'s whole process group at an exact moment (a kill point named in
``TUSK_CRASH_AT``, or the instant the registry grows), then runs the next command and checks the
registry: one version per fingerprint, no phantom state, aliases that resolve, a release of everything.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from crash_helpers import (
    dangling_aliases,
    duplicate_fingerprints,
    mlflow_db,
    processes_in,
    registry,
    snipe,
    start,
    tusk,
    tusk_json,
    wait_gone,
)
from train_fixtures import make_project

pytestmark = pytest.mark.slow


def _all_fresh(root: Path) -> list[str]:
    return [i["name"] for i in tusk_json(root, "plan")["instances"] if i["status"] != "fresh"]


def _check_recovered(root: Path, count: int) -> None:
    done = tusk(root, "run", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    assert _all_fresh(root) == []
    db = mlflow_db(root)
    assert duplicate_fingerprints(db) == {}
    assert dangling_aliases(db) == []
    release = tusk_json(root, "release", "create", "--no-build")
    assert len(release["models"]) == count, release
    reg = registry(db)
    for name, version in release["models"].items():
        assert int(version) in reg["versions"][name]


@pytest.mark.parametrize(
    "moment", ["register.model:1", "register.model:3", "register.version:1", "register.version:2", "register.alias:2"]
)
def test_a_run_killed_while_registering_is_finished_by_the_next_run(tmp_path: Path, moment: str) -> None:
    project = make_project(tmp_path, customers=4)
    root = project.root
    killed = tusk(root, "run", crash_at=moment)
    assert killed.returncode == -signal.SIGKILL
    _check_recovered(root, 4)


def test_a_killed_retraining_leaves_no_duplicate_fingerprint(tmp_path: Path) -> None:
    project = make_project(tmp_path, customers=4)
    root = project.root
    assert tusk(root, "run").returncode == 0
    project.import_rows([[i, f"c{i % 4}", f"changed {i}", "l0"] for i in range(40)], message="all change")
    killed = tusk(root, "run", crash_at="register.version:2")
    assert killed.returncode == -signal.SIGKILL
    assert len(_all_fresh(root)) == 2, "the two registered before the kill are fresh"
    _check_recovered(root, 4)


def test_a_run_killed_the_instant_a_version_row_appears(tmp_path: Path) -> None:
    """The found failure, as found: watch the registry, kill the group the moment it grows."""
    project = make_project(tmp_path, customers=6)
    root = project.root
    for round_ in range(3):
        project.import_rows([[i, f"c{i % 6}", f"r{round_} {i}", "l0"] for i in range(60)], message=f"r{round_}")
        proc = start(root, "run")
        snipe(proc, mlflow_db(root), grow_by=round_ + 1)
    assert wait_gone(root) == []
    _check_recovered(root, 6)


CMD_MODEL = """
[[models]]
name = "c-{customer}"
cmd = "sleep 30 | cat"
matrix.customer = "SELECT DISTINCT customer FROM examples ORDER BY customer"
inputs.examples = "SELECT id FROM examples WHERE customer = :customer"
"""


@pytest.mark.parametrize("how,kind", [(signal.SIGKILL, "train"), (signal.SIGTERM, "train"), (signal.SIGKILL, "cmd")])
def test_no_worker_outlives_its_run(tmp_path: Path, how: int, kind: str) -> None:
    project = make_project(tmp_path, customers=4, params={"sleep": 30})
    root = project.root
    if kind == "cmd":
        project.set_models(CMD_MODEL)
    proc = start(root, "run", "--workers", "2")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list((root / ".tusk" / "jobs").glob("*/*/job.log"))) < 2:
        time.sleep(0.05)
    time.sleep(0.5)
    assert len(processes_in(root)) >= 3, "tusk and its two workers run"
    os.killpg(proc.pid, how)
    proc.wait(300)
    assert wait_gone(root) == [], "a worker (or its job) outlived the run"
