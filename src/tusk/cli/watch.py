"""``tusk watch``: poll the data branch and the code; on a change, plan → run → release."""

from __future__ import annotations

import click

from tusk.cli._common import EXIT_JOBS_FAILED, Shown, console, open_project, output, wants_json


@click.command()
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=None,
    help="Seconds between polls (default: [watch] interval in tusk.toml, else 30).",
)
@click.option("--once", is_flag=True, help="Poll once, handle a change, and exit (for cron).")
@output
def watch(interval: float | None, once: bool) -> Shown:
    """Poll the data branch and the code; on a change, plan → run → release ([release] auto = true).

    With [watch] sync = true each poll also syncs every [[sources]] entry onto its review branch
    sync/<name> (tusk data sync). One watcher per project (a lock under .tusk/); its log is
    .tusk/watch.log. A failed run or sync is logged and the watcher goes on. Exit code 3 with --once when
    jobs failed.
    """
    out = console(stderr=True)
    watched = open_project().watch(interval, once, say=None if wants_json() else out.print)
    return Shown(watched, code=EXIT_JOBS_FAILED if once and watched.failed else 0)
