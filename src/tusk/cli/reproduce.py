"""``tusk reproduce``: train a model version again from what it was trained from, and compare."""

from __future__ import annotations

import click

from tusk.cli._common import Shown, console, delta_markup, escape, open_project, output, short


@click.command()
@click.argument("target", metavar="NAME@VERSION")
@output
def reproduce(target: str) -> Shown:
    """Retrain NAME@VERSION from its recorded data commit and code commit, and compare.

    The code is checked out in a temporary git worktree; the fingerprint must be equal. The reproduction
    is recorded as an MLflow run tagged tusk.reproduces=<original run>; no version is registered.
    """
    result = open_project().reproduce(target)

    def show() -> None:
        out = console()
        verdict = "[green]equal[/]" if result.equal else "[red]DIFFERENT[/]"
        out.print(
            f"{result.name} v{result.version}: data {short(result.data_commit)}, code {short(result.code_commit)}"
        )
        out.print(
            f"fingerprint {verdict}: {short(result.fingerprint, 12)} vs recorded "
            f"{short(result.recorded_fingerprint, 12)}"
        )
        deltas = [
            f"{escape(k)} {delta_markup(k, d, result.metrics[k], result.metrics[k] - d)}"
            for k, d in result.metric_deltas.items()
        ]
        out.print("metric deltas: " + (", ".join(deltas) or "none"))
        out.print(f"[dim]recorded as run {result.run_id}[/]")

    return Shown(result, show, code=0 if result.equal else 1)
