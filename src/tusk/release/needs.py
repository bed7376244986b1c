"""What the models of a release need: an adapter's base, held once in the image.

A version trained with ``needs = ["base"]`` carries the tag ``tusk.needs.base = "base@3"``. A release holds
each instance's production version in ``/models/<instance>/``; a needed version is the needed instance's
folder when the release holds that very version (the usual case: one base, every adapter on it), and
otherwise a folder of its own, ``/models/<model>@<version>/``, so every adapter finds the base it was
trained on. ``/models/needs.json`` says which folder each instance's needs are in:

    {"adapter-acme": {"base": {"model": "base", "version": "3", "folder": "base"}}}

Which versions a release needs follows from its manifest (a version's tags never change), so the manifest
alone still identifies the release and its hashes are unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tusk.tracking import tags as T
from tusk.tracking.base import VersionInfo

Needs = dict[str, dict[str, tuple[str, str]]]  # instance → need → (model, version)


def needs_of(manifest: Mapping[str, str], versions: Iterable[VersionInfo]) -> Needs:
    """The needs of every version in ``manifest``, from the versions' tags."""
    wanted = {(name, str(version)) for name, version in manifest.items()}
    found: Needs = {}
    for info in versions:
        if (info.name, info.version) in wanted:
            held = T.needs_of(info.tags)
            if held:
                found[info.name] = held
    return found


def folder_of(manifest: Mapping[str, str], model: str, version: str) -> str:
    return model if manifest.get(model) == version else f"{model}@{version}"


def extra_folders(manifest: Mapping[str, str], needs: Needs) -> dict[str, tuple[str, str]]:
    """Folders for needed versions the manifest does not hold: ``{"base@2": ("base", "2")}``."""
    out = {}
    for held in needs.values():
        for model, version in held.values():
            folder = folder_of(manifest, model, version)
            if folder != model:
                out[folder] = (model, version)
    return dict(sorted(out.items()))


def needs_json(manifest: Mapping[str, str], needs: Needs) -> dict[str, Any]:
    return {
        instance: {
            key: {"model": model, "version": version, "folder": folder_of(manifest, model, version)}
            for key, (model, version) in sorted(held.items())
        }
        for instance, held in sorted(needs.items())
    }


def mismatches(manifest: Mapping[str, str], needs: Needs) -> list[str]:
    """``adapter-acme needs base v2 (the release's base is v3)``: instances trained on another version of what
    they need than the release holds (the image carries that version too)."""
    out = []
    for instance, held in sorted(needs.items()):
        for model, version in held.values():
            if manifest.get(model) != version:
                has = f"v{manifest[model]}" if model in manifest else "not in it"
                out.append(f"{instance} needs {model} v{version} (the release's {model} is {has})")
    return out
