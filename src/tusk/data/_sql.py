"""SQL helpers shared by the doltlite store's modules: names checked before they reach SQL, quoting, and
sqlite3 errors mapped to ``tusk.errors`` (``_errors``) so that driver errors never leak."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from tusk.data.base import SCRATCH_PREFIX
from tusk.errors import DataError, RefNotFound

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REF = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/-]{0,199}$")


def check_identifier(name: str, what: str = "table") -> str:
    """Table and column names: letters, digits and underscores, not starting with a digit."""
    if not isinstance(name, str) or not _NAME.match(name) or name.lower().startswith(("dolt_", "sqlite_")):
        raise DataError(f"invalid {what} name {name!r}: use letters, digits and _ (not starting with a digit)")
    return name


def check_ref_name(name: str, what: str = "branch") -> str:
    if not _REF.match(name or "") or ".." in name or name.endswith((".", "/")):
        raise DataError(f"invalid {what} name {name!r}: use letters, digits, '.', '_', '-' and '/'")
    if name.startswith(SCRATCH_PREFIX):
        raise DataError(f"invalid {what} name {name!r}: {SCRATCH_PREFIX} is kept for tusk's merge previews")
    return name


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@contextmanager
def _errors(action: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        message = str(exc).splitlines()[0]
        if "not found" in message and ("branch" in message or "revision" in message):
            raise RefNotFound(f"{action}: {message}") from exc
        if "no such table" in message:
            raise RefNotFound(f"{action}: {message}") from exc
        raise DataError(f"{action}: {message}") from exc


def image(values: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """One side of a dolt_diff or dolt_conflicts row: the ``prefix``ed columns, without Dolt's own."""
    skip = {f"{prefix}commit", f"{prefix}commit_date", f"{prefix}diff_type"}
    return {k[len(prefix):]: v for k, v in values.items() if k.startswith(prefix) and k not in skip}
