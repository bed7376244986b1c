"""Releases and the release log in MLflow (the ``ReleaseRegistry`` of ``MlflowTracker``).

A release is a version of the registered model ``tusk-release`` tagged ``tusk.release.*`` (the manifest too,
when it fits in a tag) whose run in experiment ``tusk-releases`` holds ``manifest.json``; the model's
``production`` alias is the current release. Each event of the release log is a run in ``tusk-releases``:
RUNNING while under way (pending), FINISHED when done, FAILED when it never took place (void).

On a local sqlite store both are read straight from MLflow's tables, read-only, without importing MLflow.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tusk._internal.crash import crash_point
from tusk.core.manifest import canonical, normalise
from tusk.tracking import tags as T
from tusk.tracking.base import PRODUCTION, RELEASE_MODEL, EventRecord, ReleaseRecord
from tusk.tracking.mlflow_errors import mlflow_errors

if TYPE_CHECKING:
    from tusk.tracking.mlflow import MlflowTracker

RELEASE_EXPERIMENT = "tusk-releases"
MANIFEST_TAG_LIMIT = 100_000
STATUS = {"RUNNING": "pending", "FINISHED": "done"}  # FAILED/KILLED runs are events that never happened


class MlflowReleases:
    def __init__(self, tracker: MlflowTracker) -> None:
        self.tracker = tracker

    @property
    def client(self) -> Any:
        return self.tracker.client

    # ----- releases ------------------------------------------------------------------------------
    def releases(self) -> list[ReleaseRecord]:
        local = self._releases_local()
        if local is not None:
            return local
        with mlflow_errors("cannot list releases"):
            model = self.tracker.registered_model(RELEASE_MODEL)
            if model is None:
                return []
            current = str((model.aliases or {}).get(PRODUCTION, ""))
            versions = self.client.search_model_versions(f"name = '{RELEASE_MODEL}'", max_results=100_000)
            found = [self._record(v, current) for v in versions]
        return sorted(found, key=lambda r: int(r.version))

    def _releases_local(self) -> list[ReleaseRecord] | None:
        """From MLflow's registry tables (read-only); None when a manifest is only in an artifact."""
        conn = self.tracker.local_registry()
        if conn is None:
            return None
        with conn:
            versions = conn.execute(
                "SELECT version, creation_time, run_id, source FROM model_versions WHERE name = ? "
                "AND current_stage != 'Deleted_Internal'",
                (RELEASE_MODEL,),
            ).fetchall()
            tags: dict[int, dict[str, str]] = {}
            for version, key, value in conn.execute(
                "SELECT version, key, value FROM model_version_tags WHERE name = ?", (RELEASE_MODEL,)
            ):
                tags.setdefault(int(version), {})[key] = value
            alias = conn.execute(
                "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?", (RELEASE_MODEL, PRODUCTION)
            ).fetchone()
        found = []
        for version, created, run_id, source in versions:
            held = tags.get(int(version), {})
            manifest = json.loads(held[T.RELEASE_MANIFEST]) if T.RELEASE_MANIFEST in held else _local_manifest(source)
            if manifest is None:
                return None
            found.append(
                ReleaseRecord(
                    str(version),
                    held,
                    manifest,
                    int(created or 0),
                    run_id,
                    current=alias is not None and int(alias[0]) == int(version),
                )
            )
        return sorted(found, key=lambda r: int(r.version))

    def _record(self, version: Any, current: str) -> ReleaseRecord:
        held = dict(version.tags or {})
        manifest = (
            json.loads(held[T.RELEASE_MANIFEST])
            if T.RELEASE_MANIFEST in held
            else self._manifest_artifact(version.run_id)
        )
        return ReleaseRecord(
            str(version.version),
            held,
            manifest,
            int(version.creation_timestamp or 0),
            version.run_id,
            current=str(version.version) == current,
        )

    def _manifest_artifact(self, run_id: str) -> dict[str, str]:
        import mlflow.artifacts

        with tempfile.TemporaryDirectory() as tmp:
            path = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path="manifest.json", dst_path=tmp, tracking_uri=self.tracker.url
            )
            return normalise(json.loads(Path(path).read_text()))

    def record_release(
        self, manifest: Mapping[str, str], tags: Mapping[str, str], event_tags: Mapping[str, str]
    ) -> ReleaseRecord:
        """The release's run (its ``created`` event: RUNNING until the release is current), its manifest, its
        version of ``tusk-release``, the pointer moved to it, then the run FINISHED."""
        client = self.client
        manifest = normalise(manifest)
        version_tags = dict(tags)
        text = canonical(manifest)
        if len(text) <= MANIFEST_TAG_LIMIT:
            version_tags[T.RELEASE_MANIFEST] = text
        md5 = tags.get(T.RELEASE_MD5, "")
        with mlflow_errors("cannot record the release"):
            experiment = self.tracker.experiment(RELEASE_EXPERIMENT)
            run = client.create_run(
                experiment,
                run_name=f"release-{md5[:12]}",
                start_time=int(time.time() * 1000),
                tags={**tags, **event_tags},
            )
            crash_point("release.run")
            with tempfile.TemporaryDirectory() as tmp:
                (Path(tmp) / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
                client.log_artifact(run.info.run_id, str(Path(tmp) / "manifest.json"))
            crash_point("release.artifact")
            if self.tracker.registered_model(RELEASE_MODEL) is None:
                client.create_registered_model(RELEASE_MODEL, description="tusk releases: one version per manifest")
                crash_point("release.model")
            version = client.create_model_version(
                RELEASE_MODEL,
                f"{run.info.artifact_uri}",
                run_id=run.info.run_id,
                tags=version_tags,
                await_creation_for=0,
            )
            crash_point("release.version")
            self.point(str(version.version))
            crash_point("release.current")
            client.set_terminated(run.info.run_id)
        return ReleaseRecord(
            str(version.version),
            version_tags,
            manifest,
            int(version.creation_timestamp or 0),
            run.info.run_id,
            current=True,
        )

    def point(self, version: str) -> None:
        with mlflow_errors("cannot move the current release"):
            self.client.set_registered_model_alias(RELEASE_MODEL, PRODUCTION, version)

    def tag_release(self, version: str, tags: Mapping[str, str]) -> None:
        with mlflow_errors("cannot tag the release"):
            for key, value in tags.items():
                self.client.set_model_version_tag(RELEASE_MODEL, version, key, value)

    # ----- the release log ---------------------------------------------------------------------------
    def events(self, pending_only: bool = False) -> list[EventRecord]:
        runs = self.tracker.experiment_runs(RELEASE_EXPERIMENT, running_only=pending_only)
        return [EventRecord(run_id, STATUS.get(status, "void"), start, held) for run_id, status, start, held in runs]

    def start_event(self, tags: Mapping[str, str]) -> str:
        name = f"{tags.get(T.RELEASE_EVENT, 'event')}-{tags.get(T.RELEASE_MD5, '')[:12]}"
        return self.tracker.start_run(RELEASE_EXPERIMENT, name, tags)

    def finish_event(self, event_id: str, done: bool = True) -> None:
        self.tracker.end_run(event_id, "FINISHED" if done else "FAILED")


def _local_manifest(source: str | None) -> dict[str, str] | None:
    """A manifest too big for a tag (over ~5,000 models), read from the release run's local artifact folder;
    None when it is elsewhere (a server's artifact store: MLflow fetches it)."""
    from urllib.parse import unquote, urlsplit

    if not source or not source.startswith("file:"):
        return None
    path = Path(unquote(urlsplit(source).path)) / "manifest.json"
    try:
        return normalise(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None
