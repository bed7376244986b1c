"""The web tests' client and form helpers (the in-process ASGI app through httpx), shared by the web, review and
train tests that drive the page."""

from __future__ import annotations

import re
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from train_fixtures import TrainProject, rows

BASE = "http://127.0.0.1:8765"


def client(root: Path, token: str | None = None, host: str = "127.0.0.1") -> TestClient:
    from tusk.web import create

    return TestClient(create(root / "tusk.toml", host, 8765, token), base_url=BASE)


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and (values.get("href") or "").startswith("/"):
            self.links.append(str(values["href"]).split("#")[0])
        if tag == "form" and (values.get("method") or "").lower() == "post":
            self.forms.append({"action": values.get("action"), "fields": {}})
        if tag == "input" and self.forms and values.get("name"):
            self.forms[-1]["fields"].setdefault(values["name"], values.get("value") or "")


def csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def form(html: str, action: str) -> dict[str, str]:
    parser = Links()
    parser.feed(html)
    return next(f["fields"] for f in parser.forms if f["action"] == action)


def edited(project: TrainProject, branch: str) -> None:
    """On ``branch``: c1's rows relabelled (retrains m-c1), c2's rows too (retrains m-c2)."""
    data = rows()
    for row in data:
        if row[1] in ("c1", "c2"):
            row[3] = "relabelled"
    project.import_rows(data, branch=branch, message=f"relabel c1 and c2 on {branch}")


def wait(check: Any, timeout: float = 300) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("timed out")
