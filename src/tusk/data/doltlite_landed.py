"""Rows of a diff that a third commit holds already: a review's rows approved per model onto the data branch.

A row that ``B`` changed since it left ``A`` (the three-dot diff, ``base → B``) has *landed* when ``A``'s head
now holds it as ``B`` does: its key is not in the two-dot diff ``A's head → B``. Finding those keys reads both
diffs once (a cost that grows with the diffs, not the table); the three commits never change, so the keys are
kept per process (a page of a review asks for them again on every request) and given to SQL as one JSON
array, so pages, filters and counts keep working with LIMIT/OFFSET on the three-dot diff.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tusk.data._sql import quote

_KEPT: dict[tuple[str, ...], Landed] = {}  # (file, table, base, end, at) → its landed rows


@dataclass
class Landed:
    """The landed rows of one table's diff: how many of each kind, and the SQL that leaves them out."""

    clause: str = ""  # over dolt_diff_<table>(base, end); empty: nothing landed
    params: list[Any] = field(default_factory=list)
    kinds: dict[str, int] = field(default_factory=dict)  # diff_type → landed rows

    @property
    def total(self) -> int:
        return sum(self.kinds.values())


def landed(
    conn: sqlite3.Connection, file: str, table: str, keys: Sequence[str], start: str, end: str, at: str
) -> Landed:
    """The rows of ``table``'s diff ``start → end`` that ``at`` holds as ``end`` does (``keys``: the primary key)."""
    cache_key = (file, table, start, end, at, *keys)
    if cache_key not in _KEPT:
        _KEPT[cache_key] = _find(conn, table, keys, start, end, at)
        while len(_KEPT) > 64:
            _KEPT.pop(next(iter(_KEPT)))
    return _KEPT[cache_key]


def _find(conn: sqlite3.Connection, table: str, keys: Sequence[str], start: str, end: str, at: str) -> Landed:
    key = ", ".join(f"COALESCE({quote('to_' + k)}, {quote('from_' + k)})" for k in keys)
    rows = conn.execute(
        f"SELECT diff_type, {key} FROM dolt_diff_{table}(?, ?) WHERE ({key}) NOT IN "
        f"(SELECT {key} FROM dolt_diff_{table}(?, ?))",
        [start, end, at, end],
    ).fetchall()
    if not rows:
        return Landed()
    kinds: dict[str, int] = {}
    for row in rows:
        kinds[row[0]] = kinds.get(row[0], 0) + 1
    values = [list(row[1:]) for row in rows]
    try:
        listed = json.dumps(values)
    except TypeError:  # a key JSON cannot hold (bytes): ask the second diff each time instead
        return Landed(f"({key}) IN (SELECT {key} FROM dolt_diff_{table}(?, ?))", [at, end], kinds)
    picked = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(keys)))
    return Landed(f"({key}) NOT IN (SELECT {picked} FROM json_each(?))", [listed], kinds)
