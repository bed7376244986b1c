"""Names that reach SQL: which table, column and ref names tusk accepts, and the one way an identifier is
quoted (in the data store's SQL dialect). Pure: no driver, no I/O."""

from __future__ import annotations

import re

from tusk.data.base import SCRATCH_PREFIX
from tusk.errors import DataError

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REF = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/-]{0,199}$")
BACKTICK_DIALECTS = frozenset({"mysql", "bigquery", "spark", "databricks", "hive", "doris", "starrocks"})


def check_identifier(name: str, what: str = "table") -> str:
    """Table and column names: letters, digits and underscores, not starting with a digit."""
    if not isinstance(name, str) or not _NAME.match(name) or name.lower().startswith(("dolt_", "sqlite_")):
        raise DataError(f"invalid {what} name {name!r}: use letters, digits and _ (not starting with a digit)")
    return name


RESERVED_PREFIX = "tusk_"  # tusk's own tables (reviews, their comments, the sources' last syncs)


def check_user_table(name: str) -> str:
    """A table a person may write (import, sync): a valid name that is not one of tusk's own."""
    check_identifier(name)
    if name.lower().startswith(RESERVED_PREFIX):
        raise DataError(
            f"table {name!r} is reserved: names starting with {RESERVED_PREFIX} are tusk's own "
            f"(reviews, comments, syncs); import into another table"
        )
    return name


META_BRANCH = "tusk-reviews"  # the reviews' conversation (tusk.review.meta): tusk writes it, never a person


def check_user_branch(name: str | None, doing: str) -> None:
    """A branch a person may write (import onto, revert on, create, delete): not tusk's ``tusk-reviews``."""
    if name == META_BRANCH:
        raise DataError(
            f"{META_BRANCH} is tusk's own branch (the reviews' conversation, not data): cannot {doing} "
            f"it; tusk review comment|edit|close write to it"
        )


def check_ref_name(name: str, what: str = "branch") -> str:
    if not _REF.match(name or "") or ".." in name or name.endswith((".", "/")):
        raise DataError(f"invalid {what} name {name!r}: use letters, digits, '.', '_', '-' and '/'")
    if name.startswith(SCRATCH_PREFIX):
        raise DataError(f"invalid {what} name {name!r}: {SCRATCH_PREFIX} is kept for tusk's merge previews")
    return name


def quote_identifier(name: str, dialect: str = "sqlite") -> str:
    """``name`` as one identifier of ``dialect`` (a sqlglot dialect name): "x" in SQLite and standard SQL,
    `x` in MySQL's family; a quote inside is doubled."""
    mark = "`" if dialect in BACKTICK_DIALECTS else '"'
    return mark + name.replace(mark, mark * 2) + mark
