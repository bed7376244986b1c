"""How a review ended: merged (by whom, when, the merge commit, what the merge brought, what it retrained) or
closed (by whom, when). What ``tusk review show`` and the review page show once there is nothing to merge.

What the merge brought is the diff ``merged_from..merge_commit``: the data branch as it was just before the merge
against the merge commit (never the branch's three-dot change, which after a merge is empty, nor the merge
commit's second parent, which would list the data branch's own earlier edits).

What it retrained (the rule, kept simple and honest): the plan at ``merged_from`` against the plan at
``merge_commit``, both made with today's code and versions. An instance the merge created, or whose input
fingerprint differs between the two, was retrained by the merge; its version is the one registered with the
fingerprint it has at ``merge_commit`` (``None``: not trained yet). An instance whose fingerprint is unknown on
both sides (never trained, or waiting on a model it needs) is listed only if the merge created it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tusk.ports import Ports
    from tusk.review.meta import ReviewMeta


@dataclass
class Retrained:
    """One model the merge retrained, and the version trained from the merged data (None: not trained yet)."""

    name: str
    version: str | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Outcome:
    """A merged or closed review: its record, what the merge brought (tables' counts) and retrained."""

    meta: ReviewMeta
    into: str
    closed_by: str = ""
    closed_at: str = ""
    brought: list[dict[str, Any]] = field(default_factory=list)  # per table: added, modified, removed
    retrained: list[Retrained] = field(default_factory=list)
    problem: str | None = None  # why the retrained models could not be worked out (a plan that fails)

    @property
    def recorded(self) -> bool:
        """tusk recorded the merge (merge commit and the head before it): its diff can be shown."""
        return bool(self.meta.merge_commit and self.meta.merged_from)

    def to_json(self) -> dict[str, Any]:
        meta = self.meta.to_json()
        return {
            **meta,
            "into": self.into,
            "closed_by": self.closed_by,
            "closed_at": self.closed_at,
            "brought": self.brought,
            "retrained": [r.to_json() for r in self.retrained],
            "problem": self.problem,
        }


def closed_by(meta: ReviewMeta) -> tuple[str, str]:
    """(who, when) of the close that holds: the newest ``close`` comment, when the review is closed."""
    if meta.status != "closed":
        return "", ""
    closes = [c for c in meta.comments if c.kind == "close"]
    return (closes[-1].author, closes[-1].time) if closes else ("", "")


def outcome(project: Ports, meta: ReviewMeta) -> Outcome:
    """The outcome of a review that is merged or closed (an open one: its record only)."""
    from tusk.errors import TuskError
    from tusk.review.meta import OWN_TABLES

    into = project.config.data.branch
    who, when = closed_by(meta)
    found = Outcome(meta, into, who, when)
    if meta.status != "merged" or not found.recorded:
        return found
    store = project.data
    stats = store.diff_stat(meta.merged_from, meta.merge_commit)
    found.brought = [
        {
            "table": t.table,
            "added": t.added,
            "modified": t.modified,
            "removed": t.removed,
            "schema_changed": t.schema_changed,
        }
        for t in (stats[n] for n in sorted(stats))
        if (t.total or t.schema_changed) and t.table not in OWN_TABLES
    ]
    try:
        found.retrained = retrained(project, meta.merged_from, meta.merge_commit)
    except TuskError as exc:  # a plan that fails (the config changed since): say why, show the rest
        found.problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return found


def retrained(project: Ports, before: str, after: str) -> list[Retrained]:
    """The instances whose fingerprint the merge ``before → after`` changed (or that it created), with the
    version trained from ``after``'s data when one is registered."""
    from tusk.ports import Workspace
    from tusk.train.planning import make_plan

    workspace = Workspace.of(project)
    old = {p.name: p for p in make_plan(workspace, before).instances if p.instance is not None}
    found = []
    for planned in make_plan(workspace, after).instances:
        if planned.instance is None:
            continue
        prior = old.get(planned.name)
        if prior is None:
            reason = "the merge created it"
        elif planned.fingerprint is not None and planned.fingerprint != prior.fingerprint:
            reason = "its inputs changed"
        else:
            continue
        version = (
            project.tracker.find_fingerprint(planned.name, planned.fingerprint)
            if planned.fingerprint is not None
            else None
        )
        found.append(Retrained(planned.name, version, reason))
    return found
