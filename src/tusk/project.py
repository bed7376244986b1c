"""``Project``: opens the backends named in ``tusk.toml``; the one facade the CLI and the web page share.

Backends are opened lazily: ``tusk data log`` never imports MLflow, ``tusk plan`` never starts workers.
Each area keeps its logic in its own module (``plan``, ``runner``, ``release``, ``lineage``, ...); the
methods here only wire the project's backends into them.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tusk.backends import backend_class
from tusk.config import Config, find_config, load_config

if TYPE_CHECKING:
    from tusk.data.base import DataStore, SupportsRemotes
    from tusk.execute.base import Executor
    from tusk.plan import Plan
    from tusk.runner import RunReport
    from tusk.sync import SyncReport
    from tusk.tracking.base import Tracker


class Project:
    def __init__(self, config: Config) -> None:
        self.config = config

    @classmethod
    def open(cls, path: Path | str | None = None) -> "Project":
        """The project whose ``tusk.toml`` is at or above ``path`` (default: the working directory)."""
        start = Path(path) if path else None
        if start is not None and start.is_file():
            return cls(load_config(start))
        return cls(load_config(find_config(start)))

    @property
    def root(self) -> Path:
        return self.config.root

    @property
    def state_dir(self) -> Path:
        """``.tusk/`` beside tusk.toml: logs, caches, locks, build contexts."""
        path = self.root / ".tusk"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @cached_property
    def data(self) -> "DataStore":
        return backend_class("data", self.config.data.url)(self.config.data.url, self.config)

    @cached_property
    def tracker(self) -> "Tracker":
        return backend_class("tracking", self.config.tracking.url)(self.config.tracking.url, self.config)

    def executor(self, workers: int | None = None) -> "Executor":
        url = self.config.executor.url
        return backend_class("executor", url)(url, self.config, workers=workers)

    def close(self) -> None:
        for name in ("data", "tracker"):
            backend: Any = self.__dict__.pop(name, None)
            if backend is not None and hasattr(backend, "close"):
                backend.close()

    def __enter__(self) -> "Project":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- remotes (cli/remote.py) ---
    def shared_data(self) -> "SupportsRemotes":
        """The data store, with the remotes that tusk.toml names under ``[data.remotes]`` added to it."""
        from tusk.data.base import SupportsRemotes
        from tusk.errors import DataError

        store = self.data
        if not isinstance(store, SupportsRemotes):
            raise DataError(f"data store {self.config.data.url} has no remotes")
        for name, url in self.config.data.remotes.items():
            store.add_remote(name, url, base=self.root)
        return store

    # --- sources (cli/data.py) ---
    def sync(self, names: "Sequence[str]" = ()) -> "SyncReport":
        """Bring each named source (default: every ``[[sources]]``) onto its review branch ``sync/<name>``:
        one commit when it changed, none when not. A failing source is reported; the others still sync."""
        from tusk.sync import sync

        return sync(self, names)

    # --- plan and run (cli/train.py) ---
    def plan(self, at: str | None = None) -> "Plan":
        """Which instances are new, stale, fresh, reusable or orphaned at ``at`` (default: the data branch)."""
        from tusk.runner import make_plan

        return make_plan(self, at)

    def run(self, at: str | None = None, only: str | None = None, shard: tuple[int, int] | None = None,
            workers: int | None = None, force: bool = False, **callbacks: Any) -> "RunReport":
        """Train what the plan says, in parallel, pinned to the data commit; record each in the tracker."""
        from tusk import runner

        return runner.run(self, at=at, only=only, shard=shard, workers=workers, force=force, **callbacks)

    def status(self) -> list[dict[str, Any]]:
        """Each instance's current version, fingerprint, data commit, production version and plan status."""
        plan = self.plan()
        production = self.tracker.aliases()
        rows = []
        for planned in plan.instances:
            state = planned.state
            rows.append({"name": planned.name, "status": planned.status,
                         "version": state.version if state else None,
                         "production": production.get(planned.name),
                         "fingerprint": state.fingerprint if state else None,
                         "data_commit": state.data_commit if state else None,
                         "reasons": planned.reasons})
        return rows
    # --- end plan and run ---
