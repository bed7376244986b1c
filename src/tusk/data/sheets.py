"""Google Sheets as an import source: ``gsheet://SPREADSHEET_ID/TAB`` (extra ``tusk-mlops[sheets]``).

Credentials are a service account's JSON key, given in the environment: ``TUSK_GSHEETS_CREDENTIALS``
holds either the JSON itself or the path of the key file. Share the sheet with the service account's
e-mail address. The first row of the tab is the header; empty cells are NULL.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from tusk.backends import require
from tusk.errors import IngestError

CREDENTIALS_ENV = "TUSK_GSHEETS_CREDENTIALS"
SCOPES = [
    "https://www.googleapis.com/auth/spreadsheets.readonly",
    "https://www.googleapis.com/auth/drive.metadata.readonly",
]  # the file's version, for tusk data sync
DRIVE_FILES = "https://www.googleapis.com/drive/v3/files/"


def parse_url(url: str) -> tuple[str, str | None]:
    rest = url.removeprefix("gsheet://")
    spreadsheet, _, tab = rest.partition("/")
    if not spreadsheet:
        raise IngestError(f"{url}: use gsheet://SPREADSHEET_ID/TAB")
    return spreadsheet, unquote(tab) or None


def credentials_info() -> dict[str, Any]:
    raw = os.environ.get(CREDENTIALS_ENV, "").strip()
    if not raw:
        raise IngestError(f"Google Sheets import needs a service-account key in ${CREDENTIALS_ENV} (JSON or a path)")
    # the value may be the secret itself: no message below ever shows it, not even a part of it
    if raw.startswith("{"):
        text = raw
    else:
        path = Path(raw)
        if len(raw) > 4096 or "\n" in raw or not path.is_file():
            raise IngestError(
                f"${CREDENTIALS_ENV}: neither a JSON key nor the path of a key file "
                f"({len(raw)} characters; the value is not shown)"
            )
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise IngestError(
                f"${CREDENTIALS_ENV}: cannot read the key file ({getattr(exc, 'strerror', None) or type(exc).__name__})"
            ) from exc
    try:
        info = json.loads(text)
    except ValueError as exc:
        raise IngestError(
            f"${CREDENTIALS_ENV}: not valid JSON (line {getattr(exc, 'lineno', '?')}, column "
            f"{getattr(exc, 'colno', '?')}; the value is not shown)"
        ) from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        kind = info.get("type") if isinstance(info, dict) else type(info).__name__
        raise IngestError(f"${CREDENTIALS_ENV}: not a service-account key (type is {str(kind)[:40]!r})")
    if info.get("type") != "service_account":
        raise IngestError(f"${CREDENTIALS_ENV}: not a service-account key (type is {info.get('type')!r})")
    return dict(info)


def client(transport: Any = None) -> Any:
    """A gspread client from the environment's credentials.

    ``transport`` (a requests adapter, default: the network) carries both the OAuth token exchange and the
    Sheets API calls; tests pass one that replays the API's documented responses.
    """
    gspread = require("gspread")
    auth_requests = require("google.auth.transport.requests")  # google-auth comes with gspread
    service_account = require("google.oauth2.service_account")

    credentials = _credentials(service_account)
    if transport is None:
        return gspread.Client(credentials)
    import requests

    token_session = requests.Session()
    token_session.mount("https://", transport)
    session = auth_requests.AuthorizedSession(credentials, auth_request=auth_requests.Request(token_session))
    session.mount("https://", transport)
    return gspread.Client(credentials, session=session)


def _credentials(service_account: Any) -> Any:
    """The service account's credentials; a key google-auth cannot use (a malformed ``private_key``, a missing
    field) is one line that names what is wrong but shows nothing of the key."""
    info = credentials_info()
    missing = [k for k in ("client_email", "token_uri", "private_key") if not isinstance(info.get(k), str)]
    if missing:
        raise IngestError(
            f"${CREDENTIALS_ENV}: the service-account key has no {', '.join(missing)} (the value is not shown)"
        )
    try:
        return service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
    except Exception as exc:  # ValueError, TypeError and cryptography's errors; their text may quote the key  # noqa: BLE001
        raise IngestError(
            f"${CREDENTIALS_ENV}: the service-account key's private_key cannot be read "
            f"({type(exc).__name__}; is it the PEM text of the key file? the value is not shown)"
        ) from None


TRANSPORT: Any = None  # a requests adapter to use instead of the network (tests)


def sheet_revision(url: str, transport: Any = None) -> str:
    """The spreadsheet's Drive version and modifiedTime (``"17 2026-11-25T10:00:00.000Z"``), or "" when Drive
    does not say (the Drive API not enabled for the service account's project, or no access to metadata):
    then a sync compares the content alone."""
    gspread = require("gspread")
    spreadsheet_id, _ = parse_url(url)
    with _mapped(url, gspread):
        try:
            response = client(transport or TRANSPORT).http_client.request(
                "get",
                DRIVE_FILES + spreadsheet_id,
                params={"fields": "id,modifiedTime,version", "supportsAllDrives": True},
            )
        except gspread.exceptions.APIError:
            return ""
        meta = response.json()
    return " ".join(str(meta[k]) for k in ("version", "modifiedTime") if meta.get(k))


def transport_errors() -> tuple[type[Exception], ...]:
    """The errors of the layers under gspread that mean Google cannot be reached or will not let us in: requests'
    (connection, timeout, HTTP), urllib3's and google-auth's (a refused or failed token refresh)."""
    requests = require("requests")
    urllib3 = require("urllib3")
    auth = require("google.auth.exceptions")
    return (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, auth.GoogleAuthError)


@contextmanager
def _mapped(url: str, gspread: Any) -> Iterator[None]:
    """Transport and auth errors (requests, urllib3, google-auth), by their types, become one-line IngestErrors;
    gspread's own (APIError, not found) are left to the caller, which names them."""
    try:
        yield
    except (IngestError, gspread.exceptions.GSpreadException):
        raise
    except transport_errors() as exc:
        raise IngestError(f"{url}: cannot reach Google Sheets: {str(exc).splitlines()[0]}") from exc


def read_sheet(url: str, transport: Any = None) -> tuple[list[str], list[list[Any]]]:
    """(header, rows) of the tab; rows padded to the header's width, empty cells as None."""
    gspread = require("gspread")
    spreadsheet_id, tab = parse_url(url)
    try:
        with _mapped(url, gspread):
            book = client(transport or TRANSPORT).open_by_key(spreadsheet_id)
            sheet = book.worksheet(tab) if tab else book.sheet1
            values = sheet.get_all_values()
    except gspread.exceptions.WorksheetNotFound as exc:
        raise IngestError(f"{url}: no tab named {tab!r}") from exc
    except gspread.exceptions.SpreadsheetNotFound as exc:
        raise IngestError(
            f"{url}: Requested entity was not found (no such spreadsheet, or it is not shared with the service account)"
        ) from exc
    except gspread.exceptions.APIError as exc:
        raise IngestError(f"{url}: Google Sheets refused: {_api_message(exc)}") from exc
    if not values:
        raise IngestError(f"{url}: the tab is empty (a header row is needed)")
    header = [str(h) for h in values[0]]
    width = len(header)
    while width and header[width - 1] == "":
        width -= 1
    rows = []
    for number, row in enumerate(values[1:], start=2):
        if any(cell != "" for cell in row[width:]):
            raise IngestError(f"{url}: row {number} has values beyond the header's {width} columns")
        padded = list(row[:width]) + [""] * (width - len(row))
        if any(cell != "" for cell in padded):
            rows.append([cell if cell != "" else None for cell in padded])
    return header[:width], rows


def _api_message(exc: Any) -> str:
    try:
        return str(exc.response.json()["error"]["message"])
    except Exception:  # noqa: BLE001
        return str(exc).splitlines()[0]
