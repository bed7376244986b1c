"""``tusk init``: a new project (tusk.toml, a data store, a tracking database), or a demo one."""

from __future__ import annotations

import click

from tusk.cli._common import Shown, console, output


@click.command()
@click.argument("directory", required=False, default=".", type=click.Path(file_okay=False))
@click.option(
    "--example",
    type=click.Choice(["intents", "adapters"]),
    help="Also write a demo project with data and models: intents (a scikit-learn classifier per "
    "customer) or adapters (a small transformer base and a LoRA adapter per customer; needs "
    "pip install 'tusk-mlops[adapters]').",
)
@click.option("--no-git", is_flag=True, help="Do not make the project a git repository.")
@output
def init(directory: str, example: str | None, no_git: bool) -> Shown:
    """Create a project in DIRECTORY (default: here): tusk.toml, a data store and a tracking database.

    The project becomes a git repository with a first commit of its files (tusk.toml, requirements.txt, the
    models' code; the data and .tusk/ are ignored), so that every model's code is committed and tusk reproduce
    can rebuild it: not inside a git repository already (commit there), nor with --no-git. requirements.txt
    installs the tusk that runs now, as it was installed (a git URL at its commit, a wheel, or the index's
    version); one installed from a path on this machine is warned about (a CI runner cannot reach it)."""
    from tusk.project import init as init_project

    made = init_project(directory, example, git=not no_git)

    def show() -> None:
        out = console()
        out.print(f"created {made.config}")
        out.print(f"  data store      {made.data_store}")
        out.print(f"  tracking (MLflow) {made.tracking}")
        if made.git_commit:
            out.print(f"  git repository  first commit {made.git_commit[:12]} (tusk.toml, code, requirements)")
        elif made.git_note:
            out.print(f"  git: {made.git_note}", markup=False)
        err = console(stderr=True)
        for warning in made.warnings:
            err.print(f"warning: {warning}", markup=False)
        if example:
            out.print("next: tusk data import data/examples.csv --table examples --key id, then tusk plan / tusk run")
        else:
            out.print(
                "next: tusk data import FILE --table T --key COL, then declare [[models]] in tusk.toml", markup=False
            )

    return Shown(made, show)
