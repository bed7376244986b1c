"""``none`` (also ``context``): no image. The release writes its build context and leaves the build to the user,
and says so."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tusk.core.config import Config


class NoBuilder:
    name = "none"
    builds_images = False

    def __init__(self, url: str = "", config: Config | None = None) -> None:
        self.url = url
        self.why = ""  # ``auto`` found no builder ready: why (a docker installed whose daemon does not answer)

    def installed(self) -> bool:
        return True

    def ready(self) -> bool:
        return True

    def build(self, context: Path, image: str, log: Path) -> bool:
        return False

    def has_image(self, image: str) -> bool:
        return False

    def remove(self, image: str) -> None:
        return None
