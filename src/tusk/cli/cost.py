"""``tusk cost``: GPU- and CPU-hours of recorded training, priced self-hosted against cloud."""

from __future__ import annotations

import click

from tusk.cli._common import Shown, console, open_project, output, table


@click.command()
@output
def cost() -> Shown:
    """GPU- and CPU-hours of recorded training, priced self-hosted against cloud (prices in [cost])."""
    project = open_project()
    report = project.cost()

    def show() -> None:
        out = console()
        currency = project.config.cost.currency
        total = report.total
        out.print(f"{total.jobs} recorded jobs: {total.cpu_hours:.3f} CPU-hours, {total.gpu_hours:.3f} GPU-hours")
        out.print(
            table(
                "per month",
                ["month", "jobs", "CPU-h", "GPU-h"],
                [(m, u.jobs, f"{u.cpu_hours:.3f}", f"{u.gpu_hours:.3f}") for m, u in sorted(report.by_month.items())],
            )
        )
        out.print(
            table(
                None,
                ["compute", "fixed", "variable/yr", "year 1", "year 2", "amortised/yr"],
                [
                    (
                        r["option"],
                        f"{currency}{r['fixed']:,.0f}",
                        f"{currency}{r['variable_per_year']:,.0f}",
                        f"{currency}{r['year_1']:,.0f}",
                        f"{currency}{r['year_2']:,.0f}",
                        f"{currency}{r['amortised_per_year']:,.0f}",
                    )
                    for r in report.rows
                ],
            )
        )
        from rich.markup import escape

        for line in report.assumptions:
            out.print(f"[dim]- {escape(line)}[/]")

    return Shown(report, show)
