"""Job logs: where a running job writes, where a registered version keeps its log, and pruning.

Each ``tusk run`` that trains makes a folder ``.tusk/jobs/<YYYYmmdd-HHMMSS>-<pid>/`` with one folder per
job (``job.log``, and the model until the version is registered: then the job folder keeps no second
copy, the log is an artifact of the version's MLflow run). The run writes ``.done`` into its folder when
it ends, and tusk appends a last ``[tusk] job ...`` line to each job's log, so a reader following a log
knows when to stop. Old run folders are removed at the start of each run: beyond the newest ``keep``,
or older than ``max_age`` (``[jobs]`` in tusk.toml), never one whose run is still going.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tusk._internal.process import process_alive

DONE = ".done"
LOG = "job.log"
FINAL_PREFIX = "[tusk] job "
POLL = 0.2


def run_stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"


def _pid(folder: Path) -> int | None:
    tail = folder.name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None


def running(folder: Path) -> bool:
    """Whether the run that owns this folder is still going (its process is alive and it has not ended)."""
    return not (folder / DONE).exists() and process_alive(_pid(folder))


def mark_done(folder: Path) -> None:
    try:
        (folder / DONE).touch()
    except OSError:
        pass


def finish(log: Path, line: str) -> None:
    """The job's last line (written by tusk once the job's outcome is known)."""
    try:
        with log.open("a", encoding="utf-8") as handle:
            handle.write(f"{FINAL_PREFIX}{line}\n")
    except OSError:
        pass


def run_folders(jobs_dir: Path) -> list[Path]:
    """Run folders, oldest first (their names start with the time they were made)."""
    if not jobs_dir.is_dir():
        return []
    return sorted((p for p in jobs_dir.iterdir() if p.is_dir()), key=lambda p: p.name)


def prune(jobs_dir: Path, keep: int, max_age: float | None, now: float | None = None) -> list[Path]:
    """Remove run folders beyond the newest ``keep`` or older than ``max_age`` seconds; → those removed."""
    removed = prunable(jobs_dir, keep, max_age, now)
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
    return removed


def prunable(jobs_dir: Path, keep: int, max_age: float | None, now: float | None = None) -> list[Path]:
    """The run folders ``prune`` would remove (a listing: cheap; the removal is the slow part)."""
    now = time.time() if now is None else now
    folders = run_folders(jobs_dir)
    surplus = set(folders[: max(0, len(folders) - keep)])
    return [
        folder
        for folder in folders
        if (folder in surplus or (max_age is not None and now - _mtime(folder) > max_age)) and not running(folder)
    ]


class Cleaner:
    """Removes folders on a background thread while the run goes on (unlinking is I/O the run need not wait
    for: a registered model's job copy, old run folders). ``close`` waits for what is queued."""

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tusk-cleaner")

    def remove(self, *paths: Path) -> None:
        for path in paths:
            self._pool.submit(shutil.rmtree, path, True)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


@dataclass
class JobLogFile:
    """The newest log of one instance in the local job folders."""

    path: Path
    live: bool

    @property
    def modified(self) -> float:
        return _mtime(self.path)

    @property
    def succeeded(self) -> bool:
        return last_line(self.path).startswith(f"{FINAL_PREFIX}succeeded")


def newest_job_log(jobs_dir: Path, name: str) -> JobLogFile | None:
    for folder in reversed(run_folders(jobs_dir)):
        log = folder / name / LOG
        if log.is_file():
            return JobLogFile(log, running(folder) and not finished(log))
    return None


def finished(log: Path) -> bool:
    """Whether tusk wrote the job's last line (its outcome) into the log."""
    return last_line(log).startswith(FINAL_PREFIX) if log.exists() else True


def last_line(log: Path) -> str:
    try:
        with log.open("rb") as handle:
            handle.seek(max(0, _size(log) - 4096))
            tail = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line for line in tail.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def follow(log: Path, still_running: Callable[[], bool], offset: int = 0, poll: float = POLL) -> Iterator[str]:
    """The log's text from byte ``offset`` on as it grows, until tusk writes the job's last line or the run
    ends."""
    while True:
        chunk, offset = _read_from(log, offset)
        if chunk:
            yield chunk
        if finished(log) or not still_running():
            chunk, offset = _read_from(log, offset)
            if chunk:
                yield chunk
            return
        time.sleep(poll)


def _read_from(log: Path, offset: int) -> tuple[str, int]:
    try:
        with log.open("rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except OSError:
        return "", offset
    return data.decode("utf-8", "replace"), offset + len(data)


@dataclass
class JobLog:
    """What ``tusk logs`` shows: a version's log from its MLflow run, or a job's from its folder."""

    name: str
    version: str | None
    source: str  # "run" (an artifact of the version's MLflow run) or "job folder"
    location: str
    text: str
    live: bool = False
    size: int = 0  # bytes of a job folder's log already in ``text`` (following goes on from there)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "location": self.location,
            "live": self.live,
            "log": self.text,
        }


# ----- a failure's tail: its traceback, not the log's last lines ---------------------------------------------------
TRACEBACK = "Traceback (most recent call last):"
_CHAINED = (
    "The above exception was the direct cause of the following exception:",
    "During handling of the above exception, another exception occurred:",
)
# a frame of tusk's own runner (the worker, the job's entry): what called the user's code, never what failed in it
_RUNNER_FRAME = re.compile(r'^\s*File "[^"]*[/\\]tusk[/\\](?:execute|job|_internal)[/\\][^"/\\]+\.py", line \d+')
_FRAME = re.compile(r'^\s+File "[^"]*", line \d+')
FAILURE_LINES = 40  # at most this many lines of a traceback (the top said as "…")


def failure_tail(text: str, lines: int = 20) -> str:
    """What a failed job's log says of its failure: the last traceback from its ``Traceback`` line (with the
    exceptions chained to it), tusk's own runner frames left out (the frames that called the user's code; the
    user's frames, what they call and the exception kept), up to tusk's next line. A log with no traceback
    (a worker killed, a process that exited): its last ``lines`` lines."""
    rows = text.splitlines()
    starts = [i for i, row in enumerate(rows) if row.startswith(TRACEBACK)]
    if not starts:
        return "\n".join(rows[-lines:])
    first = starts[-1]
    for start in reversed(starts[:-1]):  # an exception chained to the last one: its traceback is part of it
        between = [row for row in rows[start:first] if row.strip()]
        if not any(row.startswith(_CHAINED) for row in between):
            break
        first = start
    end = next((i for i in range(starts[-1], len(rows)) if rows[i].startswith("[tusk] ")), len(rows))
    kept = _without_runner_frames(rows[first:end])
    if len(kept) > FAILURE_LINES:
        kept = [kept[0], "  …", *kept[-(FAILURE_LINES - 2) :]]
    return "\n".join(kept)


def _without_runner_frames(rows: list[str]) -> list[str]:
    """Each traceback's outermost frames that are tusk's runner left out, when a frame of the user's follows them
    (a failure inside tusk's runner itself keeps every frame: they are what failed)."""
    out: list[str] = []
    i = 0
    while i < len(rows):
        out.append(rows[i])
        if not rows[i].startswith(TRACEBACK):
            i += 1
            continue
        i += 1
        frames: list[list[str]] = []  # each frame: its File line and the lines under it
        while i < len(rows) and (_FRAME.match(rows[i]) or (frames and rows[i].startswith("    "))):
            if _FRAME.match(rows[i]):
                frames.append([])
            frames[-1].append(rows[i])
            i += 1
        outer = 0
        while outer < len(frames) and _RUNNER_FRAME.match(frames[outer][0]):
            outer += 1
        for frame in frames[outer if outer < len(frames) else 0 :]:
            out.extend(frame)
    return out


def read_failure_tail(log: Path, lines: int = 20, most: int = 64 * 1024) -> str:
    """:func:`failure_tail` of a job's log, read from its last ``most`` bytes (a log can be huge); "" if unread."""
    try:
        with log.open("rb") as handle:
            handle.seek(max(0, _size(log) - most))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return failure_tail(text, lines)
