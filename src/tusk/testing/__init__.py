"""Conformance suites for tusk's ports, shipped for the authors of third-party backends.

A backend passes its port's suite by subclassing it in a pytest file and giving the fixture the suite asks for
(``store``, ``tracker``, ``executor``, ``builder``): see docs/plugins.md. The suites need pytest
(``pip install 'tusk-mlops[test]'``) and are imported only by tests.

Each suite is imported when first named: the executor suite's jobs, ``tusk.testing.jobs``, run in workers
(a fresh process per attempt on some executors) that must not pay for pytest and four suites to import them.
"""

from __future__ import annotations

import importlib
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

if find_spec("pytest") is None:  # pragma: no cover - the test extra installs it
    raise ImportError("tusk.testing needs pytest: pip install 'tusk-mlops[test]'")

if TYPE_CHECKING:
    from tusk.testing.builder import BuilderSuite
    from tusk.testing.datastore import DataStoreSuite
    from tusk.testing.executor import ExecutorSuite
    from tusk.testing.tracker import TrackerSuite

SUITES = {
    "BuilderSuite": "tusk.testing.builder",
    "DataStoreSuite": "tusk.testing.datastore",
    "ExecutorSuite": "tusk.testing.executor",
    "TrackerSuite": "tusk.testing.tracker",
}
__all__ = ["BuilderSuite", "DataStoreSuite", "ExecutorSuite", "TrackerSuite"]


def __getattr__(name: str) -> Any:
    if name in SUITES:
        return getattr(importlib.import_module(SUITES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
