"""The Builder conformance suite: every image builder subclasses ``BuilderSuite`` and provides a ``builder``
fixture (the class as ``open_builder`` would construct it).

What a builder cannot do here is skipped, with the reason: one whose tool is not installed, or not ready (docker
whose daemon does not answer), skips every case; ``none`` builds nothing, so the cases of a built image are
skipped and the suite checks it says so (``build`` gives False and writes nothing). The images are built ``FROM
scratch`` (nothing to pull, no network), tagged ``localhost/tusk-suite-…``, and removed after each test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tusk.build.base import Builder
from tusk.errors import BuildError


def context(folder: Path, containerfile: str) -> Path:
    """A build context like a release's: a Containerfile and a models/ folder it may copy."""
    (folder / "models" / "m-1").mkdir(parents=True)
    (folder / "models" / "m-1" / "weights.txt").write_text("0.5\n")
    (folder / "models" / "manifest.json").write_text('{"m-1": "1"}\n')
    (folder / "Containerfile").write_text(containerfile)
    return folder


GOOD = 'FROM scratch\nCOPY models/ /models/\nLABEL tusk.release.md5="0123456789abcdef"\n'
BAD = "FROM scratch\nCOPY no-such-folder/ /models/\n"  # fails on every builder, without a network


def needs_images(builder: Any) -> None:
    if not builder.builds_images:
        pytest.skip(f"{builder.name} builds no image")


class BuilderSuite:
    @pytest.fixture
    def builder(self) -> Builder:  # pragma: no cover - overridden
        raise NotImplementedError

    @pytest.fixture(autouse=True)
    def usable(self, builder: Any) -> None:
        """Every case needs the builder's tool here and ready; without it, the case is skipped and says why."""
        if not builder.installed():
            pytest.skip(f"{builder.name} is not installed here")
        if not builder.ready():
            pytest.skip(f"{builder.name} is installed but cannot build now (a daemon that does not answer?)")

    @pytest.fixture
    def image(self, builder: Any) -> Iterator[str]:
        """A tag no other test uses; its image is removed after the test."""
        name = f"localhost/tusk-suite-{uuid.uuid4().hex[:12]}:1"
        yield name
        builder.remove(name)

    def test_is_a_builder(self, builder: Any) -> None:
        assert isinstance(builder, Builder)
        assert isinstance(builder.name, str) and builder.name, "a builder has the name tusk.toml calls it by"
        assert builder.installed(), "a ready builder is installed"

    def test_a_context_becomes_an_image_under_its_tag(self, builder: Any, image: str, tmp_path: Path) -> None:
        needs_images(builder)
        folder = context(tmp_path / "context", GOOD)
        assert not builder.has_image(image)
        assert builder.build(folder, image, tmp_path / "logs" / "build.log") is True
        assert builder.has_image(image)
        assert (tmp_path / "logs" / "build.log").is_file(), "what the builder printed is in the log"
        builder.remove(image)
        assert not builder.has_image(image)

    def test_building_a_tag_again_replaces_its_image(self, builder: Any, image: str, tmp_path: Path) -> None:
        needs_images(builder)
        folder = context(tmp_path / "context", GOOD)
        assert builder.build(folder, image, tmp_path / "first.log")
        (folder / "models" / "m-1" / "weights.txt").write_text("0.7\n")
        assert builder.build(folder, image, tmp_path / "second.log")
        assert builder.has_image(image)

    def test_a_failed_build_is_a_build_error_with_the_builders_last_line(
        self, builder: Any, image: str, tmp_path: Path
    ) -> None:
        """Never the tool's own exception: the CLI prints a BuildError on one line, and release records nothing."""
        needs_images(builder)
        log = tmp_path / "build.log"
        with pytest.raises(BuildError) as failed:
            builder.build(context(tmp_path / "context", BAD), image, log)
        message = str(failed.value)
        assert "\n" not in message and builder.name in message
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        assert lines and lines[-1].strip() in message, "the message ends with what the builder said last"
        assert not builder.has_image(image), "a failed build leaves no image under the tag"

    def test_removing_an_image_that_is_not_there_does_nothing(self, builder: Any, image: str) -> None:
        builder.remove(image)
        assert not builder.has_image(image)

    def test_a_builder_that_builds_nothing_says_so_and_writes_nothing(
        self, builder: Any, image: str, tmp_path: Path
    ) -> None:
        if builder.builds_images:
            pytest.skip(f"{builder.name} builds images")
        folder = context(tmp_path / "context", GOOD)
        before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
        assert builder.build(folder, image, folder / "build.log") is False
        assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before
        assert not builder.has_image(image)
