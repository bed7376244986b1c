"""The local executor: the conformance suite, plus GPU slots and URL parsing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tusk.core.config import Config, ExecutorConfig
from tusk.errors import ConfigError
from tusk.execute.gpus import GpuSlots, devices
from tusk.execute.local import LocalExecutor, parse_workers
from tusk.testing.executor import ExecutorSuite, job, results


class TestLocal(ExecutorSuite):
    @pytest.fixture
    def executor(self, tmp_path: Path) -> Iterator[LocalExecutor]:
        config = Config(root=tmp_path, path=tmp_path / "tusk.toml", executor=ExecutorConfig(gpus=0))
        executor = LocalExecutor("local://?workers=2", config)
        yield executor
        executor.close()


def test_jobs_reuse_the_workers(tmp_path: Path) -> None:
    """What keeps a job's overhead small (~0.1 ms, not a fresh process's ~14 ms: benchmarks/): 300 jobs run in
    the run's two workers, none in a process of its own. (A timed assertion here failed under load.)"""
    executor = LocalExecutor("local://?workers=2")
    try:
        got = results(executor, [job(tmp_path, f"n{i}", "jobs_for_tests:my_pid") for i in range(300)])
    finally:
        executor.close()
    assert {r.status for r in got.values()} == {"succeeded"}
    assert len({r.value for r in got.values()}) <= 2


def test_gpu_jobs_get_their_devices(tmp_path: Path) -> None:
    config = Config(root=tmp_path, path=tmp_path / "tusk.toml", executor=ExecutorConfig(gpus=[0, 1]))
    executor = LocalExecutor("local://?workers=2", config)
    got = results(
        executor,
        [
            job(tmp_path, "g", "chatty", gpus=1),
            job(tmp_path, "h", "chatty", gpus=0.5),
            job(tmp_path, "too-many", "chatty", gpus=3),
        ],
    )
    executor.close()
    assert got["g"].value in ("0", "1") and got["g"].device in ("cuda:0", "cuda:1")
    assert got["h"].value in ("0", "1")
    assert got["too-many"].status == "failed" and "needs 3 GPU(s) but this executor has 2" in got["too-many"].error


def test_gpu_slots_share_fractions_and_take_whole_devices() -> None:
    slots = GpuSlots([0, 1])
    assert slots.take(0) == []
    first, second = slots.take(0.5), slots.take(0.5)
    assert first == second == [0], "two halves share one device"
    assert slots.take(1) == [1]
    assert slots.take(0.5) is None, "everything is taken"
    slots.give_back([0], 0.5)
    assert slots.take(0.25) == [0]
    assert slots.take(2) is None and not GpuSlots([0]).possible(2) and GpuSlots([0, 1]).possible(2)
    assert not GpuSlots([]).possible(0.5) and GpuSlots([]).possible(0)


def fake_nvidia_smi(folder: Path, script: str) -> Path:
    """A stand-in for nvidia-smi on PATH (this machine has no GPU): prints what the real one prints."""
    folder.mkdir(parents=True, exist_ok=True)
    tool = folder / "nvidia-smi"
    tool.write_text(f"#!/bin/sh\n{script}\n")
    tool.chmod(0o755)
    return folder


def test_auto_devices_are_what_nvidia_smi_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert devices("auto") == [], "no nvidia-smi: no GPUs"
    monkeypatch.setenv("PATH", str(fake_nvidia_smi(tmp_path / "two", "printf '0\\n1\\n'")))
    assert devices("auto") == [0, 1] and devices(None) == [0, 1]
    monkeypatch.setenv("PATH", str(fake_nvidia_smi(tmp_path / "broken", "echo 'driver mismatch' >&2; exit 9")))
    assert devices("auto") == [], "a failing nvidia-smi: no GPUs"


def test_device_settings_and_urls() -> None:
    assert devices(2) == [0, 1] and devices([3]) == [3] and devices("1") == [0]
    with pytest.raises(ConfigError):
        devices("some")
    assert parse_workers("local://?workers=4") == 4 and parse_workers("local://") is None
    with pytest.raises(ConfigError):
        parse_workers("local://?workers=0")
