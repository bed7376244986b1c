"""The DataStore conformance suite on real doltlite files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tusk.data.doltlite import DoltliteStore
from tusk.testing.datastore import DataStoreSuite


class TestDoltlite(DataStoreSuite):
    @pytest.fixture
    def store(self, tmp_path: Path) -> DoltliteStore:
        store = DoltliteStore("doltlite:///t.db", path=tmp_path / "t.db")
        store.create()
        yield store
        store.close()
