"""``tusk run``: train what is stale, in parallel, tracked in MLflow; progress for people, a report at the end."""

from __future__ import annotations

from typing import Any

import click

from tusk.cli._common import EXIT_JOBS_FAILED, Shown, console, open_project, output, short, styled, table, wants_json
from tusk.cli._text import printable


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
@output
def run(
    at: str | None,
    only: str | None,
    shard: str | None,
    workers: int | None,
    force: bool,
    candidates: bool,
    no_wait: bool,
) -> Shown:
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
    display = _Display(quiet=wants_json())
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
    code = 130 if report.interrupted else EXIT_JOBS_FAILED if report.failed else 0
    return Shown(report, lambda: _print_report(report), code=code)


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
            (j.name, styled(j.status), f"v{j.version}" if j.version else "", _promotion(j), _metrics(j.metrics))
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


def _metrics(metrics: dict[str, float], limit: int = 3) -> str:
    return ", ".join(f"{k}={v:.3g}" for k, v in list(metrics.items())[:limit])
