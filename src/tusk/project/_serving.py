"""Project's ``tusk serve``: every model of a release behind one port (``tusk.serve``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tusk.project._base import ProjectBase

if TYPE_CHECKING:
    from tusk.serve.running import RunningServer
    from tusk.serve.source import Source
    from tusk.serve.trial import Trial
    from tusk.serve.verify import Verdict

MEGABYTE = 1024 * 1024


class ServeMethods(ProjectBase):
    """What ``tusk serve`` calls."""

    def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 8080,
        release: str | None = None,
        production: bool = False,
        preload: bool = False,
        memory_mb: int | None = None,
        on_ready: Callable[[str], None] | None = None,
        poll: float = 1.0,
    ) -> None:
        """Serve the current release (followed: a ``release create`` or ``rollback`` reaches it within ``poll``
        seconds), release ``release``, or the production aliases, until interrupted. Versions are fetched once into
        ``.tusk/serve/``."""
        from tusk.errors import ReleaseError
        from tusk.serve.source import TrackerSource

        if release is not None and production:
            raise ReleaseError("--release and --production are exclusive")
        if release is not None:
            self.releases.find(release)  # an unknown id is one line before anything listens
        source = TrackerSource(
            self.tracker,
            self.state_dir / "serve",
            release,
            production,
            with_needs=any(spec.needs for spec in self.config.models),
        )
        _serve(source, host, port, preload, memory_mb, on_ready, poll, self.state_dir / "serve")

    def verify_release(self, ident: str | None = None) -> Verdict:
        """Release ``ident`` (default: the current one) served and sent every model its logged input example: its
        image started where a container runtime can (podman, or docker whose daemon answers) and has it, else its
        build context served by ``tusk serve --models`` in a process of its own. The verdict is written to
        ``.tusk/releases/MD5/verify.json`` and recorded in the release log (a ``verified`` event: it moves
        nothing). A version whose files cannot be fetched fails its model, not the verification."""
        from tusk._internal import git
        from tusk.release.create import build_release
        from tusk.serve.verify import verify

        outcome = build_release(
            self.config,
            self.tracker,
            self.state_dir,
            self.release_lock("tusk release verify"),
            None,
            ident,
            tolerant=True,
        )
        verdict = verify(outcome.release.md5, outcome.context, outcome.release.image, outcome.missing)
        self.releases.record_verdict(
            verdict.md5, verdict.ok, verdict.verified_by, verdict.detail(), git.head(self.root)
        )
        return verdict

    def try_example(self, name: str, version: str | None = None) -> Trial:
        """What a model's "try it" form starts from: the version ``tusk serve`` answers with (the current release's,
        else the production alias; or ``version``) and its logged input example (``why`` when there is none)."""
        from tusk.serve.trial import example

        return example(self.tracker, self.state_dir / "serve", name, version)

    def try_model(self, name: str, payload: str, version: str | None = None) -> Trial:
        """``payload`` (JSON in MLflow's scoring protocol) scored by ``name``'s served version (or ``version``),
        loaded and parsed as ``tusk serve`` does → the predictions. A payload that is not JSON or does not fit the
        model, or a model with no served version, raises TuskError with the reason."""
        from tusk.serve.trial import try_model

        return try_model(self.tracker, self.state_dir / "serve", name, payload, version)

    def serving(self) -> list[RunningServer]:
        """The ``tusk serve`` processes running on this project now: address, release served and since when."""
        from tusk.serve.running import running

        return running(self.state_dir / "serve")

    @staticmethod
    def serve_folder(
        folder: Path,
        host: str = "0.0.0.0",
        port: int = 8080,
        preload: bool = False,
        memory_mb: int | None = None,
        on_ready: Callable[[str], None] | None = None,
    ) -> None:
        """Serve a release's models folder (the image's ``/models``: ``manifest.json`` and a folder per model), no
        project needed: what the release image runs."""
        from tusk.serve.source import FolderSource

        _serve(FolderSource(folder), host, port, preload, memory_mb, on_ready, 1.0)


def _serve(
    source: Source,
    host: str,
    port: int,
    preload: bool,
    memory_mb: int | None,
    on_ready: Callable[[str], None] | None,
    poll: float,
    registry: Path | None = None,
) -> None:
    from tusk.serve.app import Server, run
    from tusk.serve.pool import ModelPool

    pool = ModelPool(source.files, memory_mb * MEGABYTE if memory_mb else None)
    server = Server(source, pool, preload, poll)
    if registry is None:
        run(server, host, port, on_ready)
        return
    from tusk.serve.running import Registration

    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    entry = Registration(registry, f"http://{shown}:{port}/", source.describe())
    server.on_swap = lambda old, new: entry.serving(new.md5, new.version)
    try:
        run(server, host, port, on_ready)
    finally:
        entry.end()
