"""A small JSON file of things worth remembering between commands (matrix values per commit).

Only ever an optimisation: a missing, unreadable or corrupt file is an empty cache, a failed write is
ignored, and writes replace the file atomically so two commands never leave it half-written.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

MAX_ENTRIES = 200
TEMP_PREFIX = ".tmp-"


def atomic_write(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step: readers see the old file or the new one, never half of it.
    A temporary file a killed writer left behind is removed by the next write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f"{TEMP_PREFIX}{path.name}-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    for stale in path.parent.glob(f"{TEMP_PREFIX}{path.name}-*"):
        try:
            if stale.stat().st_mtime < time.time() - 60:
                stale.unlink()
        except OSError:
            pass


class JsonFileCache(dict[str, tuple[str, list[Any]]]):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
            for key, (commit, values) in loaded.items():
                self[str(key)] = (str(commit), list(values))
        except (OSError, ValueError, TypeError, AttributeError):
            self.clear()

    def save(self) -> None:
        entries = dict(list(self.items())[-MAX_ENTRIES:])
        try:
            atomic_write(self.path, json.dumps(entries))
        except (OSError, TypeError, ValueError):  # values JSON cannot hold, or a read-only folder: no cache
            pass
