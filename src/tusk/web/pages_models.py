"""Models: every instance (status, versions, key metric, last trained, duration; sorted, filtered, paged) and
one model's page (versions with metrics and tags, lineage, job logs, promote and rollback)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from tusk.errors import TuskError
from tusk.web.app import PAGE, Web, action, int_arg, page

if TYPE_CHECKING:
    from tusk.project import Project


def models(project: Project, request: Request) -> dict[str, Any]:
    q = request.query_params
    table = project.model_table(
        q.get("q", ""),
        q.get("status") or None,
        q.get("sort", "name"),
        q.get("dir") == "desc",
        int_arg(request, "offset"),
        int_arg(request, "limit", PAGE, 1, 500),
    )
    return {"section": "models", "table": table}


def counts(project: Project, request: Request) -> dict[str, Any]:
    found = project.model_counts()
    return {"section": "models", "counts": found.counts, "total": found.total}


def model(project: Project, request: Request) -> dict[str, Any]:
    name = request.query_params.get("name", "")
    if not name:
        raise TuskError("which model? (/model?name=NAME)")
    found = project.model_page(name, request.query_params.get("version") or None)
    return {
        "section": "models",
        "name": name,
        "versions": found.versions,
        "chosen": found.chosen,
        "lineage": found.lineage,
        "log": found.log,
        "current": found.current,
        "production": found.production,
        "failure": found.failure,
    }


def promote(project: Project, form: Mapping[str, str], who: str) -> tuple[str, str]:
    name, version = form.get("name", ""), form.get("version", "").lstrip("v")
    if not name or not version:
        raise TuskError("promote needs a model and a version")
    promoted = project.promote(name, version)
    return f"{name}: production → v{promoted.production}", f"/model?name={_q(name)}"


def rollback(project: Project, form: Mapping[str, str], who: str) -> tuple[str, str]:
    name, to = form.get("name", ""), form.get("to", "").lstrip("v") or None
    if not name:
        raise TuskError("rollback needs a model")
    moved = project.rollback_model(name, to)  # as tusk models rollback does
    if not moved.moved:
        return (
            f"{name}: production stays on v{moved.production} (nothing earlier to roll back to)",
            f"/model?name={_q(name)}",
        )
    return f"{name}: production v{moved.previous} → v{moved.production}", f"/model?name={_q(name)}"


def _q(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def routes(web: Web) -> list[BaseRoute]:
    return [
        Route("/models", page(web, "models.html", models)),
        Route("/models/counts", page(web, "model_counts.html", counts)),
        Route("/model", page(web, "model.html", model)),
        Route("/model/promote", action(web, "models promote", promote), methods=["POST"]),
        Route("/model/rollback", action(web, "models rollback", rollback), methods=["POST"]),
    ]
