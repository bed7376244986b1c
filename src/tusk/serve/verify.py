"""``tusk release verify``: a release's image started where a container runtime can run it (podman, or docker
whose daemon answers) and the image is there; else its build context served by the very server the image's CMD
runs (``tusk serve --models``, a process of its own on a free port). Every model is sent the input example MLflow
logged with it (``serving_input_example.json``); the verdict per model is written beside the context
(``verify.json``), and the facade records it in the release log."""

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
from typing import IO, Any

from tusk.errors import ReleaseError

SERVER = "from tusk.cli import main; main()"


@dataclass
class Verdict:
    md5: str
    context: Path
    models: dict[str, str] = field(default_factory=dict)  # name → "ok" or why not
    seconds: float = 0.0
    verified_by: str = "context"  # context | podman | docker
    note: str = ""  # why the image was not the one started (no runtime, image not built)

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
            "verified_by": self.verified_by,
            "note": self.note,
        }

    def detail(self) -> str:
        """What failed, in a line (the release log keeps it)."""
        failed = [
            f"{name}: {result}" for name, result in self.models.items() if result not in ("ok", "no input example")
        ]
        return "; ".join(failed) if failed else f"{len(self.models)} models answered"


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


def container_runtime() -> str | None:
    """The runtime that can start an image here: podman (daemonless) if installed, else docker if its daemon
    answers (what ``tusk.build``'s docker builder asks), else None."""
    from tusk.build.docker import DockerBuilder, PodmanBuilder

    if PodmanBuilder().installed():
        return "podman"
    if DockerBuilder().ready():
        return "docker"
    return None


def verify(md5: str, context: Path, image: str, missing: dict[str, str] | None = None, wait: float = 120) -> Verdict:
    """The image when a runtime can start it and has it, else the context (the verdict says which, and why).
    ``missing``: the models whose files could not be fetched into the context, and why: they fail."""
    from tusk.build.docker import DockerBuilder, PodmanBuilder

    runtime = container_runtime()
    if runtime is None:
        note = "no container runtime (podman, or docker with a daemon)"
        return verify_context(md5, context, missing, wait, note)
    builder = PodmanBuilder() if runtime == "podman" else DockerBuilder()
    if not image or not builder.has_image(image):
        return verify_context(md5, context, missing, wait, f"{runtime} has no image {image} (tusk release build)")
    return verify_image(md5, context, image, runtime, missing, wait)


def verify_context(
    md5: str, context: Path, missing: dict[str, str] | None = None, wait: float = 120, note: str = ""
) -> Verdict:
    """The build context served by ``tusk serve --models`` in a process of its own."""
    port = _free_port()
    verdict = Verdict(md5, context, dict(missing or {}), verified_by="context", note=note)
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, "serve", "--models", str(context / "models"), "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _probe(verdict, f"http://127.0.0.1:{port}", lambda: proc.poll() is None, log, wait)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return verdict


def verify_image(
    md5: str, context: Path, image: str, runtime: str, missing: dict[str, str] | None = None, wait: float = 120
) -> Verdict:
    """``image`` run by ``runtime`` (podman or docker) with its port 8080 on a free local port, removed after."""
    from tusk.release.build import SERVE_PORT

    port = _free_port()
    verdict = Verdict(md5, context, dict(missing or {}), verified_by=runtime)
    name = f"tusk-verify-{md5[:12]}-{port}"
    started = subprocess.run(
        [runtime, "run", "-d", "--rm", "--name", name, "-p", f"127.0.0.1:{port}:{SERVE_PORT}", image],
        capture_output=True,
        text=True,
        timeout=wait,
    )
    if started.returncode != 0:
        raise ReleaseError(f"{runtime} could not start {image}: {started.stderr.strip().splitlines()[-1:]}")

    def alive() -> bool:
        state = subprocess.run([runtime, "inspect", "-f", "{{.State.Running}}", name], capture_output=True, text=True)
        return state.returncode == 0 and state.stdout.strip() == "true"

    try:
        with tempfile.TemporaryFile() as log:
            _probe(verdict, f"http://127.0.0.1:{port}", alive, log, wait, lambda: _logs(runtime, name))
    finally:
        subprocess.run([runtime, "rm", "-f", name], capture_output=True, timeout=60)
    return verdict


def _logs(runtime: str, name: str) -> str:
    done = subprocess.run([runtime, "logs", name], capture_output=True, text=True, timeout=30)
    return (done.stdout + done.stderr).strip()


def _probe(
    verdict: Verdict,
    base: str,
    alive: Any,
    log: IO[bytes],
    wait: float,
    logs: Any = None,
) -> None:
    """Wait for ``base``/health, then send every model of the context its input example; the verdict filled in
    and written to the context's ``verify.json``."""
    started = time.monotonic()
    models = verdict.context / "models"
    manifest = json.loads((models / "manifest.json").read_text())
    deadline = time.monotonic() + wait
    while True:
        if not alive():
            log.seek(0)
            text = logs() if logs is not None else log.read().decode(errors="replace").strip()
            tail = text.splitlines()[-1:]
            raise ReleaseError(f"the server of release {verdict.md5} stopped: {' '.join(tail)}")
        try:
            if _call(f"{base}/health", timeout=5)[0] == 200:
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise ReleaseError(f"the server of release {verdict.md5} did not answer /health in {wait:.0f} s")
        time.sleep(0.2)
    for name in sorted(manifest):
        if name in verdict.models:  # already judged (its files could not be fetched into the context)
            continue
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
    verdict.seconds = time.monotonic() - started
    (verdict.context / "verify.json").write_text(json.dumps(verdict.to_json(), indent=2) + "\n")
