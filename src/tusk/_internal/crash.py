"""Kill points for the crash-safety suite.

``TUSK_CRASH_AT=NAME[:N]`` makes the process SIGKILL its own process group the N-th time (default: the
first) it reaches ``crash_point("NAME")``, as ``kill -9 -- -PGID`` would from outside, at an exact moment
instead of a lucky one. Without the variable a crash point is one global test: inert and cheap. A process
that does not lead its own group kills only itself, so a test runner that forgot ``setsid`` survives.

A point is also where a test makes the world move between two steps of the process it runs in:
``at_point(NAME, hook)`` calls ``hook()`` the first time the point is reached (another importer creating
the branch this one just found missing, for instance), deterministically instead of by a lucky schedule.

The points are named ``<command>.<moment>``: ``register.version`` (a model version was just created),
``import.before-commit``, ``merge.after-merge``, ``release.recorded``, ... ``POINTS`` lists them all.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_SPEC = os.environ.get("TUSK_CRASH_AT", "")
_SEEN: dict[str, int] = {}
_HOOKS: dict[str, Callable[[], None]] = {}

POINTS = (
    # tusk run
    "run.locked",
    "run.planned",
    "run.started",
    "run.result",
    "register.run",
    "register.model",
    "register.version",
    "register.alias",
    "register.pointer",
    "run.recorded",
    "reuse.alias",
    # a failed job's FAILED run (made, then finished); a candidate run's merge preview kept by its tag
    "failure.run",
    "failure.recorded",
    "preview.tagged",
    "candidate.version",
    "candidate.listed",
    # one write's commit on a branch (a review's conversation on tusk-reviews, ...): before dolt_commit, between
    # dolt_commit and the SQL COMMIT, after it
    "write.commit",
    "write.dolt-committed",
    "write.committed",
    # tusk data import / merge / revert
    "import.read",
    "import.branch-missing",
    "import.branch-ready",
    "import.connected",
    "import.staged",
    "import.applied",
    "import.before-commit",
    "import.committed",
    "merge.begin",
    "merge.merged",
    "merge.committed",
    "gc.before",
    "gc.after",
    # a file written where a user points (data export -o, ci github --output, --conflicts-file)
    "output.written",
    # the reviews' conversation: a write, the upgrade of a store older tusk wrote
    "review.write",
    "review.written",
    "review.upgrade.copied",
    "review.upgrade.dropped",
    # tusk data sync
    "sync.staging",
    "sync.committed",
    "sync.moved",
    # tusk release create / rollback
    "release.manifest",
    "release.context",
    "release.built",
    "release.run",
    "release.artifact",
    "release.model",
    "release.version",
    "release.current",
    "release.log",
    "release.rollback",
    "release.rollback.models",
    # tusk watch
    "watch.poll",
    "watch.ran",
    "watch.released",
    "watch.saved",
)


def crash_point(name: str) -> None:
    """SIGKILL this process group here if ``TUSK_CRASH_AT`` names this point (and this occurrence)."""
    if _HOOKS:
        hook = _HOOKS.pop(name, None)
        if hook is not None:
            hook()
    if _SPEC:
        _maybe_kill(name)


@contextmanager
def at_point(name: str, hook: Callable[[], None]) -> Iterator[None]:
    """Tests: run ``hook()`` in this process the first time it reaches ``crash_point(name)`` inside the block."""
    if name not in POINTS:
        raise ValueError(f"unknown point {name!r}")
    _HOOKS[name] = hook
    try:
        yield
    finally:
        _HOOKS.pop(name, None)


def _maybe_kill(name: str) -> None:
    target, _, nth = _SPEC.partition(":")
    if name != target:
        return
    _SEEN[name] = _SEEN.get(name, 0) + 1
    if _SEEN[name] != int(nth or 1):
        return
    if os.getpgrp() == os.getpid():
        os.killpg(os.getpgrp(), signal.SIGKILL)
    group = os.environ.get("TUSK_CRASH_GROUP", "")  # a helper process of tusk's (its recorder) kills tusk's group
    if group.isdigit() and int(group) == os.getpgrp():
        os.killpg(int(group), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
