"""buildah: builds without a daemon. It runs with ``--storage-driver vfs``, which works without kernel overlay
support (containers, CI); ``--layers=false`` keeps one layer per build."""

from __future__ import annotations

from pathlib import Path

from tusk.build._command import CommandBuilder


class BuildahBuilder(CommandBuilder):
    name = "buildah"
    tool = "buildah"

    def prefix(self) -> list[str]:
        return [self.tool, "--storage-driver", "vfs"]

    def build_args(self, containerfile: Path, context: Path, image: str) -> list[str]:
        return ["bud", "--layers=false", "-f", str(containerfile), "-t", image, str(context)]

    def inspect_args(self, image: str) -> list[str]:
        return ["inspect", "--type", "image", image]
