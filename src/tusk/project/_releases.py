"""Project's release commands: create, list, show, diff, roll back, the release log; lineage, reproduction
and cost."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tusk.project._base import ProjectBase

if TYPE_CHECKING:
    from tusk.core.config import Config
    from tusk.execute.base import Executor
    from tusk.project.results import ReleaseDiff, ReleaseList, ReleaseLogView, ReleaseMoved
    from tusk.release.create import BuildOutcome, CreateOutcome
    from tusk.release.lineage import DataCommitLineage, ReleaseLineage, VersionLineage
    from tusk.release.store import Release
    from tusk.train.cost import CostReport
    from tusk.train.reproduce import Reproduction


class ReleaseMethods(ProjectBase):
    """What ``tusk release ... | lineage | reproduce | cost`` call."""

    def create_release(self, build: bool = True) -> CreateOutcome:
        """Release every model's production version: manifest → md5/sha256 → image ``<image>:<md5>`` (``build``).
        An identical manifest makes the existing release current instead of a duplicate; a failed build records
        nothing."""
        from tusk.release.create import create_release

        return create_release(
            self.config,
            self.tracker,
            self.state_dir,
            self.release_lock("tusk release create"),
            self.builder() if build else None,
        )

    def build_release(self, ident: str | None = None) -> BuildOutcome:
        """The image of release ``ident`` (default: the current one), e.g. one recorded ``--no-build``: its build
        context from the versions it holds, built by the project's builder (``none``: the context only)."""
        from tusk.release.create import build_release

        return build_release(
            self.config, self.tracker, self.state_dir, self.release_lock("tusk release build"), self.builder(), ident
        )

    def rollback_release(self, ident: str | None = None) -> ReleaseMoved:
        """Release ``ident`` (default: the one deployed before the current) becomes current, and every production
        alias moves to its versions. Logged as rolled_back / rolled_forward with time, user and code commit. One
        release create or rollback at a time (the release lock)."""
        from tusk._internal import git
        from tusk.project.results import ReleaseMoved

        with self.release_lock("tusk release rollback"):
            before, after = self.releases.rollback(ident, git.head(self.root))
        return ReleaseMoved(after, before)

    def release_list(self) -> ReleaseList:
        """Every release, oldest first (the current one flagged)."""
        from tusk.project.results import ReleaseList

        return ReleaseList(self.releases.list())

    def release(self, ident: str) -> Release:
        """A release by md5, an md5 prefix of 4+ characters, or ``vN`` (with its last verdict, ``verified``)."""
        return self.releases.with_verdict(self.releases.find(ident))

    def release_diff(self, first: str, second: str) -> ReleaseDiff:
        """Models added, removed and changed from release ``first`` to ``second``, with commits and metric deltas."""
        from tusk.core.manifest import diff
        from tusk.project.results import ModelChange, ReleaseDiff
        from tusk.tracking import tags as T

        old, new = self.releases.find(first), self.releases.find(second)
        changes = diff(old.models, new.models)
        changed = []
        for name, (before, after) in sorted(changes.changed.items()):
            was, now = self.tracker.version(name, before), self.tracker.version(name, after)
            deltas = {k: now.metrics[k] - was.metrics[k] for k in sorted(now.metrics) if k in was.metrics}
            needs = {
                key: (was.tags.get(T.need(key), ""), now.tags.get(T.need(key), ""))
                for key in sorted(set(T.needs_of(was.tags)) | set(T.needs_of(now.tags)))
            }
            changed.append(
                ModelChange(
                    name,
                    before,
                    after,
                    (was.tags.get(T.DATA_COMMIT, ""), now.tags.get(T.DATA_COMMIT, "")),
                    (was.tags.get(T.CODE_COMMIT, ""), now.tags.get(T.CODE_COMMIT, "")),
                    deltas,
                    {key: pair for key, pair in needs.items() if pair[0] != pair[1]},
                )
            )
        return ReleaseDiff(old, new, changes.added, changes.removed, changed)

    def current_release(self, at: str | None = None) -> Release:
        """The deployed release, or the one that was current at time ``at`` (ISO 8601 or Unix seconds)."""
        from tusk.errors import ReleaseError

        current = self.releases.current_at(at) if at else self.releases.current()
        if current is None:
            raise ReleaseError("no release yet (run 'tusk release create')")
        return self.releases.with_verdict(current)

    def release_log(self) -> ReleaseLogView:
        """Every release event (created, rolled_back, rolled_forward, verified), newest first, and what this
        machine's ``tusk serve`` processes served when (``served``, from ``.tusk/serve/served.jsonl``)."""
        from tusk.project.results import ReleaseLogView
        from tusk.serve.running import served_log

        served = served_log(self.state_dir / "serve")
        versions = {r.md5: r.version for r in self.releases.list()} if served else {}
        return ReleaseLogView(self.releases.log(), served, versions)

    def lineage(self, target: str) -> VersionLineage:
        """Where NAME[@VERSION] came from (default: its production version, else its newest): data and code
        commits, inputs, metrics, what changed in the data since the version before, releases holding it."""
        from tusk.release.lineage import of_version

        return of_version(self.tracker, self.releases, self.data, target)

    def data_lineage(self, ref: str) -> DataCommitLineage:
        """The versions trained from data commit ``ref`` (any ref), and the releases holding them."""
        from tusk.release.lineage import of_data_commit

        return of_data_commit(self.tracker, self.releases, self.data, ref)

    def release_lineage(self, ident: str) -> ReleaseLineage:
        """Every model of release ``ident`` with its data and code commits."""
        from tusk.release.lineage import of_release

        return of_release(self.tracker, self.releases, ident)

    def reproduce(self, target: str) -> Reproduction:
        """Retrain NAME@VERSION from its recorded data and code commits (a git worktree) and compare."""
        from tusk.train.reproduce import reproduce

        return reproduce(self.config, self.data, self.tracker, _local_executor, target)

    def cost(self) -> CostReport:
        """CPU- and GPU-hours of every recorded job, per model, month and release, priced by ``[cost]``."""
        from tusk.train.cost import cost_report

        releases = {r.md5: r.models for r in self.releases.list()}
        return cost_report(self.tracker.all_versions(), releases, self.config.cost)


def _local_executor(config: Config) -> Executor:
    """One worker on this machine (``local://``), for ``config``: where a reproduction retrains."""
    from tusk.backends import backend_class

    url = "local://?workers=1"
    executor: Executor = backend_class("executor", url)(url, config)
    return executor
