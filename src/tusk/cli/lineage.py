"""``tusk lineage``: where a model version, a data commit or a release came from."""

from __future__ import annotations

from typing import Any

import click

from tusk.cli._common import Shown, console, open_project, output, short, table


@click.command()
@click.argument("target", required=False, metavar="NAME[@VERSION]")
@click.option("--data-commit", "data_commit", metavar="REF", help="Versions trained from this data commit.")
@click.option("--release", "release_id", metavar="ID", help="Every model of this release with its commits.")
@output
def lineage(target: str | None, data_commit: str | None, release_id: str | None) -> Shown:
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
    return Shown(data, lambda: render(data))


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
