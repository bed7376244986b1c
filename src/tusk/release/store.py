"""Releases: manifests of production versions, hashed, recorded, made current and rolled back.

A release is kept by the tracker's ``ReleaseRegistry`` (in MLflow: a version of the registered model
``tusk-release`` whose run holds ``manifest.json``, see ``tusk.tracking.mlflow_releases``) with the manifest's
md5 and sha256 and the image; the registry's *current* pointer is the deployed release. ``create`` moves it to
the new (or identical, already existing) release; ``rollback`` moves it back without a rebuild and points every
instance's production alias at the release's versions (removing the alias of instances it did not hold), so
the next ``create`` makes the same manifest and re-ships nothing. Each move is an event of the release log
(``history``), recorded before anything moves and marked done after: ``settle`` finishes an event a crash left
half-done, and every command that opens the tracker calls it first.

A use case over two ports (the tracker's production aliases, the release registry); the rules (which release
is the previous one, which way a move goes) are pure functions at the bottom.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tusk._internal.crash import crash_point
from tusk.core.manifest import hashes, normalise
from tusk.errors import ReleaseError
from tusk.release.history import ReleaseEvent, ReleaseLog, current_user, deployments, parse_time
from tusk.tracking import tags as T
from tusk.tracking.base import ReleaseRecord, ReleaseRegistry, Tracker


@dataclass
class Release:
    version: str
    md5: str
    sha256: str
    image: str
    models: dict[str, str]
    created_ms: int = 0
    code_commit: str = ""
    built: bool = False
    current: bool = False
    run_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    verified: ReleaseEvent | None = None  # its last ``tusk release verify`` (filled in by ``with_verdict``)

    @property
    def id(self) -> str:
        return self.md5

    @property
    def reference(self) -> str:
        return self.image

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.md5,
            "version": self.version,
            "md5": self.md5,
            "sha256": self.sha256,
            "image": self.image,
            "models": self.models,
            "created": _iso(self.created_ms),
            "code_commit": self.code_commit,
            "built": self.built,
            "current": self.current,
            "verified": (
                {k: v for k, v in self.verified.to_json().items() if k in ("time", "verdict", "verified_by", "detail")}
                if self.verified
                else None
            ),
        }


def _release(record: ReleaseRecord) -> Release:
    tags = record.tags
    return Release(
        version=record.version,
        md5=tags.get(T.RELEASE_MD5, ""),
        sha256=tags.get(T.RELEASE_SHA256, ""),
        image=tags.get(T.RELEASE_IMAGE, ""),
        models=dict(record.manifest),
        created_ms=record.created_ms,
        code_commit=tags.get(T.CODE_COMMIT, ""),
        built=tags.get(T.RELEASE_BUILT) == "true",
        current=record.current,
        run_id=record.run_id,
    )


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(ms / 1000)) if ms else ""


class ReleaseStore:
    def __init__(self, tracker: Tracker, registry: ReleaseRegistry | None = None) -> None:
        self.tracker = tracker
        self.registry = registry if registry is not None else tracker.release_registry()
        self.history = ReleaseLog(self.registry)

    # ----- reading -----------------------------------------------------------------------------
    def list(self) -> builtins.list[Release]:
        """Every release, oldest first."""
        return sorted((_release(r) for r in self.registry.releases()), key=lambda r: int(r.version))

    def current(self) -> Release | None:
        return next((r for r in self.list() if r.current), None)

    def find(self, ident: str) -> Release:
        """A release by md5, a unique md5 prefix (4+ characters), or its version ``vN``."""
        releases = self.list()
        if not releases:
            raise ReleaseError("no releases yet (run 'tusk release create')")
        wanted = ident.strip()
        if wanted.lower().startswith("v") and wanted[1:].isdigit():
            found = [r for r in releases if r.version == wanted[1:]]
        else:
            found = [r for r in releases if r.md5 == wanted] or [
                r for r in releases if len(wanted) >= 4 and r.md5.startswith(wanted)
            ]
        if len(found) != 1:
            raise ReleaseError(f"no release {ident!r}" if not found else f"release id {ident!r} is ambiguous")
        return found[0]

    # ----- writing -----------------------------------------------------------------------------
    def create(
        self,
        manifest: Mapping[str, str],
        image_repo: str,
        code_commit: str = "",
        build: Callable[[str, str], bool] | None = None,
    ) -> tuple[Release, bool]:
        """Record a release of ``manifest`` (or find the identical one) and make it current.

        ``build(image, md5)`` runs before anything is recorded and says whether an image was built; if
        it raises, no release is recorded. → (release, created)
        """
        if not manifest:
            raise ReleaseError("nothing to release: no model has a production version (run 'tusk run')")
        self.settle()
        md5, sha256 = hashes(manifest)
        releases = self.list()
        existing = next((r for r in releases if r.md5 == md5), None)
        current = next((r for r in releases if r.current), None)
        if existing is not None:
            if not existing.current:
                self._move_pointer(existing, current, code_commit)
            existing.current = True
            return existing, False
        image = f"{image_repo}:{md5}"
        built = build(image, md5) if build else False
        tags = {
            T.RELEASE_MD5: md5,
            T.RELEASE_SHA256: sha256,
            T.RELEASE_IMAGE: image,
            T.RELEASE_MODELS: str(len(manifest)),
            T.RELEASE_BUILT: "true" if built else "false",
            T.CODE_COMMIT: code_commit,
        }
        event = {T.RELEASE_EVENT: "created", T.RELEASE_FROM: current.md5 if current else "", T.USER: current_user()}
        return _release(self.registry.record_release(normalise(manifest), tags, event)), True

    def mark_built(self, release: Release) -> None:
        """``tusk release build`` built the image of ``release``: its record says so (``built``)."""
        self.registry.tag_release(release.version, {T.RELEASE_BUILT: "true"})
        release.built = True

    def _move_pointer(self, target: Release, current: Release | None, code_commit: str) -> None:
        """``create`` found an identical earlier release: it becomes current again (the aliases already are
        its versions, so only the pointer moves), logged as a roll back or forward."""
        run_id = self.history.start(direction(target, current), target.md5, current.md5 if current else "", code_commit)
        self.registry.point(target.version)
        self.history.finish(run_id)

    def rollback(self, ident: str | None = None, code_commit: str = "") -> tuple[Release | None, Release]:
        """Make release ``ident`` current, or the one before the current release, and point every
        instance's production alias at its versions (removing the alias of instances it did not hold).
        A release holding a version that no longer exists is refused before anything moves. → (from, to)"""
        self.settle()
        releases = self.list()
        current = next((r for r in releases if r.current), None)
        target = self.find(ident) if ident else previous_release(releases, current, self.history.events())
        missing = self.tracker.missing_versions(target.models.items())
        if missing:
            shown = ", ".join(f"{name} v{version}" for name, version in missing[:3])
            raise ReleaseError(
                f"release v{target.version} holds {shown}{' …' if len(missing) > 3 else ''}, which "
                f"no longer exist{'s' if len(missing) == 1 else ''}; nothing was moved"
            )
        run_id = self.history.start(direction(target, current), target.md5, current.md5 if current else "", code_commit)
        self._apply(target)
        self.history.finish(run_id)
        target.current = True
        if current is not None and current is not target:
            current.current = False
        return current, target

    def _apply(self, target: Release) -> None:
        """Every production alias on ``target``'s versions, then the current pointer on ``target``. Safe to
        repeat: a second run after a crash moves only what the first did not."""
        instances = set(self.tracker.states())
        holding = set(self.tracker.aliases()) & instances
        targets: dict[str, str | None] = {name: None for name in holding}
        targets.update(target.models)
        self.tracker.move_production(targets)
        crash_point("release.rollback.models")
        self.registry.point(target.version)
        crash_point("release.rollback")

    # ----- the release log ---------------------------------------------------------------------
    def settle(self) -> builtins.list[ReleaseEvent]:
        """Finish the events a crash left half-done (oldest first) → them. Nothing to do is one cheap read."""
        pending = self.history.pending()
        if not pending:
            return []
        by_md5 = {r.md5: r for r in self.list()}
        for event in pending:
            if not event.moves:  # a verdict cut short before it was recorded: it did not happen
                self.history.finish(event.run_id, done=False)
                continue
            target = by_md5.get(event.md5)
            if target is None:  # a release whose version was never recorded: it did not happen
                self.history.finish(event.run_id, done=False)
                continue
            if event.event == "created":
                self.registry.point(target.version)
            else:
                self._apply(target)
            self.history.finish(event.run_id)
        return pending

    def log(self) -> builtins.list[ReleaseEvent]:
        """Every release event, newest first (``release`` filled in as vN)."""
        self.settle()
        versions = {r.md5: r.version for r in self.list()}
        events = self.history.events()
        for event in events:
            event.version = versions.get(event.md5, "")
        return events

    def record_verdict(self, md5: str, ok: bool, verified_by: str, detail: str = "", code_commit: str = "") -> None:
        """``tusk release verify``'s verdict on release ``md5``, a ``verified`` event of the log (it moves nothing:
        what is current, what a rollback goes back to, and what was current when, stay as they were)."""
        self.history.verified(md5, ok, verified_by, detail, code_commit)

    def with_verdict(self, release: Release) -> Release:
        """``release`` with its last verdict (``verified``), read from the log."""
        release.verified = next(
            (e for e in self.history.events() if e.event == "verified" and e.md5 == release.md5 and e.status == "done"),
            None,
        )
        return release

    def current_at(self, when: str) -> Release:
        """The release that was current at ``when`` (ISO 8601 or Unix seconds): the last event before it."""
        moment = parse_time(when)
        done = [e for e in self.log() if e.status == "done" and e.moves]
        before = [e for e in done if e.time_ms <= moment]
        if not before:
            first = f" (the first event was at {done[-1].to_json()['time']})" if done else ""
            raise ReleaseError(f"no release was current at {when}{first}")
        release = self.find(before[0].md5)
        deployed = self.current()
        release.current = deployed is not None and release.md5 == deployed.md5
        return release


# ----- the rules, pure ----------------------------------------------------------------------------
def previous_release(releases: list[Release], current: Release | None, events: list[ReleaseEvent]) -> Release:
    """The release deployed before the current one, as the log tells: a release that was rolled back from
    is not gone back to (A, B, rollback to A, C: C's previous is A). Without a log that agrees with the
    current pointer (releases made before the log existed), the release numbered before the current."""
    if current is None:
        raise ReleaseError("no current release to roll back from")
    stack = deployments(events)
    by_md5 = {r.md5: r for r in releases}
    if stack and stack[-1] == current.md5:
        if len(stack) < 2 or stack[-2] not in by_md5:
            raise ReleaseError(
                f"release {current.md5} (v{current.version}) is the first deployed; nothing to roll back to"
            )
        return by_md5[stack[-2]]
    older = [r for r in releases if int(r.version) < int(current.version)]
    if not older:
        raise ReleaseError(f"release {current.md5} (v{current.version}) is the first; nothing to roll back to")
    return older[-1]


def direction(target: Release, current: Release | None) -> str:
    return "rolled_forward" if current is None or int(target.version) > int(current.version) else "rolled_back"
