"""Project's data commands: history, branches, diffs, imports and exports, reviews and merges, sources,
remotes. Each wires the project's ports into a use case (``review``, ``sync``, ``data.ingest``...) and returns data."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tusk.project._base import ProjectBase

if TYPE_CHECKING:
    from tusk.data.base import DiffReport, ImportResult
    from tusk.data.export import ExportResult
    from tusk.project.results import (
        BranchCreated,
        BranchDeleted,
        BranchList,
        CommitLog,
        Fetched,
        Pulled,
        Pushed,
        QueryResult,
        RemoteAdded,
        RemoteList,
        RemoteRemoved,
        Reverted,
        ReviewList,
        TagCreated,
        TagList,
    )
    from tusk.review.checks import CheckReport
    from tusk.review.reviews import MergeOutcome, Review
    from tusk.review.sync import SyncReport


class DataMethods(ProjectBase):
    """What ``tusk data ...`` and ``tusk review ...`` call."""

    def log(self, ref: str | None = None, limit: int | None = None) -> CommitLog:
        """Commits of ``ref`` (default: the data branch), newest first."""
        from tusk.project.results import CommitLog

        return CommitLog(self.data.log(ref, limit))

    def branches(self) -> BranchList:
        """Every branch (not the scratch refs of merge previews under way)."""
        from tusk.data.base import SCRATCH_PREFIX
        from tusk.data.names import META_BRANCH
        from tusk.project.results import BranchList

        store = self.data  # tusk-reviews is tusk's (the reviews' conversation): not listed as a data branch
        return BranchList(
            [b for b in store.branches() if not b.name.startswith(SCRATCH_PREFIX) and b.name != META_BRANCH],
            store.default_branch,
        )

    def create_branch(self, name: str, start: str | None = None) -> BranchCreated:
        """Branch ``name`` at ``start`` (default: the data branch)."""
        from tusk.data.names import check_user_branch
        from tusk.project.results import BranchCreated

        check_user_branch(name, "create")
        branch = self.data.create_branch(name, start)
        return BranchCreated(branch.name, branch.head)

    def delete_branch(self, name: str) -> BranchDeleted:
        from tusk.data.names import check_user_branch
        from tusk.project.results import BranchDeleted

        check_user_branch(name, "delete")
        self.data.delete_branch(name, force=True)
        return BranchDeleted(name)

    def sql(self, query: str, at: str | None = None) -> QueryResult:
        """A read-only query at ``at`` (default: the data branch)."""
        from tusk.project.results import QueryResult

        result = self.data.query(query, None, ref=at)
        return QueryResult(list(result.columns), [list(row) for row in result.rows])

    def tags(self) -> TagList:
        from tusk.project.results import TagList

        return TagList(self.data.tags())

    def tag(self, name: str, at: str | None = None, message: str = "") -> TagCreated:
        """Tag the commit at ``at`` (default: the data branch) as ``name``."""
        from tusk.project.results import TagCreated

        created = self.data.tag(name, at, message)
        return TagCreated(created.name, created.commit)

    def import_file(
        self,
        source: str,
        table: str,
        keys: Sequence[str] = (),
        mode: str = "replace",
        branch: str | None = None,
        message: str | None = None,
        yes: bool = False,
        expect: tuple[int, int, int] | None = None,
        allow_empty: bool = False,
        delimiter: str | None = None,
        encoding: str | None = None,
        sheet: str | None = None,
        normalize_headers: bool = False,
    ) -> ImportResult:
        """Import a file (or sheet) into ``table`` on ``branch`` (default: the data branch) as one commit. Onto
        the data branch, a change over ``[data] confirm_fraction`` / ``confirm_min_rows`` raises
        NeedsConfirmation (nothing written) unless ``yes``; ``expect`` is the confirmed (added, modified,
        removed), refused if the table moved meanwhile.

        Read as spreadsheets save files: a CSV's ``delimiter`` is sniffed and its ``encoding`` detected unless
        given (the result's ``encoding`` / ``delimiter`` say which were used); ``sheet`` picks an XLSX sheet by
        name (default: the first); headers keep spaces and punctuation as column names unless
        ``normalize_headers`` (``Customer Name`` → ``customer_name``). A bad file raises IngestError (one line,
        nothing written)."""
        from tusk.data.ingest import Guard, ReadOptions, import_file

        data = self.config.data
        onto_data_branch = (branch or data.branch) == data.branch
        guard = None if yes or not onto_data_branch else Guard(data.confirm_fraction, data.confirm_min_rows)
        options = ReadOptions(delimiter or None, encoding or None, sheet or None, normalize_headers)
        return import_file(
            self.data,
            source,
            table,
            keys,
            mode,
            branch,
            message,
            guard=guard,
            expect=expect,
            allow_empty=allow_empty,
            options=options,
        )

    def export(
        self,
        table: str,
        at: str | None = None,
        fmt: str | None = None,
        output: str | None = None,
        raw_formulas: bool = False,
    ) -> ExportResult:
        """``table`` at ``at`` as a CSV, XLSX or Parquet file, byte-stable, that imports back unchanged. CSV cells
        a spreadsheet would run get a leading apostrophe (import takes it off) unless ``raw_formulas``."""
        from tusk.data.export import export_table

        return export_table(self.data, table, at, fmt, output, raw_formulas)

    def revert(self, commit: str, branch: str | None = None, mainline: int | None = None) -> Reverted:
        """A new commit on ``branch`` (default: the data branch) undoing ``commit``; conflicts apply nothing."""
        from tusk.data.names import check_user_branch
        from tusk.project.results import Reverted

        check_user_branch(branch, "revert a commit on")
        result = self.data.revert(commit, branch, mainline)
        return Reverted(commit, result.commit, result.message)

    def diff(
        self,
        first: str | None = None,
        second: str | None = None,
        table: str | None = None,
        limit: int | None = None,
        with_landed: bool = False,
    ) -> DiffReport:
        """Row-level changes. ``A...B``: what B changed since it left A (from their merge base: the review
        view), without the rows A holds already as B does (approved per model; counted as ``landed``) unless
        ``with_landed``. ``A..B`` or ``A B``: A's commit against B's. ``A`` alone: the data branch against A.
        Nothing: the data branch's last commit."""
        from tusk.data.base import DiffReport
        from tusk.errors import DataError
        from tusk.review.meta import OWN_TABLES

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
        landed_at = None
        if base is not None and not with_landed and store.resolve(start) != base:
            landed_at = store.resolve(start)
        tables = store.diff(from_commit, to_commit, table=table, with_rows=True, limit=limit, landed_at=landed_at)
        if table is None:  # a review's conversation (review_meta) is not a change to its data: named only, as the page
            tables = [t for t in tables if t.table not in OWN_TABLES]
        return DiffReport(start, end, from_commit, to_commit, tables, base, landed_at)

    def sync(self, names: Sequence[str] = ()) -> SyncReport:
        """Bring each named source (default: every ``[[sources]]``) onto its review branch ``sync/<name>``:
        one commit when it changed, none when not. A failing source is reported; the others still sync."""
        from tusk.review.sync import sync

        return sync(self, names)

    def check(self, ref: str | None = None) -> CheckReport:
        """Run the ``[[checks]]`` at ``ref`` (default: the data branch); a review branch on its merge preview."""
        from tusk.review import reviews as review

        return review.check(self.data, self.config, ref)

    def reviews(self) -> ReviewList:
        """Every open (and merged) review branch, with the source it syncs from if any."""
        from tusk.project.results import ReviewList
        from tusk.review import reviews as review

        return ReviewList(review.reviews(self.data, self.config))

    def review(self, branch: str) -> Review:
        """A review on its merge preview: its change, the models it retrains, checks, candidates vs production."""
        from tusk.review import reviews as review

        return review.show(self.workspace, branch)

    def merge(
        self,
        branch: str,
        into: str | None = None,
        message: str | None = None,
        force: bool = False,
        reason: str | None = None,
        take: str | None = None,
        resolutions: Path | None = None,
        conflicts_file: Path | None = None,
        expect: tuple[str | None, str | None] = (None, None),
        who: str | None = None,
    ) -> MergeOutcome:
        """Merge ``branch`` into ``into`` (default: the data branch) as one commit. A review whose checks or gate
        fail is refused unless ``force`` with a ``reason``. Conflicting rows are settled by ``take`` ("ours" /
        "theirs") or by a filled-in conflicts file (``resolutions``); otherwise MergeConflict names them,
        nothing is merged, and ``conflicts_file`` receives them as a CSV to fill in. ``expect``: the heads of
        (branch, into) a person was shown: what merges is that commit, refused if either moved since. A review
        merged into the data branch is recorded as merged, by ``who``, on ``tusk-reviews`` (review_meta)."""
        from tusk.data.conflicts import read_resolutions, write_conflicts
        from tusk.errors import DataError, MergeConflict
        from tusk.review import meta as review_meta
        from tusk.review import reviews as review

        store = self.data
        target = into or store.default_branch
        if take and resolutions:
            raise DataError("give --ours/--theirs or --resolve FILE, not both")
        if review_meta.META in (branch, target):
            raise DataError(f"{review_meta.META} holds the reviews' conversation, not data: it is never merged")
        heads = (store.resolve(target), store.resolve(branch))
        resolve = read_resolutions(resolutions, heads) if resolutions else take
        try:
            outcome = review.merge(
                store,
                self.config,
                lambda: self.workspace,
                branch,
                into,
                message,
                force,
                reason,
                resolve=resolve,
                expect=expect,
            )
            if (
                outcome.commit is not None
                and target == self.config.data.branch
                and self.is_review_branch(branch)
                and "/" not in branch
            ):
                self._record_merge(outcome, heads[0], who)
            return outcome
        except MergeConflict as conflict:
            if conflicts_file is None:
                raise
            write_conflicts(conflict.conflicts, conflicts_file, heads)
            raise MergeConflict(
                f"merging {branch} into {target} conflicts in {len(conflict.conflicts)} row(s), "
                f"written to {conflicts_file}: set each row's resolution to ours or theirs, then run "
                f"tusk data merge {branch} --resolve {conflicts_file}; nothing was merged",
                conflict.conflicts,
            ) from conflict

    def _record_merge(self, outcome: MergeOutcome, before: str, who: str | None) -> None:
        """The review's record says merged (by whom, when, the commit, the data branch before it). The merge has
        happened whatever this write does: a failure is said in the outcome's message, not raised."""
        from tusk.errors import TuskError
        from tusk.review import meta as review_meta

        assert outcome.commit is not None
        how = "fast-forward" if outcome.fast_forward else "merge commit"
        try:
            review_meta.record_merge(self, outcome.branch, outcome.commit, before, who or _user(), how)
        except TuskError as exc:
            outcome.message += f" (the review's record was not written: {exc})"

    def remotes(self) -> RemoteList:
        from tusk.project.results import RemoteList

        return RemoteList(self.shared_data().remotes())

    def add_remote(self, name: str, url: str, base: Path | None = None) -> RemoteAdded:
        """Remote NAME at URL, written to ``[data.remotes]`` in tusk.toml (comments kept) so that every
        clone of the project, and the CI workflow, knows it. A relative path is relative to ``base``."""
        from tusk.project.config_edit import set_remote

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
        from tusk.project.results import RemoteAdded

        return RemoteAdded(added.name, added.url, self.config.path)

    def remove_remote(self, name: str) -> RemoteRemoved:
        """Forget remote NAME: from tusk.toml and from the data store (the remote itself is untouched)."""
        from tusk.project.config_edit import remove_remote

        store = self.shared_data()
        if name not in {r.name for r in store.remotes()}:
            from tusk.errors import DataError

            raise DataError(f"no remote named {name!r}")
        remove_remote(self.config.path, name)
        self.config.data.remotes.pop(name, None)
        store.remove_remote(name)
        from tusk.project.results import RemoteRemoved

        return RemoteRemoved(name)

    def fetch(self, remote: str = "origin") -> Fetched:
        """The remote's branches as REMOTE/BRANCH refs; no local branch changes."""
        from tusk.project.results import Fetched

        return Fetched(self.shared_data().fetch(remote))  # the remote's tusk-reviews is read as it is fetched

    def pull(self, remote: str = "origin", branch: str | None = None) -> Pulled:
        """Fetch, then merge REMOTE/BRANCH into ``branch`` (default: the data branch); conflicts apply nothing."""
        from tusk.project.results import Pulled
        from tusk.review import meta as review_meta

        store = self.shared_data()
        result = store.pull(remote, branch)
        review_meta.take_remote(store, remote)  # the reviews' conversation comes with it
        name = branch or self.config.data.branch
        others = [b for b in store.remote_branches() if b.name.startswith(f"{remote}/")]
        return Pulled(
            name,
            result.commit or self.data.resolve(name),
            result.fast_forward,
            result.commit is not None,
            result.message,
            others,
        )

    def push(self, remote: str = "origin", branch: str | None = None, force: bool = False) -> Pushed:
        """Send ``branch`` (default: the data branch); refused unless the remote's is an ancestor, or ``force``."""
        from tusk.project.results import Pushed
        from tusk.review import meta as review_meta

        name = branch or self.config.data.branch
        store = self.shared_data()
        pushed = Pushed(remote, name, store.push(remote, name, force))
        review_meta.push(store, remote)  # the reviews' conversation goes with it
        return pushed


def _user() -> str:
    import getpass
    import os

    try:
        return os.environ.get("TUSK_USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
