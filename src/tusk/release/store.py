"""Releases recorded in MLflow.

A release is a run in experiment ``tusk-releases`` (``manifest.json`` as artifact) and a version of the
registered model ``tusk-release`` tagged with the manifest's md5 and sha256, the image, and the
manifest itself. The ``production`` alias of ``tusk-release`` is the deployed release: ``create`` moves it
to the new (or identical, already existing) release, ``rollback`` moves it back without a rebuild and points
every instance's production alias at the release's versions (removing the alias of instances it did not
hold), so the next ``create`` makes the same manifest and re-ships nothing. Each move is an event of the
release log (``history``), recorded before anything moves and marked done after: ``settle`` finishes an
event a crash left half-done, and every command that opens the tracker calls it first.
"""

from __future__ import annotations

import builtins
import json
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tusk._crash import crash_point
from tusk.errors import ReleaseError
from tusk.release.history import (RELEASE_EXPERIMENT, ReleaseEvent, ReleaseLog, current_user, deployments,
                                  parse_time)
from tusk.release.manifest import canonical, hashes, normalise
from tusk.tracking.base import PRODUCTION, RELEASE_MODEL
from tusk.tracking.mlflow import MlflowTracker, mlflow_errors

MANIFEST_TAG_LIMIT = 100_000


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

    @property
    def id(self) -> str:
        return self.md5

    @property
    def reference(self) -> str:
        return self.image

    def to_json(self) -> dict[str, Any]:
        return {"id": self.md5, "version": self.version, "md5": self.md5, "sha256": self.sha256,
                "image": self.image, "models": self.models, "created": _iso(self.created_ms),
                "code_commit": self.code_commit, "built": self.built, "current": self.current}


def _from_tags(version: str, tags: Mapping[str, str], created_ms: int, run_id: str | None, current: bool,
               models: dict[str, str] | None = None) -> Release:
    if models is None:
        models = json.loads(tags["tusk.release.manifest"])
    return Release(version=version, md5=tags.get("tusk.release.md5", ""), sha256=tags.get("tusk.release.sha256", ""),
                   image=tags.get("tusk.release.image", ""), models=models, created_ms=created_ms,
                   code_commit=tags.get("tusk.code_commit", ""), built=tags.get("tusk.release.built") == "true",
                   current=current, run_id=run_id)


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(ms / 1000)) if ms else ""


class ReleaseStore:
    def __init__(self, tracker: MlflowTracker) -> None:
        self.tracker = tracker
        self.history = ReleaseLog(tracker)

    @property
    def client(self) -> Any:
        return self.tracker.client

    # ----- reading -----------------------------------------------------------------------------
    def list(self) -> list[Release]:
        """Every release, oldest first."""
        local = self._list_local()
        if local is not None:
            return local
        with mlflow_errors("cannot list releases"):
            if not self._model_exists():
                return []
            versions = self.client.search_model_versions(f"name = '{RELEASE_MODEL}'", max_results=100_000)
            current = self._current_version()
        releases = [self._release(v, current) for v in versions]
        return sorted(releases, key=lambda r: int(r.version))

    def _list_local(self) -> "builtins.list[Release] | None":
        """On a local sqlite store, read the releases straight from MLflow's registry tables (read-only):
        no ``import mlflow``. None when a manifest is only in an artifact (then MLflow reads it)."""
        conn = self.tracker._local_registry()
        if conn is None:
            return None
        with conn:
            versions = conn.execute("SELECT version, creation_time, run_id FROM model_versions WHERE name = ? "
                                    "AND current_stage != 'Deleted_Internal'", (RELEASE_MODEL,)).fetchall()
            tags: dict[int, dict[str, str]] = {}
            for version, key, value in conn.execute("SELECT version, key, value FROM model_version_tags "
                                                    "WHERE name = ?", (RELEASE_MODEL,)):
                tags.setdefault(int(version), {})[key] = value
            alias = conn.execute("SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?",
                                 (RELEASE_MODEL, PRODUCTION)).fetchone()
        releases = []
        for version, created, run_id in versions:
            found = tags.get(int(version), {})
            if "tusk.release.manifest" not in found:
                return None
            releases.append(_from_tags(str(version), found, int(created or 0), run_id,
                                       current=alias is not None and int(alias[0]) == int(version)))
        return sorted(releases, key=lambda r: int(r.version))

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
            found = [r for r in releases if r.md5 == wanted] or \
                [r for r in releases if len(wanted) >= 4 and r.md5.startswith(wanted)]
        if len(found) != 1:
            raise ReleaseError(f"no release {ident!r}" if not found else f"release id {ident!r} is ambiguous")
        return found[0]

    def _model_exists(self) -> bool:
        try:
            self.client.get_registered_model(RELEASE_MODEL)
            return True
        except Exception as exc:
            if "RESOURCE_DOES_NOT_EXIST" in str(getattr(exc, "error_code", "")) or "not found" in str(exc).lower():
                return False
            raise

    def _current_version(self) -> str | None:
        aliases = self.client.get_registered_model(RELEASE_MODEL).aliases or {}
        return str(aliases[PRODUCTION]) if PRODUCTION in aliases else None

    def _release(self, version: Any, current: str | None) -> Release:
        tags = dict(version.tags or {})
        models = None if "tusk.release.manifest" in tags else self._manifest_artifact(version.run_id)
        return _from_tags(str(version.version), tags, int(version.creation_timestamp or 0), version.run_id,
                          current=str(version.version) == current, models=models)

    def _manifest_artifact(self, run_id: str) -> dict[str, str]:
        import mlflow.artifacts

        with tempfile.TemporaryDirectory() as tmp:
            path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="manifest.json", dst_path=tmp,
                                                       tracking_uri=self.tracker.url)
            return normalise(json.loads(Path(path).read_text()))

    # ----- writing -----------------------------------------------------------------------------
    def create(self, manifest: Mapping[str, str], image_repo: str, code_commit: str = "",
               build: Callable[[str, str], bool] | None = None) -> tuple[Release, bool]:
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
        return self._record(normalise(manifest), md5, sha256, image, code_commit, built, current), True

    def _move_pointer(self, target: Release, current: Release | None, code_commit: str) -> None:
        """``create`` found an identical earlier release: it becomes current again (the aliases already are
        its versions, so only the pointer moves), logged as a roll back or forward."""
        run_id = self.history.start(_direction(target, current), target.md5, current.md5 if current else "",
                                    code_commit)
        self._point(target.version)
        self.history.finish(run_id)

    def _record(self, manifest: dict[str, str], md5: str, sha256: str, image: str, code_commit: str,
                built: bool, current: Release | None = None) -> Release:
        """The release's run (its ``created`` event: RUNNING until the release is current), its manifest, its
        version of ``tusk-release``, the pointer moved to it, then the run FINISHED."""
        client = self.client
        text = canonical(manifest)
        tags = {"tusk.release.md5": md5, "tusk.release.sha256": sha256, "tusk.release.image": image,
                "tusk.release.models": str(len(manifest)), "tusk.release.built": "true" if built else "false",
                "tusk.code_commit": code_commit}
        event_tags = {"tusk.release.event": "created", "tusk.release.from": current.md5 if current else "",
                      "mlflow.user": current_user()}
        if len(text) <= MANIFEST_TAG_LIMIT:
            tags["tusk.release.manifest"] = text
        with mlflow_errors("cannot record the release"):
            experiment = self.tracker._experiment(RELEASE_EXPERIMENT)
            run = client.create_run(experiment, run_name=f"release-{md5[:12]}", start_time=int(time.time() * 1000),
                                    tags={**{k: v for k, v in tags.items() if k != "tusk.release.manifest"},
                                          **event_tags})
            crash_point("release.run")
            with tempfile.TemporaryDirectory() as tmp:
                (Path(tmp) / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
                client.log_artifact(run.info.run_id, str(Path(tmp) / "manifest.json"))
            crash_point("release.artifact")
            if not self._model_exists():
                client.create_registered_model(RELEASE_MODEL, description="tusk releases: one version per manifest")
                crash_point("release.model")
            version = client.create_model_version(RELEASE_MODEL, f"{run.info.artifact_uri}", run_id=run.info.run_id,
                                                  tags=tags, await_creation_for=0)
            crash_point("release.version")
            self._point(str(version.version))
            crash_point("release.current")
            client.set_terminated(run.info.run_id)
        return Release(str(version.version), md5, sha256, image, manifest, int(version.creation_timestamp or 0),
                       code_commit, built, True, run.info.run_id)

    def _point(self, version: str) -> None:
        with mlflow_errors("cannot move the current release"):
            self.client.set_registered_model_alias(RELEASE_MODEL, PRODUCTION, version)

    def rollback(self, ident: str | None = None, code_commit: str = "") -> tuple[Release | None, Release]:
        """Make release ``ident`` current, or the one before the current release, and point every
        instance's production alias at its versions (removing the alias of instances it did not hold).
        A release holding a version that no longer exists is refused before anything moves. → (from, to)"""
        self.settle()
        releases = self.list()
        current = next((r for r in releases if r.current), None)
        if ident:
            target = self.find(ident)
        else:
            target = self._previous(releases, current)
        missing = self.tracker.missing_versions(target.models.items())
        if missing:
            shown = ", ".join(f"{name} v{version}" for name, version in missing[:3])
            raise ReleaseError(f"release v{target.version} holds {shown}{' …' if len(missing) > 3 else ''}, which "
                               f"no longer exist{'s' if len(missing) == 1 else ''}; nothing was moved")
        run_id = self.history.start(_direction(target, current), target.md5, current.md5 if current else "",
                                    code_commit)
        self._apply(target)
        self.history.finish(run_id)
        target.current = True
        if current is not None and current is not target:
            current.current = False
        return current, target

    def _previous(self, releases: "builtins.list[Release]", current: Release | None) -> Release:
        """The release deployed before the current one, as the log tells: a release that was rolled back from
        is not gone back to (A, B, rollback to A, C: C's previous is A). Without a log that agrees with the
        current pointer (releases made before the log existed), the release numbered before the current."""
        if current is None:
            raise ReleaseError("no current release to roll back from")
        stack = deployments(self.history.events())
        by_md5 = {r.md5: r for r in releases}
        if stack and stack[-1] == current.md5:
            if len(stack) < 2 or stack[-2] not in by_md5:
                raise ReleaseError(f"release {current.md5} (v{current.version}) is the first deployed; nothing to "
                                   f"roll back to")
            return by_md5[stack[-2]]
        older = [r for r in releases if int(r.version) < int(current.version)]
        if not older:
            raise ReleaseError(f"release {current.md5} (v{current.version}) is the first; nothing to roll back to")
        return older[-1]

    def _apply(self, target: Release) -> None:
        """Every production alias on ``target``'s versions, then the current pointer on ``target``. Safe to
        repeat: a second run after a crash moves only what the first did not."""
        instances = set(self.tracker.states())
        holding = set(self.tracker.aliases()) & instances
        targets: dict[str, str | None] = {name: None for name in holding}
        targets.update(target.models)
        self.tracker.move_production(targets)
        crash_point("release.rollback.models")
        self._point(target.version)
        crash_point("release.rollback")

    # ----- the release log ---------------------------------------------------------------------
    def settle(self) -> "builtins.list[ReleaseEvent]":
        """Finish the events a crash left half-done (oldest first) → them. Nothing to do is one cheap read."""
        pending = self.history.pending()
        if not pending:
            return []
        by_md5 = {r.md5: r for r in self.list()}
        for event in pending:
            target = by_md5.get(event.md5)
            if target is None:  # a release whose version was never recorded: it did not happen
                self.history.finish(event.run_id, done=False)
                continue
            if event.event == "created":
                self._point(target.version)
            else:
                self._apply(target)
            self.history.finish(event.run_id)
        return pending

    def log(self) -> "builtins.list[ReleaseEvent]":
        """Every release event, newest first (``release`` filled in as vN)."""
        self.settle()
        versions = {r.md5: r.version for r in self.list()}
        events = self.history.events()
        for event in events:
            event.version = versions.get(event.md5, "")
        return events

    def current_at(self, when: str) -> Release:
        """The release that was current at ``when`` (ISO 8601 or Unix seconds): the last event before it."""
        moment = parse_time(when)
        done = [e for e in self.log() if e.status == "done"]
        before = [e for e in done if e.time_ms <= moment]
        if not before:
            first = f" (the first event was at {done[-1].to_json()['time']})" if done else ""
            raise ReleaseError(f"no release was current at {when}{first}")
        release = self.find(before[0].md5)
        deployed = self.current()
        release.current = deployed is not None and release.md5 == deployed.md5
        return release


def _direction(target: Release, current: Release | None) -> str:
    return "rolled_forward" if current is None or int(target.version) > int(current.version) else "rolled_back"
