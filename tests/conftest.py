"""Shared test setup: tests import helpers from tests/ and tests/conformance/."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import tusk  # noqa: F401  (loads doltlite before anything imports sqlite3)

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")


def pytest_collection_modifyitems(config: object, items: list) -> None:
    """Ray's tests run last: once Ray's gRPC client has run in this process, a forked local worker can
    crash (gRPC threads do not survive fork), and the local executor's tests fork."""
    items.sort(key=lambda item: item.get_closest_marker("ray") is not None)
