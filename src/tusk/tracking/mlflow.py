"""The MLflow tracker: one run per job, one registered model version per trained instance.

``import mlflow`` costs about two seconds, so it happens only when something is written or a version is
looked up. The two reads that planning and releasing need for *every* instance (the current state of each
registered model, the production aliases) are one registry query each; on a local sqlite store they read
MLflow's registry tables directly, read-only, which keeps ``tusk plan`` well under a second for 1000 models.

A sqlite store is created as a plain SQLite file (not doltlite, see ``tusk._internal.sqlite``) and migrated once,
before any parallel work, so a plain ``mlflow ui --backend-store-uri sqlite:///...`` reads everything.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import tempfile
import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tusk._internal.crash import crash_point
from tusk._internal.process import process_alive
from tusk._internal.sqlite import checkpoint, create_plain_sqlite, fast_commits
from tusk.core.config import Config, url_path
from tusk.core.promote import moved_to, promotion, pushed, rollback_target
from tusk.errors import ModelNotFound, TrackingError
from tusk.tracking import tags as T
from tusk.tracking.base import (
    CANDIDATES_TAG,
    PRODUCTION,
    STATE_TAG,
    CandidateRef,
    FailedJob,
    FailureRecord,
    InstanceState,
    TrainRecord,
    VersionInfo,
)
from tusk.tracking.state import RegistryView, advance, pointer_json, resolve, version_state

if TYPE_CHECKING:
    from tusk.tracking.mlflow_releases import MlflowReleases

EXPERIMENT = "tusk"
RunRow = tuple[str, str, int, dict[str, str]]  # run id, status, start time (ms), tags
OWNER_TAG = T.OWNER  # host:pid of the tusk process that made a run
METRICS_PER_BATCH, PARAMS_PER_BATCH = 900, 100  # log_batch: ≤ 1,000 metrics, ≤ 100 params, ≤ 1,000 in all
CANDIDATES_TAG_SIZE = 4000  # registered-model tag values hold 5000 characters on a SQL server


def driver_errors() -> tuple[type[BaseException], ...]:
    """The exception types MLflow's client raises: its own, its SQL store's, its HTTP client's, sqlite's."""
    import requests
    import sqlalchemy.exc
    from mlflow.exceptions import MlflowException

    return MlflowException, sqlalchemy.exc.SQLAlchemyError, requests.RequestException, sqlite3.Error


def not_found(exc: BaseException) -> bool:
    """Whether MLflow says what was asked for does not exist (a typed error code, over REST and SQL alike)."""
    return getattr(exc, "error_code", None) == "RESOURCE_DOES_NOT_EXIST"


@contextmanager
def mlflow_errors(action: str) -> Iterator[None]:
    """The one place MLflow's exceptions become tusk's: ModelNotFound when MLflow says the model or version does
    not exist, TrackingError for the rest; each one line."""
    try:
        yield
    except TrackingError:
        raise
    except Exception as exc:
        if not isinstance(exc, driver_errors()):
            raise
        message = str(getattr(exc, "message", exc)).strip().splitlines()
        text = f"{action}: {message[0][:300] if message else type(exc).__name__}"
        raise (ModelNotFound(text) if not_found(exc) else TrackingError(text)) from exc


SQLITE_HEADER = b"SQLite format 3\x00"
REACH_TIMEOUT = 5.0  # seconds to connect to a tracking server or database before saying it cannot be reached
_PORTS = {"http": 80, "https": 443, "postgresql": 5432, "mysql": 3306, "mssql": 1433}


def _check_sqlite(url: str, path: Path) -> None:
    """A sqlite tracking store that is not one (a folder, /etc/passwd, a doltlite file) is one line at once, not
    MLflow's engine retried for minutes ("Operation will be retried in 51.1 seconds")."""
    if path.is_dir():
        raise TrackingError(f"tracking url {url}: {path} is a folder, not an SQLite database file")
    try:
        with open(path, "rb") as file:
            header = file.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise TrackingError(f"tracking url {url}: cannot read {path}: {exc.strerror or exc}") from exc
    if header and header != SQLITE_HEADER:
        raise TrackingError(
            f"tracking url {url}: {path} is not an SQLite database (point [tracking] url at "
            "a new file, e.g. sqlite:///.tusk/mlflow.db)"
        )


ARTIFACTS = "/.tusk/artifacts"
_LOCATIONS = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("model_versions", "source"),
    ("model_versions", "storage_location"),
    ("logged_models", "artifact_location"),
)


def relocate_artifacts(store: Path, root_uri: str) -> None:
    """A project copied or moved (its folder and with it ``.tusk/mlflow.db`` and ``.tusk/artifacts``): MLflow
    stores absolute ``file:`` URIs (experiments' artifact_location, runs' artifact_uri, versions' source), which
    still name the old folder. They are rewritten to ``root_uri`` in one transaction, so the copy writes its
    artifacts into its own folder and reads its old ones from there, and plain MLflow (``mlflow ui``,
    ``models:/NAME@production``) finds them too. A look at one row when nothing moved."""
    if not store.is_file() or store.stat().st_size == 0:
        return
    conn = sqlite3.connect(f"file:{store}?doltlite_engine=sqlite", uri=True, timeout=30, isolation_level=None)
    try:
        old = _artifact_root_of(conn)
        if old is None or old == root_uri:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            if _artifact_root_of(conn) == old:  # not relocated meanwhile by another process
                for table, column in _LOCATIONS:
                    if column in {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}:
                        conn.execute(
                            f"UPDATE {table} SET {column} = ? || substr({column}, ?) "
                            f"WHERE {column} = ? OR substr({column}, 1, ?) = ?",
                            (root_uri, len(old) + 1, old, len(old) + 1, old + "/"),
                        )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        raise TrackingError(f"cannot move the artifact locations of {store} to {root_uri}: {exc}") from exc
    finally:
        conn.close()


def _artifact_root_of(conn: sqlite3.Connection) -> str | None:
    """The artifact root that tusk's experiments name (None before MLflow made its tables or tusk its experiment)."""
    try:
        row = conn.execute("SELECT artifact_location FROM experiments WHERE name = ?", (EXPERIMENT,)).fetchone()
    except sqlite3.OperationalError:
        return None
    location = str(row[0]) if row and row[0] else ""
    return location if location.endswith(ARTIFACTS) else None


def _check_reachable(url: str) -> None:
    """A tracking server or database that does not answer is one line within REACH_TIMEOUT seconds, instead of
    MLflow's retries (minutes with backoff)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0].lower()
    try:
        host, port = parts.hostname, parts.port or _PORTS.get(scheme)
    except ValueError as exc:
        raise TrackingError(f"tracking url {url!r}: {exc}") from exc
    if not host or port is None:
        return
    try:
        socket.create_connection((host, port), timeout=REACH_TIMEOUT).close()
    except OSError as exc:
        raise TrackingError(
            f"tracking url {url}: cannot reach {host}:{port} ({exc.strerror or type(exc).__name__})"
        ) from exc


class MlflowTracker:
    def __init__(self, url: str, config: Config) -> None:
        self.config = config
        self.sqlite_path: Path | None = None
        if url.startswith("sqlite:"):
            self.sqlite_path = url_path(url, config.root)
            url = f"sqlite:///{self.sqlite_path}"
        self.url = url
        self.artifact_root = (config.root / ".tusk" / "artifacts").resolve()
        self._ready = False

    # ----- setup -------------------------------------------------------------------------------
    @cached_property
    def client(self) -> Any:
        import logging
        import os

        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # stdout is for tusk's --json
        for chatty in ("mlflow.store.db.utils", "alembic"):  # "Creating initial MLflow database tables..."
            logging.getLogger(chatty).setLevel(logging.WARNING)
        from mlflow.tracking import MlflowClient

        if self.sqlite_path is not None:
            _check_sqlite(self.url, self.sqlite_path)
            try:
                create_plain_sqlite(self.sqlite_path)
            except (OSError, sqlite3.Error) as exc:
                raise TrackingError(f"tracking url {self.url}: cannot create {self.sqlite_path}: {exc}") from exc
            if self.sqlite_path.resolve().is_relative_to(self.artifact_root.parent.parent):
                # a store inside the project moved with it; one outside it (a team's shared file) names the
                # folders of whichever project trained each run, and those stay as they are
                relocate_artifacts(self.sqlite_path, self.artifact_root.as_uri())
            fast_commits(self.sqlite_path)
        else:
            _check_reachable(self.url)
        return MlflowClient(tracking_uri=self.url, registry_uri=self.url)

    def ensure_ready(self) -> None:
        """Create and migrate the store once (parallel first-time migrations crash), and the experiment."""
        if not self._ready:
            with mlflow_errors(f"cannot open the tracking store {self.url}"):
                _ = self.experiment_id
            self._ready = True

    @cached_property
    def experiment_id(self) -> str:
        return self._experiment(EXPERIMENT)

    def _experiment(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        location = self.artifact_root.as_uri() if self.sqlite_path is not None else None
        return str(self.client.create_experiment(name, artifact_location=location))

    def _local_registry(self) -> sqlite3.Connection | None:
        """A read-only connection to a local sqlite store that MLflow has already migrated."""
        if self.sqlite_path is None or not self.sqlite_path.is_file():
            return None
        try:
            conn = sqlite3.connect(f"file:{self.sqlite_path}?mode=ro", uri=True)
            conn.execute("SELECT name, key, value FROM registered_model_tags LIMIT 0")
            conn.execute("SELECT name, alias, version FROM registered_model_aliases LIMIT 0")
            # the last tables MLflow creates: a store another process (the recorder) is still creating is not read
            conn.execute("SELECT name, version, key, value FROM model_version_tags LIMIT 0")
            conn.execute("SELECT name, version, current_stage FROM model_versions LIMIT 0")
            return conn
        except sqlite3.Error:
            return None

    # ----- reads for every instance at once ------------------------------------------------------
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

    def registry_stamp(self) -> str | None:
        """A digest of the rows states() and candidates() are made of, read without parsing them (a local store
        only: through a server that would cost what states() does)."""
        import hashlib

        local = self._local_registry()
        if local is None:
            return None
        local.close()
        view = self._view(with_aliases=False)
        rows = (
            sorted(view.pointers.items()),
            sorted(view.newest.items()),
            sorted(view.top.items()),
            sorted(self._registered_model_tags(CANDIDATES_TAG).items()),
            sorted((f.name, f.run_id) for f in self.failures().values()),
        )
        return hashlib.sha256(repr(rows).encode()).hexdigest()

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

    # ----- writes ------------------------------------------------------------------------------
    def log_run(self, record: TrainRecord, status: str = "FINISHED") -> str:
        """A run with params, metrics, tags, the model files under ``model/`` and the job log under ``logs/``."""
        from mlflow.entities import Metric, Param

        self.ensure_ready()
        now = int(time.time() * 1000)
        with mlflow_errors(f"cannot log the run of {record.state.name}"):
            tags = {**record.tags, **record.run_tags}
            run = self.client.create_run(
                self.experiment_id,
                run_name=record.state.name,
                tags={**{k: v[:8000] for k, v in tags.items()}, OWNER_TAG: owner()},
            )
            run_id = run.info.run_id
            try:
                metrics = [Metric(k, float(v), now, 0) for k, v in record.metrics.items()]
                params = [Param(k, _param_text(v)) for k, v in sorted(record.params.items())]
                # in batches MLflow takes (the run's name tag came with create_run)
                batches = max(-(-len(metrics) // METRICS_PER_BATCH), -(-len(params) // PARAMS_PER_BATCH))
                for i in range(batches):
                    self.client.log_batch(
                        run_id,
                        metrics=metrics[i * METRICS_PER_BATCH : (i + 1) * METRICS_PER_BATCH],
                        params=params[i * PARAMS_PER_BATCH : (i + 1) * PARAMS_PER_BATCH],
                    )
                self._log_artifacts(run_id, run.info.artifact_uri, record)
            except Exception:  # not left RUNNING, for the next command to call KILLED
                self.client.set_terminated(run_id, status="FAILED")
                raise
            self.client.set_terminated(run_id, status=status)
        record.run_id, record.artifact_uri = run_id, run.info.artifact_uri
        return str(run_id)

    def log_failure(self, record: FailureRecord) -> str:
        """A FAILED run: the job's params, its tags (as a success's), its error (``tusk.error``, the last line; the
        whole in MLflow's note) and its ``job.log``. No version is registered."""
        from mlflow.entities import Param

        self.ensure_ready()
        with mlflow_errors(f"cannot record the failed job of {record.name}"):
            tags = {**record.tags, **record.run_tags, "mlflow.note.content": record.error[-7000:]}
            run = self.client.create_run(
                self.experiment_id,
                run_name=record.name,
                tags={**{k: v[:8000] for k, v in tags.items()}, OWNER_TAG: owner()},
            )
            run_id = run.info.run_id
            crash_point("failure.run")
            if record.params:
                self.client.log_batch(
                    run_id, params=[Param(k, _param_text(v)) for k, v in sorted(record.params.items())]
                )
            if record.log_file and record.log_file.is_file():
                self._uploader(run_id, run.info.artifact_uri).log_artifact(str(record.log_file), None)
            self.client.set_terminated(run_id, status="FAILED")
            crash_point("failure.recorded")
        self._settle()
        return str(run_id)

    def failures(self, names: Collection[str] | None = None) -> dict[str, FailedJob]:
        """Each instance's newest FAILED run of the training experiment (local store: one query, no MLflow)."""
        keys = (T.INSTANCE, T.FINGERPRINT, T.DATA_COMMIT, T.ERROR)
        runs: dict[str, tuple[int, str, dict[str, str]]] = {}
        if names is not None and not names:
            return {}
        if self.sqlite_path is None:
            # a server returns the FAILED runs of tusk's instances only (not every run of the experiment: a
            # search over all of them cost O(runs) per plan), and one instance's when one is asked for
            where = f"attributes.status = 'FAILED' AND tags.`{T.INSTANCE}` IS NOT NULL"
            only = next(iter(names)) if names is not None and len(names) == 1 else None
            if only is not None:
                where += f" AND tags.`{T.INSTANCE}` = '{_quote(only)}'"
            for run_id, status, start, tags in self._experiment_runs_remote(EXPERIMENT, False, where):
                if status == "FAILED":
                    runs[run_id] = (start, "", tags)
        else:
            local = self._local_registry()
            if local is None:
                return {}
            with local:
                try:
                    rows = local.execute(
                        "SELECT r.run_uuid, r.start_time, r.artifact_uri, t.key, t.value FROM runs r "
                        "JOIN experiments e ON r.experiment_id = e.experiment_id "
                        "JOIN tags t ON t.run_uuid = r.run_uuid "
                        "WHERE e.name = ? AND r.status = 'FAILED' AND r.lifecycle_stage = 'active' "
                        f"AND t.key IN ({', '.join('?' * len(keys))})",
                        (EXPERIMENT, *keys),
                    ).fetchall()
                except sqlite3.Error:  # no runs table yet
                    return {}
            for run_id, start, uri, key, value in rows:
                runs.setdefault(run_id, (int(start or 0), uri or "", {}))[2][key] = value
        found: dict[str, FailedJob] = {}
        for run_id, (start, uri, tags) in runs.items():
            name = tags.get(T.INSTANCE, "")
            if not name or (names is not None and name not in names):
                continue
            if name not in found or (start, run_id) > (found[name].time_ms, found[name].run_id):
                found[name] = FailedJob(
                    name,
                    tags.get(T.FINGERPRINT, ""),
                    tags.get(T.DATA_COMMIT, ""),
                    tags.get(T.ERROR, "failed"),
                    run_id,
                    start,
                    f"{uri.rstrip('/')}/job.log" if uri else "",
                )
        return found

    def failure_log(self, failure: FailedJob) -> tuple[str, str]:
        with mlflow_errors(f"cannot read the log of {failure.name}'s failed run"):
            root = str(self.client.get_run(failure.run_id).info.artifact_uri).rstrip("/")
            text = self._artifact_text(f"{root}/job.log")
        if text is None:
            raise TrackingError(f"{failure.name}: its failed run {failure.run_id} has no job.log artifact")
        return text, f"{root}/job.log"

    def _log_artifacts(self, run_id: str, artifact_uri: str, record: TrainRecord) -> None:
        upload = self._uploader(run_id, artifact_uri)
        output = record.output_dir
        staging = output.parent  # the job folder holds model/ and job.log side by side
        if output.name == "model" and record.log_file and record.log_file.parent == staging:
            upload.log_artifacts(str(staging), None)
            return
        if output.is_dir():
            upload.log_artifacts(str(output), "model")
        if record.log_file and record.log_file.is_file():
            upload.log_artifact(str(record.log_file), "logs")

    def _uploader(self, run_id: str, artifact_uri: str) -> Any:
        """Where a run's files go. A local store's run folder is written directly: the client would first read
        the run back from the store to find it (a query and a commit per upload)."""
        if artifact_uri.startswith("file:"):
            from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

            return get_artifact_repository(artifact_uri)
        return _RunUploader(self.client, run_id)

    def _set_production(self, name: str, version: str) -> None:
        """The production alias of a version tusk just registered. ``MlflowClient.set_registered_model_alias`` first
        reads the registered model back to refuse a prompt's name; a model tusk registers is never a prompt."""
        registry = getattr(self.client, "_get_registry_client", None)
        (registry() if registry is not None else self.client).set_registered_model_alias(name, PRODUCTION, version)

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

    def _abandoned_runs(self) -> list[str]:
        """Runs left RUNNING by a tusk process of this machine that is gone (local store only)."""
        local = self._local_registry()
        if local is None:
            return []
        host = socket.gethostname()
        with local:  # training runs only: a release event's RUNNING run is finished by ReleaseStore.settle
            rows = local.execute(
                "SELECT r.run_uuid, t.value FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
                "AND t.key = ? JOIN experiments e ON e.experiment_id = r.experiment_id "
                "WHERE r.status = 'RUNNING' AND e.name = ?",
                (OWNER_TAG, EXPERIMENT),
            ).fetchall()
        return [run_id for run_id, owner in rows if _gone(owner, host)]

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

    # ----- the runs of one experiment (the release log: tusk.release.history) ---------------------------
    def experiment_runs(self, experiment: str, running_only: bool = False) -> list[RunRow]:
        """(run id, status, start time in ms, tags) of the active runs of ``experiment``, RUNNING ones only if
        asked. A local store is read directly (read-only, no ``import mlflow``); one that MLflow has not set up
        yet has none."""
        if self.sqlite_path is None:
            return self._experiment_runs_remote(experiment, running_only)
        local = self._local_registry()
        if local is None:
            return []
        with local:
            try:
                found = local.execute(
                    "SELECT r.run_uuid, r.status, r.start_time FROM runs r JOIN experiments e "
                    "ON r.experiment_id = e.experiment_id WHERE e.name = ? AND r.lifecycle_stage = 'active'"
                    + (" AND r.status = 'RUNNING'" if running_only else ""),
                    (experiment,),
                ).fetchall()
                tags: dict[str, dict[str, str]] = {}
                if found:
                    for run_id, key, value in local.execute(
                        "SELECT t.run_uuid, t.key, t.value FROM tags t JOIN runs r ON t.run_uuid = r.run_uuid "
                        "JOIN experiments e ON r.experiment_id = e.experiment_id WHERE e.name = ?",
                        (experiment,),
                    ):
                        tags.setdefault(run_id, {})[key] = value
            except sqlite3.Error:  # no runs table yet: nothing was ever recorded
                return []
        return [(run_id, status, int(start or 0), tags.get(run_id, {})) for run_id, status, start in found]

    def _experiment_runs_remote(self, experiment: str, running_only: bool, where: str = "") -> list[RunRow]:
        """The runs of ``experiment`` on a server: RUNNING ones only if asked, else those ``where`` (an MLflow
        filter string) selects."""
        with mlflow_errors(f"cannot read the runs of {experiment}"):
            found = self.client.get_experiment_by_name(experiment)
            if found is None:
                return []
            runs: list[Any] = []
            token = None
            while True:
                page = self.client.search_runs(
                    [found.experiment_id],
                    max_results=1000,
                    page_token=token,
                    filter_string="attributes.status = 'RUNNING'" if running_only else where,
                )
                runs.extend(page)
                token = page.token
                if not token:
                    break
        return [(r.info.run_id, r.info.status, int(r.info.start_time or 0), dict(r.data.tags)) for r in runs]

    def start_run(self, experiment: str, name: str, tags: Mapping[str, str]) -> str:
        """A RUNNING run in ``experiment`` (created if missing) with these tags → its id."""
        with mlflow_errors(f"cannot record a run in {experiment}"):
            run = self.client.create_run(
                self._experiment(experiment), run_name=name, tags=dict(tags), start_time=int(time.time() * 1000)
            )
        return str(run.info.run_id)

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        with mlflow_errors("cannot finish the run"):
            self.client.set_terminated(run_id, status=status)

    def find_fingerprint(self, name: str, fingerprint: str) -> str | None:
        state = self.states().get(name)
        return state.fingerprints.get(fingerprint) if state else None

    # ----- per-version reads -------------------------------------------------------------------
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

    # ----- what lineage, cost and releases ask of the registry ------------------------------------------
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

    def release_registry(self) -> MlflowReleases:
        from tusk.tracking.mlflow_releases import MlflowReleases

        return MlflowReleases(self)

    def local_registry(self) -> sqlite3.Connection | None:
        """A read-only connection to a local sqlite store that MLflow has already migrated (None otherwise)."""
        return self._local_registry()

    def experiment(self, name: str) -> str:
        """The id of experiment ``name``, created when missing."""
        return self._experiment(name)

    def registered_model(self, name: str) -> Any | None:
        """MLflow's registered model ``name``, or None when there is none."""
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_registered_model(name)
        except MlflowException as exc:
            if not_found(exc):
                return None
            raise

    def _settle(self, over: int | None = None) -> None:
        """A local store's write-ahead log copied back when it grew (see ``tusk._internal.sqlite.checkpoint``)."""
        if self.sqlite_path is not None and "client" in self.__dict__:  # written through MLflow by this process
            checkpoint(self.sqlite_path, *(() if over is None else (over,)))

    def close(self) -> None:
        """Leave the local store's log empty for the readers that come next (they cannot empty it)."""
        self._settle(over=0)


# The workspace (the first column of MLflow's keys) named, so SQLite reads a tag key's rows by its key instead of
# every tag of every version (10,000 states: 23 ms instead of 37 ms), and some models' rows by name (50 of
# 10,000 states: 0.3 ms instead of 50 ms)
_IN_WORKSPACES = " AND workspace IN (SELECT DISTINCT workspace FROM registered_models)"
_AMONG = _IN_WORKSPACES + " AND name IN "


def _chunks(names: Collection[str] | None, size: int = 500) -> Iterator[tuple[str, ...] | None]:
    """``names`` in slices that fit SQLite's limit of bound values; one None (no filter) for every name."""
    if names is None:
        yield None
        return
    listed = tuple(sorted(set(names)))
    for start in range(0, len(listed), size):
        yield listed[start : start + size]


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


def _fit(entries: dict[str, list[str]]) -> str:
    """The newest candidates that fit in one registered-model tag."""
    items = list(entries.items())
    while True:
        text = json.dumps(dict(items), separators=(",", ":"))
        if len(text) <= CANDIDATES_TAG_SIZE or len(items) <= 1:
            return text
        items = items[1:]


def owner() -> str:
    """``host:pid``, tagged on runs so that a later tusk can tell an abandoned RUNNING run from a live one."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _gone(owner_tag: str, host: str) -> bool:
    where, _, pid = owner_tag.rpartition(":")
    return where == host and pid.isdigit() and not process_alive(int(pid))


class _RunUploader:
    """A run's uploads through the client (a tracking server's artifact store)."""

    def __init__(self, client: Any, run_id: str) -> None:
        self.client, self.run_id = client, run_id

    def log_artifacts(self, local_dir: str, artifact_path: str | None) -> None:
        self.client.log_artifacts(self.run_id, local_dir, artifact_path)

    def log_artifact(self, local_file: str, artifact_path: str | None) -> None:
        self.client.log_artifact(self.run_id, local_file, artifact_path)


def _param_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)[:6000]


def _quote(name: str) -> str:
    return name.replace("'", "''")
