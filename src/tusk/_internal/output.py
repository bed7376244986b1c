"""Files written where a user points (``data export -o``, ``ci github --output``, ``data merge --conflicts-file``):
regular files only, whole or not at all, with the mode any program's ``open()`` would give.

- A destination that exists must be a regular file. A symbolic link, a device (``/dev/null``, ``/dev/full``,
  ``/dev/stdout``, which is a link), a FIFO, a socket or a directory is refused with one line, judged by
  ``lstat`` before anything is opened: opening a FIFO would block until a reader came, and writing by rename
  (below) would replace a device or a link with a file (as root, ``-o /dev/full`` turned the device into a
  regular file). Refusing is the rule, not writing through: a link in a shared folder could point anywhere.
- The content is written to a temporary file beside the destination and renamed over it: a failed or
  interrupted write leaves the old file as it was and no temporary file behind. The temporary file's name
  holds the writer's pid (``.NAME.tusk-PID-XXXX.tmp``): one a killed writer left (kill -9 between writing and
  renaming) is removed by the next write of the same destination.
- A new file gets 0666 less the umask; a file that existed keeps its permission bits.
- Every ``OSError`` (a directory that cannot be written, an immutable file, a full disk) is one ``TuskError``
  line naming the path, never a traceback.
"""

from __future__ import annotations

import glob
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, TypeVar

from tusk._internal.crash import crash_point
from tusk.errors import OutputRefused as OutputRefused  # defined in errors.py's tree

T = TypeVar("T")

_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
)


def check_destination(path: Path) -> os.stat_result | None:
    """The destination's stat when it is a regular file, None when it does not exist; refuses anything else."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise OutputRefused(f"cannot write {path}: {exc.strerror or exc}") from exc
    if stat.S_ISREG(found.st_mode):
        return found
    kind = next((name for test, name in _KINDS if test(found.st_mode)), "not a regular file")
    hint = ""
    if stat.S_ISLNK(found.st_mode):
        hint = f" (to {os.readlink(path)}): give the file itself"
    elif stat.S_ISCHR(found.st_mode) or stat.S_ISFIFO(found.st_mode):
        hint = ": tusk writes only regular files (for a pipe, write to standard output where the command offers it)"
    raise OutputRefused(f"{path} is {kind}{hint}; nothing was written")


def umask() -> int:
    """The process's umask, read without changing it where Linux says it (else set and put back at once)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def remove_leftovers(path: Path) -> None:
    """The temporary files of writes of ``path`` whose writer is gone (killed between writing and renaming)."""
    for found in path.parent.glob(f".{glob.escape(path.name)}.tusk-*-*.tmp"):
        pid = found.name[len(path.name) + 7 :].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            found.unlink(missing_ok=True)


def write_file(path: Path, write: Callable[[IO[bytes]], T]) -> T:
    """Call ``write(handle)`` on a temporary file beside ``path``, then rename it into place; → what it returned."""
    existing = check_destination(path)
    mode = stat.S_IMODE(existing.st_mode) if existing else 0o666 & ~umask()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_leftovers(path)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tusk-{os.getpid()}-", suffix=".tmp")
    except OSError as exc:
        raise OutputRefused(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(handle, "wb") as out:
            result = write(out)
            out.flush()
            os.fchmod(out.fileno(), mode)
        crash_point("output.written")
        check_destination(path)  # it may have become a link or a FIFO meanwhile: rename would replace that
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise OutputRefused(f"cannot write {path}: {exc.strerror or exc}; nothing was written") from exc
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return result


def write_text(path: Path, text: str) -> None:
    write_file(path, lambda out: out.write(text.encode("utf-8")))
