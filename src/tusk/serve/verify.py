"""``tusk release verify``: a release's build context served by the very server its image runs (``tusk serve
--models``, a process of its own on a free port), every model sent the input example MLflow logged with it
(``serving_input_example.json``); the verdict per model, written beside the context (``verify.json``).

The image itself is not started here (no container runtime is assumed): what is verified is the context the
image is built from and the server its CMD runs."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tusk.errors import ReleaseError

SERVER = "from tusk.cli import main; main()"


@dataclass
class Verdict:
    md5: str
    context: Path
    models: dict[str, str] = field(default_factory=dict)  # name → "ok" or why not
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(result in ("ok", "no input example") for result in self.models.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "md5": self.md5,
            "context": str(self.context),
            "ok": self.ok,
            "models": self.models,
            "seconds": round(self.seconds, 2),
        }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _call(url: str, body: bytes | None = None, timeout: float = 120) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return int(answer.status), answer.read().decode()
    except urllib.error.HTTPError as failed:
        return int(failed.code), failed.read().decode()


def verify_context(md5: str, context: Path, wait: float = 120) -> Verdict:
    models = context / "models"
    manifest = json.loads((models / "manifest.json").read_text())
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    verdict = Verdict(md5, context)
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, "serve", "--models", str(models), "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + wait
            while True:
                if proc.poll() is not None:
                    log.seek(0)
                    tail = log.read().decode(errors="replace").strip().splitlines()[-1:]
                    raise ReleaseError(f"the server of release {md5} stopped: {' '.join(tail)}")
                try:
                    if _call(f"{base}/health", timeout=5)[0] == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise ReleaseError(f"the server of release {md5} did not answer /health in {wait:.0f} s")
                time.sleep(0.2)
            for name in sorted(manifest):
                example = models / name / "serving_input_example.json"
                if not example.is_file():
                    verdict.models[name] = "no input example"
                    continue
                try:
                    status, text = _call(f"{base}/models/{name}/invocations", example.read_bytes())
                except OSError as exc:
                    verdict.models[name] = f"no answer: {exc}"
                    continue
                if status == 200 and "predictions" in json.loads(text):
                    verdict.models[name] = "ok"
                else:
                    verdict.models[name] = f"HTTP {status}: {text[:200]}"
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    verdict.seconds = time.monotonic() - started
    (context / "verify.json").write_text(json.dumps(verdict.to_json(), indent=2) + "\n")
    return verdict
