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
@output
def init(directory: str, example: str | None) -> Shown:
    """Create a project in DIRECTORY (default: here): tusk.toml, a data store and a tracking database."""
    from tusk.project import init as init_project

    made = init_project(directory, example)

    def show() -> None:
        out = console()
        out.print(f"created {made.config}")
        out.print(f"  data store      {made.data_store}")
        out.print(f"  tracking (MLflow) {made.tracking}")
        if example:
            out.print("next: tusk data import data/examples.csv --table examples --key id, then tusk plan / tusk run")
        else:
            out.print(
                "next: tusk data import FILE --table T --key COL, then declare [[models]] in tusk.toml", markup=False
            )

    return Shown(made, show)
