"""Opening an MLflow tracking store: the client (``import mlflow`` only when something needs it), a sqlite store
created as a plain SQLite file and migrated once, its artifact folder moved with the project, a server that does not
answer said in one line; the experiments, and a read-only connection to a local store's tables (the fast paths
that keep ``tusk plan`` free of MLflow)."""

from __future__ import annotations

import os
import socket
import sqlite3
from collections.abc import Collection, Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

from tusk._internal.sqlite import checkpoint, create_plain_sqlite, fast_commits
from tusk.core.config import Config, url_path
from tusk.errors import TrackingError
from tusk.tracking import tags as T
from tusk.tracking.mlflow_errors import mlflow_errors, not_found

EXPERIMENT = "tusk"
OWNER_TAG = T.OWNER  # host:pid of the tusk process that made a run
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


def _quote(name: str) -> str:
    return name.replace("'", "''")


class MlflowStore:
    def __init__(self, url: str, config: Config) -> None:
        self.config = config
        self.sqlite_path: Path | None = None
        if url.startswith("sqlite:"):
            self.sqlite_path = url_path(url, config.root)
            url = f"sqlite:///{self.sqlite_path}"
        self.url = url
        self.artifact_root = (config.root / ".tusk" / "artifacts").resolve()
        self._ready = False

    @cached_property
    def client(self) -> Any:
        import logging

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
