"""Image builders: the Builder conformance suite on every built-in builder (each skips where its tool is not
installed or not ready: buildah runs here, `.ci/install` adds it; `none` builds nothing and says so), and how
``[release] builder`` picks one."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tusk import backends
from tusk.build.base import Builder
from tusk.errors import BuildError, ConfigError
from tusk.testing import BuilderSuite


class TestBuildah(BuilderSuite):
    @pytest.fixture
    def builder(self) -> Builder:
        return backends.backend_class("builder", "buildah")("buildah")


class TestDocker(BuilderSuite):
    @pytest.fixture
    def builder(self) -> Builder:
        return backends.backend_class("builder", "docker")("docker")


class TestPodman(BuilderSuite):
    @pytest.fixture
    def builder(self) -> Builder:
        return backends.backend_class("builder", "podman")("podman")


class TestNone(BuilderSuite):
    @pytest.fixture
    def builder(self) -> Builder:
        return backends.backend_class("builder", "none")("none")


@pytest.fixture
def clean_registry() -> Iterator[None]:
    saved = dict(backends._registered["builder"])
    yield
    backends._registered["builder"].clear()
    backends._registered["builder"].update(saved)


def test_auto_takes_the_first_ready_of_docker_podman_and_buildah() -> None:
    ready = [name for name in backends.AUTO_BUILDERS if backends.backend_class("builder", name)(name).ready()]
    assert backends.open_builder("auto").name == (ready[0] if ready else "none")
    if shutil.which("buildah") and not shutil.which("podman"):
        assert ready[-1] == "buildah", "buildah needs no daemon: installed is ready"


def test_a_named_builder_must_be_known_and_installed(clean_registry: None) -> None:
    assert backends.open_builder("none").builds_images is False
    assert backends.open_builder("context").name == "none", "the older name of none"
    with pytest.raises(
        ConfigError, match=r"^\[release\] builder = 'kaniko': use auto, docker, podman, buildah or none$"
    ):
        backends.open_builder("kaniko")
    backends.register("builder", "kaniko", "tusk.build.docker:PodmanBuilder")
    with pytest.raises(ConfigError, match=r"use auto, docker, podman, buildah, kaniko or none$"):
        backends.open_builder("nope")
    if shutil.which("podman") is None:
        with pytest.raises(BuildError, match=r"^builder 'podman' is not installed$"):
            backends.open_builder("podman")
        with pytest.raises(BuildError, match="not installed"):
            backends.open_builder("kaniko")
    if shutil.which("buildah"):
        assert backends.open_builder("buildah").name == "buildah"
