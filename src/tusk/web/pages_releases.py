"""Releases: the release log, one release, any two diffed (models added, removed, changed, metric deltas), and
rollback after a confirmation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from tusk.errors import TuskError
from tusk.web.app import Web, action, page

if TYPE_CHECKING:
    from tusk.project import Project


def releases(project: Project, request: Request) -> dict[str, Any]:
    found = project.release_list().releases
    current = next((r for r in found if r.current), None)
    return {
        "section": "releases",
        "releases": sorted(found, key=lambda r: int(r.version), reverse=True),
        "events": project.release_log().events,
        "servers": project.serving(),
        "current": current,
    }


def release(project: Project, request: Request) -> dict[str, Any]:
    ident = request.query_params.get("id", "")
    if not ident:
        raise TuskError("which release? (/release?id=ID)")
    return {"section": "releases", "release": project.release(ident)}


def diff(project: Project, request: Request) -> dict[str, Any]:
    first, second = request.query_params.get("a", ""), request.query_params.get("b", "")
    found = sorted(project.release_list().releases, key=lambda r: int(r.version), reverse=True)
    if not first or not second:
        if len(found) < 2:
            raise TuskError("diffing needs two releases")
        first, second = first or found[1].md5, second or found[0].md5
    return {"section": "releases", "diff": project.release_diff(first, second), "releases": found}


def confirm_rollback(project: Project, request: Request) -> dict[str, Any]:
    ident = request.query_params.get("id") or None
    found = sorted(project.release_list().releases, key=lambda r: int(r.version), reverse=True)
    current = next((r for r in found if r.current), None)
    target = (
        project.release(ident)
        if ident
        else next((r for r in found if current is None or int(r.version) < int(current.version)), None)
    )
    if target is None:
        raise TuskError("no earlier release to roll back to")
    return {"section": "releases", "target": target, "current": current}


def rollback(project: Project, form: Mapping[str, str], who: str) -> tuple[str, str]:
    ident = form.get("id") or None
    if form.get("confirm") != "yes":
        raise TuskError("rollback needs its confirmation")
    moved = project.rollback_release(ident)
    before, after = moved.previous, moved.release
    was = f" (was v{before.version} {before.md5[:8]})" if before else ""
    return f"current release: v{after.version} {after.md5[:8]}{was}", "/releases"


def create(project: Project, form: Mapping[str, str], who: str) -> tuple[str, str]:
    outcome = project.create_release(build=form.get("build") == "yes")
    verb = "created" if outcome.created else "already released as"
    return (
        f"{verb} v{outcome.release.version} {outcome.release.md5[:8]} ({len(outcome.release.models)} models)",
        f"/release?id={outcome.release.md5}",
    )


def routes(web: Web) -> list[BaseRoute]:
    return [
        Route("/releases", page(web, "releases.html", releases)),
        Route("/release", page(web, "release.html", release)),
        Route("/releases/diff", page(web, "release_diff.html", diff)),
        Route("/releases/rollback", page(web, "rollback.html", confirm_rollback)),
        Route("/releases/rollback", action(web, "release rollback", rollback), methods=["POST"]),
        Route("/releases/create", action(web, "release create", create), methods=["POST"]),
    ]
