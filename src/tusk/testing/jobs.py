"""Job functions the executor suite runs in workers, by dotted name (``"tusk.testing.jobs:echo"``): a backend's
workers import them from the installed package, so the suite needs no folder of the plugin's tests on their path.
They use only the standard library."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def echo(payload: Any) -> Any:
    return payload


def sleep_and_mark(payload: dict[str, Any]) -> list[float]:
    started = time.time()
    time.sleep(payload["seconds"])
    return [started, time.time()]


def meet(payload: dict[str, Any]) -> int:
    """Say this job has started, then wait (at most ``wait`` s) until ``count`` jobs have: → how many had. Jobs
    that run at the same time all see ``count``; run one after another, the first sees fewer however fast."""
    folder = Path(payload["folder"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / str(os.getpid())).write_text("started")
    deadline = time.monotonic() + payload.get("wait", 300)
    while len(list(folder.iterdir())) < payload["count"] and time.monotonic() < deadline:
        time.sleep(0.05)
    return len(list(folder.iterdir()))


def sleep_with_pid(payload: dict[str, Any]) -> None:
    """Write this process's id, sleep ``seconds``, then write ``finished``: a job stopped in its sleep never does."""
    Path(payload["pidfile"]).write_text(str(os.getpid()))
    time.sleep(payload["seconds"])
    Path(payload["finished"]).write_text("finished")


def boom(payload: Any) -> None:
    raise ValueError(f"boom {payload}")


def exit_hard(payload: Any) -> None:
    os._exit(3)


def kill_self(payload: Any) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def flaky(payload: dict[str, Any]) -> str:
    marker = Path(payload["marker"])
    if not marker.exists():
        marker.write_text("tried")
        raise RuntimeError("first attempt fails")
    return "second attempt"


def chatty(payload: Any) -> str:
    print("to stdout")
    print("to stderr", file=sys.stderr)
    subprocess.run(["echo", "from a child process"], check=True)
    return os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>")


def spawn_and_sleep(payload: dict[str, Any]) -> None:
    child = subprocess.Popen(["sleep", "300"])
    Path(payload["pidfile"]).write_text(f"{os.getpid()} {child.pid}")
    time.sleep(300)


class Deterministic(Exception):
    retryable = False  # another attempt would fail the same way


def fails_the_same_way(payload: dict[str, Any]) -> None:
    with open(payload["tries"], "a") as tries:
        tries.write("x")
    raise Deterministic("bad entry")


def flood(payload: Any) -> None:
    chunk = "y" * (1 << 20) + "\n"
    while True:  # ~100 MB/s
        sys.stdout.write(chunk)
        time.sleep(0.01)
