"""Google Sheets import through gspread, against replayed responses shaped like the Sheets API v4's
documented ones (spreadsheets.get, spreadsheets.values.get, errors) and Google's OAuth token endpoint.
No network is reachable here; the replay transport refuses any other request.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import requests
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tusk.cli import _register  # noqa: F401
from tusk.cli import cli
from tusk.data import sheets

SHEET_ID = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms"
TOKEN_URI = "https://oauth2.googleapis.com/token"
VALUES = [["id", "customer", "text", "label"], ["1", "acme", "where is my parcel", "track_order"],
          ["2", "acme", "cancel it", "cancel_order"], ["3", "globex", "refund please", ""]]


class ReplaySheets(requests.adapters.BaseAdapter):
    """Answers like Google's endpoints; records every request; refuses anything else."""

    def __init__(self, values: list[list[str]]) -> None:
        super().__init__()
        self.values = values
        self.calls: list[tuple[str, str]] = []

    def send(self, request: Any, **kwargs: Any) -> requests.Response:
        self.calls.append((request.method, request.url))
        url = urlsplit(request.url)
        if request.url.startswith(TOKEN_URI):
            return self._json(200, {"access_token": "ya29.replayed", "expires_in": 3599, "token_type": "Bearer"})
        assert request.headers.get("Authorization") == "Bearer ya29.replayed"
        parts = url.path.split("/")  # /v4/spreadsheets/{id}[/values/{range}]
        if url.netloc != "sheets.googleapis.com" or parts[3] != SHEET_ID:
            return self._json(404, {"error": {"code": 404, "message": "Requested entity was not found.",
                                              "status": "NOT_FOUND"}})
        if len(parts) == 4:
            return self._json(200, {"spreadsheetId": SHEET_ID, "properties": {"title": "Training data",
                                                                               "locale": "en_US"},
                                    "sheets": [{"properties": {"sheetId": 0, "title": "Examples", "index": 0,
                                                               "sheetType": "GRID",
                                                               "gridProperties": {"rowCount": 1000,
                                                                                  "columnCount": 26}}}],
                                    "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{SHEET_ID}/edit"})
        rng = unquote(parts[5])
        return self._json(200, {"range": f"{rng}!A1:Z1000", "majorDimension": "ROWS", "values": self.values})

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


@pytest.fixture
def service_account(monkeypatch: pytest.MonkeyPatch) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    info = {"type": "service_account", "project_id": "tusk-test", "private_key_id": "k1", "private_key": pem,
            "client_email": "importer@tusk-test.iam.gserviceaccount.com", "client_id": "1",
            "token_uri": TOKEN_URI}
    monkeypatch.setenv(sheets.CREDENTIALS_ENV, json.dumps(info))


def test_a_sheet_imports_as_one_commit(tmp_path: Path, service_account: None, monkeypatch: pytest.MonkeyPatch) -> None:
    replay = ReplaySheets(VALUES)
    monkeypatch.setattr(sheets, "TRANSPORT", replay)
    root = tmp_path / "p"
    CliRunner().invoke(cli, ["init", str(root)])
    result = CliRunner().invoke(cli, ["-C", str(root), "data", "import", f"gsheet://{SHEET_ID}/Examples",
                                      "--table", "examples", "--key", "id", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["added"] == 3
    rows = CliRunner().invoke(cli, ["-C", str(root), "data", "sql", "SELECT * FROM examples ORDER BY id", "--json"])
    assert json.loads(rows.stdout)["rows"][2] == [3, "globex", "refund please", None]
    assert replay.calls[0] == ("POST", TOKEN_URI)
    assert any("/values/" in url and "Examples" in unquote(url) for _, url in replay.calls)


def test_sheet_errors_are_one_line(tmp_path: Path, service_account: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sheets, "TRANSPORT", ReplaySheets(VALUES))
    with pytest.raises(sheets.IngestError, match="Requested entity was not found"):
        sheets.read_sheet("gsheet://unknown-id/Examples")
    with pytest.raises(sheets.IngestError, match="no tab named 'Nope'"):
        sheets.read_sheet(f"gsheet://{SHEET_ID}/Nope")
    monkeypatch.setattr(sheets, "TRANSPORT", ReplaySheets([["id", "x"], ["1", "a", "stray"]]))
    with pytest.raises(sheets.IngestError, match="row 2 has values beyond the header"):
        sheets.read_sheet(f"gsheet://{SHEET_ID}/Examples")


def test_missing_or_wrong_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(sheets.CREDENTIALS_ENV, raising=False)
    with pytest.raises(sheets.IngestError, match="needs a service-account key"):
        sheets.read_sheet(f"gsheet://{SHEET_ID}/Examples")
    monkeypatch.setenv(sheets.CREDENTIALS_ENV, json.dumps({"type": "authorized_user"}))
    with pytest.raises(sheets.IngestError, match="not a service-account key"):
        sheets.read_sheet(f"gsheet://{SHEET_ID}/Examples")
    monkeypatch.setenv(sheets.CREDENTIALS_ENV, str(tmp_path / "missing.json"))
    with pytest.raises(sheets.IngestError, match="not a readable service-account JSON key"):
        sheets.read_sheet(f"gsheet://{SHEET_ID}/Examples")
