"""The release log: every move of the current release, append-only, kept as runs in experiment ``tusk-releases``.

A release's own run is its ``created`` event. Each later move of the current pointer (``release rollback``, or
``release create`` finding an identical earlier release) is a run of its own tagged ``tusk.release.event`` =
``rolled_back`` | ``rolled_forward``. An event run is RUNNING while its moves are under way and FINISHED once
every production alias and the current pointer are where it says: a crash half-way leaves a RUNNING event,
which the next command finishes (``ReleaseStore.settle``). Runs carry time, user (``mlflow.user``) and the
code commit, so the log answers "what was in production at time T".

On a local sqlite store the tracker reads the log from MLflow's tables directly (read-only), without importing
MLflow.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tusk.errors import ReleaseError
from tusk.tracking.mlflow import MlflowTracker

RELEASE_EXPERIMENT = "tusk-releases"
EVENT_TAG = "tusk.release.event"
MD5_TAG = "tusk.release.md5"
FROM_TAG = "tusk.release.from"
USER_TAG = "mlflow.user"
EVENTS = ("created", "rolled_back", "rolled_forward")
STATUS = {"RUNNING": "pending", "FINISHED": "done"}  # FAILED/KILLED runs are events that never happened


@dataclass
class ReleaseEvent:
    event: str  # created | rolled_back | rolled_forward
    md5: str  # the release that became current
    time_ms: int
    user: str
    code_commit: str
    previous: str  # md5 of the release current before ("" for none)
    status: str  # done | pending
    run_id: str
    version: str = ""  # the release's vN, filled in from the release list

    def to_json(self) -> dict[str, Any]:
        return {"event": self.event, "release": f"v{self.version}" if self.version else "", "md5": self.md5,
                "time": iso(self.time_ms), "user": self.user, "code_commit": self.code_commit,
                "from": self.previous or None, "status": self.status}


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000).astimezone().isoformat(timespec="milliseconds") if ms else ""


def parse_time(text: str) -> int:
    """An ISO 8601 date or time (local time unless it names a zone), or Unix seconds → epoch milliseconds."""
    value = text.strip()
    try:
        return int(float(value) * 1000)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ReleaseError(f"--at {text!r}: not a time (use ISO 8601, e.g. 2026-11-25T14:30, or Unix seconds)") \
            from exc
    return int(moment.timestamp() * 1000)


def deployments(events: list[ReleaseEvent]) -> list[str]:
    """The releases deployed one over the other, as a stack (md5s, oldest first), from events newest first:
    making a release current pushes it, unless it is already on the stack, when everything deployed over it
    is popped (a rollback to it)."""
    stack: list[str] = []
    for event in reversed(events):
        if event.status != "done":
            continue
        if event.md5 in stack:
            del stack[stack.index(event.md5) + 1:]
        else:
            stack.append(event.md5)
    return stack


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class ReleaseLog:
    def __init__(self, tracker: MlflowTracker) -> None:
        self.tracker = tracker

    # ----- reading -----------------------------------------------------------------------------
    def events(self) -> list[ReleaseEvent]:
        """Every event that happened or is under way, newest first."""
        events = [e for e in (_event(*run) for run in self._runs()) if e is not None]
        return sorted(events, key=lambda e: (e.time_ms, e.run_id), reverse=True)

    def pending(self) -> list[ReleaseEvent]:
        """Events a crash left half-done, oldest first. Cheap: one read-only query on a local store."""
        runs = self._runs(running_only=True)
        events = [e for e in (_event(*run) for run in runs) if e is not None and e.status == "pending"]
        return sorted(events, key=lambda e: (e.time_ms, e.run_id))

    def _runs(self, running_only: bool = False) -> list[tuple[str, str, int, dict[str, str]]]:
        return self.tracker.experiment_runs(RELEASE_EXPERIMENT, running_only)

    # ----- writing -----------------------------------------------------------------------------
    def start(self, event: str, md5: str, previous: str, code_commit: str) -> str:
        """Record that ``event`` is under way (a RUNNING run): before anything moves. → its run id."""
        assert event in EVENTS
        tags = {EVENT_TAG: event, MD5_TAG: md5, FROM_TAG: previous, "tusk.code_commit": code_commit,
                USER_TAG: current_user()}
        return self.tracker.start_run(RELEASE_EXPERIMENT, f"{event}-{md5[:12]}", tags)

    def finish(self, run_id: str, done: bool = True) -> None:
        """The event's moves are all made (FINISHED), or it never took place (FAILED: left out of the log)."""
        self.tracker.end_run(run_id, "FINISHED" if done else "FAILED")


def _event(run_id: str, status: str, start_ms: int, tags: dict[str, str]) -> ReleaseEvent | None:
    if status not in STATUS:
        return None
    kind = tags.get(EVENT_TAG) or ("created" if MD5_TAG in tags else "")  # older release runs: created
    if kind not in EVENTS or not tags.get(MD5_TAG):
        return None
    return ReleaseEvent(event=kind, md5=tags[MD5_TAG], time_ms=start_ms, user=tags.get(USER_TAG, ""),
                        code_commit=tags.get("tusk.code_commit", ""), previous=tags.get(FROM_TAG, ""),
                        status=STATUS[status], run_id=run_id)
