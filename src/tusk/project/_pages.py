"""Project's paged reads and background runs, for a person looking at a page (``tusk ui``) and for the CLI's
paged commands (``tusk data diff --offset``, ``tusk models list --sort``): one page of a table or a diff, the
models table, runs started in their own process and watched. Serving the page is the web face's own (``tusk ui``
finds its server by an entry point): the facade imports no face."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tusk.project._base import ProjectBase

if TYPE_CHECKING:
    from tusk.data.base import ImportResult
    from tusk.release.lineage import VersionLineage
    from tusk.review.browse import ChangePage, DataOverview, DiffPage, TablePage
    from tusk.train.background import RunProgress
    from tusk.train.logs import JobLog
    from tusk.train.model_table import ModelCounts, ModelPage, ModelTable


@dataclass(frozen=True)
class Proposal:
    """A change proposed from the page: the review branch it opened (or added to) and what its import did."""

    branch: str
    title: str
    imported: ImportResult
    new_branch: bool


class PageMethods(ProjectBase):
    """What ``tusk ui`` and the CLI's paged reads call."""

    if TYPE_CHECKING:  # from TrainingMethods, ReleaseMethods, DataMethods and ReviewMethods, beside this in Project
        from tusk.review.meta import ReviewMeta

        def logs(self, target: str) -> JobLog: ...
        def lineage(self, target: str) -> VersionLineage: ...
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
        ) -> ImportResult: ...
        def edit_review(
            self,
            branch: str,
            who: str,
            title: str | None = None,
            description: str | None = None,
            status: str | None = None,
            comment: str | None = None,
            kind: str = "comment",
            expect_head: str | None = None,
        ) -> ReviewMeta: ...

    def table_names(self, ref: str | None = None) -> list[str]:
        """The tables at ``ref`` (default: the data branch), by name: what the page's upload can change."""
        return sorted(self.data.tables(ref or self.config.data.branch))

    def propose(
        self,
        source: str,
        table: str,
        title: str,
        who: str,
        keys: Sequence[str] = (),
        mode: str = "upsert",
        branch: str | None = None,
        delimiter: str | None = None,
        encoding: str | None = None,
        sheet: str | None = None,
        normalize_headers: bool = False,
    ) -> Proposal:
        """A file imported onto a review branch, never onto the data branch: the same import, validation and checks
        as ``tusk data import --branch`` (one commit, refused whole), then the review titled. ``branch``: a review
        to add the file to, or a new one's name; without it, a new branch named after the title. ``delimiter``,
        ``encoding``, ``sheet`` and ``normalize_headers`` read the file as :meth:`import_file` does (sniffed and
        detected when not given)."""
        from tusk.errors import DataError

        title, name, known = self._proposal_branch(title, branch, "the file")
        imported = self.import_file(
            source,
            table,
            keys,
            mode,
            name,
            message=title,
            delimiter=delimiter,
            encoding=encoding,
            sheet=sheet,
            normalize_headers=normalize_headers,
        )
        new_branch = name not in known
        if imported.commit is None and new_branch:  # nothing changed: no review opened (nor an empty branch left)
            if name in {b.name for b in self.data.branches()}:
                self.data.delete_branch(name, force=True)
            raise DataError(f"the file changes nothing in {table} on {self.config.data.branch}: no review opened")
        if new_branch:
            self.edit_review(name, who, title=title)
        return Proposal(name, title, imported, new_branch)

    def _proposal_branch(self, title: str, branch: str | None, what: str) -> tuple[str, str, set[str]]:
        """A proposal's title (one line), its review branch (given, or made from the title) and the branches now."""
        from tusk.errors import DataError

        title = " ".join(title.split())
        if not title:
            raise DataError(f"a proposal needs a title: say in a few words what {what} changes")
        known = {b.name for b in self.data.branches()}
        name = (branch or "").strip() or _branch_for(title, known)
        if name == self.config.data.branch:
            raise DataError(
                f"a proposal opens a review beside {name}, never writes {name} itself: choose another branch name"
            )
        return title, name, known

    def propose_edit(
        self,
        table: str,
        edits: Sequence[tuple[str, str, str]],
        title: str,
        who: str,
        branch: str | None = None,
    ) -> Proposal:
        """A few cells of ``table`` edited as a review, the way :meth:`propose` imports a file: each edit is
        (the row's key, a column, the new value), the key as its value (``42``) or, for a table keyed by several
        columns, ``col=value, col=value``; an empty value is NULL. The rows are read from the data branch with
        the edits in them and upserted onto the review branch (one commit, the same validation and checks)."""
        from tusk.data.ingest import Incoming, import_incoming
        from tusk.data.names import check_user_branch, quote_identifier
        from tusk.errors import DataError

        title, name, known = self._proposal_branch(title, branch, "the edit")
        check_user_branch(name, "edit onto")
        at = self.config.data.branch
        if table not in self.data.tables(at):
            raise DataError(f"no table {table} on {at}")
        columns = self.data.columns(table, at)
        names = [c[0] for c in columns]
        keys = [c[0] for c in columns if c[2]]
        if not keys:
            raise DataError(f"{table} has no key column, so a row cannot be named: propose a file instead")
        edits = [(k.strip(), c.strip(), v) for k, c, v in edits if k.strip() or c.strip() or v.strip()]
        if not edits:
            raise DataError("no cell to edit: give a row's key, a column and the new value")
        found: dict[tuple[str, ...], dict[str, object]] = {}
        where = " AND ".join(f"{quote_identifier(k, self.data.dialect)} = ?" for k in keys)
        for key_text, column, value in edits:
            if column not in names:
                raise DataError(f"{table} has no column {column!r} (its columns: {', '.join(names)})")
            if column in keys:
                raise DataError(f"{column} is {table}'s key: it names the row, so it is not edited here")
            key = _key_values(key_text, keys, table)
            if key not in found:
                rows = self.data.query(
                    f"SELECT * FROM {quote_identifier(table, self.data.dialect)} WHERE {where} LIMIT 1", list(key), at
                )
                if not rows.rows:
                    shown = ", ".join(f"{k}={v}" for k, v in zip(keys, key, strict=True))
                    raise DataError(f"{table} on {at} has no row {shown}")
                found[key] = dict(zip(rows.columns, rows.rows[0], strict=True))
            found[key][column] = value if value != "" else None
        incoming = Incoming(f"the edit of {table}", names, [[row[c] for c in names] for row in found.values()], 1)
        imported = import_incoming(self.data, incoming, table, keys, "upsert", name, message=title)
        new_branch = name not in known
        if imported.commit is None and new_branch:
            if name in {b.name for b in self.data.branches()}:
                self.data.delete_branch(name, force=True)
            raise DataError(f"the edit changes nothing in {table} on {at}: no review opened")
        if new_branch:
            self.edit_review(name, who, title=title)
        return Proposal(name, title, imported, new_branch)

    def table_page(
        self,
        table: str,
        ref: str | None = None,
        where: dict[str, str] | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> TablePage:
        """One page of ``table`` at ``ref`` (default: the data branch), rows whose columns equal ``where``."""
        from tusk.review.browse import table_page

        return table_page(self.data, self.config.data.branch, table, ref, where, offset, limit)

    def diff_page(
        self,
        from_ref: str,
        to_ref: str,
        table: str,
        where: dict[str, str] | None = None,
        offset: int = 0,
        limit: int = 50,
        landed_at: str | None = None,
    ) -> DiffPage:
        """One page of ``table``'s changed rows from ``from_ref`` to ``to_ref`` (read with LIMIT/OFFSET);
        ``landed_at``: without the rows that ref holds already as ``to_ref`` does."""
        from tusk.review.browse import diff_page

        return diff_page(self.data, from_ref, to_ref, table, where, offset, limit, landed_at)

    def model_table(
        self,
        query: str = "",
        status: str | None = None,
        sort: str = "name",
        descending: bool = False,
        offset: int = 0,
        limit: int = 50,
    ) -> ModelTable:
        """Instances with status, versions, key metric, last trained and duration: filtered, sorted, paged."""
        from tusk.train.model_table import model_table

        return model_table(self.workspace, query, status, sort, descending, offset, limit)

    def model_counts(self) -> ModelCounts:
        """How many instances have each plan status (every instance planned; the plan is kept between calls)."""
        from tusk.train.model_table import model_counts

        return model_counts(self.workspace)

    def review_page(
        self,
        branch: str,
        table: str | None = None,
        where: dict[str, str] | None = None,
        offset: int = 0,
        limit: int = 50,
        with_landed: bool = False,
    ) -> ChangePage:
        """A review's own change (since it left the data branch): commits, counts per table, one table paged;
        rows the data branch holds already (approved per model) only ``with_landed``."""
        from tusk.review.browse import review_page

        return review_page(self.data, self.config.data.branch, branch, table, where, offset, limit, with_landed)

    def commit_page(
        self,
        ident: str,
        against: str | None = None,
        table: str | None = None,
        where: dict[str, str] | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> ChangePage:
        """One commit's change against ``against`` (default: its first parent), one table paged."""
        from tusk.review.browse import commit_page

        return commit_page(self.data, ident, against, table, where, offset, limit)

    def data_overview(self, ref: str | None = None) -> DataOverview:
        """The tables at ``ref`` with their row counts, the branches and tags, the last commits."""
        from tusk.review.browse import overview

        return overview(self.data, self.config.data.branch, ref)

    def model_page(self, name: str, version: str | None = None) -> ModelPage:
        """Every version of ``name`` with metrics and tags; ``version``'s (default: the newest) lineage and log."""
        from tusk.errors import TuskError
        from tusk.train.logs import failure_tail
        from tusk.train.model_table import ModelPage, with_metrics

        failure = self.tracker.failures([name]).get(name)
        text, failed_tail = "", ""
        if failure is not None:
            try:
                text, _ = self.tracker.failure_log(failure)
            except TuskError:
                text = ""  # its log was not kept: the page says the error alone
            failed_tail = failure_tail(text)
        if failure is not None and not version and not self._has_versions(name):  # only ever failed
            return ModelPage(name, [], "", None, text[-20_000:], None, None, failure, failed_tail)
        versions = with_metrics(self.tracker, name)
        chosen = (version or versions[0].version).lstrip("v")
        try:
            tail = self.logs(f"{name}@{chosen}").text[-20_000:]
        except TuskError as exc:
            tail = f"(no log: {exc})"
        state = self.tracker.states().get(name)
        return ModelPage(
            name,
            versions,
            chosen,
            self.lineage(f"{name}@{chosen}"),
            tail,
            state.version if state else None,
            self.tracker.aliases().get(name),
            failure,
            failed_tail,
        )

    def _has_versions(self, name: str) -> bool:
        from tusk.errors import ModelNotFound

        try:
            return bool(self.tracker.versions(name))
        except ModelNotFound:
            return False

    # --- runs in the background, watched from the page ---
    def start_run(
        self, who: str, at: str | None = None, only: str | None = None, candidates: bool = False
    ) -> RunProgress:
        """``tusk run`` in a process of its own (the same Project.run, plan, lock and recording), whose progress
        ``run_progress`` reads. Refused while another run holds the project (naming it). ``candidates``: the
        review ``at``'s blast radius trained as candidates (``tusk run --at B --candidates``)."""
        from tusk.train import background

        lock = self.lock("tusk ui run", wait=False)
        return background.start(self.config, self.state_dir, lock, who, at, only, candidates)

    def run_progress(self, ident: str) -> RunProgress:
        """Each job of a background run: waiting, running, succeeded, failed; log tails; ETA."""
        from tusk.train import background

        return background.read(self.state_dir, ident)

    def background_runs(self, limit: int = 20) -> list[RunProgress]:
        """The runs started from the page, newest first."""
        from tusk.train import background

        return background.list_runs(self.state_dir, limit)

    def cancel_run(self, ident: str) -> RunProgress:
        """Cancel a background run the way Ctrl-C cancels ``tusk run``."""
        from tusk.train import background

        return background.cancel(self.state_dir, ident)


def _branch_for(title: str, taken: set[str]) -> str:
    """A new branch's name from a proposal's title: ``propose/relabel-acme``, ``-2``… if taken."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40].strip("-") or "change"
    name, number = f"propose/{slug}", 2
    while name in taken:
        name, number = f"propose/{slug}-{number}", number + 1
    return name


def _key_values(text: str, keys: Sequence[str], table: str) -> tuple[str, ...]:
    """A row's key as typed: its value (``42``) for a table with one key column, else ``col=value, col=value``."""
    from tusk.errors import DataError

    if not text:
        raise DataError(f"which row? give the value of {table}'s key ({', '.join(keys)})")
    if len(keys) == 1 and not text.startswith((f"{keys[0]}=", f"{keys[0]} =")):
        return (text,)
    given: dict[str, str] = {}
    for part in text.split(","):
        column, sep, value = part.partition("=")
        if not sep:
            raise DataError(f"{text!r}: name each key column of {table} as column=value ({', '.join(keys)})")
        given[column.strip()] = value.strip()
    if set(given) != set(keys):
        raise DataError(f"{text!r}: {table}'s key is {', '.join(keys)}: give each of them as column=value")
    return tuple(given[k] for k in keys)
