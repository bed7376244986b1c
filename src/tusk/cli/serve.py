"""``tusk serve``: every model of the current release behind one port (MLflow's scoring protocol per model)."""

from __future__ import annotations

from pathlib import Path

import click

from tusk.cli._common import Shown, console, open_project, output, render


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True, help="Port to listen on.")
@click.option("--release", "release", default=None, metavar="ID", help="Serve this release (md5, prefix or vN), fixed.")
@click.option("--production", is_flag=True, help="Serve every model's production alias, without a release.")
@click.option(
    "--models",
    "folder",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Serve a release's models folder (an image's /models: manifest.json and a folder per model); no project.",
)
@click.option("--preload", is_flag=True, help="Load every model before answering (default: each on first use).")
@click.option(
    "--memory-mb",
    type=click.IntRange(1),
    default=None,
    help="Keep at most this many MB of models loaded (their files' size); the least recently used leave first.",
)
@output
def serve(
    host: str,
    port: int,
    release: str | None,
    production: bool,
    folder: Path | None,
    preload: bool,
    memory_mb: int | None,
) -> None:
    """Serve every model of the current release from one process on one port.

    \b
    POST /models/NAME/invocations   MLflow's scoring protocol (dataframe_split, dataframe_records,
                                    inputs, instances) → {"predictions": [...]}; headers
                                    X-Tusk-Model-Version and X-Tusk-Release
    GET  /models                    {"release": MD5, "models": {NAME: VERSION}}
    GET  /health                    200 when every model's files are there with a readable MLmodel
                                    (loaded too, with --preload); 503 before; "status": "degraded"
                                    names those that are not (200: the others serve)
    \b
    By default the server follows the current release: after 'tusk release create' or
    'tusk release rollback' it serves the new one within seconds, requests in flight finishing on
    the old; 'tusk release log' shows what each server served when. Stop it with Ctrl-C (or SIGTERM).
    """

    def ready(url: str) -> None:
        def show() -> None:
            console(stderr=True).print(f"tusk serve: serving on {url} (Ctrl-C stops it)", soft_wrap=True)

        render(Shown({"url": url, "host": host, "port": port}, show))

    if folder is not None:
        from tusk.project import Project

        Project.serve_folder(folder, host, port, preload, memory_mb, on_ready=ready)
        return
    project = open_project()
    project.serve(host, port, release, production, preload, memory_mb, on_ready=ready)
