"""Google's endpoints replayed for gspread: the OAuth token endpoint, Sheets API v4 (spreadsheets.get,
spreadsheets.values.get, errors) and Drive API v3 files.get, with the response shapes Google documents.
No network is reachable here; the replay refuses any other request. Tests change ``values`` (and bump
the Drive ``version``) to play an analyst editing the sheet.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

SHEET_ID = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms"
TOKEN_URI = "https://oauth2.googleapis.com/token"


class ReplaySheets(requests.adapters.BaseAdapter):
    """Answers like Google's endpoints; records every request; refuses anything else."""

    def __init__(self, values: list[list[str]], drive: bool = True) -> None:
        super().__init__()
        self.values = values
        self.calls: list[tuple[str, str]] = []
        self.version = 1  # Drive's file version: bumped by every edit
        self.modified = "2026-11-25T10:00:00.000Z"
        self.drive = drive  # False: the Drive API is not enabled for the service account's project (403)
        self.token_error: str | None = None  # e.g. "invalid_grant": the key was revoked

    def edit(self, values: list[list[str]]) -> None:
        """An analyst's edit: new values, a new Drive version and modifiedTime."""
        self.values = values
        self.version += 1
        self.modified = f"2026-11-25T10:{self.version:02d}:00.000Z"

    @property
    def value_reads(self) -> int:
        return sum(1 for _, url in self.calls if "/values/" in url)

    def send(self, request: Any, **kwargs: Any) -> requests.Response:
        self.calls.append((request.method, request.url))
        url = urlsplit(request.url)
        if request.url.startswith(TOKEN_URI):
            if self.token_error:
                return self._json(400, {"error": self.token_error, "error_description": "Invalid JWT Signature."})
            return self._json(200, {"access_token": "ya29.replayed", "expires_in": 3599, "token_type": "Bearer"})
        assert request.headers.get("Authorization") == "Bearer ya29.replayed"
        if url.netloc == "www.googleapis.com" and url.path.startswith("/drive/v3/files/"):
            return self._drive(url.path.rsplit("/", 1)[1])
        parts = url.path.split("/")  # /v4/spreadsheets/{id}[/values/{range}]
        if url.netloc != "sheets.googleapis.com" or parts[3] != SHEET_ID:
            return self._not_found()
        if len(parts) == 4:
            return self._json(
                200,
                {
                    "spreadsheetId": SHEET_ID,
                    "properties": {"title": "Training data", "locale": "en_US"},
                    "sheets": [
                        {
                            "properties": {
                                "sheetId": 0,
                                "title": "Examples",
                                "index": 0,
                                "sheetType": "GRID",
                                "gridProperties": {"rowCount": 1000, "columnCount": 26},
                            }
                        }
                    ],
                    "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{SHEET_ID}/edit",
                },
            )
        rng = unquote(parts[5])
        return self._json(200, {"range": f"{rng}!A1:Z1000", "majorDimension": "ROWS", "values": self.values})

    def _drive(self, file_id: str) -> requests.Response:
        if not self.drive:
            return self._json(
                403,
                {
                    "error": {
                        "code": 403,
                        "message": "Google Drive API has not been used in project 1 before or it is disabled.",
                        "status": "PERMISSION_DENIED",
                    }
                },
            )
        if file_id != SHEET_ID:
            return self._not_found()
        return self._json(200, {"id": SHEET_ID, "modifiedTime": self.modified, "version": str(self.version)})

    def _not_found(self) -> requests.Response:
        return self._json(
            404, {"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}}
        )

    @staticmethod
    def _json(status: int, body: dict[str, Any]) -> requests.Response:
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(body).encode()
        response.headers["Content-Type"] = "application/json; charset=UTF-8"
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        pass


def service_account_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "tusk-test",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": "importer@tusk-test.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": TOKEN_URI,
    }
    return json.dumps(info)


@pytest.fixture
def service_account(monkeypatch: pytest.MonkeyPatch) -> None:
    from tusk.data import sheets

    monkeypatch.setenv(sheets.CREDENTIALS_ENV, service_account_key())
