"""Conformance suites for tusk's ports, shipped for the authors of third-party backends.

A backend passes its port's suite by subclassing it in a pytest file and giving the fixture the suite asks for
(``store``, ``tracker``, ``executor``): see docs/plugins.md. The suites need pytest (``tusk-mlops[test]``) and are
imported only by tests.
"""

from tusk.testing.datastore import DataStoreSuite
from tusk.testing.executor import ExecutorSuite
from tusk.testing.tracker import TrackerSuite

__all__ = ["DataStoreSuite", "ExecutorSuite", "TrackerSuite"]
