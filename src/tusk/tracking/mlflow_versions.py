"""Reads of model versions: one version, a model's versions, many at once (one query on a local store), by tag,
every one; their model files and job logs."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tusk.errors import TrackingError
from tusk.tracking.base import VersionInfo
from tusk.tracking.mlflow_errors import driver_errors, mlflow_errors, not_found
from tusk.tracking.mlflow_store import _AMONG, MlflowStore, _quote


class MlflowVersions(MlflowStore):
    def version_infos(self, wanted: Iterable[tuple[str, str]]) -> dict[tuple[str, str], VersionInfo]:
        """Many versions at once, with their metrics and tags (aliases left empty): one query on a local store,
        one call per version on a server. Versions the registry does not hold are left out."""
        pairs = set(wanted)
        local = self._local_registry()
        if local is None:
            found = {}
            for name, version in sorted(pairs):
                try:
                    found[(name, version)] = self.version(name, version)
                except TrackingError:
                    continue
            return found
        infos: dict[tuple[str, str], VersionInfo] = {}
        names = sorted({name for name, _ in pairs})
        only = _AMONG + f"({', '.join('?' for _ in names)})" if len(names) <= 500 else ""
        bound = names if only else []
        with local:
            rows = local.execute(
                "SELECT name, version, run_id, source, creation_time FROM model_versions "
                f"WHERE current_stage != 'Deleted_Internal'{only}",
                bound,
            ).fetchall()
            for name, version, run_id, source, created in rows:
                if (name, str(version)) in pairs:
                    infos[(name, str(version))] = VersionInfo(
                        name, str(version), run_id, source or "", {}, created_ms=int(created or 0)
                    )
            runs = {info.run_id: info for info in infos.values() if info.run_id}
            ids = sorted(runs)
            in_runs = f" WHERE run_uuid IN ({', '.join('?' for _ in ids)})" if len(ids) <= 500 else ""
            for key, value, run_id in local.execute(
                f"SELECT key, value, run_uuid FROM latest_metrics{in_runs}", ids if in_runs else []
            ):
                if run_id in runs:
                    runs[run_id].metrics[key] = float(value)
            in_names = " WHERE" + only.removeprefix(" AND") if only else ""
            for name, version, key, value in local.execute(
                f"SELECT name, version, key, value FROM model_version_tags{in_names}", bound
            ):
                info = infos.get((name, str(version)))
                if info is not None:
                    info.tags[key] = value
        return infos

    def missing_versions(self, wanted: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """The (model, version) pairs the registry does not hold (deleted, or never there)."""
        pairs = sorted(set(wanted))
        local = self._local_registry()
        if local is not None:
            with local:
                held = {
                    (n, str(v))
                    for n, v in local.execute(
                        "SELECT name, version FROM model_versions WHERE current_stage != 'Deleted_Internal'"
                    )
                }
            return [p for p in pairs if p not in held]
        from mlflow.exceptions import MlflowException

        missing = []
        for name, version in pairs:
            try:
                self.client.get_model_version(name, version)
            except MlflowException as exc:
                if not not_found(exc):
                    raise
                missing.append((name, version))
        return missing

    def versions(self, name: str) -> list[VersionInfo]:
        with mlflow_errors(f"no registered model {name!r}"):
            found = self.client.search_model_versions(f"name = '{_quote(name)}'", max_results=10000)
            aliases = self._aliases_of(name)
        infos = [self._info(v, aliases) for v in found]
        return sorted(infos, key=lambda v: int(v.version), reverse=True)

    def version(self, name: str, version: str) -> VersionInfo:
        with mlflow_errors(f"no version {version} of {name!r}"):
            found = self.client.get_model_version(name, str(version))
            info = self._info(found, self._aliases_of(name))
            if info.run_id:
                info.metrics = dict(self.client.get_run(info.run_id).data.metrics)
        return info

    def _aliases_of(self, name: str) -> dict[str, list[str]]:
        model = self.client.get_registered_model(name)
        by_version: dict[str, list[str]] = {}
        for alias, version in (model.aliases or {}).items():
            by_version.setdefault(str(version), []).append(alias)
        return by_version

    @staticmethod
    def _info(version: Any, aliases: dict[str, list[str]]) -> VersionInfo:
        return VersionInfo(
            name=version.name,
            version=str(version.version),
            run_id=version.run_id,
            source=version.source,
            tags=dict(version.tags or {}),
            aliases=aliases.get(str(version.version), []),
            created_ms=int(version.creation_timestamp or 0),
        )

    def download(self, name: str, version: str, dest: Path) -> Path:
        """The model files of a version, copied into ``dest`` (local artifacts are copied directly)."""
        from urllib.parse import unquote, urlsplit

        with mlflow_errors(f"no version {version} of {name!r}"):
            source = str(self.client.get_model_version(name, str(version)).source)
        dest.mkdir(parents=True, exist_ok=True)
        if source.startswith("file:"):
            local = Path(unquote(urlsplit(source).path))
            if local.is_dir():
                shutil.copytree(local, dest, dirs_exist_ok=True)
                return dest
        import mlflow.artifacts

        with mlflow_errors(f"cannot download {name} v{version}"), tempfile.TemporaryDirectory() as tmp:
            fetched = Path(
                mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=tmp, tracking_uri=self.url)
            )
            shutil.copytree(fetched, dest, dirs_exist_ok=True)
        return dest

    def run_log(self, name: str, version: str) -> tuple[str, str]:
        """The job log recorded with a version's run (``job.log`` beside ``model/``) → (text, its URI)."""
        info = self.version(name, version)
        if not info.run_id:
            raise TrackingError(f"{name} v{version} has no run, so no log")
        with mlflow_errors(f"cannot read the log of {name} v{version}"):
            root = str(self.client.get_run(info.run_id).info.artifact_uri).rstrip("/")
            for relative in ("job.log", "logs/job.log"):
                text = self._artifact_text(f"{root}/{relative}")
                if text is not None:
                    return text, f"{root}/{relative}"
        raise TrackingError(f"{name} v{version}: its run {info.run_id} has no job.log artifact")

    def _artifact_text(self, uri: str) -> str | None:
        from urllib.parse import unquote, urlsplit

        if uri.startswith("file:"):
            local = Path(unquote(urlsplit(uri).path))
            return local.read_text(encoding="utf-8", errors="replace") if local.is_file() else None
        import mlflow.artifacts

        try:
            with tempfile.TemporaryDirectory() as tmp:
                path = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp, tracking_uri=self.url)
                return Path(path).read_text(encoding="utf-8", errors="replace")
        except Exception as exc:  # a missing artifact: an MlflowException or an HTTP 404 alike
            if isinstance(exc, (*driver_errors(), OSError)):
                return None
            raise

    def search_versions(self, tag: str, value: str) -> list[VersionInfo]:
        """Every version whose ``tag`` equals ``value`` (no metrics, no aliases)."""
        local = self.local_registry()
        if local is not None:
            with local:
                keys = local.execute(
                    "SELECT name, version FROM model_version_tags WHERE key = ? AND value = ?", (tag, value)
                ).fetchall()
            wanted = {(name, str(version)) for name, version in keys}
            return [v for v in self.all_versions() if (v.name, v.version) in wanted]
        with mlflow_errors(f"cannot search versions by {tag}"):
            found = self._search_versions(f"tags.`{tag}` = '{_quote(value)}'")
        return [self._info(v, {}) for v in found]

    def all_versions(self) -> list[VersionInfo]:
        """Every version of every model, oldest model first (no metrics, no aliases)."""
        local = self.local_registry()
        if local is not None:
            with local:
                rows = local.execute(
                    "SELECT name, version, run_id, source, creation_time FROM model_versions "
                    "WHERE current_stage != 'Deleted_Internal'"
                ).fetchall()
                tags: dict[tuple[str, str], dict[str, str]] = {}
                for name, version, key, value in local.execute(
                    "SELECT name, version, key, value FROM model_version_tags"
                ):
                    tags.setdefault((name, str(version)), {})[key] = value
            return [
                VersionInfo(
                    name,
                    str(version),
                    run_id,
                    source or "",
                    tags.get((name, str(version)), {}),
                    created_ms=int(created or 0),
                )
                for name, version, run_id, source, created in rows
            ]
        with mlflow_errors("cannot list model versions"):
            return [self._info(v, {}) for v in self._search_versions("")]

    def _search_versions(self, query: str) -> list[Any]:
        found: list[Any] = []
        token = None
        while True:
            page = self.client.search_model_versions(query, max_results=10_000, page_token=token)
            found.extend(page)
            token = page.token
            if not token:
                return found
