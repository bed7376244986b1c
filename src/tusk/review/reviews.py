"""Reviews: a branch other than the data branch, judged on its merge preview before it merges.

``show`` gathers what a reviewer needs: the three-dot change, the plan of the merge preview (the models it
would retrain), the data checks run on the preview, and per model the candidate trained for the review
against the production version, with the gate's verdict. ``merge`` refuses while a check or the gate fails,
unless forced with a reason, which the merge commit records.

Gate verdicts per model of the review's blast radius (new, stale or reusable at the preview):

- ``passed`` / ``failed``: the candidate's metrics against the gate (``production.<metric>`` is the production
  version's); a model with no production version yet has nothing to regress from: a gate that compares with
  production passes it (and says so), a gate that does not is evaluated as usual;
- ``outdated``: a candidate was trained for this review, but on inputs the preview no longer has (the
  review, or the data branch, changed since): train again;
- ``missing``: no candidate for these inputs (``tusk run --at BRANCH --candidates`` trains them).

Without ``[review] gate`` models never block; checks block whenever ``[[checks]]`` has some.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tusk.errors import DataError, MergeBlocked, RefNotFound, TuskError
from tusk.review import meta as review_meta
from tusk.review.checks import CheckReport, run_checks
from tusk.review.summary import ReviewSummary as ReviewSummary  # (its home: meta imports it without a cycle)

if TYPE_CHECKING:
    from tusk.core.config import Config
    from tusk.core.plan import Plan, PlannedInstance
    from tusk.data.base import DataStore, MergePreview, Resolution
    from tusk.ports import Workspace
    from tusk.tracking.base import Tracker

INTERNAL_PREFIXES = ("tusk-preview/", "tusk-sync/", review_meta.META)  # scratch, staging, the conversation


# ----- review branches and their merge previews ----------------------------------------------------------
def is_review_branch(store: DataStore, config: Config, ref: str | None) -> bool:
    """A branch (local, or a remote's as ``origin/fix``) other than the data branch: what a review merges."""
    if not ref or ref == config.data.branch:
        return False
    if any(b.name == ref for b in store.branches()):
        return True
    remote_branches = getattr(store, "remote_branches", None)
    return "/" in ref and remote_branches is not None and any(b.name == ref for b in remote_branches())


@contextmanager
def merge_preview(
    store: DataStore, config: Config, branch: str, resolve: Resolution | None = None
) -> Iterator[MergePreview]:
    """The data branch with ``branch`` merged, for as long as the ``with`` block runs (main is untouched;
    the scratch ref is removed after). A conflict raises MergeConflict naming the rows, unless ``resolve``
    settles it as a merge would."""
    with store.merge_preview(branch, config.data.branch, resolve=resolve) as preview:
        yield preview


def training_ref(store: DataStore, config: Config, at: str | None) -> str | None:
    """The ref a run at ``at`` trains from. A review branch trains only when merging it needs no merge
    commit (a fast-forward, or already merged): versions are pinned to a commit that persists, never to a
    preview that is deleted after; otherwise a clear error says to merge first."""
    if not is_review_branch(store, config, at):
        return at
    assert at is not None
    with merge_preview(store, config, at) as preview:
        if preview.persists:
            return preview.commit
    into = config.data.branch
    raise DataError(
        f"{into} has moved on since {at} left it, so what merging {at} would train is only a "
        f"preview that is not kept: merge it first (tusk data merge {at}), then tusk run; "
        f"tusk plan --at {at} shows what it would retrain"
    )


@dataclass
class ModelVerdict:
    """One model of a review: its candidate against production, and what the gate says."""

    name: str
    status: str  # the plan's status at the merge preview: new | stale | reuse
    verdict: str  # passed | failed | outdated | missing | ungated
    message: str
    candidate: str | None = None  # version
    production: str | None = None  # version
    metrics: dict[str, float] = field(default_factory=dict)  # the candidate's
    production_metrics: dict[str, float] = field(default_factory=dict)
    deltas: dict[str, float] = field(default_factory=dict)  # candidate − production, metrics both have
    reasons: list[str] = field(default_factory=list)  # why the plan retrains it

    @property
    def blocks(self) -> bool:
        return self.verdict in ("failed", "outdated", "missing")

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "blocks": self.blocks}


@dataclass
class Review:
    """Everything a reviewer (or the merge) needs to judge ``branch``, computed on its merge preview."""

    branch: str
    into: str
    preview: dict[str, Any]
    tables: list[dict[str, Any]]  # the three-dot change: what the branch changed since it left the data branch
    plan: list[dict[str, Any]]  # the models merging would retrain (or reuse), with reasons
    checks: CheckReport
    models: list[ModelVerdict]
    gate: str | None
    source: str | None = None
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    instances: int = 0  # every instance at the merge preview: the radius is "N of instances"
    unplannable: str | None = None  # why the merged data cannot be planned: the merge is refused, even forced

    @property
    def blocking(self) -> list[str]:
        """One phrase per reason the merge is refused."""
        reasons = [f"the merged data cannot be planned: {self.unplannable}"] if self.unplannable else []
        reasons += [f"check {c.name} failed: {c.message}" for c in self.checks.failed]
        reasons += [f"{m.name}: {m.message}" for m in self.models if m.blocks]
        return reasons

    @property
    def blocking_names(self) -> list[str]:
        """``check labels``, ``m-c1 (failed)``: the same, short enough for a merge commit's message."""
        return (
            (["unplannable"] if self.unplannable else [])
            + [f"check {c.name}" for c in self.checks.failed]
            + [f"{m.name} ({m.verdict})" for m in self.models if m.blocks]
        )

    @property
    def mergeable(self) -> bool:
        return not self.blocking and not self.conflicts

    def to_json(self) -> dict[str, Any]:
        return {
            "branch": self.branch,
            "into": self.into,
            "preview": self.preview,
            "source": self.source,
            "tables": self.tables,
            "plan": self.plan,
            "checks": self.checks.to_json(),
            "gate": self.gate,
            "models": [m.to_json() for m in self.models],
            "conflicts": self.conflicts,
            "instances": self.instances,
            "mergeable": self.mergeable,
            "blocking": self.blocking,
            "unplannable": self.unplannable,
        }


@dataclass
class MergeOutcome:
    branch: str
    into: str
    commit: str | None
    fast_forward: bool
    message: str
    forced: bool = False
    reason: str | None = None
    overridden: list[str] = field(default_factory=list)  # what --force merged past
    resolved: int = 0  # conflicting rows settled by --ours / --theirs / --resolve FILE
    note: str | None = None  # e.g. a -m message a fast-forward had no merge commit to carry

    def to_json(self) -> dict[str, Any]:
        return {"merged": True, **self.__dict__}


# ----- listing --------------------------------------------------------------------------------------------
def reviews(store: DataStore, config: Config) -> list[ReviewSummary]:
    """Every branch other than the data branch (tusk's scratch refs left out), newest change first."""
    into = config.data.branch
    into_head = store.resolve(into)
    sources = {s.branch: s.name for s in config.sources}
    found = []
    for branch in store.branches():
        if branch.name == into or branch.name.startswith(INTERNAL_PREFIXES):
            continue
        base = store.merge_base(branch.head, into_head)
        history = store.log(branch.head)
        own = 0
        for commit in history:
            if commit.hash == base:
                break
            own += 1
        found.append(
            ReviewSummary(
                branch.name,
                branch.head,
                base,
                base == branch.head,
                own,
                history[0].message,
                history[0].date,
                sources.get(branch.name),
            )
        )
    found.sort(key=lambda r: r.date, reverse=True)
    return sorted(found, key=lambda r: r.merged)  # open reviews first, each group newest first


# ----- one review -----------------------------------------------------------------------------------------
def check(store: DataStore, config: Config, ref: str | None = None) -> CheckReport:
    """The data checks at ``ref`` (default: the data branch); a review branch is checked on its merge preview."""
    ref = ref or config.data.branch
    if not is_review_branch(store, config, ref):
        commit = store.resolve(ref)
        return CheckReport(ref, commit, run_checks(store, config.checks, commit))
    with merge_preview(store, config, ref) as preview:
        return _preview_checks(store, config, ref, preview)


def _preview_checks(store: DataStore, config: Config, ref: str, preview: MergePreview) -> CheckReport:
    results = run_checks(store, config.checks, preview.commit, base=preview.into_head)
    return CheckReport(ref, preview.commit, results, base=preview.into_head, preview=preview.to_json())


def show(workspace: Workspace, branch: str, resolve: Resolution | None = None) -> Review:
    """The review of ``branch``: change, blast radius, checks and the gate, on its merge preview (conflicts
    settled by ``resolve``, as the merge will settle them)."""
    from tusk.errors import ConfigError, MergeConflict
    from tusk.train.planning import make_plan

    store, config = workspace.data, workspace.config
    if not is_review_branch(store, config, branch):
        if branch != config.data.branch and branch not in {b.name for b in store.branches()}:
            raise RefNotFound(f"unknown branch {branch!r} (tusk review list shows the reviews)")
        raise RefNotFound(
            f"{branch!r} is not a review: give a branch other than the data branch {config.data.branch!r}"
        )
    into = config.data.branch
    source = next((s.name for s in config.sources if s.branch == branch), None)
    head = store.resolve(branch)
    stats = store.diff_stat(store.merge_base(store.resolve(into), head), head)  # three dots: the branch's own change
    tables = [
        {
            "table": t.table,
            "added": t.added,
            "modified": t.modified,
            "removed": t.removed,
            "schema_changed": t.schema_changed,
        }
        for t in (stats[name] for name in sorted(stats))
        if (t.total or t.schema_changed) and t.table not in review_meta.OWN_TABLES
    ]
    try:
        with merge_preview(store, config, branch, resolve=resolve) as preview:
            if preview.kind == "up-to-date":  # already merged: merging changes nothing, nothing to judge
                empty = CheckReport(branch, preview.commit, [], base=preview.into_head, preview=preview.to_json())
                return Review(branch, into, preview.to_json(), tables, [], empty, [], config.review.gate, source)
            try:
                plan = make_plan(workspace, preview.commit, keep_cache=preview.persists)
            except (ConfigError, DataError) as exc:  # e.g. two matrix values giving one instance name
                if isinstance(exc, MergeConflict) or not _plans_at(workspace, preview.into_head):
                    raise  # the data branch cannot be planned either: not the review's doing
                empty = CheckReport(branch, preview.commit, [], base=preview.into_head, preview=preview.to_json())
                return Review(
                    branch,
                    into,
                    preview.to_json(),
                    tables,
                    [],
                    empty,
                    [],
                    config.review.gate,
                    source,
                    unplannable=str(exc),
                )
            radius = blast_radius(workspace, plan, preview)
            checks = _preview_checks(store, config, branch, preview)
            models = verdicts(workspace.tracker, config, branch, radius)
            instances = sum(1 for p in plan.instances if p.instance is not None)
    except MergeConflict as conflict:
        empty = CheckReport(branch, "", [])
        return Review(branch, into, {}, tables, [], empty, [], config.review.gate, source, conflict.conflicts)
    return Review(
        branch,
        into,
        preview.to_json(),
        tables,
        [p.to_json() for p in radius],
        checks,
        models,
        config.review.gate,
        source,
        instances=instances,
    )


def _plans_at(workspace: Workspace, commit: str) -> bool:
    """Whether the plan at ``commit`` can be made (the data branch's own state, before a review merges)."""
    from tusk.errors import ConfigError
    from tusk.train.planning import make_plan

    try:
        make_plan(workspace, commit)
    except (ConfigError, DataError):
        return False
    return True


def blast_radius(workspace: Workspace, plan: Plan, preview: MergePreview) -> list[PlannedInstance]:
    """The instances merging the review would train (or reuse) *because of the review*: new, stale or reusable
    at the preview with inputs other than the data branch's own. What is stale on the data branch already,
    and stays the same with the review merged, is the data branch's own work, not the review's."""
    from tusk.train.planning import make_plan

    work = [p for p in plan.instances if p.status in ("new", "stale", "failed", "reuse")]
    if not work or preview.kind == "up-to-date":
        return []
    base = {p.name: p for p in make_plan(workspace, preview.into_head).instances if p.instance is not None}
    radius = []
    for planned in work:
        before = base.get(planned.name)
        if before is None:
            radius.append(planned)  # an instance the review creates
        elif planned.status == "new":
            continue  # new on the data branch as well: not trained yet, whatever the review does
        elif planned.fingerprint != before.fingerprint:
            radius.append(planned)
    return radius


def verdicts(tracker: Tracker, config: Config, branch: str, radius: list[PlannedInstance]) -> list[ModelVerdict]:
    """Per model of the blast radius: its candidate against production, judged by ``[review] gate``."""
    candidates = tracker.candidates()
    production = tracker.aliases()
    return [
        _verdict(
            tracker, config.review.gate, branch, planned, candidates.get(planned.name, {}), production.get(planned.name)
        )
        for planned in radius
    ]


def _verdict(
    tracker: Tracker,
    gate: str | None,
    branch: str,
    planned: PlannedInstance,
    candidates: dict[str, Any],
    production: str | None,
) -> ModelVerdict:
    from tusk.core.promote import holds, uses_production

    verdict = ModelVerdict(
        planned.name, planned.status, "ungated", "", reasons=list(planned.reasons), production=production
    )
    if planned.status == "reuse":
        verdict.candidate = planned.reuse_version
    else:
        mine = [ref.version for ref in candidates.values() if ref.review == branch]
        if mine:
            verdict.verdict = "outdated"
            verdict.message = (
                f"candidate v{mine[-1]} was trained on other inputs than the review now has "
                f"(run tusk run --at {branch} --candidates)"
            )
        else:
            verdict.verdict = "missing"
            verdict.message = f"no candidate (run tusk run --at {branch} --candidates)"
        if not gate:
            verdict.verdict, verdict.message = "ungated", verdict.message
        return verdict
    assert planned.reuse_version is not None
    verdict.metrics = dict(tracker.version(planned.name, planned.reuse_version).metrics)
    if production is not None:
        verdict.production_metrics = dict(tracker.version(planned.name, production).metrics)
    verdict.deltas = {
        k: verdict.metrics[k] - verdict.production_metrics[k]
        for k in verdict.metrics
        if k in verdict.production_metrics
    }
    if not gate:
        verdict.message = _numbers(verdict)
        return verdict
    if production is None and uses_production(gate):
        verdict.verdict = "passed"
        verdict.message = f"no production version to compare with: v{verdict.candidate} passes ({_numbers(verdict)})"
        return verdict
    passed, missing = holds(gate, verdict.metrics, verdict.production_metrics)
    verdict.verdict = "passed" if passed else "failed"
    shown = _numbers(verdict)
    if missing:
        whose = f"production v{production}" if missing.startswith("production.") else f"v{verdict.candidate}"
        verdict.message = f"gate {gate!r} fails: {whose} has no metric {missing.removeprefix('production.')}"
    else:
        verdict.message = f"gate {gate!r} {'holds' if passed else 'fails'}: {shown}"
    return verdict


def _numbers(verdict: ModelVerdict) -> str:
    """``accuracy 0.42 (production v3: 0.5, −0.08)`` for each metric of the candidate."""
    from tusk.train.deltas import delta_text

    parts = []
    for name, value in sorted(verdict.metrics.items()):
        if name in verdict.production_metrics:
            was = verdict.production_metrics[name]
            parts.append(
                f"{name} {value:.4g} (production v{verdict.production}: "
                f"{was:.4g}, {delta_text(verdict.deltas[name], value, was)})"
            )
        else:
            parts.append(f"{name} {value:.4g}")
    return f"candidate v{verdict.candidate}: " + "; ".join(parts) if parts else f"candidate v{verdict.candidate}"


# ----- merging --------------------------------------------------------------------------------------------
def merge(
    store: DataStore,
    config: Config,
    workspace: Callable[[], Workspace],
    branch: str,
    into: str | None = None,
    message: str | None = None,
    force: bool = False,
    reason: str | None = None,
    resolve: Resolution | None = None,
    expect: tuple[str | None, str | None] = (None, None),
) -> MergeOutcome:
    """Merge ``branch`` into ``into`` (default: the data branch). A review whose checks or gate fail is refused
    (MergeBlocked, naming each failure) unless ``force`` with a ``reason``: then the merge is a merge commit
    whose message records the reason and what it overrode. ``workspace`` opens what judging a review reads (the
    tracker too): only a review merged into the data branch is planned."""
    if force and not (reason or "").strip():
        raise TuskError("--force needs --reason TEXT: the reason goes into the merge commit")
    target = into or config.data.branch
    for shown, ref in zip(expect, (branch, target)):
        if shown and store.resolve(ref) != store.resolve(shown):
            raise DataError(
                f"{ref} moved since the review was shown ({shown[:7]} → {store.resolve(ref)[:7]}): "
                f"look at it again before merging"
            )
    overridden: list[str] = []
    text = message or f"Merge {branch} into {target}"
    pinned: tuple[str, str] | None = None
    if target == config.data.branch and is_review_branch(store, config, branch):
        heads = (store.resolve(branch), store.resolve(target))
        # every review is planned on its preview (nothing to judge when merged already): merged data that cannot
        # be planned would stop every model's training, so no --force merges it
        review = show(workspace(), branch, resolve)
        if review.unplannable:
            raise MergeBlocked(
                f"merge of {branch} refused: the merged data cannot be planned: {review.unplannable} "
                f"(fix the rows on {branch}, then merge again; {target} is unchanged)",
                review,
            )
        if review.blocking and not force:
            raise MergeBlocked(
                f"merge of {branch} refused: {'; '.join(review.blocking)} "
                f"(tusk review show {branch}; --force --reason TEXT merges anyway)",
                review,
            )
        overridden = review.blocking
        if overridden:
            text = _forced_message(text, str(reason).strip(), review.blocking_names)
        if (store.resolve(branch), store.resolve(target)) != heads:
            raise DataError(f"{branch} or {target} moved while the review was checked: run the merge again")
        pinned = heads
    forced = force and bool(overridden)
    shown_head, shown_into = expect
    # what a person was shown (or what was just planned) is what merges: the commit they saw (not whatever the
    # branch holds by now), into the data branch as they saw it (checked again under the store's write lock)
    source = store.resolve(shown_head) if shown_head else pinned[0] if pinned else branch
    expect_into = store.resolve(shown_into) if shown_into else pinned[1] if pinned else None
    result = store.merge(source, target, text, no_ff=forced, resolve=resolve, expect_into=expect_into)
    result.message = result.message.replace(source, branch)
    note = None
    if message and result.fast_forward and result.commit:  # no merge commit was made to carry the message
        note = (
            f"fast-forward: {target} now points at {branch}'s own commits, which keep their messages; "
            f"-m {message!r} was not used"
        )
    return MergeOutcome(
        branch,
        target,
        result.commit,
        result.fast_forward,
        result.message,
        forced,
        reason if forced else None,
        overridden,
        result.resolved,
        note,
    )


MERGE_MESSAGE_MAX = 255  # doltlite cuts a merge commit's message here


def _forced_message(message: str, reason: str, past: list[str]) -> str:
    """The merge commit's message for a forced merge: the reason in full, then what it overrode."""
    for overridden in (", ".join(past), f"{len(past)} failing check(s) or model(s)"):
        text = f"{message}\n\nforced: {reason}\npast: {overridden}"
        if len(text) <= MERGE_MESSAGE_MAX:
            return text
    raise TuskError(
        f"the merge message and --reason are too long for a merge commit ({len(text)} characters, at "
        f"most {MERGE_MESSAGE_MAX}): shorten them"
    )
