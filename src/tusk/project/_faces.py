"""What the faces need besides the use cases: the ``tusk`` process's collector hints (``tusk.cli``) and the files a
run started from the page writes (``tusk.web.run_child``). The faces import only the facade and the errors: what
they would otherwise reach into ``tusk._internal`` or a wing for is here."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tusk.project._base import ProjectBase


class BackgroundRunRecord:
    """The folder of a run started from the page, as the run writes it: one JSON line per event in ``events.jsonl``
    and ``result.json`` at the end (``tusk.train.background`` reads both)."""

    def __init__(self, folder: Path) -> None:
        from tusk.train.background import EVENTS

        self.folder = folder
        self._events = (folder / EVENTS).open("a", encoding="utf-8")

    def event(self, **data: Any) -> None:
        self._events.write(json.dumps({"time": time.time(), **data}, default=str) + "\n")
        self._events.flush()

    def end(self, status: str, error: str) -> None:
        """``result.json``, written whole or not at all: the page reads the run as ended once it exists."""
        from tusk._internal.cache import atomic_write
        from tusk.train.background import RESULT

        self._events.close()
        atomic_write(self.folder / RESULT, json.dumps({"status": status, "error": error, "ended": time.time()}))


class FaceMethods(ProjectBase):
    """Static helpers for the faces (no project needed: the CLI calls them before it opens one)."""

    @staticmethod
    def command_process() -> None:
        """This process is the ``tusk`` command (not a library user, a test or the page's server): a one-shot read
        may leave the collector off (``one_shot``)."""
        from tusk._internal import gc

        gc.command_process()

    @staticmethod
    def one_shot() -> None:
        """The command prints one answer and ends (``plan``, ``status``, ``models list``): what it builds is never
        collected, so the collector stays off (only in the ``tusk`` command's own process)."""
        from tusk._internal import gc

        gc.one_shot()

    @staticmethod
    def metric_delta(name: str, delta: float, *values: float) -> tuple[str, str]:
        """A metric's change as shown (``−0.067``, ``±0``: to the metrics' digits) and whether it is ``worse``,
        ``better`` or the ``same`` (a drop of accuracy is worse, a drop of a loss better)."""
        from tusk.train.deltas import delta_quality, delta_text

        return delta_text(delta, *values), delta_quality(name, delta, *values)

    @staticmethod
    def background_run_record(folder: Path) -> BackgroundRunRecord:
        """The writer of a page-started run's folder (``tusk.web.run_child``, the process ``start_run`` starts)."""
        return BackgroundRunRecord(folder)
