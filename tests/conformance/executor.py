"""The Executor conformance suite: every executor backend subclasses ``ExecutorSuite`` and provides an
``executor`` fixture with at least two parallel slots and no GPU."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tusk.execute.base import Executor, Job, JobResult


def job(tmp_path: Path, name: str, function: str, payload: Any = None, **options: Any) -> Job:
    return Job(name=name, function=f"jobs_for_tests:{function}", payload=payload,
               log_path=tmp_path / "logs" / f"{name}.log", **options)


def results(executor: Any, jobs: list[Job]) -> dict[str, JobResult]:
    return {r.name: r for r in executor.run(jobs)}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


class ExecutorSuite:
    @pytest.fixture
    def executor(self) -> Executor:  # pragma: no cover - overridden
        raise NotImplementedError

    def test_is_an_executor(self, executor: Executor) -> None:
        assert isinstance(executor, Executor)

    def test_success_returns_the_value(self, executor: Any, tmp_path: Path) -> None:
        got = results(executor, [job(tmp_path, "a", "echo", {"x": 1}), job(tmp_path, "b", "echo", [2])])
        assert {n: (r.status, r.value) for n, r in got.items()} == {"a": ("succeeded", {"x": 1}),
                                                                    "b": ("succeeded", [2])}

    def test_jobs_run_in_parallel(self, executor: Any, tmp_path: Path) -> None:
        got = results(executor, [job(tmp_path, f"s{i}", "sleep_and_mark", {"seconds": 1.5}) for i in range(2)])
        spans = [r.value for r in got.values()]
        assert max(s for s, _ in spans) < min(e for _, e in spans), f"no overlap: {spans}"

    def test_failures_are_isolated(self, executor: Any, tmp_path: Path) -> None:
        got = results(executor, [job(tmp_path, "ok", "echo", 1), job(tmp_path, "bad", "boom", 7),
                                 job(tmp_path, "exit", "exit_hard"), job(tmp_path, "kill", "kill_self"),
                                 job(tmp_path, "ok2", "echo", 2)])
        assert {n: r.status for n, r in got.items()} == {"ok": "succeeded", "bad": "failed", "exit": "failed",
                                                         "kill": "failed", "ok2": "succeeded"}
        assert got["bad"].error == "ValueError: boom 7" and "boom 7" in got["bad"].log_tail
        assert "3" in got["exit"].error
        assert "9" in got["kill"].error or "SIGKILL" in got["kill"].error

    def test_timeout(self, executor: Any, tmp_path: Path) -> None:
        started = time.monotonic()
        got = results(executor, [job(tmp_path, "slow", "sleep_and_mark", {"seconds": 60}, timeout=1.0),
                                 job(tmp_path, "fast", "echo", 1)])
        assert time.monotonic() - started < 30
        assert got["slow"].status == "failed" and "timed out" in got["slow"].error
        assert got["fast"].status == "succeeded"

    def test_retries(self, executor: Any, tmp_path: Path) -> None:
        payload = {"marker": str(tmp_path / "marker")}
        got = results(executor, [job(tmp_path, "flaky", "flaky", payload, retries=1)])
        assert got["flaky"].status == "succeeded" and got["flaky"].attempts == 2
        (tmp_path / "marker").unlink()
        got = results(executor, [job(tmp_path, "flaky2", "flaky", payload, retries=0)])
        assert got["flaky2"].status == "failed"

    def test_log_holds_output_of_the_job_and_its_children(self, executor: Any, tmp_path: Path) -> None:
        got = results(executor, [job(tmp_path, "chatty", "chatty")])
        assert got["chatty"].value == "", "CUDA_VISIBLE_DEVICES is empty for a job asking no GPU"
        text = (tmp_path / "logs" / "chatty.log").read_text()
        for line in ("to stdout", "to stderr", "from a child process", "[tusk] attempt 1"):
            assert line in text

    def test_cancel_stops_running_jobs_and_their_children(self, executor: Any, tmp_path: Path) -> None:
        jobs = [job(tmp_path, f"c{i}", "spawn_and_sleep", {"pidfile": str(tmp_path / f"c{i}.pid")})
                for i in range(3)]
        pidfiles = [tmp_path / "c0.pid", tmp_path / "c1.pid"]

        def cancel_when_running() -> None:
            deadline = time.monotonic() + 60
            while not all(p.exists() for p in pidfiles) and time.monotonic() < deadline:
                time.sleep(0.1)
            executor.cancel()

        threading.Thread(target=cancel_when_running, daemon=True).start()
        got = results(executor, jobs)
        assert {r.status for r in got.values()} == {"cancelled"}
        pids = [int(p) for f in pidfiles for p in f.read_text().split()]
        deadline = time.monotonic() + 10
        while any(alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in pids if alive(p)], "workers and their children are gone"
