"""The release log: every move of the current release, append-only, kept by the tracker's ``ReleaseRegistry``.

A release's own record is its ``created`` event. Each later move of the current pointer (``release rollback``, or
``release create`` finding an identical earlier release) is an event of its own, tagged ``tusk.release.event`` =
``rolled_back`` | ``rolled_forward``. ``tusk release verify`` adds a ``verified`` event (its verdict ok | failed and
what served the release: the build context, podman or docker): it moves nothing, so ``deployments`` and the
questions of what was current skip it (``MOVES``), and a crash never leaves one to finish (``settle`` voids it).
An event is *pending* while its moves are under way and *done* once every production alias and the current
pointer are where it says: a crash half-way leaves a pending event, which the next command finishes
(``ReleaseStore.settle``). Events carry time, user and the code commit, so the log answers "what was in
production at time T". Everything here but ``ReleaseLog``'s five calls is pure.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tusk.errors import ReleaseError
from tusk.tracking import tags as T
from tusk.tracking.base import EventRecord, ReleaseRegistry

MOVES = ("created", "rolled_back", "rolled_forward")  # events that move the current pointer
EVENTS = (*MOVES, "verified")
DETAIL_LIMIT = 1000  # characters of a verdict's detail kept in its tag


@dataclass
class ReleaseEvent:
    event: str  # created | rolled_back | rolled_forward | verified
    md5: str  # the release that became current
    time_ms: int
    user: str
    code_commit: str
    previous: str  # md5 of the release current before ("" for none)
    status: str  # done | pending
    run_id: str
    version: str = ""  # the release's vN, filled in from the release list
    verdict: str = ""  # a verified event: ok | failed
    verified_by: str = ""  # a verified event: context | podman | docker
    detail: str = ""  # a verified event: what failed

    @property
    def moves(self) -> bool:
        """It made its release current (created, rolled back or forward); a ``verified`` event moves nothing."""
        return self.event in MOVES

    def to_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "event": self.event,
            "release": f"v{self.version}" if self.version else "",
            "md5": self.md5,
            "time": iso(self.time_ms),
            "user": self.user,
            "code_commit": self.code_commit,
            "from": self.previous or None,
            "status": self.status,
        }
        if self.event == "verified":
            shown.update(verdict=self.verdict, verified_by=self.verified_by, detail=self.detail)
        return shown

    def describe(self) -> str:
        """``verified ok at 2026-12-07 03:10:12 (context)``: a verified event in a line."""
        return f"verified {self.verdict} at {iso(self.time_ms)[:19].replace('T', ' ')} ({self.verified_by})"


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
        raise ReleaseError(f"--at {text!r}: not a time (use ISO 8601, e.g. 2026-11-25T14:30, or Unix seconds)") from exc
    return int(moment.timestamp() * 1000)


def deployments(events: list[ReleaseEvent]) -> list[str]:
    """The releases deployed one over the other, as a stack (md5s, oldest first), from events newest first:
    making a release current pushes it, unless it is already on the stack, when everything deployed over it
    is popped (a rollback to it). Events that move nothing (``verified``) are not deployments."""
    stack: list[str] = []
    for event in reversed(events):
        if event.status != "done" or not event.moves:
            continue
        if event.md5 in stack:
            del stack[stack.index(event.md5) + 1 :]
        else:
            stack.append(event.md5)
    return stack


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class ReleaseLog:
    def __init__(self, registry: ReleaseRegistry) -> None:
        self.registry = registry

    def events(self) -> list[ReleaseEvent]:
        """Every event that happened or is under way, newest first."""
        events = [e for e in (_event(record) for record in self.registry.events()) if e is not None]
        return sorted(events, key=lambda e: (e.time_ms, e.run_id), reverse=True)

    def pending(self) -> list[ReleaseEvent]:
        """Events a crash left half-done, oldest first. Cheap: one read-only query on a local store."""
        events = [e for e in (_event(r) for r in self.registry.events(pending_only=True)) if e is not None]
        return sorted([e for e in events if e.status == "pending"], key=lambda e: (e.time_ms, e.run_id))

    def start(self, event: str, md5: str, previous: str, code_commit: str) -> str:
        """Record that ``event`` is under way (pending): before anything moves. → its id."""
        assert event in MOVES
        return self.registry.start_event(
            {
                T.RELEASE_EVENT: event,
                T.RELEASE_MD5: md5,
                T.RELEASE_FROM: previous,
                T.CODE_COMMIT: code_commit,
                T.USER: current_user(),
            }
        )

    def verified(self, md5: str, ok: bool, verified_by: str, detail: str, code_commit: str = "") -> str:
        """Record the verdict of ``tusk release verify`` on release ``md5`` (done at once: it moves nothing). → id"""
        run_id = self.registry.start_event(
            {
                T.RELEASE_EVENT: "verified",
                T.RELEASE_MD5: md5,
                T.RELEASE_VERDICT: "ok" if ok else "failed",
                T.RELEASE_VERIFIED_BY: verified_by,
                T.RELEASE_VERIFY_DETAIL: detail[:DETAIL_LIMIT],
                T.CODE_COMMIT: code_commit,
                T.USER: current_user(),
            }
        )
        self.registry.finish_event(run_id)
        return run_id

    def finish(self, event_id: str, done: bool = True) -> None:
        """The event's moves are all made (done), or it never took place (left out of the log)."""
        self.registry.finish_event(event_id, done)


def _event(record: EventRecord) -> ReleaseEvent | None:
    if record.status not in ("done", "pending"):
        return None
    tags = record.tags
    kind = tags.get(T.RELEASE_EVENT) or ("created" if T.RELEASE_MD5 in tags else "")  # older release runs: created
    if kind not in EVENTS or not tags.get(T.RELEASE_MD5):
        return None
    return ReleaseEvent(
        event=kind,
        md5=tags[T.RELEASE_MD5],
        time_ms=record.time_ms,
        user=tags.get(T.USER, ""),
        code_commit=tags.get(T.CODE_COMMIT, ""),
        previous=tags.get(T.RELEASE_FROM, ""),
        status=record.status,
        run_id=record.id,
        verdict=tags.get(T.RELEASE_VERDICT, ""),
        verified_by=tags.get(T.RELEASE_VERIFIED_BY, ""),
        detail=tags.get(T.RELEASE_VERIFY_DETAIL, ""),
    )
