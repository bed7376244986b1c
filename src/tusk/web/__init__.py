"""``tusk ui``: the page where analysts, reviewers and release owners work — reviews with their blast radius,
models, runs, releases and data — served over the same ``Project`` facade as the CLI.

Starlette + Jinja2 (autoescape) + uvicorn, server-rendered, one small script shipped in ``static/`` (nothing
from a CDN). Imported only by ``tusk ui`` (extra ``ui``): no other command imports Starlette.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tusk.errors import BackendMissing, TuskError

__all__ = ["create", "serve"]


ALLOWED_HOSTS_ENV = "TUSK_UI_ALLOWED_HOSTS"


def create(
    config_path: Path,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    allowed_hosts: Sequence[str] = (),
) -> Any:
    """The ASGI app for the project whose tusk.toml is ``config_path`` (tests serve it with uvicorn).
    ``allowed_hosts``: more names the page answers to (default: $TUSK_UI_ALLOWED_HOSTS, comma-separated)."""
    try:
        from tusk.web.site import create_app
    except ModuleNotFoundError as exc:
        raise BackendMissing(
            f"tusk ui needs the 'ui' extra ({exc.name} is missing): pip install 'tusk-mlops[ui]'"
        ) from exc
    _require_form_parser()
    from tusk.web.security import Gate, check_binding, parse_tokens

    tokens = parse_tokens(token if token is not None else os.environ.get("TUSK_UI_TOKEN"))
    check_binding(host, tokens)
    if not allowed_hosts:
        allowed_hosts = [name for name in os.environ.get(ALLOWED_HOSTS_ENV, "").split(",") if name.strip()]
    return create_app(config_path, Gate(tokens, _user(), host, port, allowed_hosts))


def _require_form_parser() -> None:
    """Starlette parses forms with python-multipart and fails each POST without it (a 500 on every button):
    refuse to start instead."""
    import importlib

    for name in ("python_multipart", "multipart"):  # the module's name since 0.0.13, and before
        try:
            importlib.import_module(name)
            return
        except ImportError:
            continue
    raise BackendMissing("tusk ui needs python-multipart to read its forms: pip install python-multipart")


def serve(
    config_path: Path,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    on_ready: Callable[[str], None] | None = None,
    allowed_hosts: Sequence[str] = (),
) -> None:
    """Serve the page until interrupted; ``on_ready(url)`` is called once it listens."""
    app = create(config_path, host, port, token, allowed_hosts)
    try:
        import uvicorn
    except ModuleNotFoundError as exc:
        raise BackendMissing("tusk ui needs the 'ui' extra (uvicorn is missing): pip install 'tusk-mlops[ui]'") from exc
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    sock = _listen(host, port)

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started and on_ready is not None:
                on_ready(url)

    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="off")
    server = Server(config)
    try:
        server.run(sockets=[sock])
    except SystemExit:  # uvicorn exits when it cannot start: say so in one line instead
        pass
    finally:
        sock.close()
    if not server.started:
        raise TuskError(f"tusk ui could not start on {host}:{port}")


def _listen(host: str, port: int) -> socket.socket:
    """The page's socket, bound here rather than by uvicorn: a refusal is an ``OSError`` to name in one line
    (uvicorn would log it and exit)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        why = (exc.strerror or "in use, or not an address of this machine").lower()
        raise TuskError(f"tusk ui could not listen on {host}:{port}: {why}") from None
    sock.set_inheritable(True)
    return sock


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "local"
