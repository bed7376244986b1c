"""The image of a release: its build context (Containerfile, ``/models/<instance>/``, ``/models/manifest.json``).
A ``tusk.build.base.Builder`` makes the image from it: ``auto`` tries docker (when its daemon answers), podman,
then buildah; with none of them the context is written and the build is left to the user, and tusk says so.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tusk.release.needs import Needs

Fetch = Callable[[str, str, Path], object]  # (instance, version, destination folder)


SERVE_PORT = 8080


def containerfile(base_image: str, md5: str, sha256: str, code_commit: str, image: str, tusk: str = "") -> str:
    """The release's Containerfile: ``base_image`` + the models + tusk with its serving extra (``tusk``: its pinned
    requirement, by default ``tusk-mlops[serve]`` as this tusk was installed) and
    every model's own requirements, and a CMD running ``tusk serve --models /models`` on port 8080: the image
    answers ``POST /models/NAME/invocations`` (``docker run -p 8080:8080 IMAGE``)."""
    labels = {
        "org.opencontainers.image.title": image.rsplit(":", 1)[0],
        "org.opencontainers.image.version": md5,
        "org.opencontainers.image.revision": code_commit or "unknown",
        "org.opencontainers.image.description": "tusk release: every production model and its manifest",
        "tusk.release.md5": md5,
        "tusk.release.sha256": sha256,
    }
    label_lines = " \\\n      ".join(f"{k}={json.dumps(v)}" for k, v in labels.items())
    from tusk._internal.dist import requirement

    wanted = tusk or requirement("serve")
    install = (
        f'RUN pip install --no-cache-dir "{wanted}" '
        '$(for r in /models/*/requirements.txt; do [ -f "$r" ] && printf -- \'-r %s \' "$r"; done)'
    )
    serve = json.dumps(["tusk", "serve", "--models", "/models", "--host", "0.0.0.0", "--port", str(SERVE_PORT)])
    if base_image == "scratch":  # no shell, no Python: files only (tests); its CMD needs a base that holds tusk
        install = "# base image scratch: nothing installed; run the models with a base that has Python"
    return (
        f"FROM {base_image}\nCOPY models/ /models/\n{install}\nEXPOSE {SERVE_PORT}\nCMD {serve}\nLABEL {label_lines}\n"
    )


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
