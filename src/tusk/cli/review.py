"""``tusk review list | show``: data branches judged on their merge preview (checks, candidates, the gate)."""

from __future__ import annotations

import functools
from typing import Any

import click
from rich.text import Text

from tusk.cli._common import (
    Shown,
    console,
    data_text,
    delta_markup,
    escape,
    open_project,
    output,
    short,
    table,
    wants_json,
)


@click.group()
def review() -> None:
    """Reviews: branches other than the data branch (sync/<name> for each source), judged before they merge."""


@review.command("list")
@click.option("--all", "everything", is_flag=True, help="Also the reviews whose branch was deleted (merged or closed).")
@output
def review_list(everything: bool) -> Shown:
    """Every review branch with its title and status (open, closed, merged), its commits since it left the
    data branch and the source it syncs from; --all: also the reviews whose branch is gone."""
    rows = open_project().review_rows(gone=everything)

    def show() -> None:
        if not rows:
            console().print("no review branches (tusk data sync makes sync/<name>; tusk data branch NAME makes one)")
            return
        console().print(
            table(
                None,
                ["review", "title", "head", "state", "commits", "source", "last change"],
                [
                    (
                        r.summary.branch,
                        data_text_cell(r.title),
                        short(r.summary.head),
                        r.status,
                        r.summary.commits,
                        r.summary.source or "",
                        r.summary.date,
                    )
                    for r in rows
                ],
            )
        )

    return Shown({"reviews": [r.to_json() for r in rows]}, show)


def data_text_cell(text: Any) -> Any:
    """A title someone wrote (it travels through remotes): shown as text, never as markup or control codes."""
    from rich.text import Text

    return Text(data_text(text))


@review.command("show")
@click.argument("branch")
@output
def review_show(branch: str) -> Shown:
    """What merging BRANCH would do: its change, the models it retrains, data checks, candidates vs production.

    \b
    Everything is computed on the merge preview (the data branch with BRANCH merged; nothing is written).
    Train the candidates with tusk run --at BRANCH --candidates; merge with tusk data merge BRANCH.
    """
    from tusk.errors import TuskError

    project = open_project()
    try:
        ended = project.review_outcome(branch)
    except TuskError:  # not a review tusk keeps a record of (a remote's branch, the data branch): as before
        ended = None
    status = ended.meta.status if ended is not None else "open"
    exists = branch in {b.name for b in project.data.branches()}
    if ended is not None and (status == "merged" or (status == "closed" and not exists)):
        if not wants_json():
            return Shown(None, functools.partial(_print_outcome, ended))
        # the review's keys as an open one has them (nothing left to judge), then how it ended
        judged = (
            project.review(branch).to_json()
            if exists
            else {
                "preview": {},
                "source": None,
                "tables": [],
                "plan": [],
                "checks": None,
                "gate": None,
                "models": [],
                "conflicts": [],
                "instances": 0,
                "unplannable": None,
            }
        )
        return Shown({**judged, **ended.to_json(), "mergeable": False, "blocking": [f"the review is {status}"]})
    result = project.review(branch)
    facts = ended.to_json() if ended is not None else {}

    def show() -> None:
        if ended is not None:
            _print_header(ended)
        _print_review(result)

    return Shown(
        {
            **{k: facts.get(k, "") for k in ("status", "title", "description", "author", "closed_by", "closed_at")},
            **result.to_json(),
            "status": status,
        },
        show,
    )


def _who() -> str:
    import getpass
    import os

    try:
        return os.environ.get("TUSK_USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@review.command("approve")
@click.argument("branch")
@click.option(
    "--only",
    "only",
    multiple=True,
    required=True,
    metavar="GLOB",
    help="The models whose rows to accept (repeatable), e.g. --only intent-acme.",
)
@output
def review_approve(branch: str, only: tuple[str, ...]) -> Shown:
    """Accept only the rows of BRANCH that feed the models matching --only, as one commit on the data branch.

    \b
    The other rows stay on BRANCH for later. Which rows feed a model is decided by the model's own input
    query (its WHERE, with its matrix values) run on the changed rows, as the planner does.
      tusk review approve relabel --only intent-acme --only intent-globex
    """
    result = open_project().approve(branch, list(only), _who())

    def show() -> None:
        console().print(
            result.message
            if result.commit is None
            else f"approved {branch} for {', '.join(result.models)}: commit {short(result.commit)} on {result.into}"
        )

    return Shown(result, show)


@review.command("comment")
@click.argument("branch")
@click.argument("text")
@output
def review_comment(branch: str, text: str) -> Shown:
    """Add a comment to the review BRANCH (kept on tusk-reviews, never on BRANCH: it travels through push and pull)."""
    meta = open_project().edit_review(branch, _who(), comment=text)
    return Shown(meta, lambda: console().print(f"{branch}: {len(meta.comments)} comment(s)"))


@review.command("close")
@click.argument("branch")
@click.option("--reopen", is_flag=True, help="Open a closed review again.")
@click.option("-m", "--message", default=None, help="Why (kept as a comment).")
@output
def review_close(branch: str, reopen: bool, message: str | None) -> Shown:
    """Close the review BRANCH without merging it (its branch stays; --reopen opens it again)."""
    status = "open" if reopen else "closed"
    meta = open_project().edit_review(
        branch, _who(), status=status, comment=message or status, kind="reopen" if reopen else "close"
    )
    return Shown(meta, lambda: console().print(f"{branch}: {meta.status}"))


@review.command("edit")
@click.argument("branch")
@click.option("--title", default=None, help="The review's title.")
@click.option("--description", default=None, help="What it changes and why.")
@output
def review_edit(branch: str, title: str | None, description: str | None) -> Shown:
    """Set the review's title and description (kept on tusk-reviews, like its comments)."""
    if title is None and description is None:
        raise click.UsageError("give --title and/or --description")
    meta = open_project().edit_review(branch, _who(), title=title, description=description)
    return Shown(meta, lambda: console().print(f"{branch}: {meta.title}"))


def _print_header(ended: Any) -> None:
    """A review's title, status and description, as text: whatever someone typed, never markup or control codes."""
    out = console()
    meta = ended.meta
    line = Text(data_text(meta.title or meta.branch), style="bold")
    line.append(f" [{meta.status}]")
    out.print(line, soft_wrap=True)
    if meta.description:
        out.print(Text(data_text(meta.description)), soft_wrap=True)
    if ended.closed_by:
        out.print(
            Text(
                f"closed by {data_text(ended.closed_by)} at {data_text(ended.closed_at)}: not merged; "
                f"tusk review close {meta.branch} --reopen opens it again"
            ),
            soft_wrap=True,
        )


def _print_outcome(ended: Any) -> None:
    """A merged review (or a closed one whose branch is gone): what happened, not what merging would do."""
    out = console()
    meta = ended.meta
    _print_header(ended)
    if meta.status == "merged":
        if not ended.recorded:
            out.print(f"merged into {ended.into} outside tusk's record (who, when and the merge commit are not known)")
        else:
            out.print(
                Text(
                    f"merged by {data_text(meta.merged_by)} at {data_text(meta.merged_at)}: merge commit "
                    f"{short(meta.merge_commit)}, {ended.into} was at {short(meta.merged_from)} before it"
                ),
                soft_wrap=True,
            )
            changes = ", ".join(f"{t['table']} +{t['added']} ~{t['modified']} -{t['removed']}" for t in ended.brought)
            out.print(Text(f"the merge brought: {data_text(changes) or 'no row changes'}"), soft_wrap=True)
            if ended.problem:
                out.print(Text(f"the models it retrained cannot be worked out: {data_text(ended.problem)}"))
            elif ended.retrained:
                out.print("models the merge retrained:")
                for r in ended.retrained:
                    trained = f"v{r.version}" if r.version else "not trained yet"
                    out.print(Text(f"  {data_text(r.name)}: {trained} ({r.reason})"), soft_wrap=True)
            else:
                out.print("models: the merge retrained none")
    out.print(f"{len(meta.comments)} comment(s); tusk review comment {meta.branch} TEXT adds one")


def _print_review(result: Any) -> None:
    from rich.markup import escape

    out = console()
    preview = result.preview
    title = f"review {result.branch} → {result.into}"
    if result.source:
        title += f" (source {result.source})"
    out.print(f"[bold]{escape(title)}[/]")
    if result.conflicts:
        out.print(f"[red]merging conflicts in {len(result.conflicts)} row(s)[/]: resolve on the branch first")
        return
    out.print(
        f"merge preview {short(preview['commit'])} ({preview['kind']}), {result.branch} @ "
        f"{short(preview['branch_head'])}, {result.into} @ {short(preview['into_head'])}"
    )
    changes = ", ".join(f"{t['table']} +{t['added']} ~{t['modified']} -{t['removed']}" for t in result.tables)
    out.print(f"changes: {changes or 'none'}")
    if result.checks.checks:
        failed = result.checks.failed
        out.print(
            f"checks: {len(result.checks.checks) - len(failed)} of {len(result.checks.checks)} pass"
            + "".join(f"\n  [red]FAILED[/] {escape(c.name)}: {escape(c.message)}" for c in failed)
        )
    if result.models:
        out.print(f"models merging would retrain (gate: {escape(result.gate or 'none')}):")
        marks = {
            "passed": "[green]passed[/]",
            "failed": "[red]FAILED[/]",
            "outdated": "[red]outdated[/]",
            "missing": "[red]missing[/]",
            "ungated": "[dim]ungated[/]",
        }
        for model in result.models:
            out.print(f"  {marks[model.verdict]} {escape(model.name)}: {_metrics(model)}", soft_wrap=True)
    else:
        out.print("models: merging retrains nothing")
    if result.mergeable:
        out.print(f"[green]mergeable[/]: tusk data merge {result.branch}")
    else:
        out.print("[red]blocked[/]:" + "".join(f"\n  {escape(reason)}" for reason in result.blocking))


def _metrics(verdict: Any) -> str:
    """``candidate v2 vs production v1: accuracy 0.625 (0.5, +0.125)`` (rich markup: a worse change in red), or why
    there is no comparison."""
    message = str(verdict.message)
    head, compared, _ = message.partition(f": candidate v{verdict.candidate}")
    if not verdict.candidate or (verdict.blocks and not (compared and verdict.deltas)):
        return escape(message)
    parts = []
    for name, value in sorted(verdict.metrics.items()):
        if name in verdict.deltas:
            was = verdict.production_metrics[name]
            parts.append(
                f"{escape(name)} {value:.4g} ({was:.4g}, {delta_markup(name, verdict.deltas[name], value, was)})"
            )
        else:
            parts.append(f"{escape(name)} {value:.4g}")
    against = f" vs production v{verdict.production}" if verdict.production else " (no production version)"
    said = f"candidate v{verdict.candidate}{against}: " + ", ".join(parts)
    return f"{escape(head)}: {said}" if verdict.blocks else said  # the gate that fails, then its numbers
