"""``tusk models list | show | promote | rollback``: registered versions and their production pointers."""

from __future__ import annotations

import click

from tusk.cli._common import Shown, console, escape, open_project, output, short, table


@click.group()
def models() -> None:
    """Registered model versions and their production pointers."""


@models.command("list")
@click.option(
    "--sort",
    type=click.Choice(["name", "status", "version", "production", "metric", "trained", "seconds"]),
    default=None,
    help="With status, key metric, last trained and duration (as the page shows): sorted by this.",
)
@click.option("--desc", is_flag=True, help="Sort descending.")
@click.option(
    "--status",
    "status",
    type=click.Choice(["new", "stale", "failed", "reuse", "fresh", "orphaned"]),
    default=None,
    help="Only instances with this plan status (implies the long listing).",
)
@click.option(
    "--name", "name", default=None, help="Only instances whose name contains this (implies the long listing)."
)
@click.option("--offset", type=click.IntRange(min=0), default=0, help="Skip this many (long listing).")
@click.option("--limit", type=click.IntRange(1, 500), default=None, help="At most this many (long listing).")
@output
def models_list(
    sort: str | None, desc: bool, status: str | None, name: str | None, offset: int, limit: int | None
) -> Shown:
    """Every registered instance with its current and production versions.

    With --sort, --status, --name, --offset or --limit: every planned instance with its status, key metric,
    last trained and duration, filtered, sorted and paged (the page's models list).
    """
    from tusk.project import Project

    Project.one_shot()
    if sort or desc or status or name or offset or limit:
        found = open_project().model_table(name or "", status, sort or "name", desc, offset, limit or 50)

        def show_page() -> None:
            console().print(
                table(
                    f"{offset + 1}–{offset + len(found.rows)} of {found.matched}",
                    ["model", "status", "cur", "prod", "key metric", "trained", "secs"],
                    [
                        (
                            r.name,
                            r.status,
                            r.version or "",
                            r.production or "",
                            f"{r.metric} {r.value:.4g}" if r.metric and r.value is not None else "",
                            (r.trained or "")[5:16].replace("T", " "),
                            f"{r.seconds:.1f}" if r.seconds is not None else "",
                        )
                        for r in found.rows
                    ],
                )
            )

        return Shown(found, show_page)
    listed = open_project().models()

    def show() -> None:
        console().print(
            table(
                None,
                ["model", "current", "production", "spec"],
                [(m.name, m.version, m.production, m.spec) for m in listed.models],
            )
        )

    return Shown(listed, show)


@models.command("show")
@click.argument("name")
@output
def models_show(name: str) -> Shown:
    """Every version of one model: data and code commits, fingerprint, aliases; the current version's metrics."""
    shown = open_project().model_versions(name)

    def show() -> None:
        out = console()
        current = shown.current
        if current is not None:
            said = ", ".join(f"{escape(k)} {_metric(v)}" for k, v in sorted(current.metrics.items()))
            out.print(f"current v{current.version}: {said or 'no metrics'}")
        out.print(
            table(
                name,
                ["version", "aliases", "data commit", "code commit", "fingerprint", "created"],
                [
                    (
                        v.version,
                        ",".join(v.aliases),
                        short(v.data_commit),
                        short(v.code_commit),
                        short(v.fingerprint, 12),
                        v.created[:16],
                    )
                    for v in shown.versions
                ],
            )
        )

    return Shown(shown, show)


@models.command("promote")
@click.argument("name")
@click.argument("version")
@output
def models_promote(name: str, version: str) -> Shown:
    """Point NAME's production alias at VERSION."""
    promoted = open_project().promote(name, version)
    return Shown(promoted, lambda: console().print(f"{promoted.name}: production → v{promoted.production}"))


@models.command("rollback")
@click.argument("name")
@click.option("--to", "to", metavar="VERSION", help="The version to roll back to (default: the previous production).")
@output
def models_rollback(name: str, to: str | None) -> Shown:
    """Move NAME's production alias back to its previous production version (or --to VERSION).

    Each rollback goes one step further back (after a release rollback too); on the first production version
    there is nothing earlier and nothing moves.

    The model stays rolled back until a change trains a new version; the next `tusk release create`
    ships it.
    """
    rolled = open_project().rollback_model(name, to)

    def show() -> None:
        if not rolled.moved:
            console().print(
                f"{name}: production stays on v{rolled.production}, its first production version: nothing "
                f"earlier to roll back to"
            )
        else:
            console().print(f"{name}: production v{rolled.previous} → v{rolled.production}")

    return Shown(rolled, show)


def _metric(value: float) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
