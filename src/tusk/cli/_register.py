"""Every verb of ``tusk``, one module each (``tusk.cli.<verb>``, named for it), attached to the root group by
``register``: the list below is the whole command line. A verb module imports its heavy parts lazily, so importing
them all is cheap; none imports ``tusk.cli`` itself (the root group is handed in)."""

from __future__ import annotations

import click

from tusk.cli.ci import ci
from tusk.cli.cost import cost
from tusk.cli.data import data
from tusk.cli.init import init
from tusk.cli.lineage import lineage
from tusk.cli.logs import logs
from tusk.cli.models import models
from tusk.cli.plan import plan
from tusk.cli.release import release
from tusk.cli.remote import data_clone, data_fetch, data_pull, data_push, remote
from tusk.cli.reproduce import reproduce
from tusk.cli.review import review
from tusk.cli.run import run
from tusk.cli.serve import serve
from tusk.cli.status import status
from tusk.cli.ui import ui
from tusk.cli.watch import watch

VERBS: list[click.Command] = [
    init,
    data,
    plan,
    run,
    status,
    models,
    logs,
    release,
    serve,
    lineage,
    reproduce,
    cost,
    review,
    watch,
    ci,
    ui,
]
DATA_REMOTES: list[click.Command] = [remote, data_fetch, data_pull, data_push, data_clone]  # tusk data remote|fetch|...


def register(root: click.Group) -> None:
    """Attach every verb to ``root``, and the commands that share data through remotes to ``tusk data``."""
    for command in VERBS:
        root.add_command(command)
    for command in DATA_REMOTES:
        data.add_command(command)
