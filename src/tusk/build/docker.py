"""docker and podman: one command line, two names. docker is ``ready`` only when its daemon answers (``auto``
passes over a docker whose daemon is down); podman needs none."""

from __future__ import annotations

import subprocess

from tusk.build._command import CommandBuilder

DAEMON_TIMEOUT = 20.0  # seconds for ``docker info``


class DockerBuilder(CommandBuilder):
    name = "docker"
    tool = "docker"

    def ready(self) -> bool:
        if not self.installed():
            return False
        try:
            return subprocess.run([self.tool, "info"], capture_output=True, timeout=DAEMON_TIMEOUT).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False


class PodmanBuilder(CommandBuilder):
    name = "podman"
    tool = "podman"
