"""Reading a ``[[sources]]`` URL: a Google Sheet, a local file or glob, or an http(s) CSV/Parquet URL.

Each read returns the rows (through the importer's own readers, ``tusk.data.ingest``) with a digest of
their content and the source's own revision when it has one: the Drive file's version and modifiedTime
for a sheet, the ETag (or Last-Modified) for a URL, nothing for files. ``probe`` asks only for that
revision, so a sync of an unchanged sheet or URL does not download the rows.
"""

from __future__ import annotations

import glob as globbing
import hashlib
import json
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from http import client as http_client
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tusk._internal.globbing import glob_files
from tusk.data.ingest import Incoming, read_source
from tusk.errors import IngestError

HTTP_TIMEOUT = 60.0
USER_AGENT = "tusk-sync"
_TYPES = {
    "text/csv": ".csv",
    "application/csv": ".csv",
    "text/tab-separated-values": ".tsv",
    "application/vnd.apache.parquet": ".parquet",
    "application/x-parquet": ".parquet",
    "application/parquet": ".parquet",
}
_SUFFIXES = (".csv", ".tsv", ".parquet", ".jsonl", ".xlsx")


@dataclass
class SourceContent:
    incoming: Incoming
    digest: str  # sha256 of the header and the rows, as text (empty cells as null)
    revision: str  # the source's own revision ("" when it has none)


def content_digest(incoming: Incoming) -> str:
    """A digest of what the source says, not of its bytes: re-saving a file with other quoting or line
    endings gives the same digest."""
    digest = hashlib.sha256(json.dumps(incoming.columns).encode())
    columns = incoming.by_column if incoming.by_column is not None else None
    count = incoming.count
    for start in range(0, count, 4096):
        if columns is not None:
            chunk = [[_text(column[i]) for column in columns] for i in range(start, min(count, start + 4096))]
        else:
            chunk = [[_text(cell) for cell in row] for row in incoming.rows[start : start + 4096]]
        digest.update(json.dumps(chunk, ensure_ascii=False).encode())
    return digest.hexdigest()


def _text(cell: Any) -> str | None:
    return None if cell is None or cell == "" else str(cell)


def kind_of(url: str) -> str:
    if url.startswith("gsheet://"):
        return "gsheet"
    if url.startswith(("http://", "https://")):
        return "http"
    if "://" in url:
        raise IngestError(f"{url}: unknown source (use gsheet://ID/TAB, a file or glob, or an http(s):// URL)")
    return "file"


def probe(url: str, root: Path, record_revision: str = "") -> str | None:
    """The source's current revision without reading its rows; None when it has no revision to ask for."""
    kind = kind_of(url)
    if kind == "gsheet":
        from tusk.data.sheets import sheet_revision

        return sheet_revision(url) or None
    if kind == "http" and record_revision:
        return _http_unchanged(url, record_revision)
    return None


def read(url: str, root: Path) -> SourceContent:
    """The source's rows, digest and revision."""
    kind = kind_of(url)
    if kind == "gsheet":
        from tusk.data.sheets import sheet_revision

        revision = sheet_revision(url)  # before the values: an edit in between is seen by the next sync
        incoming = read_source(url)
    elif kind == "http":
        incoming, revision = _read_http(url)
    else:
        incoming, revision = _read_files(url, root), ""
    return SourceContent(incoming, content_digest(incoming), revision)


# ----- files and globs ---------------------------------------------------------------------------------
def _read_files(pattern: str, root: Path) -> Incoming:
    path = Path(pattern).expanduser()
    full = path if path.is_absolute() else root / path
    if not globbing.has_magic(pattern):
        return _renamed(read_source(str(full)), pattern)
    matches = glob_files(str(full))
    if not matches:
        raise IngestError(f"{pattern}: no file matches")
    parts = [read_source(match) for match in matches]
    first = parts[0]
    for part in parts[1:]:
        if part.columns != first.columns:
            raise IngestError(
                f"{part.source}: columns {', '.join(part.columns)} differ from {first.source}'s "
                f"({', '.join(first.columns)}); every file of {pattern} needs the same header"
            )
    columns = [[cell for part in parts for cell in _column(part, i)] for i in range(len(first.columns))]
    return Incoming(
        pattern, list(first.columns), [], first.first_row, text_only=all(p.text_only for p in parts), by_column=columns
    )


def _column(incoming: Incoming, index: int) -> list[Any]:
    if incoming.by_column is not None:
        return list(incoming.by_column[index])
    return [row[index] for row in incoming.rows]


def _renamed(incoming: Incoming, name: str) -> Incoming:
    incoming.source = name
    return incoming


# ----- http(s) -----------------------------------------------------------------------------------------
def _request(url: str, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **(headers or {})})
    try:
        return urllib.request.urlopen(request, timeout=HTTP_TIMEOUT)
    except urllib.error.HTTPError as exc:
        if exc.code == 304:
            return exc
        raise IngestError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise IngestError(f"{url}: cannot download: {reason}") from exc


def _revision(headers: Any) -> str:
    if headers.get("ETag"):
        return f"etag {headers['ETag']}"
    if headers.get("Last-Modified"):
        return f"modified {headers['Last-Modified']}"
    return ""


def _http_unchanged(url: str, revision: str) -> str | None:
    """Ask the server whether ``revision`` is still current (a conditional GET): → ``revision`` when it
    answers 304 Not Modified, None when it sends content (read it) or cannot tell."""
    kind, _, value = revision.partition(" ")
    header = {"etag": "If-None-Match", "modified": "If-Modified-Since"}.get(kind)
    if header is None:
        return None
    response = _request(url, {header: value})
    with response:
        return revision if response.status == 304 else None


def _suffix(url: str, content_type: str) -> str:
    path = urlsplit(url).path.lower()
    for suffix in _SUFFIXES:
        if path.endswith(suffix):
            return suffix
    query = urlsplit(url).query.lower()
    for suffix in _SUFFIXES:
        if f"format={suffix[1:]}" in query:
            return suffix
    known = _TYPES.get(content_type.split(";")[0].strip().lower())
    if known:
        return known
    raise IngestError(
        f"{url}: cannot tell the file type (Content-Type {content_type or 'missing'}); "
        "use a URL ending in .csv or .parquet"
    )


def _read_http(url: str) -> tuple[Incoming, str]:
    response = _request(url)
    with response, tempfile.TemporaryDirectory(prefix="tusk-sync-") as folder:
        suffix = _suffix(url, response.headers.get("Content-Type", ""))
        path = Path(folder) / f"download{suffix}"
        try:
            with path.open("wb") as handle:
                shutil.copyfileobj(response, handle, 1 << 20)
        except (OSError, http_client.HTTPException) as exc:
            raise IngestError(f"{url}: download interrupted: {exc!r}") from exc
        try:
            incoming = read_source(str(path))
        except IngestError as exc:
            raise IngestError(str(exc).replace(str(path), url)) from exc
        return _renamed(incoming, url), _revision(response.headers)
