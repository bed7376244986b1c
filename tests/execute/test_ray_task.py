"""What a Ray task does on its node (``tusk.execute.ray.run_task``), without a cluster: a plain Python process
stands for Ray's worker. Killing that worker is what Ray's forced cancel does; the job's whole process group
must go with it, children included."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tusk._internal.process import process_alive
from tusk._internal.sqlite import child_env
from tusk.execute.base import log_limit_error
from tusk.testing.executor import gone

TESTS = Path(__file__).parents[1]

WORKER = """
import os, sys
from tusk.execute.ray import run_task
held = [os.open(os.devnull, os.O_RDONLY) for _ in range(int(sys.argv[4]))]  # a long-lived worker's descriptors
max_log = float(sys.argv[5]) or None
print(run_task("tusk.testing.jobs:" + sys.argv[1], eval(sys.argv[2]), sys.argv[3], 1, None, gpu_ids=[], max_log=max_log,
               cancel_file=sys.argv[3] + ".cancel"), flush=True)
"""


def _worker(tmp_path: Path, function: str, payload: object, held: int = 0, max_log: float = 0) -> subprocess.Popen[str]:
    env = child_env({"PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])})
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, function, repr(payload), str(tmp_path / "job.log"), str(held), str(max_log)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_a_killed_worker_takes_the_job_and_its_children_with_it(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    worker = _worker(tmp_path, "spawn_and_sleep", {"pidfile": str(pidfile)})
    try:
        deadline = time.monotonic() + 300
        while not pidfile.exists() and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.05)
        pids = [int(p) for p in pidfile.read_text().split()]  # the job's process, then its `sleep 300`
        assert all(process_alive(p) for p in pids)
        worker.kill()  # Ray's forced cancel: SIGKILL to the worker, nothing else is told
        worker.wait(timeout=60)
        assert gone(pids), "the job and its child outlive Ray's worker"
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def test_a_worker_holding_descriptors_past_1024_runs_its_job(tmp_path: Path) -> None:
    worker = _worker(tmp_path, "echo", {"a": 1}, held=1100)
    out, _ = worker.communicate(timeout=300)
    assert worker.returncode == 0
    assert out.strip() == repr(("ok", {"a": 1}, ""))
    assert "[tusk] attempt 1 succeeded" in (tmp_path / "job.log").read_text()


def test_the_task_stops_a_job_whose_log_passed_its_limit_without_waiting_for_a_cancel(tmp_path: Path) -> None:
    """Ray's cancel can take seconds to reach a task on a loaded machine, while a flooding job writes ~100 MB a
    second: the task itself stops the job once its log passes the limit, and says why as tusk's scheduler does."""
    worker = _worker(tmp_path, "flood", None, max_log=2e6)
    out, _ = worker.communicate(timeout=300)
    assert worker.returncode == 0
    assert out.strip() == repr(("lost", None, log_limit_error(2e6)))
    assert (tmp_path / "job.log").stat().st_size < 50e6, "stopped soon after"


def test_the_task_stops_its_job_once_its_cancel_file_appears(tmp_path: Path) -> None:
    """Ray's cancel was seen not to reach a task in full suites: tusk also writes the task's cancel file, which the
    task looks for on its node; the job and its children go, whatever Ray does."""
    pidfile = tmp_path / "pids"
    worker = _worker(tmp_path, "spawn_and_sleep", {"pidfile": str(pidfile)})
    try:
        deadline = time.monotonic() + 300
        while not pidfile.exists() and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.05)
        pids = [int(p) for p in pidfile.read_text().split()]
        (tmp_path / "job.log.cancel").touch()
        out, _ = worker.communicate(timeout=300)
        assert out.strip() == repr(("lost", None, "cancelled"))
        assert gone(pids), "the job or its child outlives its cancel"
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
