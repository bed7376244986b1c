"""``tusk release create | build | verify | list | show | current | log | diff | rollback``: what ships, hashed."""

from __future__ import annotations

from typing import Any

import click

from tusk.cli._common import Shown, console, delta_markup, escape, open_project, output, short, table


@click.group()
def release() -> None:
    """One image holding every production model, tagged with the md5 of its manifest."""


@release.command("create")
@click.option("--no-build", is_flag=True, help="Record the release without building an image.")
@output
def release_create(no_build: bool) -> Shown:
    """Release every model's production version: manifest → md5/sha256 → image <image>:<md5>.

    An identical manifest returns the existing release (and makes it current) instead of a duplicate.
    A failed image build records nothing.
    """
    outcome = open_project().create_release(build=not no_build)

    def show() -> None:
        out = console()
        for note in outcome.recovered:
            console(stderr=True).print(f"recovered: {note}", markup=False)
        verb = "created" if outcome.created else "existing"
        out.print(
            f"{verb} release v{outcome.release.version} {outcome.release.md5} ({len(outcome.release.models)} models)"
        )
        out.print(f"image: {outcome.release.image}")
        out.print(outcome.note, style="dim", markup=False)

    return Shown(outcome, show)


@release.command("build")
@click.argument("ident", metavar="[ID]", required=False)
@output
def release_build(ident: str | None) -> Shown:
    """Build the image of release ID (default: the current one), e.g. one recorded with --no-build.

    Its build context (.tusk/releases/MD5: Containerfile, /models) is written from the versions it holds; the
    image runs `tusk serve --models /models` on port 8080. With builder "none" only the context is written.
    """
    outcome = open_project().build_release(ident)

    def show() -> None:
        out = console()
        out.print(f"release v{outcome.release.version} {outcome.release.md5}: {outcome.release.image}")
        out.print(outcome.note, style="dim", markup=False)

    return Shown(outcome, show)


@release.command("verify")
@click.argument("ident", metavar="[ID]", required=False)
@output
def release_verify(ident: str | None) -> Shown:
    """Serve release ID (default: the current one) and send every model its logged input example.

    Its image is started where a container runtime can run it (podman, or docker whose daemon answers) and holds
    it; else its build context (written from the versions the release holds) is served by `tusk serve --models`
    in a process of its own, as the image's CMD would. Exit 1 when a model does not answer. The verdict is kept
    in .tusk/releases/MD5/verify.json and in the release log ("verified ok|failed", see `tusk release log`);
    it moves nothing: the current release and a rollback's target stay as they were.
    """
    from tusk.cli._common import EXIT_ERROR

    verdict = open_project().verify_release(ident)

    def show() -> None:
        out = console()
        for name, result in verdict.models.items():
            out.print(f"{name}: {result}", markup=False)
        answered = sum(1 for r in verdict.models.values() if r == "ok")
        out.print(
            f"release {verdict.md5}: {answered}/{len(verdict.models)} models answered ({verdict.seconds:.1f} s), "
            f"verified {'ok' if verdict.ok else 'failed'} ({verdict.verified_by})"
        )
        if verdict.note:
            out.print(f"served the build context: {verdict.note}", style="dim", markup=False)

    return Shown(verdict, show, code=0 if verdict.ok else EXIT_ERROR)


@release.command("list")
@output
def release_list() -> Shown:
    """Every release, oldest first; * marks the current one. (The image is tagged with the md5; an md5
    prefix of 4 or more characters names a release in the other commands.)"""
    listed = open_project().release_list()

    def show() -> None:
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

    return Shown(listed, show)


def _show(release_obj: Any) -> Shown:
    def show() -> None:
        out = console()
        out.print(f"release v{release_obj.version} {release_obj.md5}" + (" (current)" if release_obj.current else ""))
        out.print(f"sha256 {release_obj.sha256}\nimage  {release_obj.image}\ncode   {short(release_obj.code_commit)}")
        verified = release_obj.verified
        out.print(
            f"{verified.describe()}" + (f": {verified.detail}" if verified.verdict != "ok" else "")
            if verified is not None
            else "not verified (tusk release verify)",
            markup=False,
        )
        out.print(table(None, ["model", "version"], sorted(release_obj.models.items())))

    return Shown(release_obj, show)


@release.command("show")
@click.argument("ident", metavar="ID")
@output
def release_show(ident: str) -> Shown:
    """One release by md5, an md5 prefix, or vN."""
    return _show(open_project().release(ident))


@release.command("current")
@click.option(
    "--at",
    "at",
    metavar="TIME",
    help="What was current at this time: ISO 8601 (2026-11-25T14:30, local time unless a zone is "
    "given) or Unix seconds.",
)
@output
def release_current(at: str | None) -> Shown:
    """The deployed release, or the one deployed at TIME (from the release log)."""
    return _show(open_project().current_release(at))


@release.command("log")
@output
def release_log() -> Shown:
    """Every release event, newest first: created, rolled_back, rolled_forward, verified (ok or failed, and by
    what: context, podman or docker), with time, user and code commit; and what each `tusk serve` of this
    machine served when (served at ADDRESS: it began serving that release; stopped: it stopped).

    The log is append-only (runs in the MLflow experiment tusk-releases). An event a crash left half-done
    shows as pending until the next command finishes it.
    """
    log = open_project().release_log()

    def show() -> None:
        dated: list[tuple[float, tuple[str, str, str, str, str]]] = []
        for event in log.events:
            data = event.to_json()
            what = data["event"] + ("" if event.status == "done" else " (pending)")
            if event.event == "verified":
                what = f"verified {event.verdict} ({event.verified_by})"
            when = data["time"][:19].replace("T", " ")
            row = (when, what, f"{data['release']} {event.md5[:8]}", data["user"], short(data["code_commit"]))
            dated.append((event.time_ms / 1000, row))
        for swap in log.served:
            entry = swap.to_json(log.versions.get(swap.md5, ""))
            what = f"served at {entry['url']}" if entry["event"] == "serving" else f"stopped at {entry['url']}"
            when = entry["time"][:19].replace("T", " ")
            dated.append((swap.time, (when, what, f"{entry['release']} {entry['md5'][:8]}".strip(), "", "")))
        rows = [row for _, row in sorted(dated, key=lambda d: d[0], reverse=True)]
        console().print(
            table(None, ["time", "event", "release", "user", "code"], rows)
            if rows
            else "no release events yet (run 'tusk release create')"
        )

    return Shown(log, show)


@release.command("diff")
@click.argument("a")
@click.argument("b")
@output
def release_diff(a: str, b: str) -> Shown:
    """Models added, removed and changed from release A to B, with data/code commits and metric deltas."""
    changes = open_project().release_diff(a, b)

    def show() -> None:
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
                ", ".join(f"{escape(k)} {delta_markup(k, d)}" for k, d in c.metric_deltas.items()),
            )
            for c in changes.changed
        ]
        out.print(
            table(None, ["model", "change", "version", "data", "code", "metrics"], rows)
            if rows
            else "the two releases hold the same models"
        )

    return Shown(changes, show)


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
@output
def release_rollback(ident: str | None) -> Shown:
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

    def show() -> None:
        before, after = moved.previous, moved.release
        out = console()
        out.print(f"current release: v{after.version} {after.md5}" + (f" (was {before.md5})" if before else ""))
        out.print(f"production aliases moved to its {len(after.models)} models' versions")
        out.print(f"ship: {after.image}")

    return Shown(moved, show)
