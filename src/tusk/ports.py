"""What a use case is given instead of the facade.

A use case takes the ports it touches, each by name (``data: DataStore``, ``tracker: Tracker``, ``config: Config``,
``state_dir: Path``, an executor factory, a lock), so its signature says what it reads and writes. ``Workspace`` is
the four the planner reads (the config, the data store, the tracker and ``.tusk/`` for its caches), bundled because
every use case that plans needs exactly those. ``Ports`` is the whole project as a Protocol (``Project`` is one),
still taken by the orchestrators that hand it on (the runner, the watcher, sync, approve): none of them imports
``tusk.project``, and the facade stays a switchboard over them. ``RunCancel`` is what a face hands a run to stop it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from tusk.build.base import Builder
    from tusk.core.config import Config
    from tusk.data.base import DataStore
    from tusk.execute.base import Executor
    from tusk.tracking.base import Tracker


class Ports(Protocol):
    @property
    def config(self) -> Config: ...  # tusk.toml, typed

    @property
    def root(self) -> Path: ...  # the folder of tusk.toml

    @property
    def state_dir(self) -> Path: ...  # .tusk/ beside tusk.toml: logs, caches, locks, build contexts

    @property
    def data(self) -> DataStore: ...  # the data store (its remotes added from tusk.toml where it has some)

    @property
    def tracker(self) -> Tracker: ...  # runs, versions, aliases; ``tracker.release_registry()`` for releases

    def executor(self, workers: int | None = None) -> Executor: ...  # a new executor for one run

    def close(self) -> None: ...  # the backends opened so far

    # one run (or watcher's run) at a time; a second waits (``on_wait`` hears who holds it) or gets LockHeld
    def lock(
        self, what: str = "tusk run", wait: bool = True, on_wait: Callable[[str], None] | None = None
    ) -> AbstractContextManager[None]: ...

    def release_lock(self, what: str) -> AbstractContextManager[None]: ...  # one release create or rollback

    def builder(self) -> Builder: ...  # the image builder ``[release] builder`` names


@dataclass(frozen=True)
class Workspace:
    """What planning reads: tusk.toml, the data store, the tracker (states, candidates, failures) and ``.tusk/``
    (the planner's caches). The facade opens the backends and builds it; a test can build one from any backends
    that pass their ports' conformance suites."""

    config: Config
    data: DataStore
    tracker: Tracker
    state_dir: Path

    @classmethod
    def of(cls, ports: Ports) -> Workspace:
        """The workspace of a project (opens its data store and tracker if not yet open)."""
        return cls(ports.config, ports.data, ports.tracker, ports.state_dir)


class RunCancel:
    """A handle that stops a run from any thread (a web request, a signal handler), as Ctrl-C does: the running
    jobs are killed, nothing new starts, and a job that already finished is still recorded whole."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancelled = False
        self._stops: list[Callable[[], None]] = []

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            stops = list(self._stops)
        for stop in stops:
            stop()

    @contextmanager
    def stopping(self, stop: Callable[[], None]) -> Iterator[None]:
        """While the block runs, ``cancel()`` calls ``stop`` (at once if already cancelled)."""
        with self._lock:
            self._stops.append(stop)
            already = self._cancelled
        if already:
            stop()
        try:
            yield
        finally:
            with self._lock:
                self._stops.remove(stop)
