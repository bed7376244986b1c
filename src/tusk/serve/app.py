"""The HTTP face of a server (Starlette, run by uvicorn): MLflow's scoring protocol per model, the served release,
health; and the thread that follows the current release.

- ``POST /models/{name}/invocations``: ``dataframe_split``, ``dataframe_records``, ``inputs`` or ``instances``
  (MLflow's own parser) → ``{"predictions": [...]}``, headers ``X-Tusk-Model-Version`` and ``X-Tusk-Release``;
- ``GET /models`` → ``{"release": md5, "version": "vN", "models": {name: version}, "loaded": [...]}``;
- ``GET /health`` → 200 once a release is read and every model's files are present with a readable ``MLmodel``
  (fetched, not loaded; with ``preload``, loaded), else 503; ``"status": "degraded"`` with each model that is not
  (its name and why) when some are not.

Errors are JSON ``{"error": ..., "status": ...}``: 404 an unknown model (or a name that is not one), 400 a payload
that is not JSON or does not fit the model, 413 a body over the limit, 503 a model that failed to load (its reason).
A request reads the served release once, when it starts: a swap never changes what a request in flight uses.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tusk.serve.pool import LoadFailed, ModelPool
from tusk.serve.source import Served, Source

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
MAX_BODY = 64 * 1024 * 1024


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status)


class Server:
    """What an app serves: the source's release (read again every ``poll`` seconds when it ``follows``), the pool."""

    def __init__(self, source: Source, pool: ModelPool, preload: bool = False, poll: float = 1.0) -> None:
        self.source = source
        self.pool = pool
        self.preload = preload
        self.poll = poll
        self.served: Served | None = None
        self.problem = ""  # why no release is served yet (read failed)
        self.ready = False
        self.unready: dict[str, str] = {}  # model → why its files are not there (the served release's, lazy mode)
        self.swaps: list[tuple[float, str]] = []  # (time, md5): what was served when
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_swap: Callable[[Served | None, Served], None] | None = None

    # ----- the release ------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Read the source; a new release becomes the served one (loaded first when ``preload``). → swapped"""
        try:
            new = self.source.current()
        except Exception as exc:  # noqa: BLE001  # tracker briefly unreadable: keep serving
            self.problem = f"{type(exc).__name__}: {exc}"
            return False
        old = self.served
        if old is not None and old.md5 == new.md5 and old.models == new.models:
            self.ready = True
            return False
        unready: dict[str, str] = {}
        if self.preload:
            for key in sorted(new.models.items()):
                try:
                    self.pool.get(key, new.needs.get(key[0]))
                except LoadFailed:
                    pass  # its requests answer with the reason
        else:
            unready = self.check(new)
        self.served, self.unready = new, unready
        self.problem = ""
        self.swaps.append((time.time(), new.md5))
        self.pool.keep_only(set(new.models.items()) | {need for held in new.needs.values() for need in held.values()})
        self.ready = True
        if self.on_swap is not None:
            self.on_swap(old, new)
        return True

    def check(self, served: Served) -> dict[str, str]:
        """Every model's files fetched and its ``MLmodel`` read (MLflow's, without loading the model) → the models
        that are not ready and why. What ``/health`` says of a lazy server: each model can be loaded."""
        from mlflow.models import Model

        problems: dict[str, str] = {}
        for name, version in sorted(served.models.items()):
            try:
                Model.load(str(self.source.files(name, version) / "MLmodel"))
            except Exception as exc:  # noqa: BLE001  # any reason its files are not there: /health names it
                problems[name] = f"{name} v{version}: its files are not ready: {type(exc).__name__}: {exc}"
        return problems

    def start(self) -> None:
        self.refresh()
        if self.source.follows and self._thread is None:
            self._thread = threading.Thread(target=self._follow, name="tusk-serve-follow", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _follow(self) -> None:
        while not self._stop.wait(self.poll):
            self.refresh()

    # ----- a prediction -----------------------------------------------------------------------
    def predict(self, served: Served, name: str, body: bytes, content_type: str) -> tuple[int, str]:
        """→ (status, JSON text): MLflow's ``invocations`` on the model (its parser, its JSON of the predictions)."""
        version = served.models[name]
        try:
            model = self.pool.get((name, version), served.needs.get(name))
        except LoadFailed as exc:
            return 503, json.dumps({"error": str(exc), "status": 503})
        return score(model, body, content_type)


def score(model: Any, body: bytes, content_type: str = "application/json") -> tuple[int, str]:
    """A loaded pyfunc model on a request body → (status, JSON text): MLflow's own scoring parser (``invocations``:
    ``dataframe_split``, ``dataframe_records``, ``inputs``, ``instances``, CSV) and its JSON of the predictions; a
    payload that does not fit is a 400 with MLflow's message. What ``tusk serve`` and the page's "try it" both call."""
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc.scoring_server import invocations

    try:
        schema = model.metadata.get_input_schema()
        answer = invocations(body, content_type or "application/json", model, schema)  # type: ignore[no-untyped-call]
    except MlflowException as exc:
        status = int(exc.get_http_status_code())  # type: ignore[no-untyped-call]
        status = 400 if status < 500 else status
        return status, json.dumps({"error": exc.message, "status": status})
    except Exception as exc:  # noqa: BLE001  # the model's own code failed on this input
        return 400, json.dumps({"error": f"{type(exc).__name__}: {exc}", "status": 400})
    text = answer.response if isinstance(answer.response, str) else "".join(answer.response)
    if answer.status != 200:
        return answer.status, json.dumps({"error": text, "status": answer.status})
    return 200, text


def app(server: Server, max_body: int = MAX_BODY) -> Starlette:
    async def invocations(request: Request) -> Response:
        name = request.path_params["name"]
        served = server.served  # read once: a swap now does not change this request
        if served is None:
            return error(503, f"no release served yet: {server.problem or 'starting'}")
        if not NAME.match(name) or ".." in name:
            return error(404, f"{name!r} is not a model name")
        if name not in served.models:
            return error(404, f"no model {name!r} in release {served.md5} (GET /models lists them)")
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_body:
            return error(413, f"body of {int(length)} bytes is over the limit of {max_body}")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body:
                return error(413, f"body over the limit of {max_body} bytes")
        status, text = await asyncio.to_thread(
            server.predict, served, name, body, request.headers.get("content-type", "application/json")
        )
        headers = {"X-Tusk-Model-Version": served.models[name], "X-Tusk-Release": served.md5}
        return Response(text, status_code=status, media_type="application/json", headers=headers)

    async def models(request: Request) -> Response:
        served = server.served
        if served is None:
            return error(503, f"no release served yet: {server.problem or 'starting'}")
        held = {name for name, _ in server.pool.held()}
        return JSONResponse(
            {
                "release": served.md5,
                "version": f"v{served.version}" if served.version else "",
                "source": server.source.describe(),
                "models": served.models,
                "loaded": sorted(held & set(served.models)),
            }
        )

    async def health(request: Request) -> Response:
        served = server.served
        if served is None or not server.ready:
            return error(503, f"not ready: {server.problem or 'starting'}")
        unready = server.unready if served is server.served else {}
        failed = {n: r for n, v in served.models.items() if (r := server.pool.failure((n, v))) is not None}
        failed = {**unready, **failed}
        body: dict[str, Any] = {"status": "ok", "release": served.md5, "models": len(served.models)}
        if failed:
            body.update(status="degraded", failed=failed)
        return JSONResponse(body, status_code=200)

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
        return error(status, f"{request.method} {request.url.path}: {detail}")

    routes = [
        Route("/models/{name}/invocations", invocations, methods=["POST"]),
        Route("/models", models, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: not_found, 404: not_found, 405: not_found})


def run(
    server: Server,
    host: str,
    port: int,
    on_ready: Callable[[str], None] | None = None,
    max_body: int = MAX_BODY,
) -> None:
    """Serve until interrupted (uvicorn): the release read (and loaded, ``preload``) before the port opens."""
    import uvicorn

    server.start()
    config = uvicorn.Config(app(server, max_body), host=host, port=port, log_level="warning", lifespan="off")
    web = uvicorn.Server(config)
    if on_ready is not None:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        on_ready(f"http://{shown}:{port}/")
    _stop_on_sigterm()
    try:
        web.run()
    finally:
        server.stop()


def _stop_on_sigterm() -> None:
    """SIGTERM (docker stop, a supervisor) ends the server as Ctrl-C does: uvicorn finishes the requests in flight,
    then raises the signal again under the handler it found; this one makes it a clean exit, so that the
    server's registration is removed and its stop logged, instead of a default handler killing the process."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
