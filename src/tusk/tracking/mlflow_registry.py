"""The reads planning and releasing make of *every* registered model at once (states, candidates, production
aliases, names): one registry query each; on a local sqlite store straight from MLflow's tables, read-only."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection
from typing import Any

from tusk.tracking.base import CANDIDATES_TAG, PRODUCTION, STATE_TAG, CandidateRef, InstanceState
from tusk.tracking.mlflow_errors import mlflow_errors
from tusk.tracking.mlflow_store import _AMONG, _IN_WORKSPACES, MlflowStore, _chunks
from tusk.tracking.state import RegistryView, resolve


def _candidate_entries(value: str) -> dict[str, list[str]]:
    try:
        raw = json.loads(value) if value else {}
    except ValueError:
        return {}
    if not isinstance(raw, dict):
        return {}
    return {
        str(fp): [str(v) for v in entry] for fp, entry in raw.items() if isinstance(entry, list) and len(entry) == 2
    }


def _candidates(value: str) -> dict[str, CandidateRef]:
    return {fp: CandidateRef(version, review) for fp, (version, review) in _candidate_entries(value).items()}


class MlflowRegistry(MlflowStore):
    def states(self, names: Collection[str] | None = None) -> dict[str, InstanceState]:
        """Every instance's current state, or only those of ``names`` (see ``tusk.tracking.state`` for how a
        crash is read back)."""
        from tusk._internal import gc as _gc

        with _gc.paused():
            return resolve(self._view(with_aliases=False, names=names)).states

    def candidates(self) -> dict[str, dict[str, CandidateRef]]:
        found: dict[str, dict[str, CandidateRef]] = {}
        for name, value in self._registered_model_tags(CANDIDATES_TAG).items():
            found[name] = _candidates(value)
        return found

    def _registered_model_tags(self, key: str) -> dict[str, str]:
        local = self._local_registry()
        if local is not None:
            with local:
                rows = local.execute("SELECT name, value FROM registered_model_tags WHERE key = ?", (key,))
                return dict(rows.fetchall())
        return {m.name: m.tags[key] for m in self._all_registered_models() if key in (m.tags or {})}

    def _view(self, with_aliases: bool = True, names: Collection[str] | None = None) -> RegistryView:
        """Pointers, newest versions with their state, production aliases: one pass over the registry (or over
        the models of ``names``)."""
        local = self._local_registry()
        if local is None:
            view = RegistryView()
            wanted = set(names) if names is not None else None
            for model in self._all_registered_models():
                if wanted is not None and model.name not in wanted:
                    continue
                if STATE_TAG in (model.tags or {}):
                    view.pointers[model.name] = model.tags[STATE_TAG]
                latest = max(model.latest_versions or [], key=lambda v: int(v.version), default=None)
                if latest is not None:
                    view.top[model.name] = str(latest.version)
                    if STATE_TAG in (latest.tags or {}):
                        view.newest[model.name] = (str(latest.version), latest.tags[STATE_TAG])
                if PRODUCTION in (model.aliases or {}):
                    view.aliases[model.name] = str(model.aliases[PRODUCTION])
            return view
        pointers: dict[str, str] = {}
        newest: list[tuple[str, Any, str]] = []
        top: list[tuple[str, Any]] = []
        with local:
            for chunk in _chunks(names):
                among, args = (
                    (_IN_WORKSPACES, ()) if chunk is None else (_AMONG + f"({','.join('?' * len(chunk))})", chunk)
                )
                pointers.update(
                    local.execute(
                        "SELECT name, value FROM registered_model_tags WHERE key = ?" + among, (STATE_TAG, *args)
                    ).fetchall()
                )
                newest += local.execute(  # the newest version that carries a state: two index lookups per model
                    "SELECT t.name, t.version, t.value FROM (SELECT workspace, name, max(version) AS version "
                    f"FROM model_version_tags WHERE key = ?{among} GROUP BY workspace, name) m "
                    "JOIN model_version_tags t "
                    "ON t.workspace = m.workspace AND t.key = ? AND t.name = m.name AND t.version = m.version",
                    (STATE_TAG, *args, STATE_TAG),
                ).fetchall()
                top += local.execute(
                    "SELECT name, max(version) FROM model_versions "
                    f"WHERE current_stage != 'Deleted_Internal'{among} GROUP BY workspace, name",
                    args,
                ).fetchall()
            aliases = self._local_aliases(local, PRODUCTION) if with_aliases else {}
        return RegistryView(
            pointers,
            {name: (str(version), value) for name, version, value in newest},
            aliases,
            {name: str(version) for name, version in top},
        )

    @staticmethod
    def _local_aliases(local: sqlite3.Connection, alias: str) -> dict[str, str]:
        rows = local.execute("SELECT name, version FROM registered_model_aliases WHERE alias = ?", (alias,))
        return {name: str(version) for name, version in rows.fetchall()}

    def aliases(self, alias: str = PRODUCTION) -> dict[str, str]:
        local = self._local_registry()
        if local is not None:
            with local:
                return self._local_aliases(local, alias)
        return {m.name: str(m.aliases[alias]) for m in self._all_registered_models() if alias in (m.aliases or {})}

    def models(self) -> list[str]:
        local = self._local_registry()
        if local is not None:
            with local:
                return [r[0] for r in local.execute("SELECT name FROM registered_models ORDER BY name")]
        return sorted(m.name for m in self._all_registered_models())

    def _all_registered_models(self) -> list[Any]:
        models: list[Any] = []
        token = None
        with mlflow_errors("cannot list registered models"):
            while True:
                page = self.client.search_registered_models(max_results=1000, page_token=token)
                models.extend(page)
                token = page.token
                if not token:
                    return models

    def find_fingerprint(self, name: str, fingerprint: str) -> str | None:
        state = self.states().get(name)
        return state.fingerprints.get(fingerprint) if state else None
