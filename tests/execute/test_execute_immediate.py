"""The immediate executor (jobs one after another in this process): the executor conformance suite, minus
what its capabilities say it cannot do (parallel jobs, isolation, stopping a running job)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tusk.execute.immediate import ImmediateExecutor
from tusk.testing.executor import ExecutorSuite, job, results


class TestImmediate(ExecutorSuite):
    @pytest.fixture
    def executor(self) -> Iterator[ImmediateExecutor]:
        executor = ImmediateExecutor("immediate://")
        yield executor
        executor.close()


def test_jobs_run_in_this_process_and_leave_its_environment_alone(tmp_path: Path) -> None:
    before = os.environ.get("CUDA_VISIBLE_DEVICES")
    got = results(
        ImmediateExecutor(), [job(tmp_path, "pid", "jobs_for_tests:my_pid"), job(tmp_path, "gpu", "chatty", gpus=1)]
    )
    assert got["pid"].value == os.getpid()
    assert got["gpu"].status == "succeeded" and got["gpu"].value == "", "a GPU job runs on the CPU here"
    assert os.environ.get("CUDA_VISIBLE_DEVICES") == before
