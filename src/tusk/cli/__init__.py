"""The ``tusk`` command line: parse → call ``Project`` → render (rich for people, ``--json`` for scripts).

Exit codes: 0 ok; 1 a clear user-facing error (one line, no traceback unless ``--debug``);
2 usage; 3 some jobs failed. Each verb (or verb group) lives in its own module, ``tusk.cli.<verb>``, and
``tusk.cli._register`` attaches them all to the root group below.
"""

from __future__ import annotations

import sys

import click

from tusk.cli._common import TuskGroup
from tusk.cli._register import register

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=TuskGroup, context_settings=CONTEXT_SETTINGS)
@click.option("--debug", is_flag=True, envvar="TUSK_DEBUG", help="Show tracebacks for errors.")
@click.option(
    "-C",
    "--project",
    "project_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Run as if started in this folder (where tusk.toml is, or below it).",
)
@click.version_option(package_name="tusk-mlops")
@click.pass_context
def cli(ctx: click.Context, debug: bool, project_dir: str | None) -> None:
    """tusk trains many models from versioned data, retraining only what a change makes stale.

    \b
    A typical day:
      tusk init                       a project: tusk.toml, a data store, a tracking database
      tusk data import edits.csv --table examples --key id --branch fix
      tusk data diff main...fix       review what fix changed since it left main, row by row
      tusk plan --at fix              which models merging fix would retrain, and why
      tusk data merge fix             accept it
      tusk run                        train what is stale, in parallel, tracked in MLflow
      tusk release create             one image with every production model, tagged with its hash
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    ctx.obj["project_dir"] = project_dir


register(cli)


def main(argv: list[str] | None = None) -> None:
    import gc

    from tusk.project import Project

    # A command builds objects that mostly live to its end (a plan of 10,000 instances: ~180,000): the collector's
    # passes over everything imported, and its frequent young passes, were a tenth of such a command. What is
    # loaded so far is kept out of its passes, and a pass waits for more allocations; long commands still collect.
    gc.freeze()
    gc.set_threshold(100_000, 50, 50)
    # a one-shot read (plan, status) may then leave the collector off (Project.one_shot)
    Project.command_process()
    cli.main(args=argv, prog_name="tusk")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
