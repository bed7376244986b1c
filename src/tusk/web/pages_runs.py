"""Runs: start one (the same ``Project.run`` as ``tusk run``, in its own process), watch it live (each job's
status, ETA, log tails: the page polls ``/run/status``), cancel it."""

from __future__ import annotations

import time
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


# what each job of a run took last time, and the workers (read once per run: planning it again each second is not
# what a poll should cost): the ETA before the run's own first job has finished
_RECORDED: dict[str, tuple[dict[str, float], int]] = {}


def _eta(project: Project, progress: dict[str, Any]) -> float | None:
    """Seconds left: the run's own (from its finished jobs) once it has one, else what its jobs took last time."""
    if progress["eta"] is not None or progress["status"] not in ("starting", "running") or not progress["jobs"]:
        return progress["eta"]  # type: ignore[no-any-return]
    ident = progress["id"]
    if ident not in _RECORDED:
        if len(_RECORDED) > 50:
            _RECORDED.clear()
        try:
            found = project.estimate([j["name"] for j in progress["jobs"]])
            _RECORDED[ident] = ({m.name: m.seconds for m in found.models if m.seconds is not None}, found.workers)
        except TuskError:  # nothing to estimate from: the run's own first job will tell
            _RECORDED[ident] = ({}, 1)
    recorded, workers = _RECORDED[ident]
    now, left = time.time(), []
    for job in progress["jobs"]:
        if job["status"] in ("waiting", "running", "retrying"):
            if job["name"] not in recorded:
                return None  # a job never trained before: no honest guess
            elapsed = now - job["started"] if job["status"] == "running" and job.get("started") else 0.0
            left.append(max(0.0, recorded[job["name"]] - elapsed))
    if not left:
        return None
    return max(max(left), sum(left) / max(1, workers))


def run(project: Project, request: Request) -> dict[str, Any]:
    ident = request.query_params.get("id", "")
    progress = project.run_progress(ident)
    return {"section": "runs", "run": progress, "eta": _eta(project, progress.to_json())}


def status(project: Project, request: Request) -> dict[str, Any]:
    progress: dict[str, Any] = project.run_progress(request.query_params.get("id", "")).to_json()
    progress["eta"] = _eta(project, progress)
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
