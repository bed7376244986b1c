"""Runs started from the page: ``tusk run`` in a process of its own, watched through a folder it writes.

``start`` launches ``python -m tusk.web.run_child CONFIG FOLDER [--at REF] [--only GLOB]`` in its own session: it
opens the project and calls ``Project.run`` exactly as ``tusk run`` does (the same plan, executor, recording
and project lock; Ctrl-C there is SIGINT here, so ``cancel`` stops it the way Ctrl-C stops the CLI: running
jobs cancelled, nothing half-registered). It appends one JSON line per event to ``events.jsonl`` under
``.tusk/runs/<id>/`` and writes ``result.json`` at the end, so the page (or a restarted page) reads progress
from files, and a run outlives the page that started it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tusk._internal.cache import atomic_write
from tusk._internal.process import process_alive
from tusk.errors import LockHeld, TuskError

if TYPE_CHECKING:
    from tusk.core.config import Config

EVENTS, META, RESULT = "events.jsonl", "meta.json", "result.json"
KEEP = 50  # run folders kept
_children: list[subprocess.Popen[bytes]] = []  # runs this process started: reaped as they end


@dataclass
class JobProgress:
    name: str
    status: str = "waiting"  # waiting | running | retrying | succeeded | failed | reused | cancelled
    seconds: float | None = None
    version: str | None = None
    error: str = ""
    started: float | None = None
    log_tail: str = ""

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class RunProgress:
    id: str
    who: str
    started: float
    status: str  # starting | running | succeeded | failed | cancelled | refused | died
    at: str | None = None
    only: str | None = None
    data_commit: str | None = None
    jobs: list[JobProgress] = field(default_factory=list)
    fresh: int = 0
    error: str = ""
    ended: float | None = None
    waiting: str = ""  # whom this run waits for (another run holds the project's lock)

    @property
    def done(self) -> int:
        return sum(1 for j in self.jobs if j.status in ("succeeded", "failed", "reused", "cancelled"))

    @property
    def eta(self) -> float | None:
        """Seconds left, from the jobs finished so far (None until one has)."""
        finished = [j.seconds for j in self.jobs if j.status == "succeeded" and j.seconds is not None]
        if self.status not in ("running", "starting") or not finished or not self.jobs:
            return None
        left = len(self.jobs) - self.done
        running = max(1, sum(1 for j in self.jobs if j.status in ("running", "retrying")))
        return left * (sum(finished) / len(finished)) / running

    @property
    def live(self) -> bool:
        return self.status in ("starting", "running")

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "who": self.who,
            "started": self.started,
            "status": self.status,
            "at": self.at,
            "only": self.only,
            "data_commit": self.data_commit,
            "jobs": [j.to_json() for j in self.jobs],
            "fresh": self.fresh,
            "error": self.error,
            "ended": self.ended,
            "done": self.done,
            "total": len(self.jobs),
            "eta": self.eta,
            "waiting": self.waiting,
        }


def runs_dir(state_dir: Path) -> Path:
    """Where the page's runs write their progress: ``.tusk/runs/``."""
    return state_dir / "runs"


def start(
    config: Config,
    state_dir: Path,
    run_lock: AbstractContextManager[None],
    who: str,
    at: str | None = None,
    only: str | None = None,
    candidates: bool = False,
) -> RunProgress:
    """Start a run of the project of ``config`` in its own process; refused while another run started here is
    still going, or while another holds ``run_lock`` (the project's run lock, taken without waiting)."""
    from tusk._internal.sqlite import child_env

    for run in list_runs(state_dir, 5):
        if run.live:
            raise LockHeld(f"run {run.id} (started by {run.who}) is still going: wait for it or cancel it")
    with run_lock:  # a CLI run or a watcher holds it: refused, naming the holder
        pass
    ident = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + os.urandom(3).hex()
    folder = runs_dir(state_dir) / ident
    folder.mkdir(parents=True)
    meta = {"id": ident, "who": who, "started": time.time(), "at": at, "only": only, "candidates": candidates}
    command = [sys.executable, "-m", "tusk.web.run_child", str(config.path), str(folder)]
    command += ["--at", at] if at else []
    command += ["--only", only] if only else []
    command += ["--candidates"] if candidates else []
    log = (folder / "process.log").open("ab")
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        cwd=config.root,
        env=child_env({"TUSK_RUN_BY": who}),
        start_new_session=True,
    )
    log.close()
    _children.append(process)
    meta["pid"] = process.pid
    atomic_write(folder / META, json.dumps(meta))
    _prune(state_dir)
    return read(state_dir, ident)


def cancel(state_dir: Path, ident: str) -> RunProgress:
    """Stop a run as Ctrl-C stops ``tusk run``: running jobs are cancelled, finished ones stay recorded."""
    run = read(state_dir, ident)
    if not run.live:
        raise TuskError(f"run {ident} is not running ({run.status})")
    pid = _meta(runs_dir(state_dir) / ident).get("pid")
    if not isinstance(pid, int) or not process_alive(pid):
        raise TuskError(f"run {ident} has no live process")
    os.kill(pid, signal.SIGINT)
    return run


def read(state_dir: Path, ident: str) -> RunProgress:
    if not ident or "/" in ident or ident.startswith(".") or not (runs_dir(state_dir) / ident).is_dir():
        raise TuskError(f"no run {ident!r}")
    return _progress(state_dir, runs_dir(state_dir) / ident)


def list_runs(state_dir: Path, limit: int = 20) -> list[RunProgress]:
    for child in list(_children):
        if child.poll() is not None:
            _children.remove(child)
    folder = runs_dir(state_dir)
    if not folder.is_dir():
        return []
    found = sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: p.name, reverse=True)
    return [_progress(state_dir, p, tails=False) for p in found[:limit]]


def _progress(state_dir: Path, folder: Path, tails: bool = True) -> RunProgress:
    meta = _meta(folder)
    run = RunProgress(
        folder.name,
        str(meta.get("who", "?")),
        float(meta.get("started", 0)),
        "starting",
        meta.get("at"),
        meta.get("only"),
    )
    jobs: dict[str, JobProgress] = {}
    for event in _events(folder):
        kind = event.get("event")
        if kind == "waiting":
            run.waiting = str(event.get("message", ""))
        elif kind == "plan":
            run.waiting = ""
            run.status, run.data_commit, run.fresh = "running", event.get("data_commit"), int(event.get("fresh", 0))
            for name in event.get("jobs", []):
                jobs[name] = JobProgress(name)
        elif kind in ("started", "retrying"):
            job = jobs.setdefault(event["job"], JobProgress(event["job"]))
            job.status, job.started = "running" if kind == "started" else "retrying", event.get("time")
        elif kind == "outcome":
            job = jobs.setdefault(event["name"], JobProgress(event["name"]))
            job.status, job.seconds = event.get("status", "failed"), event.get("seconds")
            job.version, job.error = event.get("version"), event.get("error") or ""
    run.jobs = list(jobs.values())
    result = folder / RESULT
    if result.is_file():
        data = json.loads(result.read_text())
        run.status, run.error, run.ended = data["status"], data.get("error", ""), data.get("ended")
    elif run.status in ("starting", "running") and not process_alive(meta.get("pid")):
        run.status, run.error = "died", "the run's process ended without a result (killed?)"
    if tails:
        _tails(state_dir, run)
    return run


def _tails(state_dir: Path, run: RunProgress) -> None:
    from tusk.train import logs

    for job in run.jobs:
        if job.status == "waiting":
            continue
        found = logs.newest_job_log(state_dir / "jobs", job.name)
        if found is not None and found.modified >= run.started - 1:
            if job.status == "failed":  # its traceback, not the log's last bytes
                job.log_tail = logs.read_failure_tail(found.path)
                continue
            try:
                with found.path.open("rb") as handle:
                    handle.seek(max(0, found.path.stat().st_size - 2000))
                    job.log_tail = handle.read().decode("utf-8", "replace")
            except OSError:
                pass


def _events(folder: Path) -> list[dict[str, Any]]:
    path = folder / EVENTS
    if not path.is_file():
        return []
    events = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue  # a line being written
    return events


def _meta(folder: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((folder / META).read_text()))
    except (OSError, ValueError):
        return {}


def _prune(state_dir: Path) -> None:
    import shutil

    folders = sorted((p for p in runs_dir(state_dir).iterdir() if p.is_dir()), key=lambda p: p.name, reverse=True)
    for old in folders[KEEP:]:
        if (old / RESULT).is_file():
            shutil.rmtree(old, ignore_errors=True)
