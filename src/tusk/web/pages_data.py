"""Data pages: tables and their rows at any ref (paged, filtered), the commit log with each commit's diff."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from tusk.errors import TuskError
from tusk.web.app import PAGE, Web, int_arg, page
from tusk.web.pages_propose import propose_context

if TYPE_CHECKING:
    from tusk.project import Project


def where_of(request: Request) -> dict[str, str]:
    """The one filter a page takes: ``col`` (checked against the table by the store) and ``val``."""
    column, value = request.query_params.get("col", ""), request.query_params.get("val")
    return {column: value} if column and value is not None else {}


def ref_of(project: Project, request: Request) -> str:
    return request.query_params.get("ref") or project.config.data.branch


def data_home(project: Project, request: Request) -> dict[str, Any]:
    found = project.data_overview(ref_of(project, request))
    return {
        "section": "data",
        "ref": found.ref,
        "commit": found.commit,
        "tables": found.tables,
        "branches": found.branches,
        "tags": found.tags,
        "log": found.log,
        **propose_context(project, request),
    }


def table(project: Project, request: Request) -> dict[str, Any]:
    name = request.query_params.get("name", "")
    if not name:
        raise TuskError("which table? (/data/table?name=T)")
    ref = ref_of(project, request)
    result = project.table_page(
        name, ref, where_of(request), int_arg(request, "offset"), int_arg(request, "limit", PAGE, 1, 500)
    )
    return {"section": "data", "page": result, "ref": ref, "data_branch": project.config.data.branch}


def log(project: Project, request: Request) -> dict[str, Any]:
    ref = ref_of(project, request)
    offset, limit = int_arg(request, "offset"), int_arg(request, "limit", PAGE, 1, 500)
    commits = project.log(ref, offset + limit + 1).commits
    return {
        "section": "data",
        "ref": ref,
        "commits": commits[offset : offset + limit],
        "offset": offset,
        "limit": limit,
        "more": len(commits) > offset + limit,
    }


def commit(project: Project, request: Request) -> dict[str, Any]:
    ident = request.query_params.get("hash", "")
    if not ident:
        raise TuskError("which commit? (/data/commit?hash=H)")
    change = project.commit_page(
        ident,
        request.query_params.get("from") or None,
        request.query_params.get("table") or None,
        where_of(request),
        int_arg(request, "offset"),
        int_arg(request, "limit", PAGE, 1, 500),
    )
    return {
        "section": "data",
        "commit": change.commits[0],
        "parent": change.base,
        "tables": change.tables,
        "chosen": change.chosen,
        "diff": change.diff,
    }


def routes(web: Web) -> list[BaseRoute]:
    return [
        Route("/data", page(web, "data.html", data_home)),
        Route("/data/table", page(web, "table.html", table)),
        Route("/data/log", page(web, "log.html", log)),
        Route("/data/commit", page(web, "commit.html", commit)),
    ]
