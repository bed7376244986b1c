"""The Tracker port: where runs, model versions, aliases and releases are recorded.

Tag names (on the run, on the model version, and the *current* state as one JSON tag on the
registered model so that one registry query returns the state of every instance):

    tusk.fingerprint, tusk.data_commit, tusk.code_commit, tusk.code_dirty,
    tusk.inputs.<name>.digest, tusk.inputs.<name>.rows, tusk.spec, tusk.job_seconds, tusk.cpus, tusk.gpus
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from tusk.tracking import tags as T

PRODUCTION = "production"
TAG_PREFIX = T.PREFIX
STATE_TAG = T.STATE  # JSON of InstanceState, on each version and on the registered model (see state.py)
CANDIDATES_TAG = T.CANDIDATES  # registered-model tag: JSON {fingerprint: [version, review]}, newest last
RELEASE_MODEL = "tusk-release"  # its versions are the releases (see tusk.release.store)
INTERNAL_MODELS = frozenset({RELEASE_MODEL})  # registered models tusk keeps for itself, not instances


@dataclass
class InputRecord:
    query: str
    params: dict[str, Any]
    digest: str
    rows: int


@dataclass
class InstanceState:
    """What the planner needs of an instance's current version (one JSON tag per registered model)."""

    name: str
    version: str
    fingerprint: str
    data_commit: str
    code_digest: str = ""
    code_files: dict[str, str] = field(default_factory=dict)  # path → sha256
    params: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, InputRecord] = field(default_factory=dict)
    spec: str = ""  # the spec's name template
    fingerprints: dict[str, str] = field(default_factory=dict)  # every fingerprint trained → its version
    production: list[str] = field(default_factory=list)  # versions the production alias pointed to, oldest first
    latest: str = ""  # the newest version this state has seen (a pointer older than a version is outdated)

    def to_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["inputs"] = {k: dict(v.__dict__) for k, v in self.inputs.items()}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InstanceState:
        known = _STATE_FIELDS
        fields = dict(data) if data.keys() <= known else {k: v for k, v in data.items() if k in known}
        fields["inputs"] = {k: InputRecord(**v) for k, v in (data.get("inputs") or {}).items()}
        return cls(**fields)


_STATE_FIELDS = frozenset(InstanceState.__dataclass_fields__)


@dataclass(frozen=True)
class CandidateRef:
    """A version trained for a review on its merge preview, never promoted: found by its fingerprint when the
    merged data reaches the same inputs, then promoted instead of retrained."""

    version: str
    review: str


@dataclass
class TrainRecord:
    """A finished training job, ready to be recorded as a run and a model version."""

    state: InstanceState  # version is filled in by record()
    metrics: dict[str, float]
    params: dict[str, Any]
    tags: dict[str, str]
    output_dir: Path
    log_file: Path | None
    seconds: float
    resources: dict[str, float]
    promote_if: str | None = None
    run_tags: dict[str, str] = field(default_factory=dict)  # on the run only (MLflow's mlflow.source.* etc.)
    run_id: str | None = None  # set once the run is logged
    artifact_uri: str | None = None
    promoted: bool = False  # set by register()
    not_promoted: str = ""  # why not, when not promoted


@dataclass
class FailureRecord:
    """A job that failed, to be recorded as a FAILED run (no version): its params, the tags a success would have
    had (instance, data commit, the fingerprint it was trained for), its error and its log."""

    name: str
    params: dict[str, Any]
    tags: dict[str, str]
    error: str
    log_file: Path | None
    run_tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FailedJob:
    """An instance's newest failed job as the tracker keeps it (a FAILED run)."""

    name: str
    fingerprint: str
    data_commit: str
    error: str  # its last line
    run_id: str
    time_ms: int = 0
    log: str = ""  # where its job.log is (an artifact URI)


def last_line(error: str) -> str:
    lines = [line.strip() for line in (error or "").splitlines() if line.strip()]
    return lines[-1][:500] if lines else "failed"


@dataclass
class ModelSummary:
    """One registered model as ``tusk models list`` shows it."""

    name: str
    version: str | None  # the instance's current version (last trained or reused)
    production: str | None
    spec: str | None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class VersionInfo:
    name: str
    version: str
    run_id: str | None
    source: str
    tags: dict[str, str]
    metrics: dict[str, float] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    created_ms: int = 0


@runtime_checkable
class Tracker(Protocol):
    url: str

    def ensure_ready(self) -> None: ...  # create/migrate the store once, before parallel jobs
    # every instance's current state (or only those of ``names``: read no others), one query
    def states(self, names: Collection[str] | None = None) -> dict[str, InstanceState]: ...
    def aliases(self, alias: str = PRODUCTION) -> dict[str, str]: ...  # model name → version, one query
    def log_run(self, record: TrainRecord) -> str: ...  # a run with params, metrics, tags, artifacts; → run_id
    def register(self, record: TrainRecord, previous: InstanceState | None = None) -> str: ...  # → version
    def reuse(self, state: InstanceState) -> None: ...  # make an existing version current (+ production alias)
    # a candidate version for a review: registered and tagged, no alias, the instance's state untouched → version
    def register_candidate(self, record: TrainRecord, review: str) -> str: ...
    def candidates(self) -> dict[str, dict[str, CandidateRef]]: ...  # model → fingerprint → candidate, one query
    def log_failure(self, record: FailureRecord) -> str: ...  # a FAILED run for a failed job → its run id
    # each instance's newest failed job (of ``names`` only, if given), one query
    def failures(self, names: Collection[str] | None = None) -> dict[str, FailedJob]: ...
    def failure_log(self, failure: FailedJob) -> tuple[str, str]: ...  # a failed job's log → (text, where)
    # a digest of everything states() and candidates() are read from, or None where that is not cheap (a
    # server): equal digests, equal states and candidates (a page keeps its plan while it stays the same)
    def registry_stamp(self) -> str | None: ...
    def recover(self) -> list[str]: ...  # finish registrations a killed process left half-done; → what it did
    def find_fingerprint(self, name: str, fingerprint: str) -> str | None: ...  # version with it, if any
    def versions(self, name: str) -> list[VersionInfo]: ...  # newest first
    def version(self, name: str, version: str) -> VersionInfo: ...
    def set_alias(self, name: str, version: str, alias: str = PRODUCTION) -> None: ...
    def rollback(self, name: str, to: str | None = None) -> tuple[str | None, str]: ...  # → (from, to)
    # production aliases moved to these versions (None: alias removed), each instance's production history
    # kept in step; idempotent, so a move interrupted half-way is finished by running it again
    def move_production(self, targets: Mapping[str, str | None]) -> list[str]: ...  # → names moved
    def missing_versions(self, wanted: Iterable[tuple[str, str]]) -> list[tuple[str, str]]: ...
    # many versions with metrics and tags at once (the models page); unknown ones left out
    def version_infos(self, wanted: Iterable[tuple[str, str]]) -> dict[tuple[str, str], VersionInfo]: ...
    def models(self) -> list[str]: ...
    def run_log(self, name: str, version: str) -> tuple[str, str]: ...  # the job's log of a version → (text, where)
    # ----- what lineage, cost and releases ask of the registry -----
    def search_versions(self, tag: str, value: str) -> list[VersionInfo]: ...  # versions whose tag equals value
    def all_versions(self) -> list[VersionInfo]: ...  # every version of every model (no metrics)
    def download(self, name: str, version: str, dest: Path) -> Path: ...  # a version's model files → dest
    def release_registry(self) -> ReleaseRegistry: ...  # where this tracker keeps releases and their log


@dataclass
class ReleaseRecord:
    """A release as the registry keeps it: its number, tags (``tusk.release.*``), manifest and current flag."""

    version: str
    tags: dict[str, str]
    manifest: dict[str, str]
    created_ms: int = 0
    run_id: str | None = None
    current: bool = False


@dataclass
class EventRecord:
    """One entry of the release log as the registry keeps it: ``status`` is ``done``, ``pending`` (under way,
    or cut short by a crash) or ``void`` (it never took place)."""

    id: str
    status: str
    time_ms: int
    tags: dict[str, str]


@runtime_checkable
class ReleaseRegistry(Protocol):
    """Releases (manifests of production versions) and the append-only log of which release was current."""

    def releases(self) -> list[ReleaseRecord]: ...  # every release, oldest first
    # a release recorded whole (its manifest, its tags, its ``created`` event, current once recorded) → it
    def record_release(
        self, manifest: Mapping[str, str], tags: Mapping[str, str], event_tags: Mapping[str, str]
    ) -> ReleaseRecord: ...
    def point(self, version: str) -> None: ...  # make release ``version`` the current one
    def tag_release(self, version: str, tags: Mapping[str, str]) -> None: ...  # set tags on a recorded release
    def events(self, pending_only: bool = False) -> list[EventRecord]: ...  # the release log, any order
    def start_event(self, tags: Mapping[str, str]) -> str: ...  # an event under way (pending) → its id
    def finish_event(self, event_id: str, done: bool = True) -> None: ...  # done, or void (never took place)
