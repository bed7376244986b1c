"""``tusk release create``: the production manifest → hashes → (image build) → a recorded release."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tusk._internal import git
from tusk._internal.crash import crash_point
from tusk.core.manifest import hashes
from tusk.release import build as builds
from tusk.release.needs import mismatches, needs_json, needs_of
from tusk.release.store import Release, ReleaseStore
from tusk.tracking.base import Tracker

if TYPE_CHECKING:
    from tusk.build.base import Builder
    from tusk.core.config import Config


@dataclass
class CreateOutcome:
    release: Release
    created: bool
    builder: str | None
    context: Path | None
    note: str
    unreleased: list[str] = field(default_factory=list)  # trained instances with no production version
    recovered: list[str] = field(default_factory=list)  # half-done registrations finished first
    needs: dict[str, Any] = field(default_factory=dict)  # instance → what it needs: {"base": {model, version, folder}}

    def to_json(self) -> dict[str, Any]:
        return {
            **self.release.to_json(),
            "created": self.created,
            "note": self.note,
            "unreleased": self.unreleased,
            "recovered": self.recovered,
            "needs": self.needs,
        }


def production_manifest(tracker: Tracker, instances: Iterable[str] | None = None) -> dict[str, str]:
    """``{instance: production version}`` for every instance tusk trained (``instances``, when already read):
    two registry queries in all."""
    trained = set(tracker.states() if instances is None else instances)
    return {name: version for name, version in tracker.aliases().items() if name in trained}


def code_commit(root: Path) -> str:
    return git.head(root)


def create_release(
    config: Config,
    tracker: Tracker,
    state_dir: Path,
    release_lock: AbstractContextManager[None],
    builder: Builder | None,
) -> CreateOutcome:
    """Record the production versions as a release (``state_dir``/releases/MD5 holds its build context), under
    ``release_lock`` (the project's: one release create or rollback at a time), its image built by ``builder``
    (None: recorded without one, ``--no-build``)."""
    with release_lock:
        return _create(config, tracker, state_dir, builder)


def _create(config: Config, tracker: Tracker, state_dir: Path, chosen: Builder | None) -> CreateOutcome:
    build = chosen is not None
    release_config = config.release
    store = ReleaseStore(tracker)
    recovered = tracker.recover()
    instances = set(tracker.states())
    manifest = production_manifest(tracker, instances)
    unreleased = sorted(instances - set(manifest))
    crash_point("release.manifest")
    needs = needs_of(manifest, tracker.all_versions()) if any(spec.needs for spec in config.models) else {}
    commit = code_commit(config.root)
    builder = chosen.name if chosen is not None and chosen.builds_images else None
    used: dict[str, Path | None] = {"context": None}

    def make_image(image: str, md5: str) -> bool:
        if not build:
            return False
        _, sha256 = hashes(manifest)
        context = builds.write_context(
            state_dir / "releases" / md5,
            manifest,
            tracker.download,
            release_config.base_image,
            md5,
            sha256,
            commit,
            image,
            needs,
        )
        used["context"] = context
        crash_point("release.context")
        if chosen is None or not chosen.build(context, image, context / "build.log"):
            return False
        crash_point("release.built")
        return True

    release, created = store.create(manifest, release_config.image, commit, make_image)
    unready = str(getattr(chosen, "why", "") or "")  # auto found a builder installed but not answering
    if not created:
        note = "identical manifest: the existing release is current again (nothing rebuilt)"
    elif not build:
        note = "--no-build: recorded without an image"
    elif builder is None and unready:
        note = f"no image built: {unready}; build context left in {used['context']}"
    elif builder is None:
        note = f"no image builder found (docker, podman, buildah): build context left in {used['context']}"
    else:
        note = f"built {release.image} with {builder}"
    if unreleased:
        shown = ", ".join(unreleased[:5]) + (f" and {len(unreleased) - 5} more" if len(unreleased) > 5 else "")
        note += f"; not in this release (no production version): {shown}"
    odd = mismatches(manifest, needs)
    if odd:
        shown = "; ".join(odd[:3]) + (f" and {len(odd) - 3} more" if len(odd) > 3 else "")
        note += f"; trained on another version than the release holds, so the image holds that one too: {shown}"
    return CreateOutcome(
        release, created, builder, used["context"], note, unreleased, recovered, needs_json(manifest, needs)
    )


@dataclass
class BuildOutcome:
    release: Release
    builder: str | None
    context: Path
    built: bool
    note: str
    missing: dict[str, str] = field(default_factory=dict)  # ``tolerant``: instance → why its files were not fetched

    def to_json(self) -> dict[str, Any]:
        return {**self.release.to_json(), "builder": self.builder, "context": str(self.context), "note": self.note}


def build_release(
    config: Config,
    tracker: Tracker,
    state_dir: Path,
    release_lock: AbstractContextManager[None],
    builder: Builder | None,
    ident: str | None = None,
    tolerant: bool = False,
) -> BuildOutcome:
    """The image of release ``ident`` (default: the current one), e.g. one recorded ``--no-build``: its build
    context rewritten in ``state_dir``/releases/MD5 from the versions it holds, then built by ``builder`` (``none``
    or None: the context only). A built image marks the release's record built. ``tolerant`` (verify): a version
    whose files cannot be fetched is left out of the context and named in ``missing``, instead of failing."""
    from tusk.errors import ReleaseError

    missing: dict[str, str] = {}

    def fetch(name: str, version: str, folder: Path) -> object:
        if not tolerant:
            return tracker.download(name, version, folder)
        try:
            return tracker.download(name, version, folder)
        except Exception as exc:  # noqa: BLE001  # any reason its files cannot come: the verdict says it
            shutil.rmtree(folder, ignore_errors=True)
            missing[name] = f"its files could not be fetched: {type(exc).__name__}: {exc}"
            return None

    with release_lock:
        store = ReleaseStore(tracker)
        release = store.find(ident) if ident else store.current()
        if release is None:
            raise ReleaseError("no release yet (run 'tusk release create')")
        manifest = release.models
        needs = needs_of(manifest, tracker.all_versions()) if any(spec.needs for spec in config.models) else {}
        _, sha256 = hashes(manifest)
        context = builds.write_context(
            state_dir / "releases" / release.md5,
            manifest,
            fetch,
            config.release.base_image,
            release.md5,
            release.sha256 or sha256,
            release.code_commit,
            release.image,
            needs,
        )
        if (
            builder is None
            or not builder.builds_images
            or not builder.build(context, release.image, context / "build.log")
        ):
            note = f"no image builder (docker, podman, buildah): build context left in {context}"
            return BuildOutcome(release, None, context, False, note, missing)
        store.mark_built(release)
        return BuildOutcome(release, builder.name, context, True, f"built {release.image} with {builder.name}", missing)
