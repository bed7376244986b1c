"""Import a file (CSV, TSV, XLSX, JSON Lines, Parquet, or a Google Sheet) into a table, as one commit.

Reading and checking happen before anything is written: a ragged row, a missing key column, a
duplicate or empty key, or a value that does not fit its column raises ``IngestError`` with one line
naming the file, row and column. Writing goes through the data store's port, not its SQL: one
transaction on the target branch whose ``load_rows`` compares the rows with the table (added / modified /
removed) and applies the change, then one commit, or none when nothing changed.

Hostile files are refused before they can cost much: a sheet is read row by row as stored (its own
claim of its size is ignored, so one cell at XFD1048576 costs nothing), archives and Parquet files are
bounded by what they would unpack to, and a file is refused with more than ``MAX_COLUMNS`` columns,
``MAX_CELLS`` cells, a cell longer than ``MAX_CELL_CHARS`` characters, or a NUL character in a cell.

Files as spreadsheets save them: a CSV's delimiter is sniffed from its first lines (comma, semicolon, tab or
bar; ``delimiter`` forces one) and its encoding detected (UTF-8 and UTF-16/32 by their marks, otherwise
charset-normalizer's best guess; ``encoding`` forces one): ``ImportResult.encoding`` / ``delimiter`` say which were
used. Headers keep their spaces and punctuation as quoted column names (``normalize_headers`` makes them
``customer_name``); ``sheet`` picks an XLSX sheet by name; date and datetime cells become ISO text (a date alone
when its time is midnight).

Row numbers are the ones a person sees: the header is row 1 of a CSV, TSV or sheet, so the first data
row is row 2; JSON Lines count lines from 1; Parquet counts records from 1.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tusk._internal.crash import crash_point
from tusk.data.base import DataStore, ImportResult, LoadCounts, LoadMode, Transaction
from tusk.data.names import (
    check_column_name,
    check_user_branch,
    check_user_table,
    normalize_column_name,
    quote_identifier,
)
from tusk.errors import IngestError, NeedsConfirmation

Mode = LoadMode
MODES: tuple[LoadMode, ...] = ("replace", "upsert", "append")
MAX_COLUMNS = 1000
MAX_CELLS = 20_000_000
MAX_CELL_CHARS = 1_000_000
MAX_UNPACKED_BYTES = 1 << 30  # an XLSX part, or the data of a Parquet file, once decompressed


@dataclass(frozen=True)
class ReadOptions:
    """How to read a file, when not as tusk would guess: ``delimiter`` and ``encoding`` of a CSV/TSV (sniffed
    and detected when None), ``sheet`` of an XLSX workbook (the first when None), and ``normalize_headers``
    (``Customer Name`` → ``customer_name``; kept as written, quoted, when False)."""

    delimiter: str | None = None
    encoding: str | None = None
    sheet: str | None = None
    normalize_headers: bool = False


@dataclass
class Incoming:
    """A file's rows as text ("" or None for empty cells), with the row number a person sees for each."""

    source: str
    columns: list[str]
    rows: list[list[Any]]
    first_row: int  # the number of rows[0]
    text_only: bool = False  # every cell is a str (CSV, TSV, sheets): type checks can skip per-cell tests
    by_column: list[list[Any]] | None = None  # the same cells column by column, when read that way
    encoding: str | None = None  # the text encoding a CSV/TSV was read with
    delimiter: str | None = None  # the delimiter a CSV/TSV was read with
    sheet: str | None = None  # the XLSX sheet read

    @property
    def count(self) -> int:
        return len(self.by_column[0]) if self.by_column else len(self.rows)


# ----- reading ---------------------------------------------------------------------------------------
def read_source(source: str, options: ReadOptions | None = None) -> Incoming:
    options = options or ReadOptions()
    _check_options(source, options)
    if source.startswith("gsheet://"):
        from tusk.data.sheets import read_sheet

        if options.delimiter is not None or options.encoding is not None or options.sheet is not None:
            raise IngestError(f"{source}: a Google Sheet names its tab in the URL (gsheet://ID/TAB), no other option")

        columns, rows = read_sheet(source)
        return _checked(Incoming(source, columns, rows, 2), options)
    path = Path(source)
    if not path.is_file():
        raise IngestError(f"{source}: no such file")
    suffix = path.suffix.lower()
    readers = {
        ".csv": _read_delimited,
        ".tsv": _read_delimited,
        ".txt": _read_delimited,
        ".xlsx": _read_xlsx,
        ".jsonl": _read_jsonl,
        ".ndjson": _read_jsonl,
        ".parquet": _read_parquet,
    }
    if suffix not in readers:
        raise IngestError(
            f"{source}: unknown file type {suffix or '(none)'} (use .csv, .tsv, .xlsx, .jsonl or .parquet)"
        )
    _check_fit(source, suffix, options)
    try:
        return _checked(readers[suffix](path, options), options)
    except OSError as exc:
        raise IngestError(f"{source}: cannot read: {exc.strerror or exc}") from exc


DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "bar": "|"}


def _check_options(source: str, options: ReadOptions) -> None:
    """A forced delimiter or encoding that cannot be used is refused before the file is opened."""
    if options.delimiter is not None:
        delimiter = _DELIMITER_NAMES.get(options.delimiter.lower(), options.delimiter)
        if len(delimiter) != 1 or delimiter in '"\r\n' or delimiter.isalnum():
            raise IngestError(
                f"{source}: delimiter {options.delimiter!r} is not one character (use ',', ';', tab, '|' ...)"
            )
    if options.encoding is not None:
        try:
            codecs.lookup(options.encoding)
        except LookupError:
            raise IngestError(
                f"{source}: unknown encoding {options.encoding!r} (use utf-8, latin-1, cp1252, utf-16 ...)"
            ) from None


def _check_fit(source: str, suffix: str, options: ReadOptions) -> None:
    """An option for another kind of file is refused rather than ignored (--sheet of a CSV)."""
    delimited = suffix in (".csv", ".tsv", ".txt")
    if options.sheet is not None and suffix != ".xlsx":
        raise IngestError(f"{source}: --sheet picks a sheet of an XLSX workbook, not of a {suffix or 'plain'} file")
    if options.delimiter is not None and not delimited:
        raise IngestError(f"{source}: --delimiter is for CSV, TSV and TXT files, not {suffix or 'plain'} files")
    if options.encoding is not None and not (delimited or suffix in (".jsonl", ".ndjson")):
        raise IngestError(f"{source}: --encoding is for text files (CSV, TSV, JSON Lines), not {suffix} files")


def _delimiter_option(options: ReadOptions) -> str | None:
    if options.delimiter is None:
        return None
    return _DELIMITER_NAMES.get(options.delimiter.lower(), options.delimiter)


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _decode(path: Path, raw: bytes, forced: str | None) -> tuple[str, str]:
    """The file's text and the encoding it was read with (as said to the person: ``utf-8``, ``cp1252`` ...)."""
    if forced is not None:
        encoding = "utf-8-sig" if codecs.lookup(forced).name == "utf-8" else forced
        try:
            return raw.decode(encoding), forced
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise IngestError(
                f"{path}: not {forced} (line {line}, byte {exc.start}); give the file's encoding with --encoding"
            ) from exc
    for mark, encoding in _BOMS:
        if raw.startswith(mark):
            try:
                return raw.decode(encoding), encoding.replace("-sig", "")
            except UnicodeDecodeError as exc:
                raise IngestError(f"{path}: starts as {encoding} but is not (byte {exc.start})") from exc
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        failure = exc
    sample = raw[:4096]
    if sample and sample.count(0) * 4 >= len(sample):  # UTF-16 without its mark: every other byte is zero
        odd_zeros = sample[1::2].count(0) >= sample[0::2].count(0)
        encoding = "utf-16-le" if odd_zeros else "utf-16-be"
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError:
            pass
    from charset_normalizer import from_bytes

    best = from_bytes(raw).best()
    if best is None or best.encoding is None:
        line = raw[: failure.start].count(b"\n") + 1
        raise IngestError(
            f"{path}: not UTF-8 and no other text encoding fits (line {line}, byte {failure.start}); "
            f"give it with --encoding"
        ) from failure
    encoding = _western(raw, best.encoding)
    return raw.decode(encoding), encoding


def _western(raw: bytes, guess: str) -> str:
    """Spreadsheets on Windows save CSV as cp1252 (Latin-1 plus € and curly quotes), and a short file gives
    charset-normalizer too little to tell the one-byte encodings apart (it reads ``Düsseldorf`` as cp1250 and
    ``5 €`` as cp437): cp1252 wins when it reads the file as Western text does look, its other letters single
    accented ones among plain ones (``Düsseldorf``), not runs of them (another alphabet read as Latin-1)."""
    multi_byte = ("utf", "big5", "gb", "euc", "shift", "cp932", "cp949", "cp950", "iso2022", "hz", "johab", "ks_c")
    if guess.lower().startswith(multi_byte) or guess == "cp1252":
        return guess
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError:
        return guess
    others = [i for i, ch in enumerate(text) if ord(ch) > 127]
    if any(not (text[i].isalpha() or text[i] in _WESTERN_SYMBOLS) for i in others):
        return guess
    letters = [i for i in others if text[i].isalpha()]
    in_runs = sum(1 for i in letters if i + 1 < len(text) and ord(text[i + 1]) > 127 and text[i + 1].isalpha())
    return "cp1252" if in_runs * 2 <= len(letters) else guess


_WESTERN_SYMBOLS = frozenset("€‚„…†‡‰‹›‘’“”•–—˜™\xa0°±²³µ·¹º»«¼½¾¿×÷©®§¶¢£¥¤¦¨¯´¸¡ª¬")


def _sniff_delimiter(text: str) -> str:
    """The delimiter that splits the first lines into the same number (more than one) of fields, the most
    fields winning; a comma when none does (a one-column file)."""
    sample = text[:65536]
    if len(text) > len(sample):
        sample = sample[: sample.rfind("\n") + 1] or sample
    best, best_width = ",", 1
    for delimiter in DELIMITERS:
        if delimiter not in sample:
            continue
        try:
            rows = [r for r in csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter) if r][:50]
        except csv.Error:
            continue
        widths = {len(r) for r in rows}
        if len(widths) == 1 and rows and len(rows[0]) > best_width:
            best, best_width = delimiter, len(rows[0])
    if best_width == 1:  # ragged everywhere: the delimiter that splits the header most
        header = sample.split("\n", 1)[0]
        counts = {d: header.count(d) for d in DELIMITERS}
        top = max(counts.values())
        if top:
            best = next(d for d in DELIMITERS if counts[d] == top)
    return best


def _read_delimited(path: Path, options: ReadOptions) -> Incoming:
    """Arrow's C reader (fast, column by column); any problem falls back to the csv module, whose
    errors name the row. A cell ``tusk data export`` neutralized (``'=...``) gets its apostrophe taken off."""
    raw = path.read_bytes()
    text, encoding = _decode(path, raw, options.encoding)
    if text.startswith("\ufeff"):
        text = text[1:]
    suffix = path.suffix.lower()
    delimiter = _delimiter_option(options) or ("\t" if suffix == ".tsv" else _sniff_delimiter(text))
    data = raw[len(codecs.BOM_UTF8) :] if raw.startswith(codecs.BOM_UTF8) else raw
    if encoding != "utf-8":
        data = text.encode("utf-8")
    del raw
    fast = _read_delimited_arrow(path, data, text, delimiter)
    incoming = fast if fast is not None else _read_delimited_python(path, text, delimiter)
    incoming.encoding, incoming.delimiter = encoding, delimiter
    _unneutralize(incoming)
    return incoming


def _unneutralize(incoming: Incoming) -> None:
    """Take off the apostrophe CSV export put before a formula (``'=1+1`` → ``=1+1``; ``''=x`` → ``'=x``), as a
    spreadsheet does when it reads ``'=1+1`` as the text ``=1+1``. Only cells that start with an apostrophe are
    looked at: a column without one costs one scan."""
    from tusk.data.export import unneutralize

    if incoming.by_column is not None:
        for values in incoming.by_column:
            if any(v[:1] == "'" for v in values if v):
                values[:] = [unneutralize(v) if v and v[0] == "'" else v for v in values]
        return
    for row in incoming.rows:
        if any(v[:1] == "'" for v in row if v):
            row[:] = [unneutralize(v) if v and v[0] == "'" else v for v in row]


def _read_delimited_arrow(path: Path, data: bytes, text: str, delimiter: str) -> Incoming | None:
    import pyarrow as pa
    import pyarrow.csv as pv

    try:
        header = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
        if not header or len(set(header)) != len(header):
            return None
        table = pv.read_csv(
            pa.BufferReader(data),
            read_options=pv.ReadOptions(column_names=header, skip_rows=1),
            parse_options=pv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pv.ConvertOptions(
                column_types={c: pa.string() for c in header}, strings_can_be_null=False, null_values=[]
            ),
        )
    except (OSError, UnicodeDecodeError, StopIteration, csv.Error, pa.ArrowException):
        return None
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return Incoming(str(path), header, [], 2, text_only=True, by_column=columns)


def csv_error(exc: csv.Error, path: Path, row: int) -> IngestError:
    """The one place Python's csv errors are mapped: csv.Error has no subclasses or codes, so its text is read (each
    pattern has a test that triggers it: tests/data/test_ingest_errors.py)."""
    if "field larger than field limit" in str(exc):
        return IngestError(
            f"{path}: row {row}: a cell of more than {MAX_CELL_CHARS:,} characters (at most {MAX_CELL_CHARS:,})"
        )
    return IngestError(f"{path}: row {row}: {exc}")


def _read_delimited_python(path: Path, text: str | None = None, delimiter: str | None = None) -> Incoming:
    """The csv module's reading of ``text`` (``path``'s, decoded, when None) split at ``delimiter`` (sniffed
    when None): slower than Arrow's, and its errors name the row."""
    if text is None:
        text = _decode(path, path.read_bytes(), None)[0].lstrip("\ufeff")
    delimiter = delimiter or ("\t" if path.suffix.lower() == ".tsv" else _sniff_delimiter(text))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    limit = csv.field_size_limit(MAX_CELL_CHARS + 1)
    try:
        records = list(reader)
    except csv.Error as exc:
        raise csv_error(exc, path, reader.line_num) from exc
    finally:
        csv.field_size_limit(limit)
    if not records:
        raise IngestError(f"{path}: the file is empty (a header row is needed)")
    header, body = records[0], records[1:]
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            if not any(cell.strip() for cell in row):
                continue
            split = "" if delimiter in (",", "\t") else f" (split at {delimiter!r}; another with --delimiter)"
            raise IngestError(f"{path}: row {number} has {len(row)} fields, the header has {len(header)}{split}")
    rows = body if all(len(row) == len(header) for row in body) else [r for r in body if len(r) == len(header)]
    return Incoming(str(path), header, rows, 2, text_only=True)  # "" stays until conversion makes it NULL


def _read_xlsx(path: Path, options: ReadOptions) -> Incoming:
    from openpyxl import load_workbook

    _check_archive(path)
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError and its own errors for a damaged file
        raise IngestError(f"{path}: not a readable XLSX workbook ({type(exc).__name__})") from exc
    try:
        if options.sheet is not None and options.sheet not in book.sheetnames:
            raise IngestError(
                f"{path}: no sheet {options.sheet!r} (sheets: {', '.join(repr(n) for n in book.sheetnames)})"
            )
        sheet = book[options.sheet] if options.sheet is not None else book.worksheets[0]
        sheet.reset_dimensions()  # the file's own claim of its size (A1:XFD1048576) is not to be trusted
        header, rows = _sheet_rows(path, sheet.iter_rows(values_only=True))
    except IngestError:
        raise
    except Exception as exc:
        raise IngestError(f"{path}: not a readable XLSX workbook ({type(exc).__name__})") from exc
    finally:
        book.close()
    return Incoming(str(path), header, rows, 2, sheet=sheet.title)


def _sheet_rows(path: Path, stream: Iterable[Sequence[Any]]) -> tuple[list[str], list[list[Any]]]:
    """The header and the data rows of a sheet read as stored: empty rows are skipped as they come, so
    a million empty rows before one cell cost a million empty tuples, not a million rows of cells."""
    header: list[str] | None = None
    width = 0
    rows: list[list[Any]] = []
    pending_empty = 0  # empty rows seen since the last row with a value (kept only if a value follows)
    for number, row in enumerate(stream, start=1):
        if header is None:
            if not any(cell is not None for cell in row):
                continue
            header, width = _sheet_header(path, row)
            continue
        if any(cell is not None for cell in row[width:]):
            raise IngestError(f"{path}: row {number} has values beyond the header's {width} columns")
        if not any(cell is not None for cell in row[:width]):
            pending_empty += 1
            continue
        if (len(rows) + pending_empty + 1) * width > MAX_CELLS:
            raise IngestError(f"{path}: more than {MAX_CELLS:,} cells; split the sheet")
        rows.extend([None] * width for _ in range(pending_empty))
        pending_empty = 0
        rows.append([_cell(cell) for cell in list(row[:width]) + [None] * (width - len(row))])
    if header is None:
        raise IngestError(f"{path}: the sheet is empty (a header row is needed)")
    return header, rows


def _sheet_header(path: Path, row: Sequence[Any]) -> tuple[list[str], int]:
    header = [str(cell) if cell is not None else "" for cell in row]
    width = len(header)
    while width and header[width - 1] == "":
        width -= 1
    if width > MAX_COLUMNS:
        raise IngestError(f"{path}: the header has {width:,} columns (at most {MAX_COLUMNS:,})")
    return header[:width], width


def _check_archive(path: Path) -> None:
    """An XLSX is a zip: refuse one that would unpack to more than MAX_UNPACKED_BYTES (a zip bomb)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            sizes = [(info.filename, info.file_size) for info in archive.infolist()]
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise IngestError(f"{path}: not a readable XLSX workbook (not a zip archive)") from exc
    big = [name for name, size in sizes if size > MAX_UNPACKED_BYTES]
    if big or sum(size for _, size in sizes) > 2 * MAX_UNPACKED_BYTES:
        raise IngestError(
            f"{path}: unpacks to more than {MAX_UNPACKED_BYTES >> 20:,} MiB "
            f"({big[0] if big else 'in all'}); refused as a possible zip bomb"
        )


def _cell(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dt.date, dt.time)):
        return iso_text(value)
    return str(value) if not isinstance(value, str) else value


def iso_text(value: dt.date | dt.time) -> str:
    """A date or datetime cell as ISO text: ``2024-01-02`` for a date (or a datetime at midnight, which is how a
    spreadsheet stores a date), ``2024-01-02 13:45:00`` otherwise (SQLite's own form); a time as ``13:45:00``."""
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    return value.isoformat()


def _read_jsonl(path: Path, options: ReadOptions) -> Incoming:
    columns: list[str] = []
    records: list[dict[str, Any]] = []
    text, _ = _decode(path, path.read_bytes(), options.encoding or "utf-8")
    for number, line in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise IngestError(f"{path}: line {number}: not valid JSON ({exc.msg})") from exc
        except RecursionError as exc:
            raise IngestError(f"{path}: line {number}: JSON nested too deeply to read") from exc
        except ValueError as exc:  # an integer of more than 4,300 digits (Python's limit on int from text)
            raise IngestError(f"{path}: line {number}: not readable JSON ({str(exc).split(';')[0]})") from exc
        if not isinstance(record, dict):
            raise IngestError(f"{path}: line {number}: expected a JSON object")
        for key in record:
            if key not in columns:
                columns.append(key)
        records.append(record)
    rows = [[_json_cell(r.get(c)) for c in columns] for r in records]
    return Incoming(str(path), columns, rows, 1)


def _json_cell(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (dt.date, dt.time)):
        return iso_text(value)
    return str(value)


def _read_parquet(path: Path, options: ReadOptions) -> Incoming:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
        unpacked = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        if meta.num_columns > MAX_COLUMNS:
            raise IngestError(f"{path}: {meta.num_columns:,} columns (at most {MAX_COLUMNS:,})")
        if meta.num_rows * max(1, meta.num_columns) > MAX_CELLS or unpacked > MAX_UNPACKED_BYTES:
            raise IngestError(
                f"{path}: {meta.num_rows:,} rows of {meta.num_columns} columns "
                f"({unpacked >> 20:,} MiB unpacked): more than tusk imports at once "
                f"({MAX_CELLS:,} cells, {MAX_UNPACKED_BYTES >> 20:,} MiB)"
            )
        table = pq.read_table(path)
    except IngestError:
        raise
    except Exception as exc:  # pyarrow raises ArrowInvalid and OSError for damaged files
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise IngestError(f"{path}: not a readable Parquet file ({first})") from exc
    columns = table.column_names
    data = table.to_pydict()
    rows = [[_json_cell(data[c][i]) for c in columns] for i in range(table.num_rows)]
    return Incoming(str(path), columns, rows, 1)


def _checked(incoming: Incoming, options: ReadOptions) -> Incoming:
    if options.normalize_headers:
        incoming.columns = [normalize_column_name(c) for c in incoming.columns]
    else:
        incoming.columns = [c.strip() if isinstance(c, str) else c for c in incoming.columns]
    if len(incoming.columns) > MAX_COLUMNS:
        raise IngestError(
            f"{incoming.source}: the header has {len(incoming.columns):,} columns (at most {MAX_COLUMNS:,})"
        )
    _check_header(incoming)
    columns = _transpose(incoming)
    for index, values in enumerate(columns):
        _check_cells(incoming, index, values)
    if columns and incoming.by_column is None:
        incoming.by_column, incoming.rows = [list(c) for c in columns], []
    return incoming


def _check_cells(incoming: Incoming, index: int, values: Sequence[Any]) -> None:
    """No NUL character (SQLite and most tools cut text there) and no cell over MAX_CELL_CHARS."""
    texts = values if incoming.text_only else [v for v in values if type(v) is str]
    if not texts:
        return
    joined = "".join(v for v in texts if v)
    if "\x00" in joined:
        number = next(i for i, v in enumerate(values) if type(v) is str and "\x00" in v)
        raise IngestError(
            f"{incoming.source}: row {incoming.first_row + number}, column "
            f"{incoming.columns[index]!r}: a NUL character (\\x00); remove it from the file"
        )
    if len(joined) > MAX_CELL_CHARS and max(len(v) for v in texts if v) > MAX_CELL_CHARS:
        number = next(i for i, v in enumerate(values) if type(v) is str and len(v) > MAX_CELL_CHARS)
        raise IngestError(
            f"{incoming.source}: row {incoming.first_row + number}, column "
            f"{incoming.columns[index]!r}: a cell of {len(values[number]):,} characters "
            f"(at most {MAX_CELL_CHARS:,})"
        )


def _check_header(incoming: Incoming) -> None:
    seen: set[str] = set()
    for column in incoming.columns:
        if column in seen:
            raise IngestError(f"{incoming.source}: column {column!r} appears twice in the header")
        seen.add(column)
        try:
            check_column_name(column)
        except Exception as exc:
            raise IngestError(f"{incoming.source}: header: {exc}") from exc


# ----- types -----------------------------------------------------------------------------------------
EMPTY = ("", None)
# whole-column checks: one regex call over the joined column is far faster than one call per value.
# Integers with a leading zero ("007", zip codes) stay text: converting them would lose the zero.
_INT_COLUMN = re.compile(r"(?:[+-]?(?:0|[1-9]\d*)\n)*")
_FLOAT_COLUMN = re.compile(r"(?:[+-]?(?:(?:0|[1-9]\d*)(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\n)*")


def _present(values: Sequence[Any]) -> list[Any]:
    return [v for v in values if v is not None and v != ""]


def _column_matches(pattern: re.Pattern[str], present: list[Any], text_only: bool = False) -> bool:
    return (
        bool(present)
        and (text_only or all(type(v) is str for v in present))
        and pattern.fullmatch("\n".join(present) + "\n") is not None
    )


def infer_type(values: Sequence[Any], text_only: bool = False) -> str:
    present = _present(values)
    if _column_matches(_INT_COLUMN, present, text_only):
        return "INTEGER"
    if _column_matches(_FLOAT_COLUMN, present, text_only):
        return "REAL"
    return "TEXT"


def _kind(sql_type: str) -> str:
    kind = sql_type.upper()
    if "INT" in kind:
        return "INTEGER"
    if any(word in kind for word in ("REAL", "FLOA", "DOUB", "NUM", "DEC")):
        return "REAL"
    return "TEXT"


def _convert_column(incoming: Incoming, index: int, values: Sequence[Any], sql_type: str) -> list[Any]:
    """Text → the column's type, a whole column at a time; a misfit names its file, row and column."""
    kind = _kind(sql_type)
    if kind == "TEXT":
        if incoming.text_only or all(type(v) is str for v in values):
            return [v or None for v in values]
        return [None if v in EMPTY else str(v) for v in values]
    present = _present(values)
    pattern = _INT_COLUMN if kind == "INTEGER" else _FLOAT_COLUMN
    convert = int if kind == "INTEGER" else float
    if _column_matches(pattern, present, incoming.text_only) or all(type(v) in (int, float) for v in present):
        if kind == "INTEGER":
            _check_int64(incoming, index, values)
        return [None if v is None or v == "" else convert(v) for v in values]
    for number, value in enumerate(values):
        numeric = type(value) in (int, float)
        if value not in EMPTY and not numeric and pattern.fullmatch(f"{value}\n") is None:
            raise IngestError(
                f"{incoming.source}: row {incoming.first_row + number}, column "
                f"{incoming.columns[index]!r}: {value!r} is not "
                f"{'an integer' if kind == 'INTEGER' else 'a number'}"
            )
    return [None if v is None or v == "" else convert(v) for v in values]


INT64 = (-(1 << 63), (1 << 63) - 1)


def _check_int64(incoming: Incoming, index: int, values: Sequence[Any]) -> None:
    """An integer column holds 64-bit integers (SQLite's): a longer one is refused naming its row, before
    Python converts it (a 5,000-digit one would raise, a 23-digit one overflows SQLite's binding)."""
    for number, value in enumerate(values):
        if value is None or value == "" or (type(value) is str and len(value) < 19):
            continue
        digits = str(value).lstrip("+-")
        if len(digits) > 19 or not INT64[0] <= int(value) <= INT64[1]:
            shown = str(value) if len(str(value)) <= 40 else f"{str(value)[:20]}… ({len(digits):,} digits)"
            raise IngestError(
                f"{incoming.source}: row {incoming.first_row + number}, column "
                f"{incoming.columns[index]!r}: {shown} does not fit a 64-bit integer "
                f"(at most {INT64[1]:,}); nothing was imported"
            )


def _transpose(incoming: Incoming) -> list[Sequence[Any]]:
    if incoming.by_column is not None:
        return list(incoming.by_column)
    if not incoming.rows:
        return [[] for _ in incoming.columns]
    return list(zip(*incoming.rows))


# ----- writing ---------------------------------------------------------------------------------------
@dataclass
class PreparedImport:
    """A source's rows checked and converted for one table: everything that can fail before writing."""

    incoming: Incoming
    table: str
    keys: list[str]
    types: dict[str, str]  # column → SQL type, in the table's column order when it exists
    mode: LoadMode
    create: bool
    columns: list[list[Any]]  # converted, in incoming.columns order


@dataclass(frozen=True)
class Guard:
    """An import that would modify or remove more than ``fraction`` of a table's rows, and at least
    ``min_rows`` rows, is not applied without confirmation (``NeedsConfirmation``)."""

    fraction: float = 0.1
    min_rows: int = 10


def import_file(
    store: DataStore,
    source: str,
    table: str,
    keys: Sequence[str] = (),
    mode: str = "replace",
    branch: str | None = None,
    message: str | None = None,
    guard: Guard | None = None,
    expect: tuple[int, int, int] | None = None,
    allow_empty: bool = False,
    options: ReadOptions | None = None,
) -> ImportResult:
    """Import ``source`` into ``table`` on ``branch`` (created from the main branch if missing), read as
    ``options`` say (delimiter, encoding, sheet, headers; guessed when not given).

    A file with no rows does not empty a table in replace mode unless ``allow_empty``."""
    check_user_table(table)
    check_user_branch(branch, "import onto")
    load_mode(mode)
    incoming = read_source(source, options)
    crash_point("import.read")
    return import_incoming(
        store,
        incoming,
        table,
        keys,
        mode,
        branch,
        message or f"import {Path(source).name} into {table} ({mode})",
        guard,
        expect,
        allow_empty,
    )


def import_incoming(
    store: DataStore,
    incoming: Incoming,
    table: str,
    keys: Sequence[str] = (),
    mode: str = "replace",
    branch: str | None = None,
    message: str | None = None,
    guard: Guard | None = None,
    expect: tuple[int, int, int] | None = None,
    allow_empty: bool = False,
) -> ImportResult:
    """Write rows already read (from a file, a sheet, a URL) into ``table`` on ``branch`` as one commit.

    ``guard``: refuse (NeedsConfirmation, nothing written) a change over its threshold. ``expect``: the
    (added, modified, removed) a person confirmed; anything else is refused (the table moved meanwhile).
    Rows that would empty a table in replace mode are refused unless ``allow_empty``."""
    branch = branch or store.default_branch
    if mode == "replace" and incoming.count == 0 and not allow_empty:
        _refuse_emptying(store, incoming, table, branch)
    prepared = prepare_import(store, incoming, table, keys, mode, branch)
    message = message or f"import {incoming.source} into {table} ({mode})"
    with store.writer(branch, create_at=store.default_branch) as transaction:
        if prepared.create and table in store.tables(branch):  # another import made it since: write into it
            prepared = prepare_import(store, incoming, table, keys, mode, branch)
        counts = write_prepared(transaction, prepared)
        _check_guard(store, transaction, prepared, branch, counts, guard, expect)
        crash_point("import.before-commit")
        commit = transaction.commit(message)
    crash_point("import.committed")
    return ImportResult(
        table,
        branch,
        commit,
        prepared.create,
        counts.added,
        counts.modified,
        counts.removed,
        message=message if commit else "nothing changed: no commit made",
        encoding=incoming.encoding,
        delimiter=incoming.delimiter,
        sheet=incoming.sheet,
    )


def _check_guard(
    store: DataStore,
    transaction: Transaction,
    prepared: PreparedImport,
    branch: str,
    counts: LoadCounts,
    guard: Guard | None,
    expect: tuple[int, int, int] | None,
) -> None:
    """Inside the import's transaction, before its commit: raising here rolls everything back."""
    added, modified, removed = counts
    source, table = prepared.incoming.source, prepared.table
    if expect is not None and tuple(counts) != tuple(expect):
        raise IngestError(
            f"{source}: {table} on {branch} changed meanwhile: the import would now add {added}, "
            f"modify {modified} and remove {removed} rows (confirmed: {expect[0]}, {expect[1]}, "
            f"{expect[2]}); nothing was imported, run it again"
        )
    changed = modified + removed
    if guard is None or prepared.create or changed < max(guard.min_rows, 1):
        return
    after = transaction.execute(f"SELECT count(*) FROM {quote_identifier(table, store.dialect)}")[0][0]
    before = after - added + removed
    if changed <= guard.fraction * before:
        return
    raise NeedsConfirmation(
        f"{source}: this import would modify {modified} and remove {removed} of the {before} rows of {table} on "
        f"{branch} ({changed / max(before, 1):.0%}, over the {guard.fraction:.0%} that needs confirming) and add "
        f"{added}; nothing was imported: check it on a branch (--branch B, then tusk data diff {branch}...B) or "
        f"pass --yes",
        (added, modified, removed),
    )


def prepare_import(
    store: DataStore, incoming: Incoming, table: str, keys: Sequence[str], mode: str, ref: str
) -> PreparedImport:
    """Check and convert ``incoming`` for ``table`` as it is at ``ref`` (a branch, or the main branch when
    ``ref`` does not exist yet). Raises IngestError naming the file, row and column."""
    check_user_table(table)
    checked_mode = load_mode(mode)
    existing = _existing_schema(store, table, ref)
    keys = list(keys) or [name for name, _, pk in existing if pk]
    _check_key_names(incoming, keys, existing)
    if existing:
        _check_columns(incoming, [name for name, _, _ in existing], table)
    raw = _transpose(incoming)
    types = (
        {name: type_ for name, type_, _ in existing}
        if existing
        else {c: infer_type(raw[i], incoming.text_only) for i, c in enumerate(incoming.columns)}
    )
    columns = [_convert_column(incoming, i, raw[i], types[c]) for i, c in enumerate(incoming.columns)]
    _check_key_values(incoming, keys, columns)
    return PreparedImport(incoming, table, keys, types, checked_mode, existing == [], columns)


def load_mode(mode: str) -> LoadMode:
    for known in MODES:
        if mode == known:
            return known
    raise IngestError(f"unknown mode {mode!r} (use {', '.join(MODES)})")


def _refuse_emptying(store: DataStore, incoming: Incoming, table: str, branch: str) -> None:
    ref = branch if any(b.name == branch for b in store.branches()) else store.default_branch
    if table not in store.tables(ref):
        return
    count = store.query(f"SELECT count(*) FROM {quote_identifier(table, store.dialect)}", None, ref=ref).rows[0][0]
    if count:
        raise IngestError(
            f"{incoming.source}: the file has a header and no rows; replacing {table} with it "
            f"would remove all {count:,} rows (pass --allow-empty to do that)"
        )


def _existing_schema(store: DataStore, table: str, branch: str) -> list[tuple[str, str, bool]]:
    ref = branch if any(b.name == branch for b in store.branches()) else store.default_branch
    if table not in store.tables(ref):
        return []
    return store.columns(table, ref)


def _check_key_names(incoming: Incoming, keys: Sequence[str], existing: list[tuple[str, str, bool]]) -> None:
    if not keys:
        raise IngestError(f"{incoming.source}: give the key column(s) with --key for a new table")
    for key in keys:
        check_column_name(key, "key column")
        if key not in incoming.columns:
            raise IngestError(
                f"{incoming.source}: header has no key column {key!r} (columns: {', '.join(incoming.columns)})"
            )
    if existing:
        table_keys = [name for name, _, pk in existing if pk]
        if table_keys and sorted(table_keys) != sorted(keys):
            raise IngestError(
                f"{incoming.source}: --key {','.join(keys)} differs from the table's key {','.join(table_keys)}"
            )


def _check_key_values(incoming: Incoming, keys: Sequence[str], columns: list[list[Any]]) -> None:
    """No empty and no repeated keys, checked on converted columns (empty cells are None by now)."""
    key_columns = [columns[incoming.columns.index(k)] for k in keys]
    for name, values in zip(keys, key_columns):
        blank = None in values or (values and type(values[0]) is str and any(not v.strip() for v in values if v))
        if blank:
            number = next(i for i, v in enumerate(values) if v is None or (type(v) is str and not v.strip()))
            raise IngestError(f"{incoming.source}: row {incoming.first_row + number}, column {name!r}: empty key")
    values = key_columns[0] if len(keys) == 1 else list(zip(*key_columns))
    if len(set(values)) != len(values):
        _first_duplicate(incoming, keys, values)


def _first_duplicate(incoming: Incoming, keys: Sequence[str], values: Sequence[Any]) -> None:
    first_seen: dict[Any, int] = {}
    for index, value in enumerate(values):
        number = incoming.first_row + index
        if value in first_seen:
            shown = ", ".join(f"{k}={v}" for k, v in zip(keys, value if len(keys) > 1 else (value,)))
            raise IngestError(f"{incoming.source}: rows {first_seen[value]} and {number} have the same key {shown}")
        first_seen[value] = number


def _check_columns(incoming: Incoming, columns: Sequence[str], table: str) -> None:
    missing = [c for c in columns if c not in incoming.columns]
    extra = [c for c in incoming.columns if c not in columns]
    if extra:
        raise IngestError(
            f"{incoming.source}: column {extra[0]!r} is not in table {table!r} (columns: {', '.join(columns)})"
        )
    if missing:
        raise IngestError(f"{incoming.source}: column {missing[0]!r} of table {table!r} is missing from the file")


def write_prepared(transaction: Transaction, prepared: PreparedImport) -> LoadCounts:
    """Apply a prepared import inside the caller's transaction (no commit)."""
    incoming = prepared.incoming
    create = {c: prepared.types[c] for c in incoming.columns} if prepared.create else None
    try:
        return transaction.load_rows(
            prepared.table, incoming.columns, zip(*prepared.columns), prepared.keys, prepared.mode, create
        )
    except IngestError as exc:
        raise IngestError(f"{incoming.source}: {exc}") from exc
