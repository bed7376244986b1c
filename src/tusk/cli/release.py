"""``tusk release | lineage | reproduce | cost``: what ships, where it came from, and what it cost."""

from __future__ import annotations

import sys
from typing import Any

import click

from tusk.cli._common import console, json_option, open_project, print_json, short, table


@click.group()
def release() -> None:
    """One image holding every production model, tagged with the md5 of its manifest."""


@release.command("create")
@click.option("--no-build", is_flag=True, help="Record the release without building an image.")
@json_option
def release_create(no_build: bool, as_json: bool) -> None:
    """Release every model's production version: manifest → md5/sha256 → image <image>:<md5>.

    An identical manifest returns the existing release (and makes it current) instead of a duplicate.
    A failed image build records nothing.
    """
    outcome = open_project().create_release(build=not no_build)
    if as_json:
        print_json(outcome.to_json())
        return
    out = console()
    for note in outcome.recovered:
        console(stderr=True).print(f"recovered: {note}", markup=False)
    verb = "created" if outcome.created else "existing"
    out.print(f"{verb} release v{outcome.release.version} {outcome.release.md5} ({len(outcome.release.models)} models)")
    out.print(f"image: {outcome.release.image}")
    out.print(outcome.note, style="dim", markup=False)


@release.command("list")
@json_option
def release_list(as_json: bool) -> None:
    """Every release, oldest first; * marks the current one. (The image is tagged with the md5; an md5
    prefix of 4 or more characters names a release in the other commands.)"""
    listed = open_project().release_list()
    if as_json:
        print_json(listed.to_json())
        return
    releases = listed.releases
    out = console()
    images = sorted({r.image.removesuffix(f":{r.md5}") for r in releases})
    if images:
        out.print(f"image: {', '.join(images)}, tagged with each release's md5")
    out.print(
        table(
            None,
            ["current", "release", "md5", "models", "created"],
            [
                (
                    "*" if r.current else "",
                    f"v{r.version}",
                    r.md5,
                    len(r.models),
                    r.to_json()["created"].replace("T", " ")[:16],
                )
                for r in releases
            ],
        )
    )


def _show(release_obj: Any, as_json: bool) -> None:
    if as_json:
        print_json(release_obj.to_json())
        return
    out = console()
    out.print(f"release v{release_obj.version} {release_obj.md5}" + (" (current)" if release_obj.current else ""))
    out.print(f"sha256 {release_obj.sha256}\nimage  {release_obj.image}\ncode   {short(release_obj.code_commit)}")
    out.print(table(None, ["model", "version"], sorted(release_obj.models.items())))


@release.command("show")
@click.argument("ident", metavar="ID")
@json_option
def release_show(ident: str, as_json: bool) -> None:
    """One release by md5, an md5 prefix, or vN."""
    _show(open_project().release(ident), as_json)


@release.command("current")
@click.option(
    "--at",
    "at",
    metavar="TIME",
    help="What was current at this time: ISO 8601 (2026-11-25T14:30, local time unless a zone is "
    "given) or Unix seconds.",
)
@json_option
def release_current(at: str | None, as_json: bool) -> None:
    """The deployed release, or the one deployed at TIME (from the release log)."""
    _show(open_project().current_release(at), as_json)


@release.command("log")
@json_option
def release_log(as_json: bool) -> None:
    """Every release event, newest first: created, rolled_back, rolled_forward, with time, user and code commit.

    The log is append-only (runs in the MLflow experiment tusk-releases). An event a crash left half-done
    shows as pending until the next command finishes it.
    """
    log = open_project().release_log()
    if as_json:
        print_json(log.to_json())
        return
    rows = []
    for event in log.events:
        data = event.to_json()
        what = data["event"] + ("" if event.status == "done" else " (pending)")
        rows.append(
            (
                data["time"][:19].replace("T", " "),
                what,
                f"{data['release']} {event.md5[:8]}",
                data["user"],
                short(data["code_commit"]),
            )
        )
    console().print(
        table(None, ["time", "event", "release", "user", "code"], rows)
        if rows
        else "no release events yet (run 'tusk release create')"
    )


@release.command("diff")
@click.argument("a")
@click.argument("b")
@json_option
def release_diff(a: str, b: str, as_json: bool) -> None:
    """Models added, removed and changed from release A to B, with data/code commits and metric deltas."""
    changes = open_project().release_diff(a, b)
    if as_json:
        print_json(changes.to_json())
        return
    old, new = changes.old, changes.new
    out = console()
    out.print(f"{old.md5} (v{old.version}) → {new.md5} (v{new.version})")
    rows = [(n, "added", f"v{v}", "", "", "") for n, v in sorted(changes.added.items())]
    rows += [(n, "removed", f"v{v} → none", "", "", "") for n, v in sorted(changes.removed.items())]
    rows += [
        (
            c.name,
            "changed",
            f"v{c.old} → v{c.new}" + _needs_changed(c.needs),
            _arrow(*c.data_commit),
            _arrow(*c.code_commit),
            ", ".join(f"{k} {d:+.4g}" for k, d in c.metric_deltas.items()),
        )
        for c in changes.changed
    ]
    out.print(
        table(None, ["model", "change", "version", "data", "code", "metrics"], rows)
        if rows
        else "the two releases hold the same models"
    )


def _needs_changed(needs: dict[str, tuple[str, str]]) -> str:
    """`` (base v3 → v4)``: the versions of needed models an instance was trained on, where they changed."""
    shown = [f"{key} {_version(old)} → {_version(new)}" for key, (old, new) in sorted(needs.items())]
    return f" ({', '.join(shown)})" if shown else ""


def _version(held: str) -> str:
    return f"v{held.rpartition('@')[2]}" if held else "none"


def _arrow(old: str, new: str) -> str:
    return short(new) if old == new else f"{short(old) or 'none'} → {short(new) or 'none'}"


@release.command("rollback")
@click.argument("ident", metavar="[ID]", required=False)
@json_option
def release_rollback(ident: str | None, as_json: bool) -> None:
    """Make release ID current again (default: the one deployed before the current). Nothing is rebuilt.

    \b
    Without ID it goes back one deployment as the release log tells (A, B, rollback to A, then C: a rollback
    goes to A; B, once rolled back from, is not gone back to); twice goes back two.

    Every model's production alias moves to the version the release holds, and models it did not hold lose
    theirs, so `tusk status`, `tusk models list` and the next `tusk release create` agree with it: a
    rolled-back release is not re-shipped until a newer version is promoted. An ID newer than the current
    release rolls forward. Logged in `tusk release log`; if it is cut short, the next command finishes it.
    """
    moved = open_project().rollback_release(ident)
    if as_json:
        print_json(moved.to_json())
        return
    before, after = moved.previous, moved.release
    out = console()
    out.print(f"current release: v{after.version} {after.md5}" + (f" (was {before.md5})" if before else ""))
    out.print(f"production aliases moved to its {len(after.models)} models' versions")
    out.print(f"ship: {after.image}")


@click.command()
@click.argument("target", required=False, metavar="NAME[@VERSION]")
@click.option("--data-commit", "data_commit", metavar="REF", help="Versions trained from this data commit.")
@click.option("--release", "release_id", metavar="ID", help="Every model of this release with its commits.")
@json_option
def lineage(target: str | None, data_commit: str | None, release_id: str | None, as_json: bool) -> None:
    """Where a model version came from, or what a data commit or a release produced.

    \b
      tusk lineage intent-acme@3          data and code commits, inputs, metrics, releases holding it
      tusk lineage --data-commit 1a2b3c4  versions trained from that commit, and their releases
      tusk lineage --release 9f8e7d6      every model of a release with its data and code commits
    """
    if sum(x is not None for x in (target, data_commit, release_id)) != 1:
        raise click.UsageError("give exactly one of NAME[@VERSION], --data-commit REF or --release ID")
    project = open_project()
    if target:
        data, render = project.lineage(target).to_json(), _render_version
    elif data_commit:
        data, render = project.data_lineage(data_commit).to_json(), _render_data
    else:
        data, render = project.release_lineage(release_id or "").to_json(), _render_release
    if as_json:
        print_json(data)
    else:
        render(data)


def _render_version(d: dict[str, Any]) -> None:
    from rich.tree import Tree

    tree = Tree(f"[bold]{d['name']}[/] v{d['version']}  fingerprint {short(d['fingerprint'], 12)}")
    _add_sources(tree, d)
    metrics = tree.add("metrics")
    for key, value in d["metrics"].items():
        metrics.add(f"{key} = {value:.4g}")
    releases = tree.add("releases")
    for md5 in d["releases"] or ["(none)"]:
        releases.add(md5)
    console().print(tree)


def _add_sources(tree: Any, d: dict[str, Any]) -> None:
    """Data commit, inputs, code commit, and the same for each model it needs (an adapter's base)."""
    same = f" (same data as merge commit {short(d['same_data_as'])})" if d.get("same_data_as") else ""
    data = tree.add(f"data commit {short(d['data_commit'])}{same}")
    for table_name, counts in d["data_changes"].items():
        data.add(f"{table_name}: +{counts['added']} ~{counts['modified']} -{counts['removed']} since v{d['previous']}")
    for name, record in d["inputs"].items():
        if name not in d.get("needs", {}):
            data.add(f"input {name}: {record['rows']} rows, digest {short(record['digest'], 12)}")
    tree.add(f"code commit {short(d['code_commit']) or '(none)'}" + (" (dirty)" if d["code_dirty"] else ""))
    for key, needed in d.get("needs", {}).items():
        _add_sources(
            tree.add(
                f"needs {key}: [bold]{needed['name']}[/] v{needed['version']}  "
                f"fingerprint {short(needed['fingerprint'], 12)}"
            ),
            needed,
        )


def _render_data(d: dict[str, Any]) -> None:
    from rich.tree import Tree

    tree = Tree(f"data commit {short(d['data_commit'])}")
    for version in d["versions"]:
        node = tree.add(f"{version['name']} v{version['version']}")
        for md5 in version["releases"]:
            node.add(f"release {md5}")
    console().print(tree)


def _render_release(d: dict[str, Any]) -> None:
    console().print(f"release v{d['version']} {d['md5']}")
    console().print(
        table(
            None,
            ["model", "version", "data commit", "code commit"],
            [(m["name"], m["version"], short(m["data_commit"]), short(m["code_commit"])) for m in d["models"]],
        )
    )


@click.command()
@click.argument("target", metavar="NAME@VERSION")
@json_option
def reproduce(target: str, as_json: bool) -> None:
    """Retrain NAME@VERSION from its recorded data commit and code commit, and compare.

    The code is checked out in a temporary git worktree; the fingerprint must be equal. The reproduction
    is recorded as an MLflow run tagged tusk.reproduces=<original run>; no version is registered.
    """
    result = open_project().reproduce(target)
    if as_json:
        print_json(result.to_json())
    else:
        out = console()
        verdict = "[green]equal[/]" if result.equal else "[red]DIFFERENT[/]"
        out.print(
            f"{result.name} v{result.version}: data {short(result.data_commit)}, code {short(result.code_commit)}"
        )
        out.print(
            f"fingerprint {verdict}: {short(result.fingerprint, 12)} vs recorded "
            f"{short(result.recorded_fingerprint, 12)}"
        )
        out.print("metric deltas: " + (", ".join(f"{k} {v:+.4g}" for k, v in result.metric_deltas.items()) or "none"))
        out.print(f"[dim]recorded as run {result.run_id}[/]")
    if not result.equal:
        sys.exit(1)


@click.command()
@json_option
def cost(as_json: bool) -> None:
    """GPU- and CPU-hours of recorded training, priced self-hosted against cloud (prices in [cost])."""
    project = open_project()
    report = project.cost()
    if as_json:
        print_json(report.to_json())
        return
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


COMMANDS = [release, lineage, reproduce, cost]
