"""Runs: start one (the same ``Project.run`` as ``tusk run``, in its own process), watch it live (each job's
status, ETA, log tails: the page polls ``/run/status``), cancel it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from tusk.errors import TuskError
from tusk.web.app import Web, action, fragment, page

if TYPE_CHECKING:
    from tusk.project import Project


def runs(project: Project, request: Request) -> dict[str, Any]:
    found = project.background_runs()
    return {
        "section": "runs",
        "runs": found,
        "live": next((r for r in found if r.live), None),
        "branches": [b.name for b in project.branches().branches if not b.name.startswith("tusk-")],
    }


def run(project: Project, request: Request) -> dict[str, Any]:
    ident = request.query_params.get("id", "")
    return {"section": "runs", "run": project.run_progress(ident)}


def status(project: Project, request: Request) -> dict[str, Any]:
    progress: dict[str, Any] = project.run_progress(request.query_params.get("id", "")).to_json()
    return progress


def start(project: Project, form: Mapping[str, str], who: str) -> tuple[str, str]:
    at, only = form.get("at") or None, form.get("only") or None
    candidates = form.get("candidates") == "yes"
    if candidates and not at:
        raise TuskError("candidates are trained for a review: start them from the review's page")
    started = project.start_run(who, at=at, only=only, candidates=candidates)
    what = f"candidates for {at}" if candidates else f"run {started.id}"
    return f"{what} started", f"/run?id={quote(started.id)}"


def cancel(project: Project, form: Mapping[str, str], who: str) -> tuple[str, str]:
    ident = form.get("id", "")
    if not ident:
        raise TuskError("which run?")
    project.cancel_run(ident)
    return f"run {ident}: cancelling (running jobs stop, finished ones stay recorded)", f"/run?id={quote(ident)}"


def routes(web: Web) -> list[BaseRoute]:
    return [
        Route("/runs", page(web, "runs.html", runs)),
        Route("/run", page(web, "run.html", run)),
        Route("/run/status", fragment(web, status)),
        Route("/runs/start", action(web, "run start", start), methods=["POST"]),
        Route("/run/cancel", action(web, "run cancel", cancel), methods=["POST"]),
    ]
