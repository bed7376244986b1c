"""Job functions the executor tests run in workers (importable by dotted name)."""

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


def noop(payload: Any) -> None:
    return None


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


def my_pid(payload: Any) -> int:
    return os.getpid()


def escape(payload: dict[str, Any]) -> dict[str, float]:
    """Leave processes behind every way a job can (issue 23): a child in the job's group, one in a session of its
    own, and a double-forked daemon in a new session (its parent exits, so it is nobody's child). Their pids go to
    ``pidfile``; then the job returns, or sleeps ``sleep`` s (to be stopped by a timeout or a cancel)."""
    same = subprocess.Popen(["sleep", "787"])
    session = subprocess.Popen(["sleep", "788"], start_new_session=True)
    read, write = os.pipe()
    first = os.fork()
    if first == 0:
        os.setsid()
        if os.fork() == 0:
            os.write(write, str(os.getpid()).encode())
            time.sleep(779)
        os._exit(0)
    os.waitpid(first, 0)
    daemon = int(os.read(read, 64))
    Path(payload["pidfile"]).write_text(f"{same.pid} {session.pid} {daemon}")
    if payload.get("sleep"):
        time.sleep(payload["sleep"])
    return {"a": 1.0}
