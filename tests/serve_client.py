"""A real `tusk serve` process for the tests (started, waited for until /health answers 200, stopped), and one
HTTP call to it that returns the status, the headers and the JSON body whatever the status."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from crash_helpers import TUSK, env
from train_fixtures import free_port


def call(
    port: int, path: str, body: Any = None, raw: bytes | None = None, timeout: float = 60
) -> tuple[int, dict[str, str], Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method="POST" if data else "GET")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, dict(answer.headers), json.loads(answer.read())
    except urllib.error.HTTPError as failed:
        return failed.code, dict(failed.headers), json.loads(failed.read())


class Served:
    """``tusk -C ROOT serve --port P ARGS`` in a process of its own, its output in ROOT/serve-P.log."""

    def __init__(self, root: Path, *args: str) -> None:
        self.port = free_port()
        self.log = root / f"serve-{self.port}.log"
        self.proc = subprocess.Popen(
            [TUSK, "-C", str(root), "serve", "--port", str(self.port), *args],
            env=env(),
            cwd=root,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                if call(self.port, "/health")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"no /health in 120 s: {self.log.read_text()}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
