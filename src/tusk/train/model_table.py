"""The models page's table: every instance with its plan status, current and production version, key metric,
when it was last trained and how long that took; filtered, sorted and paged.

Its cost grows with what it prints: listed by name (the default), without a status filter, only the page's
rows are planned (every instance's name is known from the matrix, without its state), and the counts per
status come in a second request (``model_counts``). A sort or filter that needs every instance's status plans
them all (one plan and one registry read for every current version), and that plan is kept between requests
while nothing it is made from changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tusk.ports import Workspace
    from tusk.tracking.base import Tracker

SORTS = ("name", "status", "version", "production", "metric", "trained", "seconds")
STATUSES = ("new", "stale", "failed", "reuse", "fresh", "orphaned")


@dataclass
class ModelRow:
    name: str
    spec: str | None
    status: str
    version: str | None
    production: str | None
    metric: str | None = None  # the key metric's name: the one promote_if names, else the first by name
    value: float | None = None
    trained: str | None = None  # ISO time the current version was registered
    seconds: float | None = None  # its job's duration
    reasons: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ModelTable:
    rows: list[ModelRow]  # this page
    total: int  # every instance
    matched: int  # after the filter
    offset: int
    limit: int
    sort: str
    descending: bool
    query: str
    status: str | None
    counts: dict[str, int] | None  # instances per status, before the filter; None: not planned (model_counts)

    def to_json(self) -> dict[str, Any]:
        return {
            "models": [r.to_json() for r in self.rows],
            "total": self.total,
            "matched": self.matched,
            "offset": self.offset,
            "limit": self.limit,
            "sort": self.sort,
            "descending": self.descending,
            "query": self.query,
            "status": self.status,
            "counts": self.counts,
        }


def model_table(
    workspace: Workspace,
    query: str = "",
    status: str | None = None,
    sort: str = "name",
    descending: bool = False,
    offset: int = 0,
    limit: int = 50,
) -> ModelTable:
    """The instances whose name contains ``query`` (and whose status is ``status``), sorted, one page."""
    from tusk.errors import TuskError

    if sort not in SORTS:
        raise TuskError(f"cannot sort models by {sort!r}: one of {', '.join(SORTS)}")
    if status is not None and status not in STATUSES:
        raise TuskError(f"unknown status {status!r}: one of {', '.join(STATUSES)}")
    offset, limit = max(0, offset), max(1, min(limit, 500))
    if sort == "name" and status is None:
        return _by_name(workspace, query, descending, offset, limit)
    plan = _plan(workspace)
    tracker, root = workspace.tracker, workspace.config.root
    production = tracker.aliases()
    specs = {s.name: s for s in workspace.config.models}
    rows = _rows(plan, production)
    needle = query.strip().lower()
    chosen = [r for r in rows if (not needle or needle in r.name.lower()) and (status is None or r.status == status)]
    if sort in ("metric", "trained", "seconds"):
        _fill(tracker, root, chosen, specs)
    chosen.sort(key=lambda r: _key(r, sort), reverse=descending)
    page = chosen[offset : offset + limit]
    if sort not in ("metric", "trained", "seconds"):
        _fill(tracker, root, page, specs)
    return ModelTable(page, len(rows), len(chosen), offset, limit, sort, descending, query, status, _counts(rows))


def _by_name(workspace: Workspace, query: str, descending: bool, offset: int, limit: int) -> ModelTable:
    """One page of the instances whose name contains ``query``, by name: only its rows are planned."""
    from tusk.train.planning import make_plan

    needle = query.strip().lower()
    sizes: dict[str, int] = {}

    def pick(names: list[str]) -> list[str]:
        chosen = sorted((n for n in names if not needle or needle in n.lower()), reverse=descending)
        sizes.update(total=len(names), matched=len(chosen))
        return chosen[offset : offset + limit]

    plan = make_plan(workspace, None, check=False, pick=pick)
    tracker, config = workspace.tracker, workspace.config
    page = sorted(_rows(plan, tracker.aliases()), key=lambda r: _key(r, "name"), reverse=descending)
    _fill(tracker, config.root, page, {s.name: s for s in config.models})
    return ModelTable(page, sizes["total"], sizes["matched"], offset, limit, "name", descending, query, None, None)


@dataclass
class ModelCounts:
    """How many instances have each plan status (the models page asks after showing its rows)."""

    total: int
    counts: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {"total": self.total, "counts": self.counts}


def model_counts(workspace: Workspace) -> ModelCounts:
    """Every instance's plan status counted (the plan is kept, as for the page's sorts by status)."""
    rows = _rows(_plan(workspace), {})
    return ModelCounts(len(rows), _counts(rows))


def _rows(plan: Any, production: dict[str, str]) -> list[ModelRow]:
    rows = []
    for planned in plan.instances:
        state = planned.state
        spec = planned.instance.spec.name if planned.instance is not None else (state.spec if state else None)
        rows.append(
            ModelRow(
                planned.name,
                spec,
                planned.status,
                state.version if state else None,
                production.get(planned.name),
                reasons=list(planned.reasons),
            )
        )
    return rows


def _counts(rows: list[ModelRow]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    return counts


# The last plan this process made of each project, with what it was made from: the data branch's head, tusk.toml,
# the code files the specs name, every instance's state and the candidates. The plan is a function of those
# (the store's commits never change), so a page that finds them the same reuses it: a web server answers the
# models list of 10,000 instances without planning them again. The CLI plans once per process anyway.
_PLANS: dict[str, tuple[str, Any]] = {}
# A registered version's metrics, time and duration never change: read once per process.
_INFOS: dict[tuple[str, str, str], Any] = {}


def _plan(workspace: Workspace) -> Any:
    from tusk.train.planning import make_plan

    stamp = workspace.tracker.registry_stamp()
    key = _inputs(workspace, stamp) if stamp is not None else None
    root = str(workspace.config.root)
    found = _PLANS.get(root)
    if key is not None and found is not None and found[0] == key:
        return found[1]
    plan = make_plan(workspace, None, check=False)
    if key is not None:
        _PLANS[root] = (key, plan)
    return plan


def _inputs(workspace: Workspace, registry: str) -> str:
    """A digest of everything the data branch's plan is made from: the data branch's head, tusk.toml, the code
    files the specs name, and the registry's states and candidates (``registry``: the tracker's stamp)."""
    import hashlib

    from tusk._internal.globbing import glob_files

    config = workspace.config
    digest = hashlib.sha256(registry.encode())
    digest.update(workspace.data.resolve(config.data.branch).encode())
    digest.update(config.path.read_bytes())
    for spec in config.models:
        for pattern in spec.code or ([spec.train.rsplit(":", 1)[0]] if spec.train else []):
            for match in glob_files(str(config.root / pattern)):
                try:
                    digest.update(match.encode() + b"\0" + Path(match).read_bytes())
                except OSError:
                    digest.update(match.encode())
    return digest.hexdigest()


def _fill(tracker: Tracker, project_root: Path, rows: list[ModelRow], specs: dict[str, Any]) -> None:
    """Key metric, training time and duration of each row's current version, read in one go (and kept per
    project: a registered version's are fixed)."""
    root = str(project_root)
    wanted = [(r.name, str(r.version)) for r in rows if r.version and (root, r.name, str(r.version)) not in _INFOS]
    if wanted:
        for (name, version), read in tracker.version_infos(wanted).items():
            _INFOS[(root, name, version)] = read
    for row in rows:
        info = _INFOS.get((root, row.name, str(row.version))) if row.version else None
        if info is None:
            continue
        key = _key_metric(specs.get(row.spec or ""), info.metrics)
        if key is not None:
            row.metric, row.value = key, info.metrics[key]
        if info.created_ms:
            row.trained = datetime.fromtimestamp(info.created_ms / 1000, UTC).isoformat(timespec="seconds")
        seconds = info.tags.get("tusk.seconds")
        try:
            row.seconds = float(seconds) if seconds is not None else None
        except ValueError:
            row.seconds = None


def _key_metric(spec: Any, metrics: dict[str, float]) -> str | None:
    if not metrics:
        return None
    rule = getattr(spec, "promote_if", None) or ""
    for word in re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", rule):
        if word in metrics:
            return str(word)
    return sorted(metrics)[0]


def _key(row: ModelRow, sort: str) -> tuple[Any, ...]:
    order = {"failed": 0, "new": 1, "stale": 2, "reuse": 3, "fresh": 4, "orphaned": 5}
    value: Any = {
        "name": row.name,
        "status": order.get(row.status, 9),
        "version": int(row.version) if row.version and row.version.isdigit() else -1,
        "production": int(row.production) if row.production and row.production.isdigit() else -1,
        "metric": row.value if row.value is not None else float("-inf"),
        "trained": row.trained or "",
        "seconds": row.seconds if row.seconds is not None else -1.0,
    }[sort]
    return (value, row.name)


@dataclass
class ModelPage:
    """One model: every version (newest first) with its metrics and tags, one version's lineage and job log,
    and which version is current and in production."""

    name: str
    versions: list[Any]  # tracker ModelVersionInfo, metrics filled in
    chosen: str
    lineage: Any  # tusk.release.lineage.VersionLineage of ``chosen``
    log: str  # the tail of ``chosen``'s job log (or why there is none)
    current: str | None
    production: str | None
    failure: Any = None  # tracker FailedJob: its newest failed job (the page shows it; with no version, its log)
    failure_tail: str = ""  # that job's traceback from its Traceback line, tusk's runner frames left out

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "chosen": self.chosen,
            "current": self.current,
            "production": self.production,
            "versions": [
                {"version": v.version, "aliases": v.aliases, "metrics": v.metrics, "tags": v.tags}
                for v in self.versions
            ],
            "lineage": self.lineage.to_json() if self.lineage else None,
            "log": self.log,
            "failure": dict(self.failure.__dict__) if self.failure else None,
            "failure_tail": self.failure_tail,
        }


def with_metrics(tracker: Tracker, name: str) -> list[Any]:
    """Every version of ``name`` (newest first) with its metrics, in one registry read."""
    from tusk.errors import TuskError

    versions = tracker.versions(name)
    if not versions:
        raise TuskError(f"no registered model {name!r}")
    infos = tracker.version_infos([(name, v.version) for v in versions])
    for info in versions:
        found = infos.get((name, info.version))
        info.metrics = found.metrics if found else {}
    return versions
