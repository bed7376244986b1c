"""What the builders that are command-line tools share (buildah, docker, podman): run a command with its output
in the log, and map its failures to ``BuildError`` in one place (``build_error``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from tusk.errors import BuildError

if TYPE_CHECKING:
    from tusk.core.config import Config

QUERY_TIMEOUT = 120.0  # seconds for a question to the builder's store (inspect, rmi)


def build_error(name: str, log: Path, code: int | None = None, exc: OSError | None = None) -> BuildError:
    """The one mapping of a builder's failure: it could not start (``exc``), or it exited with ``code``, its last
    non-empty line read from ``log``."""
    if exc is not None:
        return BuildError(f"{name} could not start: {exc}")
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()] if log.exists() else []
    return BuildError(f"{name} failed (exit {code}): {lines[-1] if lines else 'no output'} (log: {log})")


class CommandBuilder:
    """A builder that is a command (``tool``); subclasses say how to build, inspect and remove an image."""

    name = ""
    tool = ""  # the executable
    builds_images = True

    def __init__(self, url: str = "", config: Config | None = None) -> None:
        self.url = url

    def prefix(self) -> list[str]:
        """The command and the options every call takes."""
        return [self.tool]

    def build_args(self, containerfile: Path, context: Path, image: str) -> list[str]:
        return ["build", "-f", str(containerfile), "-t", image, str(context)]

    def inspect_args(self, image: str) -> list[str]:
        return ["image", "inspect", image]

    def remove_args(self, image: str) -> list[str]:
        return ["rmi", image]

    def installed(self) -> bool:
        return shutil.which(self.tool) is not None

    def ready(self) -> bool:
        return self.installed()

    def build(self, context: Path, image: str, log: Path) -> bool:
        from tusk._internal.sqlite import child_env

        command = self.prefix() + self.build_args(context / "Containerfile", context, image)
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w") as out:
            try:
                code = subprocess.call(command, stdout=out, stderr=subprocess.STDOUT, env=child_env())
            except OSError as exc:
                raise build_error(self.name, log, exc=exc) from exc
        if code != 0:
            raise build_error(self.name, log, code)
        return True

    def has_image(self, image: str) -> bool:
        return self._quiet(self.inspect_args(image)) == 0

    def remove(self, image: str) -> None:
        self._quiet(self.remove_args(image))

    def _quiet(self, args: list[str]) -> int | None:
        """The exit code of a question to the builder's store; None when it could not be asked."""
        from tusk._internal.sqlite import child_env

        try:
            done = subprocess.run(self.prefix() + args, capture_output=True, timeout=QUERY_TIMEOUT, env=child_env())
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.returncode
