"""Python's csv errors, mapped in one function (``tusk.data.ingest.csv_error``): csv.Error has no subclasses or
codes, so each pattern of its text tusk reads is triggered here for real."""

from __future__ import annotations

from pathlib import Path

import pytest

from tusk.data.ingest import MAX_CELL_CHARS, _read_delimited_python
from tusk.errors import IngestError


def test_a_cell_over_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text('id,text\n1,"' + "x" * (MAX_CELL_CHARS + 10) + '"\n')
    with pytest.raises(IngestError, match=rf"row \d+: a cell of more than {MAX_CELL_CHARS:,} characters"):
        _read_delimited_python(path)


def test_any_other_csv_error_names_the_row(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text('id,text\n1,"open quote\n')
    with pytest.raises(IngestError, match=r"bad.txt: row \d+: unexpected end of data") as caught:
        _read_delimited_python(path)
    assert "more than" not in str(caught.value)
