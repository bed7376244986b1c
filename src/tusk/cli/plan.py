"""``tusk plan``: which models are new, stale, reusable, fresh or orphaned, and why."""

from __future__ import annotations

import functools
from typing import Any

import click

from tusk.cli._common import Shown, console, open_project, output, raising, short, styled, table
from tusk.cli._text import printable


@click.command()
@click.option(
    "--at",
    "at",
    metavar="REF",
    help="A branch: plan the result of merging it into the data branch. A tag or commit: plan at it.",
)
@click.option("--all", "show_all", is_flag=True, help="List fresh instances too.")
@output
def plan(at: str | None, show_all: bool) -> Shown:
    """Show which models are new, stale, reusable, fresh or orphaned, and why.

    \b
    Planning reads only what a change can have touched: for each model it asks the data store which
    rows changed since the commit the model was trained from, and re-reads an input only when its
    partition was touched.
    \b
    `tusk plan --at fix` answers "what would merging fix retrain?": it plans a merge preview, the data
    branch with fix merged (made on a scratch branch that is removed after; the data branch is untouched),
    so changes made on main since fix left it are kept, not undone. A conflicting merge names the
    conflicting rows and plans nothing (exit 1). --at a tag or a commit plans exactly that commit.
    """
    from tusk.errors import MergeConflict
    from tusk.project import Project

    Project.one_shot()
    project = open_project()
    try:
        result = project.plan(at)
    except MergeConflict as conflict:
        refused = {
            "ref": at,
            "data_commit": None,
            "preview": None,
            "conflicts": conflict.conflicts,
            "instances": [],
            "error": str(conflict),
        }
        return Shown(refused, functools.partial(_print_conflicts, conflict), then=raising(conflict))

    def show() -> None:
        out = console()
        rows = [
            (
                p.name,
                styled(p.status + (f" v{p.reuse_version}" if p.reuse_version else "")),
                _plain("; ".join(p.reasons)),
            )
            for p in result.instances
            if show_all or p.status != "fresh"
        ]
        if rows:
            out.print(table(None, ["instance", "status", "why"], rows))
        summary = ", ".join(
            f"{result.count(s)} {s}"
            for s in ("new", "stale", "failed", "reuse", "orphaned", "fresh")
            if result.count(s)
        )
        out.print(
            f"{_planned_at(result)}: {len(result.instances)} instances ({summary or 'none'}); {len(result.work)} to run"
        )

    return Shown(result, show)


def _planned_at(result: Any) -> str:
    preview = result.preview
    if preview is None:
        return f"{result.ref} @ {short(result.data_commit)}"
    what = {
        "merge": f"merging {preview.branch} into {preview.into} (preview {short(preview.commit)}, not kept)",
        "fast-forward": f"merging {preview.branch} into {preview.into} (a fast-forward to {short(preview.commit)})",
        "up-to-date": f"{preview.branch} is already merged into {preview.into} @ {short(preview.commit)}",
    }
    return (
        f"{what[preview.kind]}; {preview.branch} @ {short(preview.branch_head)}, "
        f"{preview.into} @ {short(preview.into_head)}"
    )


def _print_conflicts(conflict: Any) -> None:
    rows = [(c["table"], ", ".join(f"{k}={v}" for k, v in c["key"].items())) for c in conflict.conflicts]
    console(stderr=True).print(table("conflicts", ["table", "key"], rows))


def _plain(text: str | None) -> Any:
    """A cell shown as it is (no rich markup), without escape sequences."""
    from rich.text import Text

    return Text(printable(text or ""))
