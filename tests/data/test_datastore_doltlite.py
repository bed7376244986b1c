"""The DataStore conformance suite on real doltlite files."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.datastore import DataStoreSuite
from tusk.data.doltlite import DoltliteStore


class TestDoltlite(DataStoreSuite):
    @pytest.fixture
    def store(self, tmp_path: Path) -> DoltliteStore:
        store = DoltliteStore("doltlite:///t.db", path=tmp_path / "t.db")
        store.create()
        yield store
        store.close()
