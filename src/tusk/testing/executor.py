"""The Executor conformance suite: every executor backend subclasses ``ExecutorSuite`` and provides an
``executor`` fixture with no GPU (and, when it runs jobs in parallel, at least two slots). Its jobs call the
functions of ``tusk.testing.jobs``, so the executor's workers must have tusk (with pytest) installed.

What a backend says it cannot do in ``executor.capabilities`` is skipped, with the reason: running jobs
in parallel, isolating a job that exits or is killed, stopping a running attempt (timeouts, log limits,
cancelling running jobs).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tusk._internal.process import process_alive
from tusk.execute.base import Executor, Job, JobEvent, JobResult

JOBS = "tusk.testing.jobs"  # the suite's job functions, importable wherever tusk is installed


def job(tmp_path: Path, name: str, function: str, payload: Any = None, **options: Any) -> Job:
    """A job running ``function``: a name in tusk.testing.jobs, or any ``"module:function"``."""
    return Job(
        name=name,
        function=function if ":" in function else f"{JOBS}:{function}",
        payload=payload,
        log_path=tmp_path / "logs" / f"{name}.log",
        **options,
    )


def results(executor: Any, jobs: list[Job], on_event: Any = None) -> dict[str, JobResult]:
    got = list(executor.run(jobs, on_event))
    assert sorted(r.name for r in got) == sorted(j.name for j in jobs), "one result per job"
    return {r.name: r for r in got}


def gone(pids: list[int], wait: float = 120) -> bool:
    """Whether every process in ``pids`` has exited, waiting for it at most ``wait`` s (a killed process
    takes its time to go on a loaded machine; the wait ends as soon as they have)."""
    deadline = time.monotonic() + wait
    while any(process_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not any(process_alive(p) for p in pids)


def needs(executor: Any, capability: str) -> None:
    if not getattr(executor.capabilities, capability):
        pytest.skip(f"{type(executor).__name__} cannot: {capability}")


class ExecutorSuite:
    @pytest.fixture
    def executor(self) -> Executor:  # pragma: no cover - overridden
        raise NotImplementedError

    def test_is_an_executor(self, executor: Executor) -> None:
        assert isinstance(executor, Executor)

    def test_no_jobs_no_results(self, executor: Any) -> None:
        assert list(executor.run([])) == []

    def test_success_returns_the_value(self, executor: Any, tmp_path: Path) -> None:
        got = results(executor, [job(tmp_path, "a", "echo", {"x": 1}), job(tmp_path, "b", "echo", [2])])
        assert {n: (r.status, r.value, r.attempts) for n, r in got.items()} == {
            "a": ("succeeded", {"x": 1}, 1),
            "b": ("succeeded", [2], 1),
        }
        assert got["a"].device == "cpu"

    def test_jobs_run_in_parallel(self, executor: Any, tmp_path: Path) -> None:
        needs(executor, "parallel")
        payload = {"folder": str(tmp_path / "started"), "count": 2}
        got = results(executor, [job(tmp_path, f"s{i}", "meet", payload) for i in range(2)])
        assert {n: (r.status, r.value) for n, r in got.items()} == {"s0": ("succeeded", 2), "s1": ("succeeded", 2)}, (
            "each job saw the other running (one after the other, the first waits alone)"
        )

    def test_failures_are_isolated(self, executor: Any, tmp_path: Path) -> None:
        got = results(
            executor, [job(tmp_path, "ok", "echo", 1), job(tmp_path, "bad", "boom", 7), job(tmp_path, "ok2", "echo", 2)]
        )
        assert {n: r.status for n, r in got.items()} == {"ok": "succeeded", "bad": "failed", "ok2": "succeeded"}
        assert got["bad"].error == "ValueError: boom 7" and "boom 7" in got["bad"].log_tail
        assert "[tusk] attempt 1 failed: ValueError: boom 7" in (tmp_path / "logs" / "bad.log").read_text()

    def test_a_job_that_exits_or_is_killed_costs_only_itself(self, executor: Any, tmp_path: Path) -> None:
        needs(executor, "isolated")
        got = results(
            executor,
            [job(tmp_path, "exit", "exit_hard"), job(tmp_path, "kill", "kill_self"), job(tmp_path, "ok", "echo", 2)],
        )
        assert {n: r.status for n, r in got.items()} == {"exit": "failed", "kill": "failed", "ok": "succeeded"}
        assert "3" in got["exit"].error
        assert "9" in got["kill"].error or "SIGKILL" in got["kill"].error
        log = (tmp_path / "logs" / "exit.log").read_text()
        assert f"[tusk] attempt 1 failed: {got['exit'].error}" in log, "the lost attempt is in the log"

    def test_timeout(self, executor: Any, tmp_path: Path) -> None:
        """The job is stopped in its sleep (it never writes ``finished``; left to run, it would have succeeded
        after 120 s), its process is gone, and it fails saying why. No wall clock: a loaded machine is slow."""
        needs(executor, "kill")
        pidfile, finished = tmp_path / "slow.pid", tmp_path / "slow.finished"
        payload = {"seconds": 120, "pidfile": str(pidfile), "finished": str(finished)}
        got = results(
            executor, [job(tmp_path, "slow", "sleep_with_pid", payload, timeout=1.0), job(tmp_path, "fast", "echo", 1)]
        )
        assert got["slow"].status == "failed" and got["slow"].error == "timed out after 1s"
        assert got["slow"].attempts == 1
        assert got["fast"].status == "succeeded"
        assert "[tusk] attempt 1 failed: timed out after 1s" in (tmp_path / "logs" / "slow.log").read_text()
        assert not finished.exists(), "the job ran to its end"
        assert gone([int(pidfile.read_text())]), "the stopped job's process is still there"

    def test_a_job_whose_log_passes_its_limit_is_stopped(self, executor: Any, tmp_path: Path) -> None:
        needs(executor, "kill")
        got = results(
            executor,
            [job(tmp_path, "flood", "flood", max_log=2e6, timeout=60), job(tmp_path, "fine", "echo", 1, max_log=2e6)],
        )
        assert got["flood"].status == "failed" and "log passed 2 MB" in got["flood"].error
        assert got["fine"].status == "succeeded"
        assert (tmp_path / "logs" / "flood.log").stat().st_size < 100e6, "stopped soon after"

    def test_retries(self, executor: Any, tmp_path: Path) -> None:
        payload = {"marker": str(tmp_path / "marker")}
        got = results(executor, [job(tmp_path, "flaky", "flaky", payload, retries=1)])
        assert got["flaky"].status == "succeeded" and got["flaky"].attempts == 2
        log = (tmp_path / "logs" / "flaky.log").read_text()
        assert "[tusk] attempt 1 failed: RuntimeError" in log and "[tusk] attempt 2 succeeded" in log
        (tmp_path / "marker").unlink()
        got = results(executor, [job(tmp_path, "flaky2", "flaky", payload, retries=0)])
        assert got["flaky2"].status == "failed" and got["flaky2"].attempts == 1

    def test_a_failure_another_attempt_would_repeat_is_not_retried(self, executor: Any, tmp_path: Path) -> None:
        tries = tmp_path / "tries"
        got = results(executor, [job(tmp_path, "same", "fails_the_same_way", {"tries": str(tries)}, retries=3)])
        assert (got["same"].status, got["same"].attempts, got["same"].retryable) == ("failed", 1, False)
        assert tries.read_text() == "x"
        assert "not retried" in (tmp_path / "logs" / "same.log").read_text()

    def test_events_tell_each_attempt(self, executor: Any, tmp_path: Path) -> None:
        events: list[JobEvent] = []
        payload = {"marker": str(tmp_path / "marker")}
        got = results(
            executor,
            [job(tmp_path, "flaky", "flaky", payload, retries=1), job(tmp_path, "bad", "boom", 1)],
            events.append,
        )
        seen = {name: [(e.kind, e.attempt) for e in events if e.job == name] for name in ("flaky", "bad")}
        assert seen == {
            "flaky": [("started", 1), ("retrying", 2), ("started", 2), ("finished", 2)],
            "bad": [("started", 1), ("finished", 1)],
        }
        finished = {e.job: e.result for e in events if e.kind == "finished"}
        assert finished["flaky"] is not None and finished["flaky"].status == got["flaky"].status == "succeeded"

    def test_log_holds_output_of_the_job_and_its_children(self, executor: Any, tmp_path: Path) -> None:
        got = results(executor, [job(tmp_path, "chatty", "chatty")])
        assert got["chatty"].value == "", "CUDA_VISIBLE_DEVICES is empty for a job asking no GPU"
        text = (tmp_path / "logs" / "chatty.log").read_text()
        for line in (
            "to stdout",
            "to stderr",
            "from a child process",
            "[tusk] attempt 1 started",
            "[tusk] attempt 1 succeeded",
        ):
            assert line in text

    def test_cancel_stops_running_jobs_and_their_children(self, executor: Any, tmp_path: Path) -> None:
        needs(executor, "kill")
        needs(executor, "parallel")
        jobs = [job(tmp_path, f"c{i}", "spawn_and_sleep", {"pidfile": str(tmp_path / f"c{i}.pid")}) for i in range(3)]
        pidfiles = [tmp_path / "c0.pid", tmp_path / "c1.pid"]

        def cancel_when_running() -> None:
            deadline = time.monotonic() + 300
            while not all(p.exists() for p in pidfiles) and time.monotonic() < deadline:
                time.sleep(0.1)
            executor.cancel()

        threading.Thread(target=cancel_when_running, daemon=True).start()
        got = results(executor, jobs)
        assert {r.status for r in got.values()} == {"cancelled"}
        assert got["c2"].attempts == 0, "a job that never started made no attempt"
        pids = [int(p) for f in pidfiles for p in f.read_text().split()]
        assert gone(pids), "workers and their children are gone"

    def test_cancel_between_jobs_cancels_the_rest(self, executor: Any, tmp_path: Path) -> None:
        jobs = [job(tmp_path, "first", "echo", 1)] + [
            job(tmp_path, f"w{i}", "sleep_and_mark", {"seconds": 3}) for i in range(4)
        ]

        def on_event(event: JobEvent) -> None:
            if event.kind == "finished" and event.job == "first":
                executor.cancel()

        got = results(executor, jobs, on_event)
        assert got["first"].status == "succeeded"
        assert got["w3"].status == "cancelled" and got["w3"].attempts == 0
        if executor.capabilities.kill:
            assert {got[f"w{i}"].status for i in range(4)} == {"cancelled"}
