"""Reviews (data pull requests): the list, one review (commits, the three-dot row diff per table, paged and
filtered, the conversation), its blast radius (loaded after the page: the merge-preview plan, rows per model,
time and cost, checks, candidates against production, conflicts), and the actions: merge, approve per model,
comment, close or reopen, edit. Actions carry the heads the page showed; a head that moved refuses them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from tusk.errors import TuskError
from tusk.web.app import PAGE, Web, action, int_arg, page
from tusk.web.pages_data import where_of
from tusk.web.pages_propose import propose_context

if TYPE_CHECKING:
    from tusk.project import Project


def _review_url(branch: str, **extra: str) -> str:
    rest = "".join(f"&{k}={quote(v, safe='')}" for k, v in extra.items())
    return f"/review?branch={quote(branch, safe='')}{rest}"


def home(project: Project, request: Request) -> dict[str, Any]:
    from tusk.errors import ReleaseError

    try:
        current = project.current_release()
    except ReleaseError:  # no release yet
        current = None
    branch = project.config.data.branch
    return {
        "section": "",
        "reviews": [r for r in project.review_rows() if r.status == "open"],
        "current": current,
        "runs": project.background_runs(5),
        "branch": branch,
        "head": project.log(branch, 1).commits[0].hash,
        **propose_context(project, request),
    }


def reviews(project: Project, request: Request) -> dict[str, Any]:
    rows = project.review_rows(gone=True)  # merged and closed reviews stay listed once their branch is deleted
    show = request.query_params.get("status", "open")
    return {
        "section": "reviews",
        "rows": [r for r in rows if show == "all" or r.status == show],
        "show": show,
        "counts": {s: sum(1 for r in rows if r.status == s) for s in ("open", "closed", "merged")},
        **propose_context(project, request),
    }


def review(project: Project, request: Request) -> dict[str, Any]:
    """An open review: its change and (loaded after) what merging it would do. A merged one: who merged it, when,
    the merge commit, what the merge brought and what it retrained; a closed one: who closed it, its change as
    it stood. Neither has a merge button."""
    branch = request.query_params.get("branch", "")
    if not branch:
        raise TuskError("which review? (/review?branch=B)")
    with_landed = request.query_params.get("landed") == "1"
    meta = project.review_meta(branch)
    table, where = request.query_params.get("table") or None, where_of(request)
    offset, limit = int_arg(request, "offset"), int_arg(request, "limit", PAGE, 1, 500)
    ended = project.review_outcome(branch) if meta.status in ("merged", "closed") else None
    exists = branch in {b.name for b in project.data.branches()}
    if ended is not None and ended.meta.status == "merged" and ended.recorded:
        change = project.merged_page(meta.merged_from, meta.merge_commit, table, where, offset, limit)
        with_landed = False
    elif exists:
        change = project.review_page(branch, table, where, offset, limit, with_landed)
    else:
        change = None
    found: dict[str, Any] = {
        "head": None,
        "into_head": None,
        "base": None,
        "commits": [],
        "tables": [],
        "chosen": None,
        "diff": None,
        "landed": 0,
    }
    if change is not None:
        found = {
            "head": change.head,
            "into_head": change.into_head,
            "base": change.base,
            "commits": change.commits,
            "tables": change.tables,
            "chosen": change.chosen,
            "diff": change.diff,
            "landed": change.landed,
        }
    return {
        "section": "reviews",
        "branch": branch,
        "into": project.config.data.branch,
        "meta": meta,
        "ended": ended,
        "exists": exists,
        **found,
        "with_landed": "1" if with_landed else None,
        "url": _review_url(branch, **({"landed": "1"} if with_landed else {})),
    }


def impact(project: Project, request: Request) -> dict[str, Any]:
    """The expensive half of a review: computed on the merge preview, loaded after the page."""
    branch = request.query_params.get("branch", "")
    if not branch:
        raise TuskError("which review? (/review/impact?branch=B)")
    found = project.review_impact(branch)
    return {
        "branch": branch,
        "review": found.review,
        "rows": found.rows,
        "estimate": found.estimate,
        "head": found.head,
        "into_head": found.into_head,
        "verdicts": found.verdicts,
    }


# ----- actions -----------------------------------------------------------------------------------------------
def _branch(form: Mapping[str, str]) -> str:
    branch = form.get("branch", "")
    if not branch:
        raise TuskError("which review?")
    return branch


def merge(project: Project, form: Mapping[str, str], who: str) -> tuple[str, str]:
    branch = _branch(form)
    force = form.get("force") == "yes"
    if force and not (form.get("reason") or "").strip():
        raise TuskError("say why you merge it anyway: the reason goes into the merge commit")
    outcome = project.merge(
        branch,
        message=f"Merge {branch} into {project.config.data.branch} (by {who})",
        force=force,
        reason=form.get("reason") or None,
        expect=(form.get("head") or None, form.get("into_head") or None),
        who=who,
    )
    if outcome.commit is None:
        return f"{branch}: nothing to merge ({outcome.message})", _review_url(branch)
    how = "fast-forward" if outcome.fast_forward else "merge commit"
    return f"merged {branch} into {outcome.into} ({how} {outcome.commit[:7]})", _review_url(branch)


def approve(project: Project, form: Mapping[str, str], who: str) -> tuple[str, str]:
    branch = _branch(form)
    models = [m for m in form.get("model", "").split("\n") if m.strip()]
    if not models:
        raise TuskError("tick the models whose rows to approve")
    result = project.approve(
        branch, models, who, expect_head=form.get("head") or None, expect_into=form.get("into_head") or None
    )
    if result.commit is None:
        return result.message, _review_url(branch)
    return (
        f"approved {branch} for {', '.join(result.models)}: commit {result.commit[:7]} on {result.into}",
        _review_url(branch),
    )


def comment(project: Project, form: Mapping[str, str], who: str) -> tuple[str, str]:
    branch = _branch(form)
    project.edit_review(branch, who, comment=form.get("text", ""))
    return f"comment added to {branch}", _review_url(branch)


def close(project: Project, form: Mapping[str, str], who: str) -> tuple[str, str]:
    branch = _branch(form)
    status = "open" if form.get("reopen") == "yes" else "closed"
    text = form.get("text", "").strip() or ("reopened" if status == "open" else "closed")
    project.edit_review(branch, who, status=status, comment=text, kind="reopen" if status == "open" else "close")
    return f"{branch} {'reopened' if status == 'open' else 'closed'}", _review_url(branch)


def edit(project: Project, form: Mapping[str, str], who: str) -> tuple[str, str]:
    branch = _branch(form)
    project.edit_review(branch, who, title=form.get("title", ""), description=form.get("description", ""))
    return f"{branch}: title and description saved", _review_url(branch)


def routes(web: Web) -> list[BaseRoute]:
    return [
        Route("/", page(web, "home.html", home)),
        Route("/reviews", page(web, "reviews.html", reviews)),
        Route("/review", page(web, "review.html", review)),
        Route("/review/impact", page(web, "impact.html", impact)),
        Route("/review/merge", action(web, "review merge", merge), methods=["POST"]),
        Route("/review/approve", action(web, "review approve", approve), methods=["POST"]),
        Route("/review/comment", action(web, "review comment", comment), methods=["POST"]),
        Route("/review/close", action(web, "review close", close), methods=["POST"]),
        Route("/review/edit", action(web, "review edit", edit), methods=["POST"]),
    ]
