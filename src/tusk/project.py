"""``Project``: opens the backends named in ``tusk.toml``; the one facade the CLI and the web page share.

Backends are opened lazily: ``tusk data log`` never imports MLflow, ``tusk plan`` never starts workers.
Each area keeps its logic in its own module (``plan``, ``runner``, ``release``, ``lineage``, ...); the
methods here only wire the project's backends into them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tusk.backends import backend_class
from tusk.config import Config, find_config, load_config, url_path
from tusk.ports import RunCancel

if TYPE_CHECKING:
    from tusk.checks import CheckReport
    from tusk.execute.base import EventHandler
    from tusk.release.create import CreateOutcome
    from tusk.runner import JobOutcome
    from tusk.results import (BranchCreated, Cloned, Initialised, BranchDeleted, BranchList, CommitLog, Fetched, ModelList, ModelVersions,
                              Promoted, Pulled, Pushed, ReleaseMoved, Reverted, RolledBack, QueryResult, ReleaseDiff, ReleaseList, ReleaseLogView,
                              RemoteAdded, RemoteList, RemoteRemoved, ReviewList, Status, TagCreated, TagList, Watched, Workflow)
    from tusk.cost import CostReport
    from tusk.ci_github import WrittenWorkflow
    from tusk.data.base import (DataStore, DiffReport, ImportResult, MergePreview, MergeResult, Remote,
                                Resolution, SupportsRemotes)
    from tusk.data.export import ExportResult
    from tusk.execute.base import Executor
    from tusk.lineage import DataCommitLineage, ReleaseLineage, VersionLineage
    from tusk.logs import JobLog
    from tusk.plan import Plan
    from tusk.release.history import ReleaseEvent
    from tusk.release.store import Release, ReleaseStore
    from tusk.reproduce import Reproduction
    from tusk.review import MergeOutcome, Review, ReviewSummary
    from tusk.runner import RunReport
    from tusk.sync import SyncReport
    from tusk.tracking.base import ModelSummary, Tracker


def init(directory: Path | str = ".", example: str | None = None) -> "Initialised":
    """A new project in ``directory``: tusk.toml, a data store, a tracking database (and the example's files)."""
    from tusk.results import Initialised
    from tusk.scaffold import init_project

    return Initialised(init_project(Path(directory), example), example)


def clone(url: str, directory: Path | str) -> "Cloned":
    """The data at ``url`` cloned into the project in ``directory`` (a new project when it has no tusk.toml)."""
    from tusk.results import Cloned
    from tusk.scaffold import clone_project

    config_path = clone_project(url, Path(directory))
    with Project.open(config_path) as project:
        branch = project.config.data.branch
        return Cloned(config_path, project.config.data.url, branch, project.data.resolve(branch))


__all__ = ["Project", "RunCancel", "clone", "init"]


class Project:
    def __init__(self, config: Config) -> None:
        self.config = config

    @classmethod
    def open(cls, path: Path | str | None = None) -> "Project":
        """The project whose ``tusk.toml`` is at or above ``path`` (default: the working directory)."""
        start = Path(path) if path else None
        if start is not None and start.is_file():
            return cls(load_config(start))
        return cls(load_config(find_config(start)))

    @property
    def root(self) -> Path:
        return self.config.root

    @property
    def state_dir(self) -> Path:
        """``.tusk/`` beside tusk.toml: logs, caches, locks, build contexts."""
        path = self.root / ".tusk"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @cached_property
    def data(self) -> "DataStore":
        """The data store; scratch refs a crashed merge preview left behind are removed on opening."""
        from tusk.errors import DataError

        store: DataStore = backend_class("data", self.config.data.url)(self.config.data.url, self.config)
        try:
            store.clean_scratch()
        except DataError:  # no store yet, or unreadable: the command that reads it says so
            pass
        return store

    @cached_property
    def tracker(self) -> "Tracker":
        """The tracker; a release event a crash left half-done (aliases half-moved) is finished first, so
        every command sees production aliases and the current release agree."""
        from tusk.release.store import ReleaseStore

        tracker: Tracker = backend_class("tracking", self.config.tracking.url)(self.config.tracking.url, self.config)
        ReleaseStore(tracker).settle()
        return tracker

    # --- releases (cli/release.py) ---
    @property
    def releases(self) -> "ReleaseStore":
        from tusk.release.store import ReleaseStore

        return ReleaseStore(self.tracker)

    def create_release(self, build: bool = True) -> "CreateOutcome":
        """Release every model's production version: manifest → md5/sha256 → image ``<image>:<md5>`` (``build``).
        An identical manifest makes the existing release current instead of a duplicate; a failed build records
        nothing."""
        from tusk.release.create import create_release

        return create_release(self, build=build)

    def rollback_release(self, ident: str | None = None) -> "ReleaseMoved":
        """Release ``ident`` (default: the one deployed before the current) becomes current, and every production
        alias moves to its versions. Logged as rolled_back / rolled_forward with time, user and code commit. One
        release create or rollback at a time (the release lock)."""
        from tusk import git
        from tusk.results import ReleaseMoved

        with self.release_lock("tusk release rollback"):
            before, after = self.releases.rollback(ident, git.head(self.root))
        return ReleaseMoved(after, before)

    def release_log(self) -> "ReleaseLogView":
        """Every release event (created, rolled_back, rolled_forward), newest first."""
        from tusk.results import ReleaseLogView

        return ReleaseLogView(self.releases.log())

    def current_release(self, at: str | None = None) -> "Release":
        """The deployed release, or the one that was current at time ``at`` (ISO 8601 or Unix seconds)."""
        from tusk.errors import ReleaseError

        current = self.releases.current_at(at) if at else self.releases.current()
        if current is None:
            raise ReleaseError("no release yet (run 'tusk release create')")
        return current

    def executor(self, workers: int | None = None) -> "Executor":
        url = self.config.executor.url
        executor: Executor = backend_class("executor", url)(url, self.config, workers=workers)
        return executor

    def close(self) -> None:
        for name in ("data", "tracker"):
            backend: Any = self.__dict__.pop(name, None)
            if backend is not None and hasattr(backend, "close"):
                backend.close()

    def __enter__(self) -> "Project":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- remotes (cli/remote.py) ---
    def shared_data(self) -> "SupportsRemotes":
        """The data store, with the remotes that tusk.toml names under ``[data.remotes]`` added to it."""
        from tusk.data.base import SupportsRemotes
        from tusk.errors import DataError

        store = self.data
        if not isinstance(store, SupportsRemotes):
            raise DataError(f"data store {self.config.data.url} has no remotes")
        for name, url in self.config.data.remotes.items():
            store.add_remote(name, url, base=self.root)
        return store

    def add_remote(self, name: str, url: str, base: Path | None = None) -> "RemoteAdded":
        """Remote NAME at URL, written to ``[data.remotes]`` in tusk.toml (comments kept) so that every
        clone of the project, and the CI workflow, knows it. A relative path is relative to ``base``."""
        from tusk.config_edit import set_remote

        store = self.shared_data()
        known = {r.name for r in store.remotes()}
        added = store.add_remote(name, url, base=base or Path.cwd())  # checks the name, the URL, a clash
        try:
            set_remote(self.config.path, name, added.url)  # atomic: written whole or not at all
        except BaseException:
            if name not in known:
                store.remove_remote(name)
            raise
        self.config.data.remotes[name] = added.url
        from tusk.results import RemoteAdded

        return RemoteAdded(added.name, added.url, self.config.path)

    def remove_remote(self, name: str) -> "RemoteRemoved":
        """Forget remote NAME: from tusk.toml and from the data store (the remote itself is untouched)."""
        from tusk.config_edit import remove_remote

        store = self.shared_data()
        if name not in {r.name for r in store.remotes()}:
            from tusk.errors import DataError

            raise DataError(f"no remote named {name!r}")
        remove_remote(self.config.path, name)
        self.config.data.remotes.pop(name, None)
        store.remove_remote(name)
        from tusk.results import RemoteRemoved

        return RemoteRemoved(name)

    def shared_remotes(self) -> dict[str, str]:
        """Remotes runners can reach: tusk.toml's, and any only in the data store (added by older tusk)."""
        remotes = dict(self.config.data.remotes)
        path = url_path(self.config.data.url, self.root)
        if path.exists():
            from tusk.data.base import SupportsRemotes

            store = self.data
            if isinstance(store, SupportsRemotes):
                for remote in store.remotes():
                    remotes.setdefault(remote.name, remote.url)
        return remotes

    # --- CI (cli/ops.py) ---
    def ci_github(self, output: Path | None = None, strict: bool = False, shards: int = 4,
                  runs_on: "Sequence[str]" = (), max_parallel: int | None = None, timeout_minutes: int = 360,
                  install: str | None = None) -> "Workflow":
        """Write the GitHub Actions workflow (plan → ``tusk run --shard i/N`` matrix → release); its warnings say
        what runners could not share (``strict``: refused instead, nothing written)."""
        from tusk.ci_github import write
        from tusk.results import Workflow

        labels = list(runs_on) or ["self-hosted"]
        path, warnings = write(self.config, output, remotes=self.shared_remotes(), strict=strict, shards=shards,
                               runs_on=labels, max_parallel=max_parallel, timeout_minutes=timeout_minutes,
                               install=install)
        return Workflow(path, shards, labels, warnings)

    # --- sources (cli/data.py) ---
    def sync(self, names: "Sequence[str]" = ()) -> "SyncReport":
        """Bring each named source (default: every ``[[sources]]``) onto its review branch ``sync/<name>``:
        one commit when it changed, none when not. A failing source is reported; the others still sync."""
        from tusk.sync import sync

        return sync(self, names)

    # --- review: merge previews (cli/train.py, cli/data.py) ---
    def is_review_branch(self, ref: str | None) -> bool:
        """A branch (local, or a remote's as ``origin/fix``) other than the data branch: what a review merges."""
        from tusk.review import is_review_branch

        return is_review_branch(self, ref)

    def merge_preview(self, branch: str, resolve: "Resolution | None" = None) -> "AbstractContextManager[MergePreview]":
        """The data branch with ``branch`` merged, for as long as the ``with`` block runs (main is untouched;
        the scratch ref is removed after). A conflict raises MergeConflict naming the rows, unless ``resolve``
        settles it as a merge would."""
        from tusk.review import merge_preview

        return merge_preview(self, branch, resolve)

    def import_file(self, source: str, table: str, keys: "Sequence[str]" = (), mode: str = "replace",
                    branch: str | None = None, message: str | None = None, yes: bool = False,
                    expect: tuple[int, int, int] | None = None, allow_empty: bool = False) -> "ImportResult":
        """Import a file (or sheet) into ``table`` on ``branch`` (default: the data branch) as one commit. Onto
        the data branch, a change over ``[data] confirm_fraction`` / ``confirm_min_rows`` raises
        NeedsConfirmation (nothing written) unless ``yes``; ``expect`` is the confirmed (added, modified,
        removed), refused if the table moved meanwhile."""
        from tusk.data.ingest import Guard, import_file

        data = self.config.data
        onto_data_branch = (branch or data.branch) == data.branch
        guard = None if yes or not onto_data_branch else Guard(data.confirm_fraction, data.confirm_min_rows)
        return import_file(self.data, source, table, keys, mode, branch, message,  # type: ignore[arg-type]
                           guard=guard, expect=expect, allow_empty=allow_empty)

    def export(self, table: str, at: str | None = None, fmt: str | None = None,
               output: str | None = None) -> "ExportResult":
        """``table`` at ``at`` as a CSV, XLSX or Parquet file, byte-stable, that imports back unchanged."""
        from tusk.data.export import export_table

        return export_table(self.data, table, at, fmt, output)

    def revert(self, commit: str, branch: str | None = None, mainline: int | None = None) -> "Reverted":
        """A new commit on ``branch`` (default: the data branch) undoing ``commit``; conflicts apply nothing."""
        from tusk.results import Reverted

        result = self.data.revert(commit, branch, mainline)
        return Reverted(commit, result.commit, result.message)

    def diff(self, first: str | None = None, second: str | None = None, table: str | None = None,
             limit: int | None = None) -> "DiffReport":
        """Row-level changes. ``A...B``: what B changed since it left A (from their merge base: the review
        view). ``A..B`` or ``A B``: A's commit against B's. ``A`` alone: the data branch against A. Nothing: the
        data branch's last commit."""
        from tusk.data.base import DiffReport
        from tusk.errors import DataError

        store = self.data
        base = None
        if first and "..." in first:
            if second:
                raise DataError(f"give either {first!r} or two refs, not both")
            start, end = first.split("...", 1)
            start, end = start or store.default_branch, end or store.default_branch
            base = store.merge_base(start, end)
        elif first and ".." in first:
            if second:
                raise DataError(f"give either {first!r} or two refs, not both")
            start, end = first.split("..", 1)
            start, end = start or store.default_branch, end or store.default_branch
        elif first and second:
            start, end = first, second
        elif first:
            start, end = store.default_branch, first
        else:
            commits = store.log(store.default_branch, 2)
            start, end = commits[-1].hash, commits[0].hash
        from_commit = base or store.resolve(start)
        to_commit = store.resolve(end)
        tables = store.diff(from_commit, to_commit, table=table, with_rows=True, limit=limit)
        return DiffReport(start, end, from_commit, to_commit, tables, base)

    # --- data checks, reviews and gated merges (cli/data.py, cli/review.py) ---
    def check(self, ref: str | None = None) -> "CheckReport":
        """Run the ``[[checks]]`` at ``ref`` (default: the data branch); a review branch on its merge preview."""
        from tusk import review

        return review.check(self, ref)

    def reviews(self) -> "ReviewList":
        """Every open (and merged) review branch, with the source it syncs from if any."""
        from tusk import review
        from tusk.results import ReviewList

        return ReviewList(review.reviews(self))

    def review(self, branch: str) -> "Review":
        """A review on its merge preview: its change, the models it retrains, checks, candidates vs production."""
        from tusk import review

        return review.show(self, branch)

    def merge(self, branch: str, into: str | None = None, message: str | None = None, force: bool = False,
              reason: str | None = None, take: str | None = None, resolutions: Path | None = None,
              conflicts_file: Path | None = None) -> "MergeOutcome":
        """Merge ``branch`` into ``into`` (default: the data branch) as one commit. A review whose checks or gate
        fail is refused unless ``force`` with a ``reason``. Conflicting rows are settled by ``take`` ("ours" /
        "theirs") or by a filled-in conflicts file (``resolutions``); otherwise MergeConflict names them,
        nothing is merged, and ``conflicts_file`` receives them as a CSV to fill in."""
        from tusk import review
        from tusk.data.conflicts import read_resolutions, write_conflicts
        from tusk.errors import DataError, MergeConflict

        store = self.data
        target = into or store.default_branch
        if take and resolutions:
            raise DataError("give --ours/--theirs or --resolve FILE, not both")
        heads = (store.resolve(target), store.resolve(branch))
        resolve = read_resolutions(resolutions, heads) if resolutions else take
        try:
            return review.merge(self, branch, into, message, force, reason, resolve=resolve)
        except MergeConflict as conflict:
            if conflicts_file is None:
                raise
            write_conflicts(conflict.conflicts, conflicts_file, heads)
            raise MergeConflict(f"merging {branch} into {target} conflicts in {len(conflict.conflicts)} row(s), "
                                f"written to {conflicts_file}: set each row's resolution to ours or theirs, then run "
                                f"tusk data merge {branch} --resolve {conflicts_file}; nothing was merged",
                                conflict.conflicts) from conflict

    def collect_garbage(self) -> str | None:
        """After a write: the data store's gc when it is due (the file has doubled since the last one);
        → a line saying what it did, or None."""
        maybe_gc = getattr(self.data, "maybe_gc", None)
        done = maybe_gc(self.state_dir / "gc.json") if maybe_gc else None
        if done is None:
            return None
        before, after = done
        return (f"data store: collected garbage, {before / 1e6:.1f} MB → {after / 1e6:.1f} MB (tusk does when the "
                "file has doubled since the last time)")

    def lock(self, what: str = "tusk run", wait: bool = True,
             on_wait: "Callable[[str], None] | None" = None) -> "AbstractContextManager[None]":
        """The project's run lock: one run (or watcher's run) at a time; a second waits or gets LockHeld."""
        from tusk.lock import hold

        return hold(self.state_dir / "project.lock", what, wait=wait, on_wait=on_wait, reentrant=True)

    def release_lock(self, what: str) -> "AbstractContextManager[None]":
        """One release create or rollback at a time (two creates of one manifest would record it twice); a
        run does not wait for it, nor it for a run."""
        from tusk.lock import hold

        return hold(self.state_dir / "release.lock", what, wait=True, reentrant=True)

    # --- plan and run (cli/train.py) ---
    def plan(self, at: str | None = None, check: bool = True) -> "Plan":
        """Which instances are new, stale, fresh, reusable or orphaned at ``at`` (default: the data branch).

        ``at`` a branch other than the data branch plans the merge preview: what merging it would retrain.
        With ``check``, a train entry point that is missing or does not import is refused (ConfigError)."""
        from tusk.runner import make_plan

        if not self.is_review_branch(at):
            return make_plan(self, at, check=check)
        assert at is not None
        with self.merge_preview(at) as preview:
            plan = make_plan(self, preview.commit, keep_cache=preview.persists, check=check)
        plan.ref, plan.preview = at, preview
        return plan

    def training_ref(self, at: str | None) -> str | None:
        """The ref a run at ``at`` trains from: a review branch only when it merges without a merge commit."""
        from tusk.review import training_ref

        return training_ref(self, at)

    def run(self, at: str | None = None, only: str | None = None, shard: "str | tuple[int, int] | None" = None,
            workers: int | None = None, force: bool = False, candidates: bool = False, *,
            on_start: "Callable[[Plan, int], None] | None" = None, on_event: "EventHandler | None" = None,
            on_outcome: "Callable[[JobOutcome], None] | None" = None, cancel: RunCancel | None = None,
            wait: bool = True, on_wait: "Callable[[str], None] | None" = None) -> "RunReport":
        """Train what the plan says, in parallel, pinned to the data commit; record each in the tracker.

        ``only`` a glob of instance names, ``shard`` ``"I/N"`` (or ``(I, N)``): a deterministic slice.
        ``candidates``: train the blast radius of review branch ``at`` on its merge preview as candidate
        versions for the review (no alias moves, nothing becomes current, no release).

        Holds the project's run lock (``wait=False`` refuses instead of waiting for another run, ``on_wait`` hears
        who holds it), finishes what a killed run left half-done first, then plans.

        Progress comes as events: ``on_start(plan, jobs to run)``, ``on_event`` for each executor event (a job
        started, retrying, finished), ``on_outcome`` for each job once recorded. ``cancel`` (a ``RunCancel``) stops
        the run from another thread, as Ctrl-C does in the main one."""
        from tusk import runner
        from tusk.spec import parse_shard

        shard_range = parse_shard(shard) if isinstance(shard, str) else shard
        return runner.run(self, at=at, only=only, shard=shard_range, workers=workers, force=force,
                          candidates=candidates, on_start=on_start, on_event=on_event, on_outcome=on_outcome,
                          cancel=cancel, wait=wait, on_wait=on_wait)

    def status(self) -> "Status":
        """Each instance's current version, fingerprint, data commit, production version and plan status."""
        from tusk.results import InstanceStatus, Status

        plan = self.plan(check=False)
        production = self.tracker.aliases()
        rows = []
        for planned in plan.instances:
            state = planned.state
            rows.append(InstanceStatus(planned.name, planned.status, state.version if state else None,
                                       production.get(planned.name), state.fingerprint if state else None,
                                       state.data_commit if state else None, planned.reasons))
        return Status(rows)
    # --- end plan and run ---

    def models(self) -> "ModelList":
        """Every registered model but tusk's own (the release log): current and production versions."""
        from tusk.results import ModelList
        from tusk.tracking.base import INTERNAL_MODELS, ModelSummary

        states, production = self.tracker.states(), self.tracker.aliases()
        names = sorted((set(states) | set(production)) - INTERNAL_MODELS)
        return ModelList([ModelSummary(n, states[n].version if n in states else None, production.get(n),
                                       states[n].spec if n in states else None) for n in names])

    # --- logs (cli/train.py) ---
    def logs(self, target: str) -> "JobLog":
        """The log of NAME@VERSION (from its MLflow run), or of NAME's running or latest job.

        Without a version: a job of NAME that is running now, else the newer of NAME's last local job and
        its current version's run (a failed job after the last success shows the failure)."""
        from tusk import logs
        from tusk.errors import TrackingError
        from tusk.lineage import parse_target

        name, version = parse_target(target)
        local = logs.newest_job_log(self.state_dir / "jobs", name) if version is None else None
        if local is not None and local.live:
            return self._local_log(name, local)
        if version is None:
            state = self.tracker.states().get(name)
            version = state.version if state else self.tracker.aliases().get(name)
        if version is None:
            if local is not None:
                return self._local_log(name, local)
            raise TrackingError(f"no log for {name!r}: it has no registered version and no job on this machine")
        if local is not None and not local.succeeded and \
                local.modified * 1000 > self.tracker.version(name, version).created_ms:
            return self._local_log(name, local)
        text, where = self.tracker.run_log(name, version)
        return logs.JobLog(name, version, "run", where, text)

    @staticmethod
    def _local_log(name: str, found: Any) -> "JobLog":
        from tusk import logs

        data = found.path.read_bytes()
        return logs.JobLog(name, None, "job folder", str(found.path), data.decode("utf-8", "replace"),
                           live=found.live, size=len(data))

    def follow_log(self, log: "JobLog") -> "Iterator[str]":
        """What a live job's log gains after ``log.text``, as it is written, until the job ends."""
        from tusk import logs

        path = Path(log.location)
        return logs.follow(path, lambda: logs.running(path.parent.parent), offset=log.size)

    # --- lineage, reproduction, cost (cli/release.py) ---
    def lineage(self, target: str) -> "VersionLineage":
        """Where NAME[@VERSION] came from (default: its production version, else its newest): data and code
        commits, inputs, metrics, what changed in the data since the version before, releases holding it."""
        from tusk.lineage import of_version

        return of_version(self.tracker, self.releases, self.data, target)

    def data_lineage(self, ref: str) -> "DataCommitLineage":
        """The versions trained from data commit ``ref`` (any ref), and the releases holding them."""
        from tusk.lineage import of_data_commit

        return of_data_commit(self.tracker, self.releases, self.data, ref)

    def release_lineage(self, ident: str) -> "ReleaseLineage":
        """Every model of release ``ident`` with its data and code commits."""
        from tusk.lineage import of_release

        return of_release(self.tracker, self.releases, ident)

    def reproduce(self, target: str) -> "Reproduction":
        """Retrain NAME@VERSION from its recorded data and code commits (a git worktree) and compare."""
        from tusk.reproduce import reproduce

        return reproduce(self.config, self.data, self.tracker, target)

    def cost(self) -> "CostReport":
        """CPU- and GPU-hours of every recorded job, per model, month and release, priced by ``[cost]``."""
        from tusk.cost import cost_report

        releases = {r.md5: r.models for r in self.releases.list()}
        return cost_report(self.tracker.all_versions(), releases, self.config.cost)

    # --- data: history, branches, tags, queries (cli/data.py) ---
    def log(self, ref: str | None = None, limit: int | None = None) -> "CommitLog":
        """Commits of ``ref`` (default: the data branch), newest first."""
        from tusk.results import CommitLog

        return CommitLog(self.data.log(ref, limit))

    def branches(self) -> "BranchList":
        """Every branch (not the scratch refs of merge previews under way)."""
        from tusk.data.base import SCRATCH_PREFIX
        from tusk.results import BranchList

        store = self.data
        return BranchList([b for b in store.branches() if not b.name.startswith(SCRATCH_PREFIX)],
                          store.default_branch)

    def create_branch(self, name: str, start: str | None = None) -> "BranchCreated":
        """Branch ``name`` at ``start`` (default: the data branch)."""
        from tusk.results import BranchCreated

        branch = self.data.create_branch(name, start)
        return BranchCreated(branch.name, branch.head)

    def delete_branch(self, name: str) -> "BranchDeleted":
        from tusk.results import BranchDeleted

        self.data.delete_branch(name, force=True)
        return BranchDeleted(name)

    def sql(self, query: str, at: str | None = None) -> "QueryResult":
        """A read-only query at ``at`` (default: the data branch)."""
        from tusk.results import QueryResult

        result = self.data.query(query, None, ref=at)
        return QueryResult(list(result.columns), [list(row) for row in result.rows])

    def tags(self) -> "TagList":
        from tusk.results import TagList

        return TagList(self.data.tags())

    def tag(self, name: str, at: str | None = None, message: str = "") -> "TagCreated":
        """Tag the commit at ``at`` (default: the data branch) as ``name``."""
        from tusk.results import TagCreated

        created = self.data.tag(name, at, message)
        return TagCreated(created.name, created.commit)

    # --- remotes: list, fetch, pull, push (cli/remote.py) ---
    def remotes(self) -> "RemoteList":
        from tusk.results import RemoteList

        return RemoteList(self.shared_data().remotes())

    def fetch(self, remote: str = "origin") -> "Fetched":
        """The remote's branches as REMOTE/BRANCH refs; no local branch changes."""
        from tusk.results import Fetched

        return Fetched(self.shared_data().fetch(remote))

    def pull(self, remote: str = "origin", branch: str | None = None) -> "Pulled":
        """Fetch, then merge REMOTE/BRANCH into ``branch`` (default: the data branch); conflicts apply nothing."""
        from tusk.results import Pulled

        store = self.shared_data()
        result = store.pull(remote, branch)
        name = branch or self.config.data.branch
        others = [b for b in store.remote_branches() if b.name.startswith(f"{remote}/")]
        return Pulled(name, result.commit or self.data.resolve(name), result.fast_forward, result.commit is not None,
                      result.message, others)

    def push(self, remote: str = "origin", branch: str | None = None, force: bool = False) -> "Pushed":
        """Send ``branch`` (default: the data branch); refused unless the remote's is an ancestor, or ``force``."""
        from tusk.results import Pushed

        name = branch or self.config.data.branch
        return Pushed(remote, name, self.shared_data().push(remote, name, force))

    # --- models (cli/train.py) ---
    def model_versions(self, name: str) -> "ModelVersions":
        """Every version of model ``name``, newest first: commits, fingerprint, aliases, when."""
        import time

        from tusk.results import ModelVersion, ModelVersions
        from tusk.tracking import tags as T

        versions = [ModelVersion(v.version, v.aliases, v.tags.get(T.DATA_COMMIT), v.tags.get(T.CODE_COMMIT),
                                 v.tags.get(T.FINGERPRINT), v.run_id,
                                 time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(v.created_ms / 1000)))
                    for v in self.tracker.versions(name)]
        return ModelVersions(name, versions)

    def rollback_model(self, name: str, to: str | None = None) -> "RolledBack":
        """Move ``name``'s production alias back one step of its production history (or to version ``to``). On
        its first production version nothing moves (``moved`` is false)."""
        from tusk.results import RolledBack

        before, after = self.tracker.rollback(name, to.lstrip("v") if to else None)
        return RolledBack(name, before, after)

    def promote(self, name: str, version: str) -> "Promoted":
        """Point ``name``'s production alias at ``version`` (``3`` or ``v3``)."""
        from tusk.results import Promoted

        number = version.lstrip("v")
        self.tracker.set_alias(name, number)
        return Promoted(name, number)

    # --- releases: list, show, diff (cli/release.py) ---
    def release_list(self) -> "ReleaseList":
        """Every release, oldest first (the current one flagged)."""
        from tusk.results import ReleaseList

        return ReleaseList(self.releases.list())

    def release(self, ident: str) -> "Release":
        """A release by md5, an md5 prefix of 4+ characters, or ``vN``."""
        return self.releases.find(ident)

    def release_diff(self, first: str, second: str) -> "ReleaseDiff":
        """Models added, removed and changed from release ``first`` to ``second``, with commits and metric deltas."""
        from tusk.release.manifest import diff
        from tusk.results import ModelChange, ReleaseDiff
        from tusk.tracking import tags as T

        old, new = self.releases.find(first), self.releases.find(second)
        changes = diff(old.models, new.models)
        changed = []
        for name, (before, after) in sorted(changes.changed.items()):
            was, now = self.tracker.version(name, before), self.tracker.version(name, after)
            deltas = {k: now.metrics[k] - was.metrics[k] for k in sorted(now.metrics) if k in was.metrics}
            changed.append(ModelChange(name, before, after,
                                       (was.tags.get(T.DATA_COMMIT, ""), now.tags.get(T.DATA_COMMIT, "")),
                                       (was.tags.get(T.CODE_COMMIT, ""), now.tags.get(T.CODE_COMMIT, "")), deltas))
        return ReleaseDiff(old, new, changes.added, changes.removed, changed)

    # --- triggers (cli/ops.py) ---
    def watch(self, interval: float | None = None, once: bool = False,
              say: "Callable[[str], None] | None" = None) -> "Watched":
        """Poll the data branch and the code; on a change plan → run → release ([release] auto). ``say`` gets each
        line of the watch log; one watcher per project (LockHeld names the other)."""
        from tusk.results import Watched
        from tusk.triggers import watch

        root = self.root
        return Watched(watch(self, lambda: Project.open(root), interval or self.config.watch.interval or 30.0, once,
                             say=say))
