"""The image of a release: a build context (Containerfile, ``/models/<instance>/``, ``/models/manifest.json``)
and a builder. ``auto`` tries docker (when its daemon answers), podman, then buildah; with none of them the
context is written and the build is left to the user, and tusk says so.

buildah runs with ``--storage-driver vfs``, which works without kernel overlay support (containers, CI).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from tusk.errors import BuildError, ConfigError

if TYPE_CHECKING:
    from tusk.release.needs import Needs

BUILDERS = ("docker", "podman", "buildah")
Fetch = Callable[[str, str, Path], object]  # (instance, version, destination folder)


def containerfile(base_image: str, md5: str, sha256: str, code_commit: str, image: str) -> str:
    labels = {
        "org.opencontainers.image.title": image.rsplit(":", 1)[0],
        "org.opencontainers.image.version": md5,
        "org.opencontainers.image.revision": code_commit or "unknown",
        "org.opencontainers.image.description": "tusk release: every production model and its manifest",
        "tusk.release.md5": md5,
        "tusk.release.sha256": sha256,
    }
    label_lines = " \\\n      ".join(f"{k}={json.dumps(v)}" for k, v in labels.items())
    return f"FROM {base_image}\nCOPY models/ /models/\nLABEL {label_lines}\n"


def write_context(
    folder: Path,
    manifest: Mapping[str, str],
    fetch: Fetch,
    base_image: str,
    md5: str,
    sha256: str,
    code_commit: str,
    image: str,
    needs: Needs | None = None,
) -> Path:
    """The build context in ``folder`` (replaced if present). ``needs``: what the instances need (an adapter's
    base), each needed version held once (see tusk.release.needs)."""
    from tusk.release.needs import extra_folders, needs_json

    if folder.exists():
        shutil.rmtree(folder)
    models = folder / "models"
    models.mkdir(parents=True)
    for instance, version in sorted(manifest.items()):
        fetch(instance, version, models / instance)
    for extra, (model, version) in extra_folders(manifest, needs or {}).items():
        fetch(model, version, models / extra)
    (models / "manifest.json").write_text(json.dumps(dict(manifest), indent=2, sort_keys=True) + "\n")
    if needs:
        (models / "needs.json").write_text(json.dumps(needs_json(manifest, needs), indent=2, sort_keys=True) + "\n")
    (folder / "Containerfile").write_text(containerfile(base_image, md5, sha256, code_commit, image))
    return folder


def choose_builder(setting: str) -> str | None:
    """The builder to use: the configured one (which must exist), or the first that works for ``auto``."""
    if setting in ("none", "context"):
        return None
    if setting != "auto":
        if setting not in BUILDERS:
            raise ConfigError(f"[release] builder = {setting!r}: use auto, docker, podman, buildah or none")
        if shutil.which(setting) is None:
            raise BuildError(f"builder {setting!r} is not installed")
        return setting
    for name in BUILDERS:
        if shutil.which(name) and (name != "docker" or _docker_answers()):
            return name
    return None


def _docker_answers() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def build_command(builder: str, context: Path, image: str) -> list[str]:
    containerfile_path = str(context / "Containerfile")
    if builder == "buildah":
        return [
            "buildah",
            "--storage-driver",
            "vfs",
            "bud",
            "--layers=false",
            "-f",
            containerfile_path,
            "-t",
            image,
            str(context),
        ]
    return [builder, "build", "-f", containerfile_path, "-t", image, str(context)]


def build(builder: str, context: Path, image: str, log: Path) -> None:
    """Build ``image``; a failure raises BuildError with the last line the builder printed."""
    from tusk._internal.sqlite import child_env

    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        try:
            code = subprocess.call(
                build_command(builder, context, image), stdout=out, stderr=subprocess.STDOUT, env=child_env()
            )
        except OSError as exc:
            raise BuildError(f"{builder} could not start: {exc}") from exc
    if code != 0:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        raise BuildError(f"{builder} failed (exit {code}): {lines[-1] if lines else 'no output'} (log: {log})")
