"""The MLflow tracker on a real sqlite store: the Tracker conformance suite, and a store plain SQLite reads."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tusk.core.config import Config
from tusk.testing import TrackerSuite
from tusk.tracking.mlflow import MlflowTracker


def sqlite_tracker(tmp_path: Path) -> MlflowTracker:
    config = Config(root=tmp_path, path=tmp_path / "tusk.toml")
    return MlflowTracker("sqlite:///.tusk/mlflow.db", config)


class TestMlflowSqlite(TrackerSuite):
    @pytest.fixture
    def tracker(self, tmp_path: Path) -> MlflowTracker:
        tracker = sqlite_tracker(tmp_path)
        tracker.ensure_ready()
        return tracker

    def delete_version(self, tracker: Any, name: str, version: str) -> None:
        from mlflow.tracking import MlflowClient

        MlflowClient(tracking_uri=tracker.url, registry_uri=tracker.url).delete_model_version(name, version)


def test_store_is_plain_sqlite_and_starts_empty(tmp_path: Path) -> None:
    tracker = sqlite_tracker(tmp_path)
    tracker.ensure_ready()
    assert tracker.states() == {} and tracker.aliases() == {}
    db = tracker.sqlite_path
    out = subprocess.run(
        [
            "/usr/bin/python3",
            "-c",
            "import sqlite3,sys;"
            "print(sqlite3.connect(sys.argv[1]).execute('select count(*) from experiments').fetchone()[0])",
            str(db),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and int(out.stdout) >= 1, out.stderr


def test_a_store_in_rollback_mode_is_switched_to_a_write_ahead_log(tmp_path: Path) -> None:
    """A store made before (SQLite's default rollback journal) commits to a write-ahead log once tusk opens it."""
    db = tmp_path / ".tusk" / "mlflow.db"
    db.parent.mkdir()
    mode = [
        "/usr/bin/python3",
        "-c",
        "import sqlite3,sys; c = sqlite3.connect(sys.argv[1]);"
        "print(c.execute('pragma journal_mode' + sys.argv[2]).fetchone()[0])",
        str(db),
    ]
    assert subprocess.run([*mode, "=delete"], capture_output=True, text=True).stdout.strip() == "delete"
    tracker = sqlite_tracker(tmp_path)
    tracker.ensure_ready()
    assert subprocess.run([*mode, ""], capture_output=True, text=True).stdout.strip() == "wal"
    assert tracker.states() == {}


def test_a_checkpoint_bounds_the_write_ahead_log_where_doltlite_stops_sqlite_doing_it(tmp_path: Path) -> None:
    """This process has loaded doltlite, whose build never copies the log back by itself (SQLite does every 1000
    pages): ``checkpoint`` does, once the log passes its limit, and a plain reader sees every row."""
    import sqlite3

    from tusk._internal.sqlite import checkpoint, create_plain_sqlite

    db = tmp_path / "store.db"
    create_plain_sqlite(db)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x)")
    for _ in range(1500):
        conn.execute("INSERT INTO t VALUES (?)", ("x" * 2000,))
        conn.commit()
    wal = tmp_path / "store.db-wal"
    grown = wal.stat().st_size
    assert grown > 1500 * 2000, "doltlite's SQLite copies the log back by itself now: checkpoint() may be moot"
    checkpoint(db, over=grown)  # under its limit: left alone
    assert wal.stat().st_size == grown
    checkpoint(db, over=1 << 20)
    assert wal.stat().st_size == 0 and db.stat().st_size > 1500 * 2000
    conn.close()
    out = subprocess.run(
        [
            "/usr/bin/python3",
            "-c",
            "import sqlite3,sys;print(sqlite3.connect(sys.argv[1]).execute('select count(*) from t').fetchone()[0])",
            str(db),
        ],
        capture_output=True,
        text=True,
    )
    assert out.stdout.strip() == "1500", out.stderr
