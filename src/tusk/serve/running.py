"""Which servers run on a project, and what each served when: ``tusk serve`` registers itself while it runs
(``.tusk/serve/running/<pid>-<port>.json``, rewritten when it swaps releases, removed when it stops) and appends
each swap to ``.tusk/serve/served.jsonl`` (time, address, process, release): the release log's other half, what
was served where and when. A file whose process is gone (kill -9) is not listed, and removed."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tusk._internal.cache import atomic_write

RUNNING = "running"
SERVED_LOG = "served.jsonl"


@dataclass
class RunningServer:
    pid: int
    url: str
    release: str  # md5
    version: str  # "" outside a release
    source: str
    started: float
    since: float  # serving ``release`` since

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Registration:
    """This process's entry in ``folder`` (``.tusk/serve``)."""

    def __init__(self, folder: Path, url: str, source: str) -> None:
        self.folder = folder
        self.url = url
        self.source = source
        self.started = time.time()
        port = url.rstrip("/").rsplit(":", 1)[-1]
        self.path = folder / RUNNING / f"{os.getpid()}-{port}.json"

    def serving(self, md5: str, version: str) -> None:
        now = time.time()
        entry = RunningServer(os.getpid(), self.url, md5, version, self.source, self.started, now)
        atomic_write(self.path, json.dumps(entry.to_json()))
        with (self.folder / SERVED_LOG).open("a", encoding="utf-8") as log:
            log.write(json.dumps({"time": now, "url": self.url, "pid": os.getpid(), "release": md5}) + "\n")

    def end(self) -> None:
        self.path.unlink(missing_ok=True)


def running(folder: Path) -> list[RunningServer]:
    """The servers running now, oldest first."""
    found = []
    for path in sorted((folder / RUNNING).glob("*.json")):
        try:
            entry = RunningServer(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            continue
        if _alive(entry.pid):
            found.append(entry)
        else:
            path.unlink(missing_ok=True)
    return sorted(found, key=lambda e: e.started)
