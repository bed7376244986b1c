"""Export a table at any ref as the file an analyst edits and imports again: CSV, XLSX or Parquet.

The file is byte-stable: rows in key order, columns in table order, NULL as an empty cell, floats with every
digit (``repr``), and no timestamps (XLSX's document times and zip entry times are fixed), so exporting an
unchanged table twice gives the same bytes, and importing the file back (``--mode replace``) makes no commit.
A file is written beside its destination and renamed into place: a failed export leaves nothing half-written,
and a destination that is not a regular file (a link, a device, a FIFO) is refused (``tusk._internal.output``).

CSV cells a spreadsheet would run as a formula (OWASP's rule: text starting with ``= + - @``, a tab or a carriage
return, and not a number) are written with a leading apostrophe, which a spreadsheet shows as "text"; so is a
text cell that starts with apostrophes followed by one of those, so that ``tusk data import`` can take exactly
one apostrophe off each such cell and get back what was exported (``unneutralize``). ``raw_formulas`` writes
every cell as it is, for tools that are not spreadsheets.
"""

from __future__ import annotations

import csv
import io
import re
import sys
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tusk._internal.output import check_destination, write_file
from tusk.data._sql import check_identifier, quote
from tusk.data.base import DataStore
from tusk.errors import DataError

FORMATS = ("csv", "xlsx", "parquet")
FIXED_TIME = datetime(2000, 1, 1)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
# openpyxl stamps the time of saving into docProps/core.xml whatever the workbook says: put FIXED_TIME back
_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")
# a cell a spreadsheet runs, or one that already looks neutralized (so the apostrophe import removes is ours)
_FORMULA = re.compile(r"'*[=+\-@\t\r]")
_NEUTRALIZED = re.compile(r"'+[=+\-@\t\r]")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


@dataclass
class ExportResult:
    table: str
    ref: str
    commit: str
    format: str
    path: str | None  # None: written to standard output
    rows: int

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "ref": self.ref,
            "commit": self.commit,
            "format": self.format,
            "path": self.path,
            "rows": self.rows,
        }


def cell(value: Any) -> str:
    """A value as a CSV shows it: NULL is an empty cell, floats keep every digit."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def neutralize(text: str) -> str:
    """``text`` as a CSV cell a spreadsheet shows and does not run: a leading apostrophe on a formula (not on a
    number such as -1), and on a cell that starts with apostrophes before a formula character."""
    if _FORMULA.match(text) and (text[0] == "'" or not _NUMBER.fullmatch(text)):
        return "'" + text
    return text


def unneutralize(text: str) -> str:
    """What ``neutralize`` took in: one leading apostrophe off a cell of apostrophes before a formula character."""
    return text[1:] if _NEUTRALIZED.match(text) else text


def choose_format(fmt: str | None, output: str | None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise DataError(f"unknown export format {fmt!r} (use {', '.join(FORMATS)})")
        return fmt
    suffix = Path(output).suffix.lower().lstrip(".") if output and output != "-" else ""
    return suffix if suffix in FORMATS else "csv"


def export_table(
    store: DataStore,
    table: str,
    ref: str | None = None,
    fmt: str | None = None,
    output: str | None = None,
    raw_formulas: bool = False,
) -> ExportResult:
    """Write ``table`` as it is at ``ref`` (default: the data branch) to ``output`` (default: ``TABLE.FORMAT``
    in the working directory; ``-`` is standard output, CSV only). CSV cells a spreadsheet would run are
    neutralized unless ``raw_formulas``."""
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
    path = Path(output) if output and output != "-" else Path.cwd() / f"{table}.{fmt}"
    if output != "-":
        check_destination(path)  # before the query: a FIFO or a link is refused at once
    rows = store.iter_query(sql, None, ref=commit)
    if output == "-":
        count = _write_csv(sys.stdout, names, rows, raw_formulas)
        return ExportResult(table, ref, commit, fmt, None, count)
    if fmt == "csv":
        count = write_file(path, lambda handle: _csv_file(handle, names, rows, raw_formulas))
    else:
        count = write_file(path, lambda handle: WRITERS[fmt](handle, names, rows, columns, table))
    return ExportResult(table, ref, commit, fmt, str(path), count)


def _write_csv(out: Any, names: list[str], rows: Iterable[tuple[Any, ...]], raw_formulas: bool = False) -> int:
    writer = csv.writer(out, lineterminator="\n")
    # the csv module quotes a field holding the line terminator ("\n") but not a lone "\r", which readers take
    # for the end of a row: a row with one is written with every field quoted
    quoted = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(names)  # column names are identifiers: never a formula
    count = 0
    for row in rows:
        if raw_formulas:
            cells = [cell(v) for v in row]
        else:  # numbers are written by cell() as numbers: only text can be a formula
            cells = [neutralize(v) if isinstance(v, str) and v else cell(v) for v in row]
        (quoted if any("\r" in c for c in cells) else writer).writerow(cells)
        count += 1
    return count


def _csv_file(handle: Any, names: list[str], rows: Iterable[tuple[Any, ...]], raw_formulas: bool) -> int:
    text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
    try:
        return _write_csv(text, names, rows, raw_formulas)
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


WRITERS = {"xlsx": _xlsx_file, "parquet": _parquet_file}
