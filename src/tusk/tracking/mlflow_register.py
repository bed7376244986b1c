"""Registering versions and moving production: a trained version with its state tag and alias, a review's
candidate, a reuse, a rollback, the moves of a release; and the repair of what a killed registration left."""

from __future__ import annotations

import json
from collections.abc import Mapping

from tusk._internal.crash import crash_point
from tusk.core.promote import moved_to, promotion, pushed, rollback_target
from tusk.errors import TrackingError
from tusk.tracking import tags as T
from tusk.tracking.base import CANDIDATES_TAG, PRODUCTION, STATE_TAG, InstanceState, TrainRecord
from tusk.tracking.mlflow_errors import mlflow_errors
from tusk.tracking.mlflow_registry import MlflowRegistry, _candidate_entries
from tusk.tracking.mlflow_runs import MlflowRuns
from tusk.tracking.mlflow_store import _quote
from tusk.tracking.mlflow_versions import MlflowVersions
from tusk.tracking.state import advance, pointer_json, resolve, version_state

CANDIDATES_TAG_SIZE = 4000  # registered-model tag values hold 5000 characters on a SQL server


def _fit(entries: dict[str, list[str]]) -> str:
    """The newest candidates that fit in one registered-model tag."""
    items = list(entries.items())
    while True:
        text = json.dumps(dict(items), separators=(",", ":"))
        if len(text) <= CANDIDATES_TAG_SIZE or len(items) <= 1:
            return text
        items = items[1:]


class MlflowRegistrations(MlflowRuns, MlflowRegistry, MlflowVersions):
    def register(self, record: TrainRecord, previous: InstanceState | None = None) -> str:
        """A new model version carrying its state; production alias per the promotion rule.

        Two calls after the run on a local store (three for a new model; one more on a server): the version
        (with its ``tusk.state`` tag) and the alias. A kill between any two leaves something the next reader
        understands (``tracking.state``)."""
        state = record.state
        if record.run_id is None:
            self.log_run(record)
        crash_point("register.run")
        promote, why = promotion(record.promote_if, record.metrics)
        tags = {**record.tags, STATE_TAG: version_state(state, previous, promote)}
        if why:
            tags[T.NOT_PROMOTED] = why
        with mlflow_errors(f"cannot register {state.name}"):
            existed = previous is not None or self._exists(state.name)
            if not existed:
                self.client.create_registered_model(state.name, description=f"tusk instance of {state.spec}")
                crash_point("register.model")
            source = f"{record.artifact_uri or self.client.get_run(record.run_id).info.artifact_uri}/model"
            version = str(
                self.client.create_model_version(
                    state.name, source, run_id=record.run_id, tags=tags, await_creation_for=0
                ).version
            )
            crash_point("register.version")
            if previous is not None:
                state.fingerprints, state.production = dict(previous.fingerprints), list(previous.production)
            advance(state, version, promote)
            if promote:
                self._set_production(state.name, version)
                crash_point("register.alias")
            if (previous is None and existed) or self.sqlite_path is None:
                # a model without a readable state (its pointer may be a phantom); or a server, whose registry
                # lists only each model's newest version, which may be a review's candidate without a state
                self._write_state(state)
                crash_point("register.pointer")
        record.promoted, record.not_promoted = promote, why
        self._settle()
        return state.version

    def _set_production(self, name: str, version: str) -> None:
        """The production alias of a version tusk just registered. ``MlflowClient.set_registered_model_alias`` first
        reads the registered model back to refuse a prompt's name; a model tusk registers is never a prompt."""
        registry = getattr(self.client, "_get_registry_client", None)
        (registry() if registry is not None else self.client).set_registered_model_alias(name, PRODUCTION, version)

    def _exists(self, name: str) -> bool:
        local = self._local_registry()
        if local is not None:
            with local:
                return local.execute("SELECT 1 FROM registered_models WHERE name = ?", (name,)).fetchone() is not None
        return self.registered_model(name) is not None

    def _write_state(self, state: InstanceState) -> None:
        """The registered model's pointer (moves that create no version); it has seen ``state.latest``."""
        state.latest = str(max(int(state.latest or 0), int(state.version or 0)))
        self.client.set_registered_model_tag(state.name, STATE_TAG, pointer_json(state))

    def register_candidate(self, record: TrainRecord, review: str) -> str:
        """A version trained for ``review`` on its merge preview: no alias, the instance's state tag untouched
        (the data branch's plan does not see it as current); listed by fingerprint in ``tusk.candidates``."""
        state = record.state
        if record.run_id is None:
            self.log_run(record)
        with mlflow_errors(f"cannot register the candidate of {state.name}"):
            if not self._exists(state.name):
                from mlflow.exceptions import MlflowException

                try:
                    self.client.create_registered_model(state.name, description=f"tusk instance of {state.spec}")
                except MlflowException as exc:  # created meanwhile by another run
                    if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                        raise
            # a candidate version a killed run created and never listed (killed at candidate.version): list that
            # one, or the instance would hold two versions of one fingerprint
            left = [
                v
                for v in self._search_versions(
                    f"name = '{_quote(state.name)}' AND tags.`{T.FINGERPRINT}` = '{_quote(state.fingerprint)}'"
                )
                if (v.tags or {}).get(T.CANDIDATE) == "true"
            ]
            if left:
                version = str(max(int(v.version) for v in left))
            else:
                source = f"{record.artifact_uri or self.client.get_run(record.run_id).info.artifact_uri}/model"
                version = str(
                    self.client.create_model_version(
                        state.name, source, run_id=record.run_id, tags=record.tags, await_creation_for=0
                    ).version
                )
            crash_point("candidate.version")
            tags = self.client.get_registered_model(state.name).tags or {}
            entries = _candidate_entries(tags.get(CANDIDATES_TAG, ""))
            entries.pop(state.fingerprint, None)
            entries[state.fingerprint] = [version, review]
            self.client.set_registered_model_tag(state.name, CANDIDATES_TAG, _fit(entries))
            crash_point("candidate.listed")
        self._settle()
        return version

    def reuse(self, state: InstanceState) -> None:
        """Make ``state.version`` (an older version with the current fingerprint) current and production."""
        with mlflow_errors(f"cannot reuse {state.name} v{state.version}"):
            self.client.set_registered_model_alias(state.name, PRODUCTION, state.version)
            crash_point("reuse.alias")
            state.production = pushed(state.production, state.version)
            self._write_state(state)

    def recover(self) -> list[str]:
        """Finish what a killed registration left half-done; → one line per repair.

        A version created without its production alias gets the alias (when nobody moved production since);
        a pointer naming a version that does not exist is removed, so the instance is planned as new.
        MLflow runs a killed tusk left RUNNING on this machine are marked KILLED."""
        view = self._view()
        resolved, aliases = resolve(view, states_too=False), view.aliases
        notes = []
        with mlflow_errors("cannot repair the registry"):
            for item in resolved.unfinished:
                if aliases.get(item.name) == item.alias_before:
                    self.client.set_registered_model_alias(item.name, PRODUCTION, item.version)
                    notes.append(f"{item.name}: finished the registration of v{item.version} (production alias)")
            for name, version in resolved.phantoms.items():
                self.client.delete_registered_model_tag(name, STATE_TAG)
                notes.append(f"{name}: its state named v{version}, which was never registered; planned as new")
            for run_id in self._abandoned_runs():
                self.client.set_terminated(run_id, status="KILLED")
            if notes:
                notes.append("(a tusk command was killed while registering; nothing was trained twice)")
        return notes

    def set_alias(self, name: str, version: str, alias: str = PRODUCTION) -> None:
        with mlflow_errors(f"cannot point {name} {alias} at v{version}"):
            self.client.get_model_version(name, str(version))
            self.client.set_registered_model_alias(name, alias, str(version))
            if alias == PRODUCTION:
                state = self.states().get(name)
                if state is not None:
                    state.production = pushed(state.production, str(version))
                    self._write_state(state)

    def rollback(self, name: str, to: str | None = None) -> tuple[str | None, str]:
        """Move production back: to ``to``, or to the version it pointed to before (the production history is a
        stack: each rollback pops one). Nothing earlier: nothing moves, → (current, current). → (from, to)."""
        state = self.states().get(name)
        current = self.aliases().get(name)
        target, history = rollback_target(list(state.production) if state else [], current, to)
        if target is None:
            raise TrackingError(f"{name}: no production version to roll back to (give --to VERSION)")
        if target == current and not to:
            return current, current  # already on its first production version (a release rollback put it there)
        with mlflow_errors(f"cannot roll {name} back to v{target}"):
            self.client.get_model_version(name, target)
            self.client.set_registered_model_alias(name, PRODUCTION, target)
            if state is not None:
                state.production = history
                self._write_state(state)
        return current, target

    def move_production(self, targets: Mapping[str, str | None]) -> list[str]:
        """Point each named model's production alias at its target version, or remove it (None). The production
        history is kept as ``rollback`` keeps it: going back to a version in it pops what came after (a later
        ``models rollback`` goes further back, never forward again), a version not in it is pushed. Idempotent:
        an alias already in place is not moved again, a history already ending in the target is not changed,
        so running it again after a crash half-way finishes the job. → the names whose alias moved."""
        states, aliases = self.states(), self.aliases()
        moved = []
        for name in sorted(targets):
            target = targets[name]
            with mlflow_errors(f"cannot move {name}'s production alias"):
                if aliases.get(name) != target:
                    if target is None:
                        self.client.delete_registered_model_alias(name, PRODUCTION)
                    else:
                        self.client.set_registered_model_alias(name, PRODUCTION, target)
                    moved.append(name)
                state = states.get(name)
                if state is not None and (target is None or state.production[-1:] != [target]):
                    if target is not None:
                        state.production = moved_to(state.production, target)
                    self._write_state(state)  # also marks a removal as seen: recover() does not undo it
        return moved
