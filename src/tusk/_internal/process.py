"""Whether a process is still there, by its id: the one rule every owner check of tusk's uses (a run's job
folder, a page's background run, a merge preview's scratch branch, a training run left RUNNING)."""

from __future__ import annotations

import os
from typing import Any


def process_alive(pid: Any) -> bool:
    """True while process ``pid`` runs on this machine. A zombie (it ended, its parent has not reaped it yet)
    is not alive; a process of another user we may not signal is. Anything but a positive int is not."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(") ", 1)[1][:1] != "Z"
    except IndexError:
        return True
    except OSError:  # gone since the signal, or no /proc at all (not Linux: the signal said it is there)
        return not os.path.isdir("/proc/self")
