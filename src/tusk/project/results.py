"""What ``Project``'s methods return when no use-case module owns the shape: plain dataclasses, each with a
``to_json()`` that is exactly the command's ``--json`` output (DESIGN.md's shapes). Pure: no I/O.

Both faces read them: the CLI renders them as tables or prints ``to_json()``, the web page will render the
same objects. Results with a home of their own (``Plan``, ``RunReport``, ``Release``, ``DiffReport``, ...)
stay there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tusk.data.base import Branch, Commit, Remote, Tag
    from tusk.release.history import ReleaseEvent
    from tusk.release.store import Release
    from tusk.review.reviews import ReviewSummary
    from tusk.serve.running import ServedSwap
    from tusk.tracking.base import ModelSummary
    from tusk.train.watch import Tick


def _refs(branches: list[Branch]) -> list[dict[str, Any]]:
    return [{"name": b.name, "head": b.head} for b in branches]


# ----- data ---------------------------------------------------------------------------------------
@dataclass
class Initialised:
    config: Path
    example: str | None
    git_commit: str | None = None  # the first commit of the git repository init made (None: it made none)
    git_note: str = ""  # why it made none
    warnings: list[str] = field(default_factory=list)

    @property
    def data_store(self) -> Path:
        return self.config.parent / "data" / "training.db"

    @property
    def tracking(self) -> Path:
        return self.config.parent / ".tusk" / "mlflow.db"

    def to_json(self) -> dict[str, Any]:
        return {
            "config": str(self.config),
            "example": self.example,
            "git_commit": self.git_commit,
            "git_note": self.git_note,
            "warnings": self.warnings,
        }


@dataclass
class CommitLog:
    commits: list[Commit]

    def to_json(self) -> dict[str, Any]:
        return {"commits": [{"hash": c.hash, "message": c.message, "date": c.date} for c in self.commits]}


@dataclass
class BranchList:
    branches: list[Branch]
    default: str

    def to_json(self) -> dict[str, Any]:
        return {"branches": _refs(self.branches)}


@dataclass
class BranchCreated:
    name: str
    head: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "head": self.head}


@dataclass
class BranchDeleted:
    name: str

    def to_json(self) -> dict[str, Any]:
        return {"deleted": self.name}


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[list[Any]]

    def to_json(self) -> dict[str, Any]:
        return {"columns": self.columns, "rows": self.rows}


@dataclass
class TagList:
    tags: list[Tag]

    def to_json(self) -> dict[str, Any]:
        return {"tags": [{"name": t.name, "commit": t.commit, "message": t.message} for t in self.tags]}


@dataclass
class TagCreated:
    name: str
    commit: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "commit": self.commit}


@dataclass
class Reverted:
    reverted: str
    commit: str | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"reverted": self.reverted, "commit": self.commit}


@dataclass
class ReviewList:
    reviews: list[ReviewSummary]

    def to_json(self) -> dict[str, Any]:
        return {"reviews": [r.to_json() for r in self.reviews]}


# ----- remotes ------------------------------------------------------------------------------------
@dataclass
class RemoteList:
    remotes: list[Remote]

    def to_json(self) -> dict[str, Any]:
        return {"remotes": [{"name": r.name, "url": r.url} for r in self.remotes]}


@dataclass
class RemoteAdded:
    name: str
    url: str
    config: Path

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "url": self.url, "config": str(self.config)}


@dataclass
class RemoteRemoved:
    name: str

    def to_json(self) -> dict[str, Any]:
        return {"removed": self.name}


@dataclass
class Fetched:
    remote_branches: list[Branch]

    def to_json(self) -> dict[str, Any]:
        return {"remote_branches": _refs(self.remote_branches)}


@dataclass
class Pulled:
    branch: str
    commit: str
    fast_forward: bool
    changed: bool
    message: str
    remote_branches: list[Branch]

    def to_json(self) -> dict[str, Any]:
        return {
            "branch": self.branch,
            "commit": self.commit,
            "fast_forward": self.fast_forward,
            "changed": self.changed,
            "remote_branches": _refs(self.remote_branches),
        }


@dataclass
class Pushed:
    remote: str
    branch: str
    commit: str

    def to_json(self) -> dict[str, Any]:
        return {"remote": self.remote, "branch": self.branch, "commit": self.commit}


@dataclass
class Cloned:
    config: Path
    data: str
    branch: str
    head: str

    def to_json(self) -> dict[str, Any]:
        return {"config": str(self.config), "data": self.data, "head": self.head}


# ----- models -------------------------------------------------------------------------------------
@dataclass
class InstanceStatus:
    name: str
    status: str
    version: str | None
    production: str | None
    fingerprint: str | None
    data_commit: str | None
    reasons: list[str]
    error: str | None = None  # failed: the last line of its last job's error
    log: str | None = None  # failed: where that job's log is (``tusk logs NAME`` shows it)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Status:
    instances: list[InstanceStatus]

    def to_json(self) -> dict[str, Any]:
        return {"instances": [i.to_json() for i in self.instances]}


@dataclass
class ModelList:
    models: list[ModelSummary]

    def to_json(self) -> dict[str, Any]:
        return {"models": [m.to_json() for m in self.models]}


@dataclass
class ModelVersion:
    version: str
    aliases: list[str]
    data_commit: str | None
    code_commit: str | None
    fingerprint: str | None
    run_id: str | None
    created: str  # local time, YYYY-mm-dd HH:MM:SS

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class CurrentVersion:
    """The model's current version (what its instance's state points at) and that version's metrics."""

    version: str
    metrics: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "metrics": self.metrics}


@dataclass
class ModelVersions:
    name: str
    versions: list[ModelVersion]
    current: CurrentVersion | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "versions": [v.to_json() for v in self.versions],
            "current": self.current.to_json() if self.current else None,
        }


@dataclass
class Promoted:
    name: str
    production: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "production": self.production}


@dataclass
class RolledBack:
    """A model's production alias moved back (``moved`` false: it was on its first production version)."""

    name: str
    previous: str | None
    production: str

    @property
    def moved(self) -> bool:
        return self.previous != self.production

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "from": self.previous, "production": self.production, "moved": self.moved}


# ----- releases -----------------------------------------------------------------------------------
@dataclass
class ReleaseList:
    releases: list[Release]

    def to_json(self) -> dict[str, Any]:
        return {"releases": [r.to_json() for r in self.releases]}


@dataclass
class ReleaseMoved:
    """``release rollback``: ``release`` is current now, ``previous`` was."""

    release: Release
    previous: Release | None

    def to_json(self) -> dict[str, Any]:
        return {**self.release.to_json(), "from": self.previous.md5 if self.previous else None}


@dataclass
class ReleaseLogView:
    events: list[ReleaseEvent]
    served: list[ServedSwap] = field(default_factory=list)  # what this machine's `tusk serve` served when
    versions: dict[str, str] = field(default_factory=dict)  # md5 → vN, for the served lines

    def to_json(self) -> dict[str, Any]:
        return {
            "events": [e.to_json() for e in self.events],
            "served": [s.to_json(self.versions.get(s.md5, "")) for s in reversed(self.served)],
        }


@dataclass
class ModelChange:
    name: str
    old: str
    new: str
    data_commit: tuple[str, str]
    code_commit: tuple[str, str]
    metric_deltas: dict[str, float]
    needs: dict[str, tuple[str, str]] = field(default_factory=dict)  # need → ("base@3", "base@4") where it changed

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "old": self.old,
            "new": self.new,
            "data_commit": list(self.data_commit),
            "code_commit": list(self.code_commit),
            "metric_deltas": self.metric_deltas,
            "needs": {key: list(pair) for key, pair in self.needs.items()},
        }


@dataclass
class ReleaseDiff:
    old: Release
    new: Release
    added: dict[str, str]
    removed: dict[str, str]
    changed: list[ModelChange]

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.old.md5,
            "to": self.new.md5,
            "added": self.added,
            "removed": self.removed,
            "changed": [c.to_json() for c in self.changed],
        }


# ----- triggers -----------------------------------------------------------------------------------
@dataclass
class Watched:
    ticks: list[Tick] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """The last poll's run failed jobs or stopped on an error."""
        return bool(self.ticks and (self.ticks[-1].failed or self.ticks[-1].error))

    def to_json(self) -> dict[str, Any]:
        return {"ticks": [t.to_json() for t in self.ticks]}


@dataclass
class Workflow:
    path: Path
    shards: int
    runs_on: list[str]
    warnings: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"workflow": str(self.path), "shards": self.shards, "runs_on": self.runs_on, "warnings": self.warnings}
