"""The page's application: Starlette routes over ``Project``, Jinja2 templates with autoescape, the security
rules of ``security.py`` applied to every request. No logic of its own beyond rendering: each page opens the
project, calls the same ``Project`` methods as the CLI, and renders what they return.
"""

from __future__ import annotations

import json
import math
import re
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from tusk.errors import LockHeld, RefNotFound, TuskError
from tusk.web.security import SESSION_COOKIE, SESSION_SECONDS, Gate, Session

if TYPE_CHECKING:
    from tusk.project import Project

HERE = Path(__file__).parent
CELL_MAX = 200  # characters of a cell shown in a table; the rest is counted, not sent
PAGE = 50


@dataclass
class Web:
    """What every handler shares: the project's tusk.toml, the gate, the templates, the action log."""

    config_path: Path
    gate: Gate
    env: Environment

    def project(self) -> Project:
        from tusk.project import Project

        return Project.open(self.config_path)

    def log_action(self, who: str, action: str, detail: Mapping[str, Any], outcome: str) -> None:
        """One JSON line per action: who did what, and what came of it (stderr and .tusk/ui-actions.log)."""
        line = json.dumps(
            {
                "time": datetime.now(UTC).isoformat(timespec="seconds"),
                "who": who,
                "action": action,
                **detail,
                "outcome": outcome,
            },
            default=str,
        )
        print(f"tusk ui: {line}", file=sys.stderr, flush=True)
        path = self.config_path.parent / ".tusk" / "ui-actions.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")


# ----- rendering helpers (filters) -----------------------------------------------------------------------
def cell(value: Any, limit: int = CELL_MAX) -> Markup:
    """A data value as safe HTML: NULL, bytes as hex, long text cut (with its length), all escaped."""
    if value is None:
        return Markup('<span class="null">NULL</span>')
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        return (
            Markup('<span class="binary">')
            + escape(f"<{len(data)} bytes: {data[:16].hex()}{'…' if len(data) > 16 else ''}>")
            + Markup("</span>")
        )
    text = str(value)
    if len(text) > limit:
        return escape(text[:limit]) + Markup(f'<span class="cut">… ({len(text):,} characters)</span>')
    return escape(text)


def short(commit: Any, length: int = 7) -> str:
    return str(commit or "")[:length]


def when(value: Any) -> Markup:
    """Seconds, milliseconds or ISO text → ``2026-01-02 10:11:12``, its date and its time each kept on one line."""
    if value in (None, ""):
        return Markup("")
    try:
        number = float(value)
        if number > 1e11:
            number /= 1000
        text = datetime.fromtimestamp(number, UTC).strftime("%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError):
        text = str(value).replace("T", " ")[:19]
    return Markup(" ").join(Markup('<span class="when">%s</span>') % part for part in text.split(" "))


def duration(seconds: Any) -> str:
    if seconds is None:
        return ""
    value = float(seconds)
    if value < 60:
        return f"{value:.1f} s"
    if value < 3600:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def number(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def delta(change: Any, name: str, *values: Any) -> Markup:
    """A metric's change to the metrics' digits (``−0.067``, ``±0``), marked ``worse`` (red) or ``better``."""
    from tusk.project import Project

    if not isinstance(change, (int, float)):
        return Markup("")
    text, quality = Project.metric_delta(
        name, float(change), *(float(v) for v in values if isinstance(v, (int, float)))
    )
    said = {"worse": "worse", "better": "better"}.get(quality, "")
    title = f' title="{said}"' if said else ""
    return Markup(f'<span class="delta {quality}"{title}>{escape(text)}</span>')


# what the CLI's messages say in flags, as the page says it (the page has buttons and fields, not options)
PAGE_WORDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"\s*\((?:run )?tusk run --at \S+ --candidates\)"),
        " (the review's train candidates button trains one)",
    ),
    (re.compile(r"\s*\(tusk review show [^;()]*; --force --reason TEXT merges anyway\)"), ""),
    (re.compile(r"--force needs --reason TEXT"), "merging anyway needs a reason"),
    (re.compile(r"\s*\(tusk review list shows the reviews\)"), ""),
    (re.compile(r"\s*\(tusk review show \S+ lists them\)"), ""),
    (re.compile(r"the merge message and --reason are"), "the merge message and the reason are"),
    # the import's (a file proposed from the page): the upload's "how to read a text file" choices
    (re.compile(r"give (?:the file's encoding|it) with --encoding"), "choose the file's “encoding” in the form"),
    (re.compile(r"another with --delimiter"), "choose another in “separated by”"),
    (re.compile(r"--sheet picks a sheet of an XLSX workbook"), "a sheet is chosen only in an Excel workbook"),
    (re.compile(r"--delimiter is for"), "“separated by” is for"),
    (re.compile(r"--encoding is for"), "“encoding” is for"),
)


def page_words(text: Any) -> str:
    """A message of the use cases in the page's words: the CLI's flags and commands left out or said as the page
    says them (the CLI keeps its own wording)."""
    said = str(text)
    for pattern, words in PAGE_WORDS:
        said = pattern.sub(words, said)
    return said


def make_env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        cell=cell, short=short, when=when, duration=duration, number=number, page_words=page_words, delta=delta
    )
    env.globals["qs"] = lambda **kw: urlencode({k: v for k, v in kw.items() if v not in (None, "")})
    return env


# ----- request helpers ------------------------------------------------------------------------------------
def session_of(request: Request) -> Session:
    found: Session = request.state.session
    return found


def render(web: Web, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    session = session_of(request)
    html = web.env.get_template(template).render(
        request=request, who=session.who, csrf=session.csrf, login=web.gate.needs_login, **context
    )
    return HTMLResponse(html, status_code=status)


def error_page(web: Web, request: Request, error: TuskError) -> HTMLResponse:
    """The error in a page of its own that leads back to where the person was: the page the form was on (a POST),
    or the section of the page asked for (a GET)."""
    return render(
        web, request, "error.html", status=error_status(error), message=page_words(error), back=back_to(request)
    )


def error_status(error: TuskError) -> int:
    return 404 if isinstance(error, RefNotFound) else 409 if isinstance(error, LockHeld) else 400


SECTIONS = {"review": "/reviews", "model": "/models", "run": "/runs", "release": "/releases", "data": "/data"}


def back_to(request: Request) -> str:
    """Where the person came from on this site (the Referer, when it is another page here), else the list of the
    section asked for (``/review?branch=B`` → ``/reviews``), else home."""
    referer = urlsplit(request.headers.get("referer") or "")
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if referer.netloc == request.headers.get("host") and referer.path.startswith("/"):
        came = _local_path(referer.path + (f"?{referer.query}" if referer.query else ""))
        if came != here:
            return came
    section = SECTIONS.get(request.url.path.strip("/").split("/")[0].rstrip("s"), "/")
    return section if section != request.url.path else "/"


def page(web: Web, template: str, work: Callable[..., Mapping[str, Any]]) -> Callable[[Request], Awaitable[Response]]:
    """A GET page: ``work(project, request)`` (in a thread, the project open for it) → the template's context.
    GETs change nothing: ``work`` only reads."""

    async def endpoint(request: Request) -> Response:
        def run() -> Mapping[str, Any]:
            with web.project() as project:
                return work(project, request)

        try:
            context = await run_in_threadpool(run)
        except TuskError as exc:
            return error_page(web, request, exc)
        if isinstance(context, Response):
            return context
        return render(web, request, template, **context)

    return endpoint


def fragment(web: Web, work: Callable[..., Any]) -> Callable[[Request], Awaitable[Response]]:
    """A GET that answers JSON (the live parts of a page: run progress)."""

    async def endpoint(request: Request) -> Response:
        def run() -> Any:
            with web.project() as project:
                return work(project, request)

        try:
            return JSONResponse(await run_in_threadpool(run))
        except TuskError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    return endpoint


ActionWork = Callable[["Project", Mapping[str, str], str], tuple[str, str]]


def action(web: Web, name: str, work: ActionWork) -> Callable[[Request], Awaitable[Response]]:
    """A POST: checks the CSRF token, calls ``work(project, form, who)`` → (what happened, where to go next),
    logs who did it and what came of it, and redirects (303) to the next page with the message."""

    async def endpoint(request: Request) -> Response:
        session = session_of(request)
        form = await request.form()
        fields = {k: "\n".join(str(v) for v in form.getlist(k) if isinstance(v, str)) for k in form}
        if not Gate.csrf_ok(session, fields.get("csrf")):
            return PlainTextResponse("refused: this form has no valid CSRF token (reload the page)", status_code=403)
        detail = {k: v[:200] for k, v in fields.items() if k != "csrf"}

        def run() -> tuple[str, str]:
            with web.project() as project:
                return work(project, fields, session.who)

        try:
            message, target = await run_in_threadpool(run)
        except TuskError as exc:
            web.log_action(session.who, name, detail, f"refused: {exc}")
            return error_page(web, request, exc)
        web.log_action(session.who, name, detail, message)
        joiner = "&" if "?" in target else "?"
        return RedirectResponse(f"{target}{joiner}{urlencode({'done': message[:300]})}", status_code=303)

    return endpoint


def int_arg(request: Request, name: str, default: int = 0, low: int = 0, high: int = 10**9) -> int:
    raw = request.query_params.get(name)
    try:
        value = int(raw) if raw not in (None, "") else default
    except ValueError:
        raise TuskError(f"{name} must be a whole number, not {raw!r}") from None
    return max(low, min(high, value))


# ----- security middleware --------------------------------------------------------------------------------
class Guard(BaseHTTPMiddleware):
    """Host check, session (log in with a token, or the local user), security headers on every answer."""

    def __init__(self, app: Any, gate: Gate) -> None:
        super().__init__(app)
        self.gate = gate

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        host = request.headers.get("host")
        if not host:  # HTTP/1.0 may leave it out: a page that cannot tell which name it was opened by answers nothing
            return _headers(PlainTextResponse("refused: a request without a Host header", status_code=400))
        if not self.gate.host_allowed(host):
            return _headers(
                PlainTextResponse(
                    "refused: unknown Host header (tusk ui --allowed-host NAME serves another name)", status_code=421
                )
            )
        path = request.url.path
        origin = request.headers.get("origin")
        if request.method == "POST" and origin and urlsplit(origin).netloc != request.headers.get("host"):
            return _headers(PlainTextResponse("refused: a form posted from another site", status_code=403))
        sid = request.cookies.get(SESSION_COOKIE)
        session = self.gate.session(sid)
        new_sid = None
        if session is None and not self.gate.needs_login:
            new_sid, session = self.gate.local()
        public = path.startswith("/static/") or path in ("/login", "/favicon.ico")
        if session is None and not public:
            if request.method == "GET":
                asked = f"{path}?{request.url.query}" if request.url.query else path  # back to the page asked for
                return _headers(RedirectResponse(f"/login?{urlencode({'next': asked})}", status_code=303))
            return _headers(PlainTextResponse("refused: log in first", status_code=403))
        request.state.session = session or Session("nobody")
        started = time.perf_counter()
        response = await call_next(request)
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        if new_sid:
            set_session_cookie(response, new_sid)
        return _headers(response)


def set_session_cookie(response: Response, sid: str) -> None:
    response.set_cookie(SESSION_COOKIE, sid, max_age=SESSION_SECONDS, httponly=True, samesite="strict", path="/")


def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        "img-src 'self' data:; frame-ancestors 'none'; "
        "form-action 'self'; base-uri 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


# ----- login ------------------------------------------------------------------------------------------------
def login_routes(web: Web) -> list[BaseRoute]:
    async def login_form(request: Request) -> Response:
        request.state.session = request.state.session if hasattr(request.state, "session") else Session("nobody")
        html = web.env.get_template("login.html").render(
            request=request,
            who=None,
            csrf="",
            login=True,
            next=_local_path(request.query_params.get("next")),
            failed=False,
        )
        return HTMLResponse(html)

    async def login(request: Request) -> Response:
        form = await request.form()
        token, target = str(form.get("token") or ""), _local_path(str(form.get("next") or "/"))
        peer = str((request.scope.get("client") or ("?",))[0])  # the remote address (host, port)
        wait = web.gate.login_wait(peer) if web.gate.needs_login else 0.0
        if wait > 0:  # too many wrong tokens from this address: the token is not even looked at
            web.log_action("?", "login", {"from": peer}, "throttled")
            return PlainTextResponse(
                f"refused: too many wrong tokens from {peer}; try again in {math.ceil(wait)} s",
                status_code=429,
                headers={"Retry-After": str(math.ceil(wait))},
            )
        found = web.gate.login(token, peer) if web.gate.needs_login else web.gate.local()
        if found is None:
            web.log_action("?", "login", {"from": peer}, "refused")
            html = web.env.get_template("login.html").render(
                request=request, who=None, csrf="", login=True, next=target, failed=True
            )
            return HTMLResponse(html, status_code=403)
        sid, session = found
        web.log_action(session.who, "login", {}, "ok")
        response = RedirectResponse(target, status_code=303)
        set_session_cookie(response, sid)
        return response

    async def logout(request: Request) -> Response:
        session = session_of(request)
        form = await request.form()
        if not Gate.csrf_ok(session, str(form.get("csrf") or "")):
            return PlainTextResponse("refused: this form has no valid CSRF token", status_code=403)
        web.gate.logout(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def favicon(request: Request) -> Response:
        return Response(status_code=204)

    return [
        Route("/favicon.ico", favicon),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]


def _local_path(target: str | None) -> str:
    """Only a path on this site is a place to go after logging in (never another host)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
