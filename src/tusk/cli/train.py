"""``tusk plan | run | status | models``: what is stale and why, training it, and the production pointers."""

from __future__ import annotations

import sys
from typing import Any

import click

from tusk.cli._common import EXIT_JOBS_FAILED, console, json_option, open_project, print_json, short, table
from tusk.cli._text import printable, printable_log

STATUS_STYLE = {
    "new": "cyan",
    "stale": "yellow",
    "reuse": "magenta",
    "fresh": "green",
    "orphaned": "dim",
    "succeeded": "green",
    "failed": "red",
    "reused": "magenta",
    "cancelled": "red",
    "skipped": "yellow",
}


def _styled(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"


@click.command()
@click.option(
    "--at",
    "at",
    metavar="REF",
    help="A branch: plan the result of merging it into the data branch. A tag or commit: plan at it.",
)
@click.option("--all", "show_all", is_flag=True, help="List fresh instances too.")
@json_option
def plan(at: str | None, show_all: bool, as_json: bool) -> None:
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
    from tusk._internal import gc as _gc
    from tusk.errors import MergeConflict

    _gc.one_shot()
    project = open_project()
    try:
        result = project.plan(at)
    except MergeConflict as conflict:
        if as_json:
            print_json(
                {
                    "ref": at,
                    "data_commit": None,
                    "preview": None,
                    "conflicts": conflict.conflicts,
                    "instances": [],
                    "error": str(conflict),
                }
            )
        else:
            _print_conflicts(conflict)
        raise
    if as_json:
        print_json(result.to_json())
        return
    out = console()
    rows = [
        (p.name, _styled(p.status + (f" v{p.reuse_version}" if p.reuse_version else "")), _plain("; ".join(p.reasons)))
        for p in result.instances
        if show_all or p.status != "fresh"
    ]
    if rows:
        out.print(table(None, ["instance", "status", "why"], rows))
    summary = ", ".join(
        f"{result.count(s)} {s}" for s in ("new", "stale", "failed", "reuse", "orphaned", "fresh") if result.count(s)
    )
    out.print(
        f"{_planned_at(result)}: {len(result.instances)} instances ({summary or 'none'}); {len(result.work)} to run"
    )


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


@click.command()
@click.option(
    "--at",
    "at",
    metavar="REF",
    help="Train from this tag or commit, or a branch that merges into the data branch without a merge "
    "commit (default: the data branch).",
)
@click.option("--only", metavar="GLOB", help="Only instances whose name matches, e.g. 'intent-a*'.")
@click.option("--shard", metavar="I/N", help="Only the I-th of N deterministic slices (for CI matrices).")
@click.option("--workers", type=click.IntRange(min=1, max=1024), help="Parallel jobs (default: the executor URL's).")
@click.option("--force", is_flag=True, help="Retrain the selected instances even when fresh.")
@click.option(
    "--candidates",
    is_flag=True,
    help="With --at BRANCH: train what merging the review would retrain, on its merge preview, as "
    "candidates for the review (production untouched).",
)
@click.option("--no-wait", is_flag=True, help="If another run holds the project, fail at once instead of waiting.")
@json_option
def run(
    at: str | None,
    only: str | None,
    shard: str | None,
    workers: int | None,
    force: bool,
    candidates: bool,
    no_wait: bool,
    as_json: bool,
) -> None:
    """Train every new or stale model, in parallel, pinned to one data commit.

    \b
    Each job reads its inputs at the planned commit (a merge during the run changes nothing), and each
    success becomes an MLflow run and a registered model version tagged with the data and code commits.
    A failed job registers nothing and does not stop the others (exit code 3). Ctrl-C cancels cleanly.
    \b
    A model that needs another (needs = ["base"]) trains after it, against the version it just got; if
    that failed, the model is skipped and says why.
    \b
    --at a branch other than the data branch trains it only when merging it needs no merge commit (the
    data branch has not moved since the branch left it): versions are pinned to commits that persist.
    Otherwise merge it first; `tusk plan --at BRANCH` shows what the merge would retrain.
    \b
    --at BRANCH --candidates trains the review's blast radius on its merge preview (kept while the run
    lasts) as candidate versions tagged for the review: no production alias moves, main's plan does not
    take them as current, nothing is released. `tusk review show BRANCH` compares them with production;
    a [review] gate must hold for each before `tusk data merge BRANCH`. After the merge, `tusk run`
    promotes them without retraining (their fingerprints equal the merged inputs').

    One run per project at a time: a second one waits for the first (or fails with --no-wait), and a
    run killed half-way is finished by the next one, never trained twice.
    """
    project = open_project()
    display = _Display(quiet=as_json)
    try:
        report = project.run(
            at=at,
            only=only,
            shard=shard,
            workers=workers,
            force=force,
            candidates=candidates,
            on_start=display.start,
            on_outcome=display.outcome,
            on_event=display.event,
            wait=not no_wait,
            on_wait=display.note,
        )
    finally:
        display.stop()
    if as_json:
        print_json(report.to_json())
    else:
        _print_report(report)
    if report.interrupted:
        sys.exit(130)
    if report.failed:
        sys.exit(EXIT_JOBS_FAILED)


class _Display:
    """Live progress on stderr: done / failed / running and an ETA; a line per failure."""

    def __init__(self, quiet: bool) -> None:
        self.err = console(stderr=True)
        self.live = not quiet and self.err.is_terminal
        self.quiet = quiet
        self.progress: Any = None
        self.task: Any = None
        self.done = self.failed = self.running = 0

    def note(self, message: str) -> None:
        self.err.print(printable(message), markup=False, highlight=False)

    def start(self, plan: Any, count: int) -> None:
        if self.quiet:
            return
        self.err.print(
            f"{plan.ref} @ {short(plan.data_commit)}: {count} to run, {len(plan.instances) - count} up to date"
        )
        if self.live and count:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[detail]}"),
                TimeRemainingColumn(),
                console=self.err,
                transient=True,
            )
            self.task = self.progress.add_task("training", total=count, detail="")
            self.progress.start()

    def event(self, event: Any) -> None:
        if event.kind == "started":
            self.running += 1
        else:  # an attempt ended: the job's last ("finished") or one another attempt follows ("retrying")
            self.running = max(0, self.running - 1)
            if event.kind == "retrying" and not self.quiet:
                self.err.print(f"[yellow]retrying[/] {event.job} (attempt {event.attempt})")
        self._refresh()

    def outcome(self, outcome: Any) -> None:
        self.done += 1
        if outcome.status == "skipped":  # what it needs did not train
            self.failed += 1
            if not self.quiet:
                self.err.print(f"[yellow]skipped[/] {outcome.name}: {outcome.error.removeprefix('skipped: ')}")
        elif outcome.status in ("failed", "cancelled"):
            self.failed += 1
            if not self.quiet:  # a job's error and log are the job's text: no markup, no escape sequences
                from rich.text import Text

                self.err.print(Text.assemble((outcome.status, "red"), f" {outcome.name}: {printable(outcome.error)}"))
                if outcome.log_tail and outcome.status == "failed":
                    self.err.print(printable(outcome.log_tail), style="dim", markup=False)
                    self.err.print(f"log: {outcome.log}", style="dim", markup=False)
        elif not self.live and not self.quiet:
            self.err.print(f"{outcome.status} {outcome.name} v{outcome.version} ({outcome.seconds:.1f}s)")
        if self.progress is not None:
            self.progress.advance(self.task)
        self._refresh()

    def _refresh(self) -> None:
        if self.progress is not None:
            detail = f"[green]{self.done - self.failed} done[/] [red]{self.failed} failed[/] {self.running} running"
            self.progress.update(self.task, detail=detail)

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def _print_report(report: Any) -> None:
    from rich.markup import escape

    out = console()
    for note in report.recovered:
        console(stderr=True).print(f"recovered: {printable(note)}", markup=False)
    if report.jobs:
        rows = [
            (j.name, _styled(j.status), f"v{j.version}" if j.version else "", _promotion(j), _metrics(j.metrics))
            for j in report.jobs
        ]  # each job's time is in --json and in the progress lines
        out.print(table(None, ["instance", "status", "version", "promoted", "metrics"], rows))
        for job in report.jobs:  # the long texts on lines of their own: readable in 80 columns
            if job.error:
                out.print(f"[red]{job.name}[/]: {escape(printable(job.error))}", soft_wrap=True)
            elif job.promotion:
                out.print(
                    f"[yellow]{job.name}[/] kept out of production: {escape(printable(job.promotion))}", soft_wrap=True
                )
    counts: dict[str, int] = {}
    for job in report.jobs:
        counts[job.status] = counts.get(job.status, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "nothing to do"
    if report.candidates is not None:
        out.print(
            f"candidates for review {report.candidates.review} (merge preview {short(report.data_commit)}): "
            f"no alias moved; tusk review show {report.candidates.review} compares them with production"
        )
    out.print(f"data {short(report.data_commit)}: {summary}; {report.fresh} already fresh ({report.seconds:.1f}s)")


def _promotion(job: Any) -> str:
    if job.status not in ("succeeded", "reused"):
        return ""
    return "yes" if job.promoted else "[yellow]no[/]"


def _plain(text: str | None) -> Any:
    """A cell shown as it is (no rich markup), without escape sequences."""
    from rich.text import Text

    return Text(printable(text or ""))


def _metrics(metrics: dict[str, float], limit: int = 3) -> str:
    return ", ".join(f"{k}={v:.3g}" for k, v in list(metrics.items())[:limit])


@click.command()
@json_option
def status(as_json: bool) -> None:
    """Every instance: its current version, the production version, and whether it is fresh."""
    from tusk._internal import gc as _gc

    _gc.one_shot()
    found = open_project().status()
    if as_json:
        print_json(found.to_json())
        return
    console().print(
        table(
            None,
            ["instance", "status", "version", "production", "data commit", "fingerprint"],
            [
                (
                    r.name,
                    _styled(r.status),
                    r.version or "",
                    r.production or "",
                    short(r.data_commit),
                    short(r.fingerprint, 12),
                )
                for r in found.instances
            ],
        )
    )


@click.group()
def models() -> None:
    """Registered model versions and their production pointers."""


@models.command("list")
@click.option(
    "--sort",
    type=click.Choice(["name", "status", "version", "production", "metric", "trained", "seconds"]),
    default=None,
    help="With status, key metric, last trained and duration (as the page shows): sorted by this.",
)
@click.option("--desc", is_flag=True, help="Sort descending.")
@click.option(
    "--status",
    "status",
    type=click.Choice(["new", "stale", "failed", "reuse", "fresh", "orphaned"]),
    default=None,
    help="Only instances with this plan status (implies the long listing).",
)
@click.option(
    "--name", "name", default=None, help="Only instances whose name contains this (implies the long listing)."
)
@click.option("--offset", type=click.IntRange(min=0), default=0, help="Skip this many (long listing).")
@click.option("--limit", type=click.IntRange(1, 500), default=None, help="At most this many (long listing).")
@json_option
def models_list(
    sort: str | None, desc: bool, status: str | None, name: str | None, offset: int, limit: int | None, as_json: bool
) -> None:
    """Every registered instance with its current and production versions.

    With --sort, --status, --name, --offset or --limit: every planned instance with its status, key metric,
    last trained and duration, filtered, sorted and paged (the page's models list).
    """
    from tusk._internal import gc as _gc

    _gc.one_shot()
    if sort or desc or status or name or offset or limit:
        found = open_project().model_table(name or "", status, sort or "name", desc, offset, limit or 50)
        if as_json:
            print_json(found.to_json())
            return
        console().print(
            table(
                f"{offset + 1}–{offset + len(found.rows)} of {found.matched}",
                ["model", "status", "cur", "prod", "key metric", "trained", "secs"],
                [
                    (
                        r.name,
                        r.status,
                        r.version or "",
                        r.production or "",
                        f"{r.metric} {r.value:.4g}" if r.metric and r.value is not None else "",
                        (r.trained or "")[5:16].replace("T", " "),
                        f"{r.seconds:.1f}" if r.seconds is not None else "",
                    )
                    for r in found.rows
                ],
            )
        )
        return
    listed = open_project().models()
    if as_json:
        print_json(listed.to_json())
        return
    console().print(
        table(
            None,
            ["model", "current", "production", "spec"],
            [(m.name, m.version, m.production, m.spec) for m in listed.models],
        )
    )


@models.command("show")
@click.argument("name")
@json_option
def models_show(name: str, as_json: bool) -> None:
    """Every version of one model: data and code commits, fingerprint, aliases."""
    shown = open_project().model_versions(name)
    if as_json:
        print_json(shown.to_json())
        return
    console().print(
        table(
            name,
            ["version", "aliases", "data commit", "code commit", "fingerprint", "created"],
            [
                (
                    v.version,
                    ",".join(v.aliases),
                    short(v.data_commit),
                    short(v.code_commit),
                    short(v.fingerprint, 12),
                    v.created[:16],
                )
                for v in shown.versions
            ],
        )
    )


@models.command("promote")
@click.argument("name")
@click.argument("version")
@json_option
def models_promote(name: str, version: str, as_json: bool) -> None:
    """Point NAME's production alias at VERSION."""
    promoted = open_project().promote(name, version)
    if as_json:
        print_json(promoted.to_json())
    else:
        console().print(f"{promoted.name}: production → v{promoted.production}")


@models.command("rollback")
@click.argument("name")
@click.option("--to", "to", metavar="VERSION", help="The version to roll back to (default: the previous production).")
@json_option
def models_rollback(name: str, to: str | None, as_json: bool) -> None:
    """Move NAME's production alias back to its previous production version (or --to VERSION).

    Each rollback goes one step further back (after a release rollback too); on the first production version
    there is nothing earlier and nothing moves.

    The model stays rolled back until a change trains a new version; the next `tusk release create`
    ships it.
    """
    rolled = open_project().rollback_model(name, to)
    if as_json:
        print_json(rolled.to_json())
    elif not rolled.moved:
        console().print(
            f"{name}: production stays on v{rolled.production}, its first production version: nothing "
            f"earlier to roll back to"
        )
    else:
        console().print(f"{name}: production v{rolled.previous} → v{rolled.production}")


@click.command()
@click.argument("target", metavar="NAME[@VERSION]")
@click.option("-f", "--follow", is_flag=True, help="Keep printing a running job's log until the job ends.")
@click.option(
    "--raw",
    is_flag=True,
    help="Print the log's bytes as the job wrote them, terminal escapes and all "
    "(for a pipe; by default they are taken out, on a terminal or not).",
)
@json_option
def logs(target: str, follow: bool, raw: bool, as_json: bool) -> None:
    """Print the training log of a model: its running job, NAME@VERSION, or its latest.

    \b
      tusk logs intent-acme        a job of it running now, else the newer of its last job here and
                                   its current version's log (a failure after the last success shows)
      tusk logs intent-acme@3      version 3's log, kept with its MLflow run (artifact job.log)
      tusk logs intent-acme -f     follow a running job until it ends
    \b
    A job's output is shown without terminal escape sequences and control characters (a log cannot clear
    the screen, retitle the window, plant a link or write the clipboard); --raw prints it as written.
    """
    project = open_project()
    found = project.logs(target)
    if as_json:
        print_json(found.to_json())
        return
    shown = (lambda text: text) if raw else printable_log
    what = (
        f"{found.name} v{found.version}"
        if found.version
        else f"{found.name}, {'running' if found.live else 'last'} job"
    )
    click.echo(f"# {printable(what)}: {printable(str(found.location))}", err=True)
    click.echo(shown(found.text), nl=False)
    if follow and found.live:
        for chunk in project.follow_log(found):
            click.echo(shown(chunk), nl=False)


COMMANDS = [plan, run, status, models, logs]
