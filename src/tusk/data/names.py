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


MAX_COLUMN_NAME = 200


def check_column_name(name: str, what: str = "column") -> str:
    """A column name as a spreadsheet's header writes it: any printable text (``Customer Name``, ``Price (€)``),
    quoted wherever tusk puts it in SQL; not empty, no control characters, no spaces around it, at most
    ``MAX_COLUMN_NAME`` characters, and not one of the database's own (``dolt_``, ``sqlite_``)."""
    if not isinstance(name, str) or not name or name != name.strip():
        raise DataError(f"invalid {what} name {name!r}: empty or with spaces around it")
    if len(name) > MAX_COLUMN_NAME or any(not ch.isprintable() for ch in name):
        shown = name if len(name) <= 60 else name[:60] + "…"
        raise DataError(f"invalid {what} name {shown!r}: control characters or more than {MAX_COLUMN_NAME} characters")
    if name.lower().startswith(("dolt_", "sqlite_")):
        raise DataError(f"invalid {what} name {name!r}: dolt_ and sqlite_ names are the database's own")
    return name


def normalize_column_name(name: str) -> str:
    """``Customer Name`` → ``customer_name``, ``Price (€)`` → ``price``, ``2024 total`` → ``c_2024_total``: lower
    case, letters and digits kept (accents taken off), everything else one ``_``."""
    import unicodedata

    plain = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    words = re.sub(r"[^a-z0-9]+", "_", plain.lower()).strip("_")
    if not words:
        return name.strip()  # nothing to keep: the header check names it
    return "c_" + words if words[0].isdigit() else words


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
