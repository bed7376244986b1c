"""``tusk data remote | fetch | pull | push | clone``: share the training data through Dolt remotes.

The team's flow is git's: an analyst clones the shared remote, imports on a branch and pushes it; a
reviewer pulls, diffs and plans that branch (``tusk plan --at origin/fix``), merges and pushes; the
trainer pulls and runs. A remote is a ``file://`` path on a shared folder or an ``http(s)://`` remote.
"""

from __future__ import annotations

from pathlib import Path

import click

from tusk.cli._common import Shown, console, open_project, output, short, table

DEFAULT_REMOTE = "origin"


@click.group("remote", invoke_without_command=True)
@output
@click.pass_context
def remote(ctx: click.Context) -> Shown | None:
    """List remotes, or add/remove one.

    \b
      tusk data remote add origin /mnt/shared/tusk/training.db
      tusk data remote add origin https://data.example.com/tusk/training
    Or declare it once for the whole team in tusk.toml:
      [data.remotes]
      origin = "file:///mnt/shared/tusk/training.db"
    """
    if ctx.invoked_subcommand is not None:
        return None
    found = open_project().remotes()

    def show() -> None:
        remotes = found.remotes
        if not remotes:
            console().print("no remotes; add one with 'tusk data remote add NAME URL'")
            return
        console().print(table(None, ["remote", "url"], [(r.name, r.url) for r in remotes]))

    return Shown(found, show)


@remote.command("add")
@click.argument("name")
@click.argument("url")
@output
def remote_add(name: str, url: str) -> Shown:
    """Add remote NAME at URL (file:///shared/training.db, a path, or http(s)://...).

    It is written to [data.remotes] in tusk.toml (your comments kept): commit that, and every clone of
    the project and the CI workflow (tusk ci github) use the same remote.
    """
    added = open_project().add_remote(name, url)

    def show() -> None:
        console().print(f"remote {added.name} → {added.url} (in {added.config.name})")

    return Shown(added, show)


@remote.command("remove")
@click.argument("name")
@output
def remote_remove(name: str) -> Shown:
    """Forget remote NAME, in tusk.toml and in the data store (the remote itself is untouched)."""
    removed = open_project().remove_remote(name)

    def show() -> None:
        console().print(f"removed remote {name}")

    return Shown(removed, show)


@click.command("fetch")
@click.argument("remote_name", default=DEFAULT_REMOTE, metavar="[REMOTE]")
@output
def data_fetch(remote_name: str) -> Shown:
    """Download the remote's branches as REMOTE/BRANCH refs; no local branch changes."""
    fetched = open_project().fetch(remote_name)

    def show() -> None:
        console().print(
            table(None, ["remote branch", "head"], [(b.name, short(b.head)) for b in fetched.remote_branches])
        )

    return Shown(fetched, show)


@click.command("pull")
@click.argument("remote_name", default=DEFAULT_REMOTE, metavar="[REMOTE]")
@click.option("--branch", "-b", help="Branch to update (default: the main branch).")
@output
def data_pull(remote_name: str, branch: str | None) -> Shown:
    """Fetch, then merge REMOTE/BRANCH into BRANCH. A conflict is reported row by row; nothing is merged.

    \b
    Other branches on the remote become refs you can diff, plan and merge:
      tusk data pull && tusk data diff main...origin/fix && tusk plan --at origin/fix
      tusk data merge origin/fix
    """
    pulled = open_project().pull(remote_name, branch)

    def show() -> None:
        head = short(pulled.commit)
        console().print(f"{pulled.message} → {head}" if pulled.changed else f"{pulled.branch} is up to date at {head}")
        console().print("remote branches: " + ", ".join(b.name for b in pulled.remote_branches))

    return Shown(pulled, show)


@click.command("push")
@click.argument("remote_name", default=DEFAULT_REMOTE, metavar="[REMOTE]")
@click.option("--branch", "-b", help="Branch to push (default: the main branch).")
@click.option("--force", is_flag=True, help="Overwrite the remote branch even if that drops its commits.")
@output
def data_push(remote_name: str, branch: str | None, force: bool) -> Shown:
    """Send BRANCH to REMOTE. Refused unless the remote branch is an ancestor (pull first), or --force."""
    pushed = open_project().push(remote_name, branch, force)

    def show() -> None:
        console().print(f"pushed {pushed.branch} ({short(pushed.commit)}) to {pushed.remote}")

    return Shown(pushed, show)


@click.command("clone")
@click.argument("url")
@click.argument("directory", type=click.Path(file_okay=False))
@output
def data_clone(url: str, directory: str) -> Shown:
    """Clone the data at URL into the project in DIRECTORY (a new project when it has no tusk.toml).

    \b
    A project checked out with git has tusk.toml and models but no data; clone the data into it:
      git clone git@example.com:team/models.git && tusk data clone /mnt/shared/tusk/training.db models
    """
    from tusk.project import clone

    cloned = clone(url, Path(directory))

    def show() -> None:
        console().print(f"cloned {url} into {cloned.config.parent} ({cloned.branch} at {short(cloned.head)})")

    return Shown(cloned, show)
