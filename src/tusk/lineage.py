"""Lineage both ways: a model version → its data commit, code commit, inputs and releases; a data commit →
the versions trained from it → the releases that hold them; a release → every model's commits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tusk.errors import TrackingError
from tusk.release.store import ReleaseStore

if TYPE_CHECKING:
    from tusk.project import Project


@dataclass
class VersionLineage:
    name: str
    version: str
    data_commit: str
    code_commit: str
    code_dirty: bool
    fingerprint: str
    inputs: dict[str, dict[str, str]]
    metrics: dict[str, float]
    params: dict[str, Any]
    releases: list[str]
    previous: str | None = None  # the version before, and what changed in the data since its commit
    data_changes: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def parse_target(text: str) -> tuple[str, str | None]:
    name, _, version = text.partition("@")
    return name, (version.lstrip("v") or None)


def of_version(project: "Project", target: str) -> VersionLineage:
    name, version = parse_target(target)
    tracker = project.tracker
    versions = tracker.versions(name)
    if not versions:
        raise TrackingError(f"no registered model {name!r}")
    chosen = next((v for v in versions if v.version == version), None) if version else \
        next((v for v in versions if "production" in v.aliases), versions[0])
    if chosen is None:
        raise TrackingError(f"{name} has no version {version} (versions: {', '.join(v.version for v in versions)})")
    info = tracker.version(name, chosen.version)
    tags = info.tags
    older = [v for v in versions if int(v.version) < int(chosen.version)]
    previous = older[0] if older else None
    lineage = VersionLineage(
        name=name, version=chosen.version, data_commit=tags.get("tusk.data_commit", ""),
        code_commit=tags.get("tusk.code_commit", ""), code_dirty=tags.get("tusk.code_dirty") == "true",
        fingerprint=tags.get("tusk.fingerprint", ""), metrics=info.metrics,
        inputs={key.split(".")[2]: {"digest": tags[key], "rows": tags.get(key.replace(".digest", ".rows"), "")}
                for key in tags if key.startswith("tusk.inputs.") and key.endswith(".digest")},
        params=_json(tags.get("tusk.params")), releases=releases_holding(project, name, chosen.version),
        previous=previous.version if previous else None)
    before = previous.tags.get("tusk.data_commit") if previous else None
    if before and lineage.data_commit and before != lineage.data_commit:
        try:
            stats = project.data.diff_stat(before, lineage.data_commit)
            lineage.data_changes = {t: {"added": d.added, "modified": d.modified, "removed": d.removed}
                                    for t, d in stats.items()}
        except Exception:  # a commit that the store no longer has: lineage still answers the rest
            lineage.data_changes = {}
    return lineage


def _json(text: str | None) -> dict[str, Any]:
    import json

    try:
        return dict(json.loads(text)) if text else {}
    except ValueError:
        return {}


def releases_holding(project: "Project", name: str, version: str) -> list[str]:
    return [r.md5 for r in ReleaseStore(project.tracker).list()  # type: ignore[arg-type]
            if r.models.get(name) == str(version)]


def of_data_commit(project: "Project", ref: str) -> dict[str, Any]:
    commit = project.data.resolve(ref)
    client = project.tracker.client  # type: ignore[attr-defined]
    found = client.search_model_versions(f"tags.`tusk.data_commit` = '{commit}'", max_results=100_000)
    releases = ReleaseStore(project.tracker).list()  # type: ignore[arg-type]
    versions = []
    for version in sorted(found, key=lambda v: (v.name, int(v.version))):
        held = [r.md5 for r in releases if r.models.get(version.name) == str(version.version)]
        versions.append({"name": version.name, "version": str(version.version), "releases": held})
    return {"data_commit": commit, "versions": versions,
            "releases": sorted({md5 for v in versions for md5 in v["releases"]})}


def of_release(project: "Project", ident: str) -> dict[str, Any]:
    release = ReleaseStore(project.tracker).find(ident)  # type: ignore[arg-type]
    client = project.tracker.client  # type: ignore[attr-defined]
    models = []
    for name, version in sorted(release.models.items()):
        tags = dict(client.get_model_version(name, version).tags or {})
        models.append({"name": name, "version": version, "data_commit": tags.get("tusk.data_commit", ""),
                       "code_commit": tags.get("tusk.code_commit", ""),
                       "fingerprint": tags.get("tusk.fingerprint", "")})
    return {**release.to_json(), "models": models}
