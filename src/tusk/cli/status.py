"""``tusk status``: every instance, its current and production versions, and whether it is fresh."""

from __future__ import annotations

import click

from tusk.cli._common import Shown, console, open_project, output, short, styled, table


@click.command()
@output
def status() -> Shown:
    """Every instance: its current version, the production version, and whether it is fresh."""
    from tusk.project import Project

    Project.one_shot()
    found = open_project().status()

    def show() -> None:
        console().print(
            table(
                None,
                ["instance", "status", "version", "production", "data commit", "fingerprint"],
                [
                    (
                        r.name,
                        styled(r.status),
                        r.version or "",
                        r.production or "",
                        short(r.data_commit),
                        short(r.fingerprint, 12),
                    )
                    for r in found.instances
                ],
            )
        )

    return Shown(found, show)
