"""Google Sheets import through gspread, against replayed responses shaped like the Sheets API v4's
documented ones (spreadsheets.get, spreadsheets.values.get, errors) and Google's OAuth token endpoint.
No network is reachable here; the replay transport refuses any other request.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from click.testing import CliRunner

from google_replay import SHEET_ID, TOKEN_URI, ReplaySheets, service_account  # noqa: F401 (a fixture)
from tusk.cli import (
    _register,  # noqa: F401
    cli,
)
from tusk.data import sheets

VALUES = [
    ["id", "customer", "text", "label"],
    ["1", "acme", "where is my parcel", "track_order"],
    ["2", "acme", "cancel it", "cancel_order"],
    ["3", "globex", "refund please", ""],
]


def test_a_sheet_imports_as_one_commit(tmp_path: Path, service_account: None, monkeypatch: pytest.MonkeyPatch) -> None:
    replay = ReplaySheets(VALUES)
    monkeypatch.setattr(sheets, "TRANSPORT", replay)
    root = tmp_path / "p"
    CliRunner().invoke(cli, ["init", str(root)])
    result = CliRunner().invoke(
        cli,
        [
            "-C",
            str(root),
            "data",
            "import",
            f"gsheet://{SHEET_ID}/Examples",
            "--table",
            "examples",
            "--key",
            "id",
            "--json",
        ],
    )
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
    with pytest.raises(sheets.IngestError, match="neither a JSON key nor the path of a key file"):
        sheets.read_sheet(f"gsheet://{SHEET_ID}/Examples")


@pytest.mark.parametrize(
    "secret",
    [
        "sk-live-0123456789abcdef",
        '{"private_key": "-----BEGIN sk-live-0123456789abcdef',
        "sk-live-0123456789abcdef\n-----END",
        '["sk-live-0123456789abcdef"]',
    ],
)
def test_a_credentials_value_is_never_echoed(monkeypatch: pytest.MonkeyPatch, secret: str) -> None:
    monkeypatch.setenv(sheets.CREDENTIALS_ENV, secret)
    with pytest.raises(sheets.IngestError) as caught:
        sheets.read_sheet(f"gsheet://{SHEET_ID}/Examples")
    shown = str(caught.value) + repr(caught.value.__cause__ or "")
    assert "0123456789abcdef" not in shown and "\n" not in str(caught.value)


def test_a_malformed_private_key_is_one_line_without_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A service-account key whose private_key google-auth cannot read gave a traceback (the secret was not
    printed: it still is not)."""
    key = {
        "type": "service_account",
        "client_email": "tusk@example.iam.gserviceaccount.com",
        "token_uri": TOKEN_URI,
        "private_key": "-----BEGIN PRIVATE KEY-----\nsk-live-0123456789abcdef\n-----END PRIVATE KEY-----\n",
    }
    monkeypatch.setenv(sheets.CREDENTIALS_ENV, json.dumps(key))
    root = tmp_path / "p"
    CliRunner().invoke(cli, ["init", str(root)])
    result = CliRunner().invoke(
        cli, ["-C", str(root), "data", "import", f"gsheet://{SHEET_ID}/Examples", "--table", "examples", "--key", "id"]
    )
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "private_key cannot be read" in lines[0], result.stderr
    assert "0123456789abcdef" not in result.output and "Traceback" not in result.output
    key.pop("client_email")
    monkeypatch.setenv(sheets.CREDENTIALS_ENV, json.dumps(key))
    with pytest.raises(sheets.IngestError, match="has no client_email") as caught:
        sheets.read_sheet(f"gsheet://{SHEET_ID}/Examples")
    assert "0123456789abcdef" not in str(caught.value)


class Unreachable(ReplaySheets):
    """No route to Google: every request fails in requests' transport."""

    def send(self, request: Any, **kwargs: Any) -> Any:
        import requests

        raise requests.exceptions.ConnectionError("Failed to establish a new connection: [Errno 101] unreachable")


def test_transport_and_auth_errors_are_mapped_by_type(service_account: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """requests' errors and google-auth's (a revoked key's token refresh) are each one line: 'cannot reach'."""
    monkeypatch.setattr(sheets, "TRANSPORT", Unreachable(VALUES))
    with pytest.raises(sheets.IngestError, match=r"cannot reach Google Sheets: .*unreachable") as caught:
        sheets.read_sheet(f"gsheet://{SHEET_ID}/Examples")
    assert "\n" not in str(caught.value)
    revoked = ReplaySheets(VALUES)
    revoked.token_error = "invalid_grant"
    monkeypatch.setattr(sheets, "TRANSPORT", revoked)
    with pytest.raises(sheets.IngestError, match=r"cannot reach Google Sheets: .*invalid_grant"):
        sheets.read_sheet(f"gsheet://{SHEET_ID}/Examples")
    with pytest.raises(sheets.IngestError, match=r"cannot reach Google Sheets"):
        sheets.sheet_revision(f"gsheet://{SHEET_ID}/Examples")
