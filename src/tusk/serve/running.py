"""Which servers run on a project, and what each served when: ``tusk serve`` registers itself while it runs
(``.tusk/serve/running/<pid>-<port>.json``, rewritten when it swaps releases, removed when it stops) and appends
each swap, and its stop, to ``.tusk/serve/served.jsonl`` (time, address, process, release): the release log's
other half, what was served where and when (``tusk release log`` shows both). A file whose process is gone
(kill -9) is not listed, and removed."""

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
        self.md5 = ""  # the release served now

    def serving(self, md5: str, version: str) -> None:
        now = time.time()
        entry = RunningServer(os.getpid(), self.url, md5, version, self.source, self.started, now)
        atomic_write(self.path, json.dumps(entry.to_json()))
        self._log(now, md5, "serving")
        self.md5 = md5

    def end(self) -> None:
        if self.path.exists():
            self._log(time.time(), self.md5, "stopped")
        self.path.unlink(missing_ok=True)

    def _log(self, when: float, md5: str, event: str) -> None:
        line = {"time": when, "url": self.url, "pid": os.getpid(), "release": md5, "event": event}
        with (self.folder / SERVED_LOG).open("a", encoding="utf-8") as log:
            log.write(json.dumps(line) + "\n")


@dataclass(frozen=True)
class ServedSwap:
    """One line of ``served.jsonl``: at ``time`` the server at ``url`` began serving release ``md5`` (``serving``)
    or stopped (``stopped``, ``md5`` what it served last)."""

    time: float
    url: str
    pid: int
    md5: str
    event: str = "serving"

    def to_json(self, version: str = "") -> dict[str, Any]:
        from tusk.release.history import iso

        return {
            "event": self.event,
            "time": iso(round(self.time * 1000)),  # as the release events' times read
            "url": self.url,
            "pid": self.pid,
            "md5": self.md5,
            "release": f"v{version}" if version else "",
        }


def served_log(folder: Path) -> list[ServedSwap]:
    """What the servers of this machine served when, oldest first (a line torn by a crash is skipped)."""
    path = folder / SERVED_LOG
    if not path.exists():
        return []
    swaps = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
            swaps.append(
                ServedSwap(
                    float(entry["time"]),
                    str(entry["url"]),
                    int(entry["pid"]),
                    str(entry["release"]),
                    str(entry.get("event", "serving")),
                )
            )
        except (ValueError, KeyError, TypeError):
            continue
    return sorted(swaps, key=lambda s: s.time)


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
