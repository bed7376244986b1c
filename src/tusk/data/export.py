"""Export a table at any ref as the file an analyst edits and imports again: CSV, XLSX or Parquet.

The file is byte-stable: rows in key order, columns in table order, NULL as an empty cell, floats with every
digit (``repr``), and no timestamps (XLSX's document times and zip entry times are fixed), so exporting an
unchanged table twice gives the same bytes, and importing the file back (``--mode replace``) makes no commit.
A file is written beside its destination and renamed into place: a failed export leaves nothing half-written.
"""

from __future__ import annotations

import csv
import io
import os
import re
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tusk.data._sql import check_identifier, quote
from tusk.data.base import DataStore
from tusk.errors import DataError

FORMATS = ("csv", "xlsx", "parquet")
FIXED_TIME = datetime(2000, 1, 1)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
# openpyxl stamps the time of saving into docProps/core.xml whatever the workbook says: put FIXED_TIME back
_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")


@dataclass
class ExportResult:
    table: str
    ref: str
    commit: str
    format: str
    path: str | None  # None: written to standard output
    rows: int

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table, "ref": self.ref, "commit": self.commit, "format": self.format,
                "path": self.path, "rows": self.rows}


def cell(value: Any) -> str:
    """A value as a CSV shows it: NULL is an empty cell, floats keep every digit."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def choose_format(fmt: str | None, output: str | None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise DataError(f"unknown export format {fmt!r} (use {', '.join(FORMATS)})")
        return fmt
    suffix = Path(output).suffix.lower().lstrip(".") if output and output != "-" else ""
    return suffix if suffix in FORMATS else "csv"


def export_table(store: DataStore, table: str, ref: str | None = None, fmt: str | None = None,
                 output: str | None = None) -> ExportResult:
    """Write ``table`` as it is at ``ref`` (default: the data branch) to ``output`` (default: ``TABLE.FORMAT``
    in the working directory; ``-`` is standard output, CSV only)."""
    check_identifier(table)
    ref = ref or store.default_branch
    commit = store.resolve(ref)
    columns = store.columns(table, commit)
    fmt = choose_format(fmt, output)
    if output == "-" and fmt != "csv":
        raise DataError(f"{fmt} cannot go to standard output; give -o FILE")
    names = [name for name, _, _ in columns]
    keys = [name for name, _, pk in columns if pk] or names
    order = ", ".join(quote(k) for k in keys)
    sql = f"SELECT {', '.join(quote(n) for n in names)} FROM {quote(table)} ORDER BY {order}"
    rows = store.iter_query(sql, None, ref=commit)
    if output == "-":
        count = _write_csv(sys.stdout, names, rows)
        return ExportResult(table, ref, commit, fmt, None, count)
    path = Path(output) if output else Path.cwd() / f"{table}.{fmt}"
    count = _atomic(path, lambda handle: WRITERS[fmt](handle, names, rows, columns, table))
    return ExportResult(table, ref, commit, fmt, str(path), count)


def _atomic(path: Path, write: Any) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            count = int(write(out))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return count


def _write_csv(out: Any, names: list[str], rows: Iterable[tuple[Any, ...]]) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    count = 0
    for row in rows:
        writer.writerow([cell(v) for v in row])
        count += 1
    return count


def _csv_file(handle: Any, names: list[str], rows: Iterable[tuple[Any, ...]], columns: Any, table: str) -> int:
    text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
    try:
        return _write_csv(text, names, rows)
    finally:
        text.flush()
        text.detach()


def _xlsx_file(handle: Any, names: list[str], rows: Iterable[tuple[Any, ...]], columns: Any, table: str) -> int:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    book.properties.created = book.properties.modified = FIXED_TIME
    sheet = book.create_sheet(table[:31])
    sheet.append(names)
    count = 0
    for row in rows:
        cells = []
        for value in row:
            written = WriteOnlyCell(sheet, value=value.hex() if isinstance(value, bytes) else value)
            if isinstance(value, str):
                written.data_type = "s"  # text stays text, even "=1+1": no formula is ever exported
            cells.append(written)
        sheet.append(cells)
        count += 1
    raw = io.BytesIO()
    book.save(raw)
    _fixed_zip(raw.getvalue(), handle)
    return count


def _fixed_zip(data: bytes, out: Any) -> None:
    """The same zip with every entry's time fixed, so equal content gives equal bytes."""
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = info.external_attr
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
                content = _MODIFIED.sub(rb"\g<1>" + stamp + rb"\g<2>", content)
            target.writestr(entry, content)


def _parquet_file(handle: Any, names: list[str], rows: Iterable[tuple[Any, ...]], columns: Any, table: str) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = [_arrow_type(pa, sql_type) for _, sql_type, _ in columns]
    data: list[list[Any]] = [[] for _ in names]
    for row in rows:
        for index, value in enumerate(row):
            data[index].append(_parquet_value(value, types[index], pa))
    try:
        arrays = [pa.array(values, type=kind) for values, kind in zip(data, types)]
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise DataError(f"cannot export {table} as Parquet: a value does not fit its column's type ({exc})") from exc
    pq.write_table(pa.Table.from_arrays(arrays, names=names), handle)
    return len(data[0]) if data else 0


def _arrow_type(pa: Any, sql_type: str) -> Any:
    kind = sql_type.upper()
    if "INT" in kind:
        return pa.int64()
    if any(word in kind for word in ("REAL", "FLOA", "DOUB", "NUM", "DEC")):
        return pa.float64()
    return pa.string()


def _parquet_value(value: Any, kind: Any, pa: Any) -> Any:
    if value is None:
        return None
    if kind == pa.string() and not isinstance(value, str):
        return value.hex() if isinstance(value, bytes) else str(value)
    return value


WRITERS = {"csv": _csv_file, "xlsx": _xlsx_file, "parquet": _parquet_file}
