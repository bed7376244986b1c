"""``tusk review list | show``: data branches judged on their merge preview (checks, candidates, the gate)."""

from __future__ import annotations

from typing import Any

import click

from tusk.cli._common import console, json_option, open_project, print_json, short, table


@click.group()
def review() -> None:
    """Reviews: branches other than the data branch (sync/<name> for each source), judged before they merge."""


@review.command("list")
@json_option
def review_list(as_json: bool) -> None:
    """Every review branch: open ones first, with its commits since it left the data branch."""
    listed = open_project().reviews()
    if as_json:
        print_json(listed.to_json())
        return
    found = listed.reviews
    if not found:
        console().print("no review branches (tusk data sync makes sync/<name>; tusk data branch NAME makes one)")
        return
    console().print(table(None, ["review", "head", "state", "commits", "source", "last change"],
                          [(r.branch, short(r.head), "merged" if r.merged else "open", r.commits, r.source or "",
                            f"{r.date} {r.message.splitlines()[0] if r.message else ''}") for r in found]))


@review.command("show")
@click.argument("branch")
@json_option
def review_show(branch: str, as_json: bool) -> None:
    """What merging BRANCH would do: its change, the models it retrains, data checks, candidates vs production.

    \b
    Everything is computed on the merge preview (the data branch with BRANCH merged; nothing is written).
    Train the candidates with tusk run --at BRANCH --candidates; merge with tusk data merge BRANCH.
    """
    project = open_project()
    result = project.review(branch)
    if as_json:
        print_json(result.to_json())
        return
    _print_review(result)


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
    out.print(f"merge preview {short(preview['commit'])} ({preview['kind']}), {result.branch} @ "
              f"{short(preview['branch_head'])}, {result.into} @ {short(preview['into_head'])}")
    changes = ", ".join(f"{t['table']} +{t['added']} ~{t['modified']} -{t['removed']}" for t in result.tables)
    out.print(f"changes: {changes or 'none'}")
    if result.checks.checks:
        failed = result.checks.failed
        out.print(f"checks: {len(result.checks.checks) - len(failed)} of {len(result.checks.checks)} pass"
                  + "".join(f"\n  [red]FAILED[/] {escape(c.name)}: {escape(c.message)}" for c in failed))
    if result.models:
        out.print(f"models merging would retrain (gate: {escape(result.gate or 'none')}):")
        marks = {"passed": "[green]passed[/]", "failed": "[red]FAILED[/]", "outdated": "[red]outdated[/]",
                 "missing": "[red]missing[/]", "ungated": "[dim]ungated[/]"}
        for model in result.models:
            out.print(f"  {marks[model.verdict]} {escape(model.name)}: {escape(_metrics(model))}", soft_wrap=True)
    else:
        out.print("models: merging retrains nothing")
    if result.mergeable:
        out.print(f"[green]mergeable[/]: tusk data merge {result.branch}")
    else:
        out.print("[red]blocked[/]:" + "".join(f"\n  {escape(reason)}" for reason in result.blocking))


def _metrics(verdict: Any) -> str:
    """``candidate v2 vs production v1: accuracy 0.625 (0.5, +0.125)``, or why there is no comparison."""
    if not verdict.candidate or verdict.blocks:
        return str(verdict.message)
    parts = []
    for name, value in sorted(verdict.metrics.items()):
        if name in verdict.deltas:
            parts.append(f"{name} {value:.4g} ({verdict.production_metrics[name]:.4g}, {verdict.deltas[name]:+.4g})")
        else:
            parts.append(f"{name} {value:.4g}")
    against = f" vs production v{verdict.production}" if verdict.production else " (no production version)"
    return f"candidate v{verdict.candidate}{against}: " + ", ".join(parts)


COMMANDS = [review]
