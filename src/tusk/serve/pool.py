"""The models a server holds in memory: loaded on first use (or all at start), kept within a memory budget, the
least recently used leaving first. A model that fails to load is remembered with its reason (and tried again after
``retry`` seconds): its requests fail, the server and the other models do not.

An adapter (a peft adapter saved with a reference to its base, see ``tusk.serve.adapters``) whose base the release
names in its ``needs`` is attached to that base, loaded once per (base, version) per process (``bases``): it counts
against the budget by its own files, and leaving the pool it leaves its base (the last one takes the base along)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tusk.serve.adapters import BaseFailed, Bases, base_of, is_adapter

Key = tuple[str, str]  # (model, version)


class LoadFailed(Exception):
    """A model that could not be loaded: its reason."""


@dataclass
class Loaded:
    model: Any
    size: int  # bytes of its files: what it is counted as against the budget
    seconds: float

    def drop(self) -> None:
        """No longer held: an adapter leaves its base."""
        drop = getattr(self.model, "drop", None)
        if callable(drop):
            drop()


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def load_pyfunc(folder: Path) -> Any:
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(str(folder))


class ModelPool:
    """``get((name, version), needs)`` → the loaded model. ``files(name, version)`` fetches its folder,
    ``load(folder)`` loads it (MLflow's pyfunc loader), or, for an adapter whose ``needs`` name its base, ``bases``
    attaches it to that base. ``budget``: bytes of model files held at most (None: no limit); the model being loaded
    always stays, even alone over the budget."""

    def __init__(
        self,
        files: Callable[[str, str], Path],
        budget: int | None = None,
        load: Callable[[Path], Any] = load_pyfunc,
        retry: float = 30.0,
    ) -> None:
        self.files = files
        self.budget = budget
        self.load = load
        self.retry = retry
        self._held: OrderedDict[Key, Loaded] = OrderedDict()
        self._failed: dict[Key, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._loading: dict[Key, threading.Lock] = {}
        self.loads = 0
        self.evictions = 0
        self.bases = Bases(files, retry)

    def _loaded(self, key: Key) -> Any:
        """Under the pool's lock: the model held for ``key`` (now the most recently used), else None; a load that
        failed lately raises its failure."""
        held = self._held.get(key)
        if held is not None:
            self._held.move_to_end(key)
            return held.model
        self._raise_if_failed(key)
        return None

    def get(self, key: Key, needs: dict[str, Key] | None = None) -> Any:
        with self._lock:
            model = self._loaded(key)
            if model is not None:
                return model
            one = self._loading.setdefault(key, threading.Lock())
        with one:  # one load per model at a time; the others wait for it (and find it loaded)
            with self._lock:
                model = self._loaded(key)
                if model is not None:
                    return model
            started = time.monotonic()
            try:
                folder = self.files(*key)
                base = base_of(needs, self.files) if needs and is_adapter(folder) else None
                model = self.bases.attach(key, folder, base) if base is not None else self.load(folder)
                size = folder_size(folder)
            except BaseFailed as exc:
                reason = f"{key[0]} v{key[1]} failed to load: {exc}"
                with self._lock:
                    self._failed[key] = (reason, time.monotonic())
                raise LoadFailed(reason) from exc
            except Exception as exc:  # any reason a model cannot load fails its requests, not the server
                reason = f"{key[0]} v{key[1]} failed to load: {type(exc).__name__}: {exc}".strip()
                with self._lock:
                    self._failed[key] = (reason, time.monotonic())
                raise LoadFailed(reason) from exc
            with self._lock:
                self._held[key] = Loaded(model, size, time.monotonic() - started)
                self._failed.pop(key, None)
                self.loads += 1
                dropped = self._fit(key)
            for gone in dropped:  # outside the pool's lock: an adapter waits for its base's request in flight
                gone.drop()
            return model

    def _raise_if_failed(self, key: Key) -> None:
        failed = self._failed.get(key)
        if failed is not None and time.monotonic() - failed[1] < self.retry:
            raise LoadFailed(failed[0])

    def _fit(self, keep: Key) -> list[Loaded]:
        dropped: list[Loaded] = []
        if self.budget is None:
            return dropped
        while self.used() > self.budget and len(self._held) > 1:
            oldest = next(iter(self._held))
            if oldest == keep:
                self._held.move_to_end(keep)
                oldest = next(iter(self._held))
            dropped.append(self._held.pop(oldest))
            self.evictions += 1
        return dropped

    def used(self) -> int:
        return sum(held.size for held in self._held.values())

    def held(self) -> list[Key]:
        with self._lock:
            return list(self._held)

    def failure(self, key: Key) -> str | None:
        with self._lock:
            failed = self._failed.get(key)
            return failed[0] if failed else None

    def keep_only(self, keys: set[Key]) -> None:
        """Forget the models no longer served (a request in flight keeps its own reference to its model)."""
        with self._lock:
            dropped = [self._held.pop(k) for k in [k for k in self._held if k not in keys]]
            for key in [k for k in self._failed if k not in keys]:
                del self._failed[key]
        for gone in dropped:
            gone.drop()
