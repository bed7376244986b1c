"""``tusk data ...``: versioned training data, reviewed like code."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from tusk.cli._common import (
    Shown,
    console,
    data_table,
    data_text,
    open_project,
    output,
    raising,
    short,
    table,
    wants_json,
)

ROW_LIMIT = 200


@click.group()
def data() -> None:
    """Versioned training data: import files, branch, diff, merge, query any commit, share through remotes."""


@data.command("import")
@click.argument("source", metavar="FILE")
@click.option("--table", "-t", "table_name", required=True, help="Table to create or update.")
@click.option("--key", "-k", "keys", multiple=True, help="Key column(s); required for a new table.")
@click.option(
    "--mode",
    type=click.Choice(["replace", "upsert", "append"]),
    default="replace",
    show_default=True,
    help="replace: the table becomes the file; upsert: update by key; append: add rows.",
)
@click.option("--branch", "-b", help="Target branch (created from the main branch if missing).")
@click.option("-m", "--message", help="Commit message.")
@click.option("--yes", "-y", is_flag=True, help="Apply a large change to the main branch without asking.")
@click.option("--allow-empty", is_flag=True, help="Let a file with no rows empty the table in replace mode.")
@click.option("--delimiter", metavar="CHAR", help="A CSV's delimiter (',' ';' tab '|'); sniffed when not given.")
@click.option(
    "--encoding",
    metavar="NAME",
    help="A CSV's text encoding (utf-8, latin-1, cp1252, utf-16); detected when not given.",
)
@click.option("--sheet", metavar="NAME", help="The sheet of an XLSX workbook to import (default: the first).")
@click.option(
    "--normalize-headers",
    is_flag=True,
    help="Column names as identifiers (Customer Name → customer_name); kept as written (quoted) otherwise.",
)
@output
def data_import(
    source: str,
    table_name: str,
    keys: tuple[str, ...],
    mode: str,
    branch: str | None,
    message: str | None,
    yes: bool,
    allow_empty: bool,
    delimiter: str | None,
    encoding: str | None,
    sheet: str | None,
    normalize_headers: bool,
) -> Shown:
    """Import FILE (.csv .tsv .xlsx .jsonl .parquet, or gsheet://ID/TAB) as one commit.

    \b
    Nothing is written unless the whole file is valid; an import that changes nothing makes no commit.
    A file with a header and no rows is refused in replace mode (it would empty the table) unless
    --allow-empty.
      tusk data import examples.csv --table examples --key id
      tusk data import fixes.csv --table examples --key id --mode upsert --branch fix -m "relabel"
    \b
    Files as spreadsheets save them: a CSV's delimiter is sniffed (comma, semicolon, tab, bar) and its
    encoding detected (UTF-8, UTF-16, Latin-1/cp1252 ...; both said when not UTF-8 and comma), or forced with
    --delimiter / --encoding. Headers keep their spaces (query them quoted: SELECT "Customer Name" ...) unless
    --normalize-headers. Date cells become ISO text (2024-01-02).
    \b
    An import onto the main branch that would modify or remove more than [data] confirm_fraction of the
    table's rows (default 10%, and at least confirm_min_rows = 10) shows what it would change and asks
    first; with --json or without a terminal it is refused unless --yes is given. (A stale copy of a
    file re-imported in replace mode would otherwise silently undo merged fixes.)
    """
    from tusk.errors import NeedsConfirmation

    project = open_project()
    reading: dict[str, Any] = {
        "delimiter": delimiter,
        "encoding": encoding,
        "sheet": sheet,
        "normalize_headers": normalize_headers,
    }
    try:
        result = project.import_file(
            source, table_name, keys, mode, branch, message, yes=yes, allow_empty=allow_empty, **reading
        )
    except NeedsConfirmation as asked:
        if wants_json() or not sys.stdin.isatty():
            raise
        added, modified, removed = asked.counts
        err = console(stderr=True)
        err.print(str(asked).split("; nothing was imported")[0], markup=False)
        err.print(
            f"[dim]see the rows first: import with --branch review, then tusk data diff "
            f"{project.config.data.branch}...review[/]"
        )
        if not click.confirm(
            f"apply {added} added, {modified} modified, {removed} removed to {branch or project.config.data.branch}?",
            default=False,
            err=True,
        ):
            raise NeedsConfirmation("not confirmed: nothing was imported", asked.counts) from None
        result = project.import_file(
            source,
            table_name,
            keys,
            mode,
            branch,
            message,
            yes=True,
            expect=asked.counts,
            allow_empty=allow_empty,
            **reading,
        )
    _collect_garbage(project)

    def show() -> None:
        counts = f"{result.added} added, {result.modified} modified, {result.removed} removed"
        read = _read_as(result)
        if result.commit is None:
            console().print(f"{table_name} on {result.branch}: nothing changed, no commit made{read}", markup=False)
        else:
            created = " (new table)" if result.created_table else ""
            console().print(
                f"{table_name}{created} on {result.branch}: {counts} → commit {short(result.commit)}{read}",
                markup=False,
            )

    return Shown(result, show)


def conflict_rows(conflicts: list[dict[str, Any]]) -> list[tuple[str, str, str, str, str]]:
    """One line per column the two sides set differently: (table, key, column, ours, theirs); a side that removed
    the row says so."""
    lines = []
    for conflict in conflicts:
        key = ", ".join(f"{k}={v}" for k, v in conflict["key"].items())
        ours, theirs = conflict.get("ours"), conflict.get("theirs")
        if ours is None or theirs is None:
            said = [
                f"({conflict.get(f'{name}_change') or ('removed' if side is None else 'changed')})"
                for name, side in (("ours", ours), ("theirs", theirs))
            ]
            lines.append((conflict["table"], key, "(row)", said[0], said[1]))
            continue
        columns = [c for c in {**ours, **theirs} if c not in conflict["key"] and ours.get(c) != theirs.get(c)]
        for column in columns or ["(row)"]:
            lines.append((conflict["table"], key, column, _value(ours.get(column)), _value(theirs.get(column))))
    return lines


def _value(value: Any) -> str:
    return "NULL" if value is None else str(value)


def _read_as(result: Any) -> str:
    """How a file was read, when not as a plain UTF-8 comma (or tab) file: `` (read as cp1252, ';'-separated)``."""
    said = []
    if result.encoding and result.encoding != "utf-8":
        said.append(f"read as {result.encoding}")
    if result.delimiter and result.delimiter not in (",", "\t"):
        said.append(f"{result.delimiter!r}-separated")
    if result.sheet:
        said.append(f"sheet {result.sheet!r}")
    return f" ({', '.join(said)})" if said else ""


@data.command("log")
@click.argument("ref", required=False)
@click.option("-n", "--limit", type=int, help="Show at most this many commits.")
@output
def data_log(ref: str | None, limit: int | None) -> Shown:
    """Commits of REF (default: the main branch), newest first."""
    history = open_project().log(ref, limit)

    def show() -> None:
        console().print(
            table(None, ["commit", "date", "message"], [(short(c.hash), c.date, c.message) for c in history.commits])
        )

    return Shown(history, show)


@data.command("diff")
@click.argument("from_ref", required=False, metavar="[A | A...B | A..B]")
@click.argument("to_ref", required=False, metavar="[B]")
@click.option("--table", "-t", "table_name", help="Only this table.")
@click.option("--limit", type=int, default=ROW_LIMIT, show_default=True, help="Rows to show per table (0: all).")
@click.option(
    "--where",
    "where",
    multiple=True,
    metavar="COL=VALUE",
    help="Only changed rows whose old or new COL is VALUE (with --table; repeatable).",
)
@click.option("--offset", type=click.IntRange(min=0), default=0, help="Skip this many changed rows (with --table).")
@click.option(
    "--with-landed",
    is_flag=True,
    help="A...B: also the rows A holds already as B does (approved per model), left out by default.",
)
@output
def data_diff(
    from_ref: str | None,
    to_ref: str | None,
    table_name: str | None,
    limit: int,
    where: tuple[str, ...],
    offset: int,
    with_landed: bool,
) -> Shown:
    """Row-level changes between two refs (branches, tags, commits), as git diff counts them.

    \b
      tusk data diff main...fix    three dots: what fix changed since it left main (from their merge
                                   base to fix): the change a review merges. Use this to review a branch.
                                   Rows main holds already as fix does (approved per model) are left
                                   out and counted as landed (--with-landed lists them).
      tusk data diff main..fix     two dots (same as `main fix`): main's commit against fix's. After main
                                   moved on, main's own new changes show up too, reversed.
      tusk data diff fix           the main branch against fix (two dots)
      tusk data diff               the main branch's last commit against its parent
    """
    project = open_project()
    if to_ref and from_ref and ".." in from_ref:
        raise click.UsageError(f"give either {from_ref!r} or two refs, not both")
    if where or offset:
        return _diff_page(project, from_ref, to_ref, table_name, where, offset, limit, with_landed)
    report = project.diff(
        from_ref, to_ref, table=table_name, limit=None if wants_json() or not limit else limit, with_landed=with_landed
    )

    def show() -> None:
        if report.merge_base is not None:
            console().print(
                f"[dim]{report.to_ref} since it left {report.from_ref} (merge base {short(report.merge_base)}):[/]"
            )
        landed = sum(t.landed for t in report.tables)
        if landed:
            console().print(
                f"[dim]{landed} changed row(s) {report.from_ref} holds already (approved) are left out "
                "(--with-landed lists them)[/]"
            )
        _print_diffs(
            report.from_ref if report.merge_base is None else short(report.merge_base),
            report.to_ref,
            report.tables,
            limit,
        )

    return Shown(report, show)


def _diff_page(
    project: Any,
    from_ref: str | None,
    to_ref: str | None,
    table_name: str | None,
    where: tuple[str, ...],
    offset: int,
    limit: int,
    with_landed: bool,
) -> Shown:
    """One page of one table's changed rows, filtered (what the page's review view shows): read from the store
    with LIMIT/OFFSET, however large the diff."""
    if not table_name:
        raise click.UsageError("--where and --offset need --table")
    filters = {}
    for item in where:
        column, sep, value = item.partition("=")
        if not sep or not column:
            raise click.UsageError(f"--where takes COL=VALUE, not {item!r}")
        filters[column] = value
    report = project.diff(from_ref, to_ref, table=table_name, limit=1, with_landed=with_landed)
    page = project.diff_page(
        report.merge_base or report.from_commit,
        report.to_commit,
        table_name,
        filters,
        offset,
        limit or ROW_LIMIT,
        report.landed_at,
    )

    def show() -> None:
        from rich.table import Table

        out = console()
        condition = f" where {', '.join(f'{k}={v}' for k, v in filters.items())}" if filters else ""
        out.print(
            f"[bold]{table_name}[/]: changed rows {offset + 1 if page.rows else 0}–{offset + len(page.rows)} of "
            f"{page.total}{condition}"
        )
        if page.rows:
            grid = Table(show_edge=False, pad_edge=False)
            grid.add_column("±")
            for column in page.columns:
                grid.add_column(column, overflow="fold")
            for change in page.rows:
                grid.add_row(*_diff_cells(change, page.columns))
            out.print(grid)

    return Shown(page, show)


def _print_diffs(start: str, end: str, diffs: list[Any], limit: int) -> None:
    from rich.table import Table

    out = console()
    if not any(d.total or d.schema_changed for d in diffs):
        out.print(f"no changes from {start} to {end}")
        return
    for diff in diffs:
        out.print(
            f"[bold]{diff.table}[/]: [green]{diff.added} added[/], [yellow]{diff.modified} modified[/], "
            f"[red]{diff.removed} removed[/]" + (" (table added or dropped)" if diff.schema_changed else "")
        )
        if not diff.rows:
            continue
        columns = list((diff.rows[0].after or diff.rows[0].before or {}).keys())
        grid = Table(show_edge=False, pad_edge=False)
        grid.add_column("±")  # + added, - removed, ~ modified
        for column in columns:
            grid.add_column(column, overflow="fold")
        for change in diff.rows:
            grid.add_row(*_diff_cells(change, columns))
        out.print(grid)
        if limit and diff.total > len(diff.rows):
            out.print(f"[dim]… {diff.total - len(diff.rows)} more rows (--limit 0 shows all)[/]")


def _diff_cells(change: Any, columns: list[str]) -> list[str]:
    from rich.markup import escape as markup_escape

    def escape(text: str) -> str:  # a cell's text, shown as it is: no markup, no control codes
        return markup_escape(data_text(text))

    if change.diff_type == "added":
        return ["[green]+[/]", *[f"[green]{escape(str(change.after.get(c)))}[/]" for c in columns]]
    if change.diff_type == "removed":
        return ["[red]-[/]", *[f"[red]{escape(str(change.before.get(c)))}[/]" for c in columns]]
    cells = ["[yellow]~[/]"]
    for column in columns:
        old, new = change.before.get(column), change.after.get(column)
        cells.append(
            escape(str(new))
            if old == new
            # "old → new": readable without colour too
            else f"[red strike]{escape(str(old))}[/] → [bold green]{escape(str(new))}[/]"
        )
    return cells


@data.command("branch")
@click.argument("name", required=False)
@click.option("--from", "start", metavar="REF", help="Start the new branch here (default: the main branch).")
@click.option("-d", "--delete", is_flag=True, help="Delete branch NAME.")
@output
def data_branch(name: str | None, start: str | None, delete: bool) -> Shown:
    """List branches, create NAME, or delete it with -d."""
    project = open_project()
    if name and delete:
        deleted = project.delete_branch(name)
        return _done(deleted, f"deleted branch {deleted.name}")
    if name:
        created = project.create_branch(name, start)
        return _done(created, f"created branch {created.name} at {short(created.head)}")
    listed = project.branches()

    def show() -> None:
        console().print(
            table(
                None,
                ["branch", "head"],
                [(b.name + (" *" if b.name == listed.default else ""), short(b.head)) for b in listed.branches],
            )
        )

    return Shown(listed, show)


@data.command("merge")
@click.argument("branch")
@click.option("--into", help="Target branch (default: the main branch).")
@click.option("-m", "--message", help="Merge commit message.")
@click.option("--force", is_flag=True, help="Merge although data checks or the review gate fail (needs --reason).")
@click.option("--reason", metavar="TEXT", help="Why --force: recorded in the merge commit's message.")
@click.option("--ours", "take", flag_value="ours", help="Conflicting rows keep the target branch's version.")
@click.option("--theirs", "take", flag_value="theirs", help="Conflicting rows take BRANCH's version.")
@click.option(
    "--conflicts-file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="If the merge conflicts, write the conflicting rows to FILE (CSV) to resolve row by row.",
)
@click.option(
    "--resolve",
    "resolutions",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    metavar="FILE",
    help="Merge, settling each conflicting row as FILE's resolution column says.",
)
@output
def data_merge(
    branch: str,
    into: str | None,
    message: str | None,
    force: bool,
    reason: str | None,
    take: str | None,
    conflicts_file: Path | None,
    resolutions: Path | None,
) -> Shown:
    """Merge BRANCH into the main branch as one commit. A conflict is reported row by row and nothing is merged.

    \b
    A review branch merges only when its [[checks]] pass on the merge preview and, with a [review] gate,
    every model it retrains has a candidate that passes the gate (tusk review show BRANCH says why not).
    --force --reason TEXT merges anyway, as a merge commit whose message records the reason.
    \b
    Settle conflicting rows (rows both branches changed since BRANCH left):
      tusk data merge fix --theirs                           take fix's version of every conflicting row
      tusk data merge fix --ours                             keep main's version of every one
      tusk data merge fix --conflicts-file conflicts.csv     write them to a CSV (nothing merged) ...
      tusk data merge fix --resolve conflicts.csv            ... fill its resolution column with ours or
                                                             theirs per row, and merge with it
    A resolution file is refused if either branch moved since it was written.
    """
    from tusk.errors import MergeBlocked, MergeConflict

    if force and not (reason or "").strip():
        raise click.UsageError("--force needs --reason TEXT (it is recorded in the merge commit)")
    if resolutions and (take or conflicts_file):
        raise click.UsageError("--resolve FILE goes alone (not with --ours, --theirs or --conflicts-file)")
    project = open_project()
    try:
        result = project.merge(
            branch,
            into,
            message,
            force=force,
            reason=reason,
            take=take,
            resolutions=resolutions,
            conflicts_file=conflicts_file,
        )
    except MergeConflict as conflict:
        conflicts = conflict.conflicts

        def show_conflicts() -> None:
            target = into or project.config.data.branch
            rows = conflict_rows(conflicts)
            console(stderr=True).print(data_table("conflicts", ["table", "key", "column", target, branch], rows))
            if conflicts_file is None:
                console(stderr=True).print(
                    "settle them with --ours, --theirs, or row by row with --conflicts-file FILE then --resolve FILE",
                    markup=False,
                )

        found = {
            "merged": False,
            "conflicts": conflicts,
            "conflicts_file": str(conflicts_file) if conflicts_file else None,
        }
        return Shown(found, show_conflicts, then=raising(conflict))
    except MergeBlocked as blocked:
        review = blocked.gate
        refused = {
            "merged": False,
            "blocking": getattr(review, "blocking", []),
            "review": review.to_json() if hasattr(review, "to_json") else None,
        }
        return Shown(refused, then=raising(blocked))
    _collect_garbage(project)

    def show() -> None:
        text = result.message + (f" → {short(result.commit)}" if result.commit else "")
        if result.forced:
            text += f" (forced past {len(result.overridden)} failure(s): {result.reason})"
        console().print(text)
        if result.note:
            console(stderr=True).print(f"note: {result.note}", markup=False)

    return Shown(result, show)


@data.command("check")
@click.argument("ref", required=False)
@output
def data_check(ref: str | None) -> Shown:
    """Run the [[checks]] of tusk.toml at REF (default: the main branch), printing each violation's rows.

    \b
    A review branch is checked on its merge preview (the main branch with it merged), which is what a
    merge would bring; max_changed_rows counts the rows that merge changes. Exit code 1 when any fails.
      [[checks]]
      name = "labels"
      table = "examples"
      accepted_values = { column = "label", values = ["l0", "l1"] }
    Rules: not_null, unique (a column or a list), accepted_values, range = { column, min, max },
    row_count = { min, max }, max_changed_rows = N, or sql = "SELECT ... (rows returned are violations)".
    """
    from tusk.cli._common import fail

    project = open_project()
    report = project.check(ref)

    def failed() -> None:
        if report.failed:
            fail(f"{len(report.failed)} of {len(report.checks)} check(s) failed at {report.ref}: {report.summary()}")

    return Shown(report, lambda: _print_checks(report), then=failed)


def _print_checks(report: Any, shown: int = 10) -> None:
    out = console()
    where = f"{report.ref} @ {short(report.commit)}"
    if report.preview:
        where = f"{report.ref} merged into {report.preview['into']} (preview {short(report.commit)})"
    if not report.checks:
        out.print(f"{where}: no [[checks]] in tusk.toml")
        return
    out.print(f"{where}: {len(report.checks) - len(report.failed)} of {len(report.checks)} check(s) pass")
    marks = {"passed": "[green]ok[/]", "failed": "[red]FAILED[/]", "skipped": "[dim]skipped[/]"}
    from rich.markup import escape

    for result in report.checks:
        out.print(f"{marks[result.status]} {escape(result.name)} ({result.kind}): {escape(result.message)}")
        if result.failed and result.rows:
            out.print(data_table(None, result.columns, result.rows[:shown]))
            if result.violations > shown and result.kind not in ("row_count", "max_changed_rows"):
                out.print(f"[dim]… {result.violations - shown} more (--json lists up to 100)[/]")


@data.command("revert")
@click.argument("commit", metavar="COMMIT")
@click.option("--branch", "-b", help="The branch to add the undoing commit to (default: the main branch).")
@click.option(
    "--mainline",
    type=click.IntRange(1, 1),
    help="COMMIT is a merge: undo what it brought into the branch it merged into (parent 1).",
)
@output
def data_revert(commit: str, branch: str | None, mainline: int | None) -> Shown:
    """Undo COMMIT with a new commit (history is kept; the undo can be undone too).

    \b
      tusk data revert main          undo the main branch's last commit
      tusk data revert 1a2b3c4       undo an older one; rows later commits changed again conflict and
                                     nothing is applied
      tusk data revert 9f8e7d6 --mainline 1    undo a merge (what it brought into main)
    """
    result = open_project().revert(commit, branch, mainline)
    return _done(result, f"{result.message} → {short(result.commit)}")


@data.command("export")
@click.argument("table_name", metavar="TABLE")
@click.option("--at", "at", metavar="REF", help="Export the table as it is at this branch, tag or commit.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "xlsx", "parquet"]),
    help="File format (default: from -o's extension, else csv).",
)
@click.option(
    "-o",
    "--output",
    metavar="FILE",
    help="Where to write (default: TABLE.FORMAT here; - : stdout, csv). A regular file: a link, device or "
    "FIFO is refused.",
)
@click.option(
    "--raw-formulas",
    is_flag=True,
    help="CSV: write cells starting with = + - @ as they are (by default they get a leading ' so a "
    "spreadsheet shows them instead of running them; tusk data import takes it off again).",
)
@output
def data_export(
    table_name: str, at: str | None, fmt: str | None, output: str | None, raw_formulas: bool
) -> Shown | None:
    """Write TABLE (at REF, default: the main branch) as a file to edit and import again.

    \b
    Rows in key order, NULL as an empty cell, no timestamps: an unchanged table exports to the same bytes,
    and importing the file back makes no commit.
      tusk data export examples -o examples.xlsx            edit it in a spreadsheet, then
      tusk data import examples.xlsx --table examples --branch fix
      tusk data export examples --at v1 --format parquet    the table as tag v1 had it
    \b
    A CSV cell a spreadsheet would run as a formula (=HYPERLINK(...), +cmd, @SUM, -2+3) is written with a
    leading apostrophe, which the spreadsheet shows as text; numbers such as -1 are not touched. Importing
    the file takes that apostrophe off again, so export → import gives back the same cells. XLSX stores
    every text cell as text, never as a formula.
    """
    result = open_project().export(table_name, at, fmt, output, raw_formulas)
    if result.path is None:  # written to stdout: nothing else goes there
        return None
    return Shown(
        result,
        lambda: console(stderr=True).print(
            f"{result.table} @ {result.ref} ({short(result.commit)}): {result.rows} rows → {result.path}", markup=False
        ),
    )


@data.command("sql")
@click.argument("query")
@click.option("--at", "at", metavar="REF", help="Query this branch, tag or commit (read-only).")
@output
def data_sql(query: str, at: str | None) -> Shown:
    """Run a read-only QUERY at a ref (default: the main branch)."""
    result = open_project().sql(query, at)

    def show() -> None:
        console().print(data_table(None, result.columns, result.rows))

    return Shown(result, show)


@data.command("tags")
@click.argument("name", required=False)
@click.option("--at", "at", metavar="REF", help="Commit to tag (default: the main branch).")
@click.option("-m", "--message", default="", help="Tag message.")
@output
def data_tags(name: str | None, at: str | None, message: str) -> Shown:
    """List tags, or tag a commit NAME."""
    project = open_project()
    if name:
        tagged = project.tag(name, at, message)
        return _done(tagged, f"tagged {short(tagged.commit)} as {tagged.name}")
    listed = project.tags()

    def show() -> None:
        console().print(
            table(None, ["tag", "commit", "message"], [(t.name, short(t.commit), t.message) for t in listed.tags])
        )

    return Shown(listed, show)


@data.command("sync")
@click.argument("names", nargs=-1, metavar="[SOURCE]...")
@output
def data_sync(names: tuple[str, ...]) -> Shown:
    """Bring each [[sources]] entry (default: all) onto its review branch sync/<name>.

    \b
    A source is a Google Sheet (gsheet://ID/TAB), a file or glob, or an http(s) CSV/Parquet URL:
      [[sources]]
      name = "edits"
      url = "gsheet://1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms/Examples"
      table = "examples"
      key = ["id"]
      mode = "replace"
    A changed source makes one commit on sync/<name> (started again from the data branch when that moved
    on); an unchanged one makes none. Review it with tusk review show sync/<name>, merge it with
    tusk data merge sync/<name>. A failing source is reported and the others still sync (exit code 1).
    """
    from tusk.cli._common import fail

    project = open_project()
    report = project.sync(names)
    _collect_garbage(project)

    def show() -> None:
        out = console()
        for result in report.sources:
            if result.status == "committed":
                how = "new branch" if result.created else ("rebased onto the data branch" if result.rebased else "")
                out.print(
                    f"{result.name}: {result.added} added, {result.modified} modified, {result.removed} "
                    f"removed → {result.branch} {short(result.commit)}" + (f" ({how})" if how else "")
                )
                if result.reopened:
                    out.print(
                        f"  its review was closed: opened again for the new content (tusk review show {result.branch})"
                    )
            elif result.status == "unchanged":
                out.print(f"{result.name}: unchanged, no commit")
            else:
                console(stderr=True).print(f"[red]{result.name}: failed[/]: {result.error}", markup=True)

    def failed() -> None:
        if report.failed:
            names_failed = ", ".join(f"{r.name} ({r.error})" for r in report.failed)
            fail(f"{len(report.failed)} of {len(report.sources)} source(s) failed: {names_failed}")

    return Shown(report, show, then=failed)


def _collect_garbage(project: Any) -> None:
    note = project.collect_garbage()
    if note:
        console(stderr=True).print(note, markup=False)


def _done(result: Any, message: str) -> Shown:
    return Shown(result, lambda: console().print(message))
