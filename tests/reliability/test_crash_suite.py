"""The crash-safety suite (``tests/crash_suite.py``) with a few kill moments per command, as CI runs it:
every command killed (-9, whole process group) at a named point and at a random time, run again, and
every invariant checked. ``make reliability`` runs the same suite with at least 20 moments per command."""

from __future__ import annotations

from pathlib import Path

import pytest

import crash_suite

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("command", [s.name for s in crash_suite.SCENARIOS])
def test_a_command_killed_at_any_moment_is_finished_by_running_it_again(command: str, tmp_path: Path) -> None:
    trials = crash_suite.run_suite(2, seed=11, only={command}, folder=tmp_path, say=lambda line: None)
    assert len(trials) == 2
    assert [t.failures for t in trials] == [[], []], crash_suite.table(trials)
    assert all(t.recovered for t in trials)
    assert any(t.killed for t in trials), "at least one trial killed the command half-way"
