"""Lineage both ways: a model version → its data commit, code commit, inputs and releases; a data commit →
the versions trained from it → the releases that hold them; a release → every model's commits.

Use cases over the ports: the tracker (versions and their tags), the releases, and the data store (what
changed in the data between two versions)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tusk.errors import DataError, ModelNotFound, ReleaseError
from tusk.tracking import tags as T

if TYPE_CHECKING:
    from tusk.data.base import DataStore
    from tusk.release.store import Release, ReleaseStore
    from tusk.tracking.base import Tracker, VersionInfo


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
    needs: dict[str, VersionLineage] = field(default_factory=dict)  # the versions of models it trained on
    same_data_as: str | None = None  # a candidate's merge preview: the data branch's merge commit of the same data

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "needs": {key: lineage.to_json() for key, lineage in self.needs.items()}}


@dataclass
class TrainedVersion:
    name: str
    version: str
    releases: list[str]

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class DataCommitLineage:
    data_commit: str
    versions: list[TrainedVersion]

    @property
    def releases(self) -> list[str]:
        return sorted({md5 for v in self.versions for md5 in v.releases})

    def to_json(self) -> dict[str, Any]:
        return {
            "data_commit": self.data_commit,
            "versions": [v.to_json() for v in self.versions],
            "releases": self.releases,
        }


@dataclass
class ReleasedModel:
    name: str
    version: str
    data_commit: str
    code_commit: str
    fingerprint: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ReleaseLineage:
    release: Release
    models: list[ReleasedModel]

    def to_json(self) -> dict[str, Any]:
        return {**self.release.to_json(), "models": [m.to_json() for m in self.models]}


def parse_target(text: str) -> tuple[str, str | None]:
    name, _, version = text.partition("@")
    return name, (version.lstrip("v") or None)


def of_version(
    tracker: Tracker, releases: ReleaseStore, data: DataStore, target: str, depth: int = 0
) -> VersionLineage:
    """A version's lineage, and that of each version of a model it needs (an adapter → its base's data and
    code), down to ``MAX_DEPTH`` needs deep."""
    name, version = parse_target(target)
    versions = tracker.versions(name)
    if not versions:
        raise ModelNotFound(f"no registered model {name!r}")
    chosen = (
        next((v for v in versions if v.version == version), None)
        if version
        else next((v for v in versions if "production" in v.aliases), versions[0])
    )
    if chosen is None:
        raise ModelNotFound(f"{name} has no version {version} (versions: {', '.join(v.version for v in versions)})")
    info = tracker.version(name, chosen.version)
    tags = info.tags
    older = [v for v in versions if int(v.version) < int(chosen.version)]
    previous = older[0] if older else None
    lineage = VersionLineage(
        name=name,
        version=chosen.version,
        data_commit=tags.get(T.DATA_COMMIT, ""),
        code_commit=tags.get(T.CODE_COMMIT, ""),
        code_dirty=tags.get(T.CODE_DIRTY) == "true",
        fingerprint=tags.get(T.FINGERPRINT, ""),
        metrics=info.metrics,
        inputs=T.inputs_of(tags),
        params=_json(tags.get(T.PARAMS)),
        releases=releases_holding(releases, name, chosen.version),
        previous=previous.version if previous else None,
    )
    before = previous.tags.get(T.DATA_COMMIT) if previous else None
    if before and lineage.data_commit and before != lineage.data_commit:
        try:
            stats = data.diff_stat(before, lineage.data_commit)
            lineage.data_changes = {
                t: {"added": d.added, "modified": d.modified, "removed": d.removed} for t, d in stats.items()
            }
        except DataError:  # a commit that the store no longer has: lineage still answers the rest
            lineage.data_changes = {}
    if tags.get(T.CANDIDATE) == "true" and lineage.data_commit:
        lineage.same_data_as = same_data_commit(data, lineage.data_commit, tags.get(T.REVIEW_BASE, ""))
    if depth < MAX_DEPTH:
        for key, (needed, needed_version) in sorted(T.needs_of(tags).items()):
            try:
                lineage.needs[key] = of_version(tracker, releases, data, f"{needed}@{needed_version}", depth + 1)
            except ModelNotFound:  # deleted from the registry since: the rest still answers
                continue
    return lineage


MAX_DEPTH = 8
SAME_DATA_SEARCH = 200  # commits of the data branch looked at for the merge of a candidate's preview


def same_data_commit(data: DataStore, preview: str, base: str) -> str | None:
    """The first commit of the data branch since ``base`` holding the same data as ``preview`` (a review's merge
    preview): the merge that made the preview's data real. tusk's own tables (reviews' conversations) are left out;
    None when no such commit (not merged, or merged into data that had moved on)."""
    try:
        commits = data.log(None, SAME_DATA_SEARCH)
        found = None
        for commit in commits:
            if commit.hash == base:
                break
            stats = data.diff_stat(preview, commit.hash)
            if not any(d.total or d.schema_changed for t, d in stats.items() if not t.startswith("tusk_")):
                found = commit.hash
        return found
    except DataError:
        return None


def _json(text: str | None) -> dict[str, Any]:
    try:
        return dict(json.loads(text)) if text else {}
    except ValueError:
        return {}


def releases_holding(releases: ReleaseStore, name: str, version: str) -> list[str]:
    return [r.md5 for r in releases.list() if r.models.get(name) == str(version)]


def of_data_commit(tracker: Tracker, releases: ReleaseStore, data: DataStore, ref: str) -> DataCommitLineage:
    commit = data.resolve(ref)
    found = tracker.search_versions(T.DATA_COMMIT, commit)
    known = releases.list()
    versions = [
        TrainedVersion(v.name, v.version, [r.md5 for r in known if r.models.get(v.name) == v.version])
        for v in sorted(found, key=lambda v: (v.name, int(v.version)))
    ]
    return DataCommitLineage(commit, versions)


def of_release(tracker: Tracker, releases: ReleaseStore, ident: str) -> ReleaseLineage:
    """Every model of a release with its commits. A release holding a version since deleted from the registry
    says which (one line), instead of half an answer."""
    release = releases.find(ident)
    wanted = set(release.models.items())
    held: dict[tuple[str, str], VersionInfo] = {
        (v.name, v.version): v for v in tracker.all_versions() if (v.name, v.version) in wanted
    }
    missing = sorted(wanted - set(held))
    if missing:
        shown = ", ".join(f"{name} v{version}" for name, version in missing[:3]) + (" …" if len(missing) > 3 else "")
        raise ReleaseError(
            f"release v{release.version} ({release.md5[:12]}) holds {shown}, which no longer "
            f"exist{'s' if len(missing) == 1 else ''} in the registry (deleted?)"
        )
    models = []
    for name, version in sorted(release.models.items()):
        tags = held[(name, version)].tags
        models.append(
            ReleasedModel(
                name, version, tags.get(T.DATA_COMMIT, ""), tags.get(T.CODE_COMMIT, ""), tags.get(T.FINGERPRINT, "")
            )
        )
    return ReleaseLineage(release, models)
