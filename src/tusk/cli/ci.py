"""``tusk ci github``: continuous training on CI runners."""

from __future__ import annotations

from pathlib import Path

import click

from tusk.cli._common import Shown, console, open_project, output


@click.group()
def ci() -> None:
    """Continuous training on CI runners."""


@ci.command("github")
@click.option("--shards", type=int, default=4, show_default=True, help="Parallel `tusk run --shard i/N` jobs (≤256).")
@click.option(
    "--runs-on",
    "runs_on",
    multiple=True,
    metavar="LABEL",
    help="Runner labels for training, e.g. --runs-on self-hosted --runs-on gpu (default: self-hosted).",
)
@click.option("--max-parallel", type=int, help="At most this many shards at once (default: all).")
@click.option("--timeout-minutes", type=int, default=360, show_default=True, help="Per training shard.")
@click.option(
    "--install",
    metavar="COMMAND",
    help="The step that installs tusk (default: pip install -r requirements.txt when the project has "
    "one, else the pinned version of this tusk).",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Refuse, instead of warning, when runners could not share the tracking store or the data.",
)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Default: .github/workflows/tusk.yml")
@output
def ci_github(
    shards: int,
    runs_on: tuple[str, ...],
    max_parallel: int | None,
    timeout_minutes: int,
    install: str | None,
    strict: bool,
    output: Path | None,
) -> Shown:
    """Write a GitHub Actions workflow: plan → `tusk run --shard i/N` matrix → release.

    It runs on a push to tusk.toml or the models' code, on a manual dispatch (data ref, only-glob), and
    on a `tusk-data-push` repository dispatch sent when data reaches the shared remote. Runners need a
    tracking server ([tracking] url = "http://...") and a data remote (tusk data remote add origin URL):
    without them the workflow is written with a warning (or refused with --strict).
    """
    written = open_project().ci_github(
        output,
        strict=strict,
        shards=shards,
        runs_on=runs_on,
        max_parallel=max_parallel,
        timeout_minutes=timeout_minutes,
        install=install,
    )

    def show() -> None:
        for warning in written.warnings:
            click.echo(f"warning: {warning}", err=True)
        console().print(f"wrote {written.path} ({written.shards} shards on {', '.join(written.runs_on)})")

    return Shown(written, show)
