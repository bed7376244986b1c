"""What a use case is given instead of the facade: the project's config and its ports, opened on first use.

``Project`` is one (``tusk.project``); a test or another face can pass anything with these members. Use cases
(``training``, ``review``, ``sync``, ``release.create``, ``triggers``) type their first argument as ``Ports``, so
none of them imports ``tusk.project`` and the facade stays a switchboard over them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from tusk.config import Config
    from tusk.data.base import DataStore
    from tusk.execute.base import Executor
    from tusk.tracking.base import Tracker


class Ports(Protocol):
    @property
    def config(self) -> "Config": ...  # tusk.toml, typed

    @property
    def root(self) -> Path: ...  # the folder of tusk.toml

    @property
    def state_dir(self) -> Path: ...  # .tusk/ beside tusk.toml: logs, caches, locks, build contexts

    @property
    def data(self) -> "DataStore": ...  # the data store (its remotes added from tusk.toml where it has some)

    @property
    def tracker(self) -> "Tracker": ...  # runs, versions, aliases; ``tracker.release_registry()`` for releases

    def executor(self, workers: int | None = None) -> "Executor": ...  # a new executor for one run
