"""Models: every instance (status, versions, key metric, last trained, duration; sorted, filtered, paged) and
one model's page (versions with metrics and tags, lineage, job logs, promote and rollback, and "try it": its
served version's logged input example, editable, posted to the page and scored as ``tusk serve`` scores it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from tusk.errors import TuskError
from tusk.web.app import PAGE, Web, action, error_page, int_arg, page, page_words, render, session_of
from tusk.web.security import Gate

TRY_MAX = 1024 * 1024  # characters of a "try it" payload

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
        "trial": _example(project, name),
        "try_error": "",
        "section": "models",
        "name": name,
        "versions": found.versions,
        "chosen": found.chosen,
        "lineage": found.lineage,
        "log": found.log,
        "current": found.current,
        "production": found.production,
        "failure": found.failure,
        "failure_tail": found.failure_tail,
    }


def _example(project: Project, name: str) -> Any:
    """The "try it" form's start; a version whose files cannot be fetched says why instead of failing the page."""
    try:
        return project.try_example(name)
    except TuskError as exc:
        return {"why": str(exc), "version": "", "example": "", "payload": "", "predictions": None}


def try_it(web: Web) -> Any:
    """POST /model?name=NAME: the form's payload scored by the model's served version; the page again with the
    predictions (200), or with the reason in the page's words and the payload kept (400)."""

    async def endpoint(request: Request) -> Response:
        session = session_of(request)
        form = await request.form(max_fields=10)
        if not Gate.csrf_ok(session, str(form.get("csrf") or "")):
            return PlainTextResponse("refused: this form has no valid CSRF token (reload the page)", status_code=403)
        payload = str(form.get("payload") or "")

        def run() -> tuple[dict[str, Any], int]:
            with web.project() as project:
                context = model(project, request)
                name = context["name"]
                if len(payload) > TRY_MAX:
                    raise TuskError(f"the payload is longer than the page takes ({TRY_MAX // 1024} KB)")
                try:
                    context["trial"] = project.try_model(name, payload)
                    return context, 200
                except TuskError as exc:
                    trial = context["trial"]
                    if isinstance(trial, dict):
                        trial["payload"] = payload
                    else:
                        trial.payload = payload
                    context["try_error"] = page_words(exc)
                    return context, 400

        try:
            context, status = await run_in_threadpool(run)
        except TuskError as exc:
            return error_page(web, request, exc)
        return render(web, request, "model.html", status=status, **context)

    return endpoint


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
        Route("/model", try_it(web), methods=["POST"]),
        Route("/model/promote", action(web, "models promote", promote), methods=["POST"]),
        Route("/model/rollback", action(web, "models rollback", rollback), methods=["POST"]),
    ]
