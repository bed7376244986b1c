"""Job functions only tusk's own tests run in workers (importable by dotted name, ``"jobs_for_tests:my_pid"``,
through pytest's pythonpath). The executor suite's own jobs are in the package: tusk.testing.jobs."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any


def noop(payload: Any) -> None:
    return None


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
