"""The Builder port: a container image from a build context, the folder a release writes (its ``Containerfile``
and the files it copies), under a tag.

A builder is chosen by name in tusk.toml (``[release] builder``) through ``tusk.backends.open_builder``, and
constructed as ``Class(name, config)``. ``auto`` takes the first of docker, podman and buildah that is ``ready``;
a builder named on purpose must be ``installed``. Every failure of a build is a ``tusk.errors.BuildError`` whose
message ends with the last line the builder printed: the release records nothing then.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable


@runtime_checkable
class Builder(Protocol):
    name: str  # what tusk.toml names it by, and what a release's note says built its image
    builds_images: bool  # False for ``none``: nothing is built, the context is left for the user

    def installed(self) -> bool:
        """Its tool is on this machine."""
        ...

    def ready(self) -> bool:
        """It can build now (docker: its daemon answers); what ``auto`` asks."""
        ...

    def build(self, context: Path, image: str, log: Path) -> bool:
        """Build ``context / "Containerfile"`` with ``context`` as the build context, tagged ``image``, all the
        builder prints going to ``log``. → whether an image was built (``none``: False, and nothing is written).
        A failure raises BuildError with the builder's last line."""
        ...

    def has_image(self, image: str) -> bool:
        """An image tagged ``image`` is in the builder's store."""
        ...

    def remove(self, image: str) -> None:
        """Remove the image tagged ``image`` from the builder's store (nothing if there is none)."""
        ...
