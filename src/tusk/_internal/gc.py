"""Python's cyclic garbage collector, paused while a command builds many objects that all live on.

Planning 10,000 instances makes ~180,000 objects (states, records, instances), nearly all kept to the end, so
the collector's passes find nothing to free; at that size they were a third of the planner's time. The pause
is counted (threads of the web page may overlap), and the collector runs again when the last one ends.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def paused() -> Iterator[None]:
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()


_command = False  # this process is the ``tusk`` command (cli.main), not a library user or a test


def command_process() -> None:
    global _command
    _command = True


def one_shot() -> None:
    """The ``tusk`` command prints one answer and ends (``plan``, ``status``, ``models list``): what it builds is
    never collected. At 10,000 instances the passes over a plan's objects once the pause ended (and over the
    answer's) cost ~40 ms and freed nothing. Only in the command's own process: a library user, a test or the
    page's server goes on, and keeps collecting."""
    global _was_enabled
    if not _command:
        return
    with _lock:
        _was_enabled = False
        gc.disable()
