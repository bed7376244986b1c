"""What a server serves: a release's models ``{name: version}`` and its md5, and where each version's files come
from. A source is read again and again by a server that follows the current release (``changes``)."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tusk.core.manifest import hashes
from tusk.errors import ReleaseError
from tusk.tracking.base import Tracker


@dataclass(frozen=True)
class Served:
    """One release as served: its md5 (the manifest's), its version (``vN``, "" outside a release) and models."""

    md5: str
    models: dict[str, str]
    version: str = ""
    needs: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)  # instance → need → (model, version)


class Source(Protocol):
    follows: bool  # read again while serving: a rollback reaches the server

    def current(self) -> Served: ...

    def files(self, name: str, version: str) -> Path:
        """The folder of model ``name`` version ``version`` (MLflow's model format), fetched if need be."""
        ...

    def describe(self) -> str: ...


class TrackerSource:
    """The project's tracker: the current release (``follows``), a release by id, or the production aliases.
    Fetched versions are kept under ``cache`` (a version never changes, so a fetched one is reused)."""

    def __init__(
        self,
        tracker: Tracker,
        cache: Path,
        release: str | None = None,
        production: bool = False,
        with_needs: bool = False,
    ) -> None:
        from tusk.release.store import ReleaseStore

        self.tracker = tracker
        self.store = ReleaseStore(tracker)
        self.cache = cache
        self.release = release
        self.production = production
        self.with_needs = with_needs  # some model of the project `needs` another (an adapter its base)
        self.follows = release is None and not production
        self._needs: dict[str, dict[str, dict[str, tuple[str, str]]]] = {}

    def describe(self) -> str:
        if self.production:
            return "the production aliases"
        return f"release {self.release}" if self.release else "the current release (followed)"

    def current(self) -> Served:
        from tusk.release.create import production_manifest
        from tusk.release.needs import needs_of

        if self.production:
            models = production_manifest(self.tracker)
            if not models:
                raise ReleaseError("no model has a production version (run 'tusk run')")
            release_md5, version = hashes(models)[0], ""
        else:
            found = self.store.find(self.release) if self.release else self.store.current()
            if found is None:
                raise ReleaseError("no release yet (run 'tusk release create', or serve --production)")
            models, release_md5, version = found.models, found.md5, found.version
        needs = self._needs.get(release_md5)
        if needs is None:  # a release's needs follow from its manifest: read once per release, not once per poll
            needs = needs_of(models, self.tracker.all_versions()) if self.with_needs else {}
            self._needs = {release_md5: needs}
        return Served(release_md5, dict(models), version, needs)

    def files(self, name: str, version: str) -> Path:
        target = self.cache / name / str(version)
        if (target / "MLmodel").exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=target.parent))
        try:
            self.tracker.download(name, str(version), partial)
            if target.exists():
                shutil.rmtree(target)
            partial.rename(target)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        return target


class FolderSource:
    """A release image's ``/models``: ``manifest.json`` names the models, each in its folder (``needs.json``: the
    base an adapter was trained on). Never changes while served."""

    follows = False

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def describe(self) -> str:
        return f"the models in {self.folder}"

    def current(self) -> Served:
        manifest_path = self.folder / "manifest.json"
        if not manifest_path.exists():
            raise ReleaseError(f"{self.folder} holds no manifest.json: not a release's models folder")
        models = {str(k): str(v) for k, v in json.loads(manifest_path.read_text()).items()}
        needs: dict[str, dict[str, tuple[str, str]]] = {}
        needs_path = self.folder / "needs.json"
        if needs_path.exists():
            for name, held in json.loads(needs_path.read_text()).items():
                needs[name] = {key: (str(v["model"]), str(v["version"])) for key, v in held.items()}
        return Served(hashes(models)[0], models, "", needs)

    def files(self, name: str, version: str) -> Path:
        manifest = json.loads((self.folder / "manifest.json").read_text())
        folder = self.folder / (name if manifest.get(name) == version else f"{name}@{version}")
        if not folder.is_dir():
            raise ReleaseError(f"{name} v{version} is not in {self.folder}")
        return folder
