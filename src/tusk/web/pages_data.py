"""Data pages: tables and their rows at any ref (paged, filtered), the commit log with each commit's diff."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from tusk.errors import TuskError
from tusk.web.app import PAGE, Web, int_arg, page


def where_of(request: Request) -> dict[str, str]:
    """The one filter a page takes: ``col`` (checked against the table by the store) and ``val``."""
    column, value = request.query_params.get("col", ""), request.query_params.get("val")
    return {column: value} if column and value is not None else {}


def ref_of(project: Any, request: Request) -> str:
    return request.query_params.get("ref") or project.config.data.branch


def data_home(project: Any, request: Request) -> dict[str, Any]:
    ref = ref_of(project, request)
    store = project.data
    commit = store.resolve(ref)
    tables = [(t, store.rows(t, commit, None, 0, 0)[1]) for t in store.tables(commit)]
    return {"section": "data", "ref": ref, "commit": commit, "tables": tables,
            "branches": [b for b in store.branches() if not b.name.startswith("tusk-")],
            "tags": store.tags(), "log": store.log(commit, 10)}


def table(project: Any, request: Request) -> dict[str, Any]:
    name = request.query_params.get("name", "")
    if not name:
        raise TuskError("which table? (/data/table?name=T)")
    ref = ref_of(project, request)
    result = project.table_page(name, ref, where_of(request), int_arg(request, "offset"),
                                int_arg(request, "limit", PAGE, 1, 500))
    return {"section": "data", "page": result, "ref": ref}


def log(project: Any, request: Request) -> dict[str, Any]:
    ref = ref_of(project, request)
    offset, limit = int_arg(request, "offset"), int_arg(request, "limit", PAGE, 1, 500)
    commits = project.data.log(ref, offset + limit + 1)
    return {"section": "data", "ref": ref, "commits": commits[offset:offset + limit], "offset": offset,
            "limit": limit, "more": len(commits) > offset + limit}


def commit(project: Any, request: Request) -> dict[str, Any]:
    from tusk.browse import parent_of

    ident = request.query_params.get("hash", "")
    if not ident:
        raise TuskError("which commit? (/data/commit?hash=H)")
    store = project.data
    full = store.resolve(ident)
    found = store.log(full, 1)[0]
    parent = request.query_params.get("from") or parent_of(project, full)
    stats = store.diff_stat(parent, full) if parent else {}
    tables = [stats[t] for t in sorted(stats)]
    chosen = request.query_params.get("table") or next((t.table for t in tables if t.total), None)
    diff = None
    if parent and chosen and chosen in stats and not stats[chosen].schema_changed:
        diff = project.diff_page(parent, full, chosen, where_of(request), int_arg(request, "offset"),
                                 int_arg(request, "limit", PAGE, 1, 500))
    return {"section": "data", "commit": found, "parent": parent, "tables": tables, "chosen": chosen,
            "diff": diff}


def routes(web: Web) -> list[BaseRoute]:
    return [Route("/data", page(web, "data.html", data_home)),
            Route("/data/table", page(web, "table.html", table)),
            Route("/data/log", page(web, "log.html", log)),
            Route("/data/commit", page(web, "commit.html", commit))]
