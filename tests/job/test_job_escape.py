"""Issue 23: a job is a unit the run owns whole. Whatever it starts (a child in its group, one in a new session, a
double-forked daemon) ends when the job ends, however it ends: it returns, times out, is cancelled; on a local worker
and in a Ray task (a plain process stands for Ray's worker, as in test_ray_task.py).

Each test kills what the job started in its ``finally``, whatever happened, and waits a bounded time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tusk._internal.process import process_alive
from tusk._internal.sqlite import child_env
from tusk.execute.base import Job
from tusk.execute.local import LocalExecutor
from tusk.testing.executor import gone

TESTS = Path(__file__).parents[1]


def _pids(pidfile: Path, wait: float = 60) -> list[int]:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        text = pidfile.read_text() if pidfile.exists() else ""
        if len(text.split()) == 3:
            return [int(p) for p in text.split()]
        time.sleep(0.05)
    raise AssertionError("the job did not start its processes")


@pytest.fixture
def pidfile(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "pids"
    try:
        yield path
    finally:  # whatever the test found: nothing it made lives on
        for pid in path.read_text().split() if path.exists() else []:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass


def _job(tmp_path: Path, pidfile: Path, sleep: float = 0, timeout: float | None = None) -> Job:
    return Job(
        "escape",
        "jobs_for_tests:escape",
        {"pidfile": str(pidfile), "sleep": sleep},
        tmp_path / "escape" / "job.log",
        timeout=timeout,
    )


def test_what_a_job_left_running_ends_when_it_returns(tmp_path: Path, pidfile: Path) -> None:
    executor = LocalExecutor("local://?workers=1")
    try:
        [result] = list(executor.run([_job(tmp_path, pidfile)]))
        assert result.status == "succeeded", result.error
        assert gone(_pids(pidfile), wait=10), "the job's children outlived it"
        assert "left running" in (tmp_path / "escape" / "job.log").read_text()
    finally:
        executor.close()


def test_what_a_job_started_ends_when_it_times_out(tmp_path: Path, pidfile: Path) -> None:
    executor = LocalExecutor("local://?workers=1")
    try:
        [result] = list(executor.run([_job(tmp_path, pidfile, sleep=300, timeout=3)]))
        assert result.status == "failed" and "timed out" in result.error
        assert gone(_pids(pidfile), wait=10), "the timed-out job's children outlived it"
    finally:
        executor.close()


def test_what_a_job_started_ends_when_the_run_is_cancelled(tmp_path: Path, pidfile: Path) -> None:
    executor = LocalExecutor("local://?workers=1")
    try:
        results = executor.run([_job(tmp_path, pidfile, sleep=300)])
        import threading

        def cancel_once_started() -> None:
            _pids(pidfile)
            executor.cancel()

        thread = threading.Thread(target=cancel_once_started)
        thread.start()
        [result] = list(results)
        thread.join()
        assert result.status == "cancelled"
        assert gone(_pids(pidfile), wait=10), "the cancelled job's children outlived it"
    finally:
        executor.close()


def test_a_setup_keeps_its_processes_while_the_worker_lives(tmp_path: Path) -> None:
    """What a spec's setup starts belongs to the worker (ctx.shared may hold it), not to one job."""
    from tusk.execute.worker import reap_leftovers

    child = subprocess.Popen(["sleep", "300"])
    try:
        assert reap_leftovers(keep={child.pid}) == 0
        assert process_alive(child.pid)
    finally:
        child.kill()
        child.wait()


RAY_WORKER = """
import sys
from tusk.execute.ray import run_task
print(run_task("jobs_for_tests:escape", eval(sys.argv[1]), sys.argv[2], 1, float(sys.argv[3]) or None, gpu_ids=[]),
      flush=True)
"""


@pytest.mark.parametrize("how", ["returns", "times-out"])
def test_a_ray_task_leaves_nothing_of_its_job(tmp_path: Path, pidfile: Path, how: str) -> None:
    payload = {"pidfile": str(pidfile), "sleep": 300 if how == "times-out" else 0}
    env = child_env({"PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])})
    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            RAY_WORKER,
            repr(payload),
            str(tmp_path / "job.log"),
            "4" if how == "times-out" else "0",
        ],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = worker.communicate(timeout=120)
        assert ("timed out" in out) if how == "times-out" else out.startswith("('ok'"), out
        assert gone(_pids(pidfile, wait=5), wait=10), "the Ray task's job left processes running"
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


@pytest.mark.timeout(90)
def test_the_recorder_ends_though_another_process_holds_its_input(tmp_path: Path) -> None:
    """The daemon of issue 23 held a copy of the recorder's input, which then never read its end: the run hung
    holding the project lock. The recorder stops on tusk's word, not on the pipe's end; a fork holds no copy."""
    from tusk.tracking.recorder import Recorder

    recorder = Recorder(tmp_path)  # no project here: the recorder answers every record with why, and ends
    holder = subprocess.Popen(["sleep", "300"], pass_fds=(recorder.requests.fileno(),))
    try:
        child = os.fork()
        if child == 0:
            os._exit(0 if recorder.requests.closed and recorder.answers.closed else 1)
        assert os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) == 0, "a forked process holds the recorder's pipes"
        started = time.monotonic()
        assert list(recorder.close()) == []
        assert recorder.process.returncode == 0 and time.monotonic() - started < 60
    finally:
        holder.kill()
        holder.wait()


ESCAPING_MODEL = """
import os, subprocess, time
from pathlib import Path
def train(ctx):
    same = subprocess.Popen(["sleep", "787"])
    session = subprocess.Popen(["sleep", "788"], start_new_session=True)
    if os.fork() == 0:
        os.setsid()
        time.sleep(779)
        os._exit(0)
    Path(ctx.params["pidfile"]).write_text(f"{same.pid} {session.pid}")
    time.sleep(ctx.params["sleep"])
    return {"a": 1.0}
"""


def _escaping_project(tmp_path: Path, pidfile: Path, sleep: float) -> Path:
    from train_fixtures import make_project, model_block

    project = make_project(tmp_path, customers=1)
    (project.root / "models" / "esc.py").write_text(ESCAPING_MODEL)
    project.set_models(
        model_block("esc-{customer}", params={"pidfile": str(pidfile), "sleep": sleep}).replace(
            "models/m.py:train", "models/esc.py:train"
        )
    )
    return project.root


def _in(root: Path) -> list[int]:
    from crash_helpers import processes_in

    return processes_in(root)


@pytest.mark.slow
def test_tusk_run_ends_and_leaves_nothing_of_a_daemon_forking_job(tmp_path: Path, pidfile: Path) -> None:
    """The issue's case, end to end: the job forks a daemon in a session of its own and returns; tusk run ends (it
    hung, holding the lock) and nothing the job started is left (the processes whose folder is the project)."""
    from crash_helpers import kill_group, output, start

    root = _escaping_project(tmp_path, pidfile, sleep=0)
    proc = start(root, "run")
    try:
        assert proc.wait(timeout=150) == 0, output(proc)
        time.sleep(1)
        assert gone(_in(root), wait=10), "processes of the job outlived tusk run"
    finally:
        kill_group(proc.pid)
        for pid in _in(root):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_a_killed_tusk_run_takes_what_its_jobs_started(tmp_path: Path, pidfile: Path) -> None:
    """kill -9 of tusk's group: its workers get SIGTERM from the kernel, and kill their whole tree."""
    from crash_helpers import kill_group, start

    root = _escaping_project(tmp_path, pidfile, sleep=300)
    proc = start(root, "run")
    try:
        deadline = time.monotonic() + 120
        while not pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert pidfile.exists()
        time.sleep(0.5)
        kill_group(proc.pid)
        proc.wait(timeout=30)
        assert gone(_in(root), wait=10), "processes of the job outlived the killed run"
    finally:
        kill_group(proc.pid)
        for pid in _in(root):
            os.kill(pid, signal.SIGKILL)
