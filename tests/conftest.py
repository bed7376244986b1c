"""Shared test setup: tests import helpers from tests/ and tests/conformance/."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import tusk  # noqa: F401  (loads doltlite before anything imports sqlite3)

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
