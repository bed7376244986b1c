"""What the planner remembers in files between commands: what input queries parse to (``SqlFacts``, here) and the
matrix values per commit (``tusk._internal.cache.JsonFileCache``). The core plans over values; these files are the
wing's business."""

from __future__ import annotations

import json
from pathlib import Path

from tusk._internal.cache import atomic_write
from tusk.core.inputs_sql import QueryFacts


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
