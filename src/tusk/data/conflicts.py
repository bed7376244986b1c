"""Merge conflicts as a CSV file a person resolves row by row in a spreadsheet.

``tusk data merge fix --conflicts-file conflicts.csv`` writes one line per conflicting row: ``table``, an empty
``resolution`` column to fill with ``ours`` (keep the data branch's row) or ``theirs`` (take the branch's),
how each side changed the row (``ours_change``, ``theirs_change``: modified, added or removed), the key
(``key.<column>``), then every other column as the common ancestor had it and as each side has it
(``base.<column>``, ``ours.<column>``, ``theirs.<column>``), and the two branch heads it was written at
(``ours_head``, ``theirs_head``). ``tusk data merge fix --resolve conflicts.csv`` merges again and applies the
choices; if either branch moved since the file was written, or the conflicting rows are not the file's,
nothing is applied and the file has to be written again. Values may be reformatted by a spreadsheet: only
the table, key, resolution and head columns are read back. Cells a spreadsheet would run as formulas are
neutralized as CSV export does (a leading apostrophe), and taken off again when the file is read back.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tusk._internal.output import write_file
from tusk.data.export import cell, neutralize, unneutralize
from tusk.errors import DataError

FIXED = ["table", "resolution", "ours_change", "theirs_change"]
HEADS = ["ours_head", "theirs_head"]
CHOICES = ("ours", "theirs")


def _layout(conflicts: Sequence[dict[str, Any]]) -> tuple[list[str], list[str]]:
    keys: list[str] = []
    columns: list[str] = []
    for conflict in conflicts:
        for key in conflict["key"]:
            if key not in keys:
                keys.append(key)
        for side in ("base", "ours", "theirs"):
            for column in conflict[side] or {}:
                if column not in conflict["key"] and column not in columns:
                    columns.append(column)
    return keys, columns


def _line(conflict: dict[str, Any], keys: list[str], columns: list[str]) -> dict[str, str]:
    line = {
        "table": conflict["table"],
        "resolution": "",
        "ours_change": cell(conflict.get("ours_change")),
        "theirs_change": cell(conflict.get("theirs_change")),
    }
    line.update({f"key.{k}": cell(conflict["key"].get(k)) for k in keys})
    for column in columns:
        for side in ("base", "ours", "theirs"):
            line[f"{side}.{column}"] = cell((conflict[side] or {}).get(column))
    return line


def write_conflicts(conflicts: Sequence[dict[str, Any]], path: Path, heads: tuple[str, str]) -> Path:
    """The conflicts of merging a branch at ``heads[1]`` into one at ``heads[0]``, with empty resolutions."""
    keys, columns = _layout(conflicts)
    header = (
        FIXED
        + [f"key.{k}" for k in keys]
        + [f"{side}.{c}" for c in columns for side in ("base", "ours", "theirs")]
        + HEADS
    )

    def write(raw: Any) -> None:
        handle = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        writer = csv.DictWriter(handle, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        for conflict in conflicts:
            line = {name: neutralize(value) for name, value in _line(conflict, keys, columns).items()}
            writer.writerow({**line, "ours_head": heads[0], "theirs_head": heads[1]})
        handle.flush()
        handle.detach()

    write_file(path, write)  # a regular file, written whole (a link or a FIFO is refused)
    return path


def _identity(line: dict[str, str], keys: list[str]) -> tuple[str, ...]:
    return (line.get("table", ""), *[line.get(f"key.{k}", "") for k in keys])


def read_resolutions(path: Path, heads: tuple[str, str]) -> Callable[[list[dict[str, Any]]], list[str]]:
    """The choices of a filled-in conflicts file, as a resolution for ``DataStore.merge`` of a branch at
    ``heads[1]`` into one at ``heads[0]``. The file is read and checked now (an error names the row); the
    rows are matched with the merge's conflicts when it runs."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            lines = [
                {name: unneutralize(value) if isinstance(value, str) else value for name, value in line.items()}
                for line in csv.DictReader(handle)
            ]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read the conflicts file ({exc})") from exc
    if not lines or any(c not in lines[0] for c in ("table", "resolution", *HEADS)):
        raise DataError(f"{path}: not a conflicts file (write one with tusk data merge BRANCH --conflicts-file FILE)")
    for number, line in enumerate(lines, start=2):
        if (line.get("ours_head"), line.get("theirs_head")) != heads:
            raise DataError(
                f"{path}: the branches moved since this file was written (row {number}); write it again "
                f"with --conflicts-file; nothing was merged"
            )
        choice = (line.get("resolution") or "").strip().lower()
        if choice not in CHOICES:
            raise DataError(f"{path}: row {number}: resolution must be ours or theirs, got {line.get('resolution')!r}")
        line["resolution"] = choice

    def resolve(conflicts: list[dict[str, Any]]) -> list[str]:
        keys, _ = _layout(conflicts)
        wanted = [(c["table"], *[cell(c["key"].get(k)) for k in keys]) for c in conflicts]
        given = {_identity(line, keys): line["resolution"] for line in lines}
        if set(wanted) != set(given) or len(given) != len(lines):
            raise DataError(
                f"{path}: the conflicting rows are not the ones in this file ({len(wanted)} now, "
                f"{len(lines)} in the file); write it again with --conflicts-file; nothing was merged"
            )
        return [given[identity] for identity in wanted]

    return resolve
