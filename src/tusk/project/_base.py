"""The base of ``Project``: the config, the ports opened lazily (``tusk data log`` never imports MLflow, ``tusk plan``
never starts workers), the project's locks. Everything ``tusk.ports.Ports`` asks of a project is here, and the
``Workspace`` the planning use cases take."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from tusk.backends import backend_class
from tusk.core.config import Config, find_config, load_config, url_path

if TYPE_CHECKING:
    from tusk.build.base import Builder
    from tusk.data.base import DataStore, MergePreview, Resolution, SupportsRemotes
    from tusk.execute.base import Executor
    from tusk.ports import Workspace
    from tusk.release.store import ReleaseStore
    from tusk.tracking.base import Tracker


class ProjectBase:
    def __init__(self, config: Config) -> None:
        self.config = config

    @classmethod
    def open(cls, path: Path | str | None = None) -> Self:
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
    def data(self) -> DataStore:
        """The data store; scratch refs a crashed merge preview left behind are removed on opening."""
        from tusk.errors import DataError

        store: DataStore = backend_class("data", self.config.data.url)(self.config.data.url, self.config)
        try:
            store.clean_scratch()
        except DataError:  # no store yet, or unreadable: the command that reads it says so
            pass
        self._upgrade_reviews(store)
        return store

    def _upgrade_reviews(self, store: DataStore) -> None:
        """A store older tusk wrote: its reviews' conversation moves from the branches to ``tusk-reviews``
        (once; review_meta.upgrade). A store that cannot be read yet is left to the command that reads it."""
        from tusk.errors import DataError
        from tusk.review import meta as review_meta

        if (self.state_dir / review_meta.UPGRADED).exists():
            return
        try:
            review_meta.upgrade(store, self.config.data.branch, self.state_dir)
        except DataError:
            pass

    @cached_property
    def tracker(self) -> Tracker:
        """The tracker; a release event a crash left half-done (aliases half-moved) is finished first, so
        every command sees production aliases and the current release agree."""
        from tusk.release.store import ReleaseStore

        tracker: Tracker = backend_class("tracking", self.config.tracking.url)(self.config.tracking.url, self.config)
        ReleaseStore(tracker).settle()
        return tracker

    @property
    def releases(self) -> ReleaseStore:
        from tusk.release.store import ReleaseStore

        return ReleaseStore(self.tracker)

    @property
    def workspace(self) -> Workspace:
        """What planning reads (the config, the data store, the tracker, ``.tusk/``): both backends opened."""
        from tusk.ports import Workspace

        return Workspace.of(self)

    def executor(self, workers: int | None = None) -> Executor:
        url = self.config.executor.url
        executor: Executor = backend_class("executor", url)(url, self.config, workers=workers)
        return executor

    def close(self) -> None:
        for name in ("data", "tracker"):
            backend: Any = self.__dict__.pop(name, None)
            if backend is not None and hasattr(backend, "close"):
                backend.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def shared_data(self) -> SupportsRemotes:
        """The data store, with the remotes that tusk.toml names under ``[data.remotes]`` added to it."""
        from tusk.data.base import SupportsRemotes
        from tusk.errors import DataError

        store = self.data
        if not isinstance(store, SupportsRemotes):
            raise DataError(f"data store {self.config.data.url} has no remotes")
        for name, url in self.config.data.remotes.items():
            store.add_remote(name, url, base=self.root)
        return store

    def shared_remotes(self) -> dict[str, str]:
        """Remotes runners can reach: tusk.toml's, and any only in the data store (added by older tusk)."""
        remotes = dict(self.config.data.remotes)
        path = url_path(self.config.data.url, self.root)
        if path.exists():
            from tusk.data.base import SupportsRemotes

            store = self.data
            if isinstance(store, SupportsRemotes):
                for remote in store.remotes():
                    remotes.setdefault(remote.name, remote.url)
        return remotes

    def collect_garbage(self) -> str | None:
        """After a write: the data store's gc when it is due (the file has doubled since the last one);
        → a line saying what it did, or None."""
        done = self.data.maybe_gc(self.state_dir / "gc.json")
        if done is None:
            return None
        before, after = done
        return (
            f"data store: collected garbage, {before / 1e6:.1f} MB → {after / 1e6:.1f} MB (tusk does when the "
            "file has doubled since the last time)"
        )

    def lock(
        self, what: str = "tusk run", wait: bool = True, on_wait: Callable[[str], None] | None = None
    ) -> AbstractContextManager[None]:
        """The project's run lock: one run (or watcher's run) at a time; a second waits or gets LockHeld."""
        from tusk._internal.lock import hold

        return hold(self.state_dir / "project.lock", what, wait=wait, on_wait=on_wait, reentrant=True)

    def release_lock(self, what: str) -> AbstractContextManager[None]:
        """One release create or rollback at a time (two creates of one manifest would record it twice); a
        run does not wait for it, nor it for a run."""
        from tusk._internal.lock import hold

        return hold(self.state_dir / "release.lock", what, wait=True, reentrant=True)

    def builder(self) -> Builder:
        """The image builder ``[release] builder`` names (``auto``: the first that is ready, else none)."""
        from tusk.backends import open_builder

        return open_builder(self.config.release.builder, self.config)

    def is_review_branch(self, ref: str | None) -> bool:
        """A branch (local, or a remote's as ``origin/fix``) other than the data branch: what a review merges."""
        if not ref or ref == self.config.data.branch:
            return False  # (the common case, without importing reviews)
        from tusk.review.reviews import is_review_branch

        return is_review_branch(self.data, self.config, ref)

    def merge_preview(self, branch: str, resolve: Resolution | None = None) -> AbstractContextManager[MergePreview]:
        """The data branch with ``branch`` merged, for as long as the ``with`` block runs (main is untouched;
        the scratch ref is removed after). A conflict raises MergeConflict naming the rows, unless ``resolve``
        settles it as a merge would."""
        from tusk.review.reviews import merge_preview

        return merge_preview(self.data, self.config, branch, resolve)
