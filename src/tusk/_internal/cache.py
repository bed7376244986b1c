"""Small JSON files of things worth remembering between commands (matrix values per commit, what queries parse to).

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

from tusk.core.inputs_sql import QueryFacts

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


class SqlFacts(QueryFacts):
    """What parsing a query told the planner (``QueryFacts``), remembered in a JSON file between commands: a plan
    whose queries were parsed before imports no sqlglot (~40 ms of every ``tusk plan``). The file is only an
    optimisation, stamped with the parsing module's and sqlglot's files: a change to either (or a damaged file)
    starts it afresh."""

    VERSION = 1

    def __init__(self, path: Path | None = None) -> None:
        super().__init__()
        self.path = path
        self.stamp = self._stamp() if path is not None else ""
        if path is None:
            return
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and data.get("stamp") == self.stamp and isinstance(data.get("facts"), dict):
                self.known = data["facts"]
        except (OSError, ValueError):
            pass

    @classmethod
    def _stamp(cls) -> str:
        import importlib.util

        from tusk.core import inputs_sql

        spec = importlib.util.find_spec("sqlglot")
        files = [Path(inputs_sql.__file__), Path(spec.origin) if spec and spec.origin else None]
        return ":".join([str(cls.VERSION)] + [str(f.stat().st_mtime_ns) if f and f.exists() else "-" for f in files])

    def save(self) -> None:
        if self.path is None or not self.changed:
            return
        entries = dict(list(self.known.items())[-MAX_FACTS:])
        try:
            atomic_write(self.path, json.dumps({"stamp": self.stamp, "facts": entries}))
        except (OSError, TypeError, ValueError):
            pass
        self.changed = False


MAX_FACTS = 2000
