"""``tusk logs``: a model's training log (its running job, a version's, or its latest)."""

from __future__ import annotations

import click

from tusk.cli._common import Shown, open_project, output
from tusk.cli._text import printable, printable_log


@click.command()
@click.argument("target", metavar="NAME[@VERSION]")
@click.option("-f", "--follow", is_flag=True, help="Keep printing a running job's log until the job ends.")
@click.option(
    "--raw",
    is_flag=True,
    help="Print the log's bytes as the job wrote them, terminal escapes and all "
    "(for a pipe; by default they are taken out, on a terminal or not).",
)
@output
def logs(target: str, follow: bool, raw: bool) -> Shown:
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

    def show() -> None:
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

    return Shown(found, show)
