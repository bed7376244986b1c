"""Project locks: one ``tusk run`` (or watcher's run) per project at a time, one watcher per project.

A lock is ``flock`` on a file under ``.tusk/`` that names its holder (command, pid, host, since when).
The kernel releases it when the holder dies, however it dies, so a lock is never left stale by a kill -9:
the file stays and the next holder overwrites it. A second taker either waits (saying whom for) or is
refused with ``LockHeld`` naming the holder. A lock taken ``reentrant`` is taken again freely by the
process that holds it (``tusk watch`` holds the run lock while its run takes it too). Processes forked
while a lock is held (workers) close their copy of it at once.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from tusk.errors import LockHeld

_HELD: dict[str, tuple[IO[str], int]] = {}  # lock files this process holds → (handle, how many times)


def _forget_in_child() -> None:
    for handle, _ in _HELD.values():
        handle.close()  # not LOCK_UN: that would release the parent's lock too
    _HELD.clear()


os.register_at_fork(after_in_child=_forget_in_child)


def holder(path: Path) -> str:
    """Who holds (or last held) ``path``, as its holder wrote it."""
    try:
        return path.read_text().strip()
    except OSError:
        return ""


@contextmanager
def hold(
    path: Path, what: str, wait: bool = False, on_wait: Callable[[str], None] | None = None, reentrant: bool = False
) -> Iterator[None]:
    """Hold ``path`` exclusively for ``what`` (e.g. "tusk run"). Held elsewhere: wait (telling ``on_wait`` who
    holds it) when ``wait``, else raise LockHeld naming the holder."""
    key = str(path.resolve())
    if reentrant and key in _HELD:
        handle, count = _HELD[key]
        _HELD[key] = (handle, count + 1)
        try:
            yield
        finally:
            _HELD[key] = (handle, _HELD[key][1] - 1)
        return
    handle = _take(path, what, wait, on_wait)
    _HELD[key] = (handle, 1)
    try:
        yield
    finally:
        _HELD.pop(key, None)
        handle.seek(0)
        handle.truncate()
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def _take(path: Path, what: str, wait: bool, on_wait: Callable[[str], None] | None) -> IO[str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        handle.seek(0)
        who = handle.read().strip() or "another process"
        if not wait:
            handle.close()
            raise LockHeld(f"{who} holds this project; try again when it is done (lock file {path})") from exc
        if on_wait is not None:
            on_wait(f"waiting for {who} to finish (lock file {path})")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
        except BaseException:
            handle.close()
            raise
    handle.seek(0)
    handle.truncate()
    handle.write(f"{what} (pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')})")
    handle.flush()
    return handle
