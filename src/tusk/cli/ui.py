"""``tusk ui``: the web page over the same ``Project`` as every other command.

The page is the other face (``tusk.web``, the ``ui`` extra): this face does not import it. The installed
distribution names it as the ``web`` entry point of the ``tusk.faces`` group, a function
``serve(config_path, host, port, token, on_ready=..., allowed_hosts=...)`` that serves until interrupted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from tusk.cli._common import Shown, console, open_project, output, render


@click.command()
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on. Anything but loopback needs a token."
)
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True, help="Port to listen on.")
@click.option(
    "--token",
    default=None,
    metavar="NAME:SECRET",
    help="Who may log in (comma-separated; a bare SECRET is named 'token'). Default: $TUSK_UI_TOKEN. "
    "With a token, the page asks for it once and keeps a session cookie; the action log "
    "(.tusk/ui-actions.log) names who did what.",
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    metavar="NAME",
    help="Another name people open the page by (tusk.example.com, NAME:PORT, or the URL; repeatable; "
    "default: $TUSK_UI_ALLOWED_HOSTS). Loopback names are always served, and with --host 0.0.0.0 "
    "also this machine's name and its IP addresses; any other Host header is refused.",
)
@click.option(
    "--review",
    "review",
    default=None,
    metavar="BRANCH",
    help="Print the address of this review's page (what to open first).",
)
@output
def ui(host: str, port: int, token: str | None, allowed_hosts: tuple[str, ...], review: str | None) -> None:
    """Serve the page: reviews with their blast radius, models, runs, releases and data.

    \b
    Every review (a branch other than the data branch) shows its row diff, which models merging would
    retrain and what that costs, its checks and candidates; merge, approve per model, comment or close it.
    Runs start, show their progress and cancel from the page; releases diff and roll back.
    \b
    Loopback only by default:
      tusk ui                                   http://127.0.0.1:8765/, for the user who started it
      tusk ui --host 0.0.0.0 --token alice:s3cret-token   for a team (log in with the token), at
                                                http://THIS-MACHINE:8765/ or its address
      ... --allowed-host tusk.example.com       the name a proxy or DNS gives it
    Every change is a POST with a CSRF token; GETs change nothing. Stop it with Ctrl-C.
    """
    from urllib.parse import quote

    project = open_project()
    if review is not None:
        project.review_meta(review)  # an unknown branch is a one-line error before anything listens

    def ready(url: str) -> None:
        page = f"{url}review?branch={quote(review, safe='')}" if review else url

        def show() -> None:
            console(stderr=True).print(f"tusk ui: serving {project.root} on {url} (Ctrl-C stops it)", soft_wrap=True)
            if review:
                console(stderr=True).print(f"review {review}: {page}", soft_wrap=True)

        render(Shown({"url": url, "page": page, "host": host, "port": port}, show))

    serve = _page_server()
    serve(project.config.path, host, port, token, on_ready=ready, allowed_hosts=allowed_hosts)


FACES = "tusk.faces"


def _page_server() -> Callable[..., Any]:
    """The web face's ``serve``, found by its entry point (read only by this command)."""
    from importlib.metadata import entry_points

    from tusk.errors import BackendMissing

    for point in entry_points(group=FACES, name="web"):
        serve: Callable[..., Any] = point.load()
        return serve
    raise BackendMissing(
        f"tusk ui: no web face is installed (the '{FACES}' entry point 'web'): pip install 'tusk-mlops[ui]'"
    )
