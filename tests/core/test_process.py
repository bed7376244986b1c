"""One rule for "is that process still there" (tusk._internal.process): a zombie is gone, junk is not a process."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tusk._internal.process import process_alive
from tusk.train.logs import running


@pytest.fixture
def zombie() -> Iterator[int]:
    """A child that has ended and is not reaped yet."""
    child = subprocess.Popen(["true"])
    deadline = time.monotonic() + 120
    while Path(f"/proc/{child.pid}/stat").read_text().rsplit(") ", 1)[1][:1] != "Z":
        assert time.monotonic() < deadline, "the child never ended"
        time.sleep(0.01)
    yield child.pid
    child.wait()


def test_this_process_is_alive() -> None:
    assert process_alive(os.getpid())


def test_a_zombie_is_not_alive(zombie: int) -> None:
    assert not process_alive(zombie)


def test_a_reaped_process_is_not_alive() -> None:
    child = subprocess.Popen(["true"])
    child.wait()
    assert not process_alive(child.pid)


@pytest.mark.parametrize("junk", [None, "1", 1.0, True, 0, -1])
def test_junk_is_not_a_process(junk: object) -> None:
    assert not process_alive(junk)


def test_a_job_folder_whose_run_is_a_zombie_is_not_running(tmp_path: Path, zombie: int) -> None:
    """The run ended without marking its folder done (killed) and its parent has not reaped it: that folder
    may be pruned (it was taken for a live run before the rule was shared)."""
    folder = tmp_path / f"20261126-054500-{zombie}"
    folder.mkdir()
    assert not running(folder)
    mine = tmp_path / f"20261126-054500-{os.getpid()}"
    mine.mkdir()
    assert running(mine)
