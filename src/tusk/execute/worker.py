"""What runs where a job runs, whatever the backend: one attempt of a job, with its output in its log.

``run_attempt`` imports the job's function and calls it with fds 1 and 2 (so child processes and C code
too) sent to the job's log, between two ``[tusk] attempt N`` lines, and says how it ended as a tuple
``(kind, value, error)`` that pickles cheaply (kind as in ``Outcome``). A local worker, a Ray task's forked
child and the immediate backend all call it, so a log reads the same everywhere.

The helpers below make a worker process die with whatever started it (``die_with_parent``) and take its
job's children with it (``kill_own_group``).
"""

from __future__ import annotations

import ctypes
import os
import pickle
import signal
import sys
import time
import traceback
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from importlib import import_module
from pathlib import Path
from typing import Any

from tusk.execute.base import Attempt, Outcome, retryable

PR_SET_PDEATHSIG = 1
Wire = tuple[str, Any, str]  # (kind, value, error): an Outcome as it crosses a pipe


def run_attempt(
    function: str, payload: Any, log_path: str, gpu_env: str, attempt: int, prepare: str | None = None
) -> Wire:
    """Call the job with its output sent to its log; → (kind, value, error), kind "ok", "error" or "fatal"."""
    with visible_gpus(gpu_env), open(log_path, "a", buffering=1, encoding="utf-8") as log:
        log.write(
            f"[tusk] attempt {attempt} started {time.strftime('%Y-%m-%d %H:%M:%S')} pid {os.getpid()} "
            f"CUDA_VISIBLE_DEVICES={gpu_env!r}\n"
        )
        with redirected(log.fileno()):
            outcome = _call(prepare, payload) if prepare else ("ok", None, "")
            if outcome[0] == "ok":
                outcome = _call(function, payload)
        verdict = "succeeded" if outcome[0] == "ok" else "failed: " + outcome[2]
        if outcome[0] == "fatal":
            verdict += " (not retried: another attempt would fail the same way)"
        log.write(f"[tusk] attempt {attempt} {verdict}\n")
    return outcome


def prepare_attempt(prepare: str | None, payload: Any, log_path: str, gpu_env: str, attempt: int) -> Wire | None:
    """Call a job's ``prepare`` here, with its output in the job's log; None when it went well (or there is none),
    else how the attempt ended (it is not started)."""
    if not prepare:
        return None
    with visible_gpus(gpu_env), open(log_path, "a", buffering=1, encoding="utf-8") as log:
        with redirected(log.fileno()):
            outcome = _call(prepare, payload)
        if outcome[0] != "ok":
            log.write(f"[tusk] attempt {attempt} failed before it started: {outcome[2]}\n")
    return None if outcome[0] == "ok" else outcome


@contextmanager
def visible_gpus(gpu_env: str) -> Iterator[None]:
    """``CUDA_VISIBLE_DEVICES`` set to the job's GPUs while it runs, and back as it was after (the worker goes on)."""
    saved = os.environ.get("CUDA_VISIBLE_DEVICES")
    os.environ["CUDA_VISIBLE_DEVICES"] = gpu_env
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = saved


def _call(function: str, payload: Any) -> Wire:
    try:
        module_name, _, name = function.partition(":")
        return ("ok", getattr(import_module(module_name), name)(payload), "")
    except BaseException as exc:  # the job's failure is a result  # noqa: BLE001
        _print_failure(exc)
        kind = "error" if retryable(exc) else "fatal"
        return (kind, None, f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:500])


def _print_failure(exc: BaseException) -> None:
    """The failure into the job's log: the whole traceback of the job's own error; tusk's refusals of what a job
    returned (a JobError: a metric name MLflow refuses, a value that is no number) as their one line, with the
    traceback of what caused them only, so tusk's own frames never read as the job's crash."""
    from tusk.errors import TuskError

    if not isinstance(exc, TuskError):
        traceback.print_exc()
        return
    if exc.__cause__ is not None:
        traceback.print_exception(exc.__cause__)
    print(f"[tusk] {type(exc).__name__}: {exc}", file=sys.stderr)


def exit_reason(code: int | None) -> str:
    """A worker process's end as a one-line error: a return code (negative: killed by that signal)."""
    if code is not None and code < 0:
        return f"worker killed by signal {-code}"
    return f"worker exited with code {code}"


def outcome(wire: Wire, device: str = "") -> Outcome:
    kind, value, error = wire
    if kind not in ("ok", "error", "fatal", "lost"):
        return Outcome("lost", error=f"the worker answered {kind!r}")
    return Outcome(kind, value, error, device)  # type: ignore[arg-type]


@contextmanager
def redirected(fd: int) -> Iterator[None]:
    """fds 1 and 2 → ``fd`` (so child processes and C code write there too), and Python's streams with them."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved, streams = (os.dup(1), os.dup(2)), (sys.stdout, sys.stderr)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = streams
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def die_with_parent(parent: int, sig: int = signal.SIGKILL) -> None:
    """Linux: the kernel sends ``sig`` to this process when its parent dies. Elsewhere: best effort."""
    try:
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, sig)
    except (AttributeError, OSError):
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os.kill(os.getpid(), sig)


def kill_own_group(signum: int, frame: Any) -> None:
    """A signal handler: SIGKILL everything this process started, wherever it went (another group, a session of
    its own: it is a subreaper, see ``own_descendants``), then this process's group (the worker itself)."""
    kill_tree(os.getpid(), include_root=False)
    os.killpg(os.getpgrp(), signal.SIGKILL)


# ----- a job's processes: the process that runs a job's code is a child subreaper -------------------------------
# Why a subreaper, not process groups or a cgroup: a job's child may leave its group and session (setsid,
# start_new_session) and its parent may exit (a double-forked daemon), so neither group nor session finds it; but an
# orphan is re-parented to its nearest subreaper ancestor, so every process a job starts stays below the process that
# ran the job, where a walk of /proc finds it. It needs no privilege, no systemd and no cgroup delegation (a cgroup
# would need a writable, delegated hierarchy, which a user's machine or a Ray node rarely gives), and it is the same
# on a local worker and in a Ray task's child. What it cannot hold is a process handed to another manager
# (``systemd-run``, ``docker run -d``): that one is not the job's descendant at all.
PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    """Linux: orphans of this process's descendants are re-parented to it, not to init. Elsewhere: nothing."""
    try:
        ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (AttributeError, OSError):
        pass


def _processes() -> dict[int, tuple[int, str]]:
    """pid → (parent pid, state letter) of every process /proc shows."""
    found = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        found[int(entry)] = (int(fields[1]), fields[0].decode())
    return found


def descendants(root: int) -> list[int]:
    """The live (not zombie) descendants of ``root``, parents before their children."""
    table = _processes()
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    found, queue = [], list(children.get(root, []))
    while queue:
        pid = queue.pop(0)
        if table[pid][1] not in ("Z", "X"):
            found.append(pid)
        queue.extend(children.get(pid, []))
    return found


def _stopped(pid: int, wait: float) -> None:
    """Wait (at most ``wait`` s) until ``pid`` is stopped or gone: a stopped process forks nothing more."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat", "rb") as stat:
                if stat.read().rsplit(b") ", 1)[1][:1] in (b"T", b"t", b"Z", b"X"):
                    return
        except (OSError, IndexError):
            return
        time.sleep(0.001)


def kill_tree(root: int, include_root: bool = True, keep: frozenset[int] = frozenset(), wait: float = 5.0) -> int:
    """SIGKILL every descendant of ``root`` but ``keep`` (and ``root`` itself when ``include_root``) → how many.
    ``root`` is stopped first (another process: the job's code may run in it), so it forks nothing more and stays
    there to adopt the orphans of what dies; then every live descendant is killed, again until none is left
    (what one forked just before its death is found on the next pass). ``root`` should be a subreaper."""
    if include_root:
        _signal(root, signal.SIGSTOP)
        _stopped(root, 1.0)
    killed: set[int] = set()
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        live = [pid for pid in descendants(root) if pid not in keep]
        if not live:
            break
        for pid in live:
            _signal(pid, signal.SIGKILL)
            killed.add(pid)
        time.sleep(0.001)
    if include_root:
        _signal(root, signal.SIGKILL)
    return len(killed)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def reap_leftovers(keep: Collection[int] = ()) -> int:
    """After an attempt, in the (subreaper) process that ran it: kill what the job left running, wherever it went,
    but ``keep`` (what was there before: a spec's setup may keep a process for the worker's later jobs), and reap
    them → how many were killed. No child at all (most attempts) costs one system call."""
    if not _has_children():
        return 0
    killed = kill_tree(os.getpid(), include_root=False, keep=frozenset(keep))
    while True:  # the zombies: the job's own children, and the orphans re-parented here
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:  # only ``keep`` left, alive
            break
    return killed


def contained_attempt(
    function: str, payload: Any, log_path: str, gpu_env: str, attempt: int, prepare: str | None = None
) -> Wire:
    """``run_attempt`` in a subreaper worker that outlives it: the job's ``prepare`` first (what it starts is the
    worker's, kept), then the job, then whatever the job left running is killed, with a line in its log."""
    failed = prepare_attempt(prepare, payload, log_path, gpu_env, attempt)
    if failed is not None:
        return failed
    keep = descendants(os.getpid()) if _has_children() else []
    wire = run_attempt(function, payload, log_path, gpu_env, attempt)
    left = reap_leftovers(keep)
    if left:
        try:
            with open(log_path, "a", encoding="utf-8") as log:
                log.write(f"[tusk] attempt {attempt}: killed {left} process(es) the job left running\n")
        except OSError:
            pass
    return wire


def _has_children() -> bool:
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return True


def lead_own_group() -> None:
    """Lead a process group of its own and ignore Ctrl-C: tusk cancels by killing the group."""
    os.setpgrp()
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# ----- one process per attempt: ``python -m tusk.execute.worker FILE`` ---------------------------------
def attempt_file(attempt: Attempt, folder: Path, gpu_env: str = "") -> Path:
    """Write ``attempt`` for ``python -m tusk.execute.worker FILE`` (a fresh process, a container) → FILE."""
    job = attempt.job
    path = folder / f"attempt-{os.getpid()}-{id(attempt)}-{attempt.number}.pkl"
    path.write_bytes(pickle.dumps((job.function, job.payload, str(job.log_path), gpu_env, attempt.number, job.prepare)))
    return path


def attempt_outcome(path: Path, returncode: int | None) -> Outcome:
    """How the worker process of ``attempt_file``'s FILE ended: its outcome, or why it left none."""
    out = Path(f"{path}.out")
    try:
        if returncode == 0 and out.is_file():
            return outcome(pickle.loads(out.read_bytes()))
        return Outcome("lost", error=exit_reason(returncode))
    finally:
        out.unlink(missing_ok=True)
        path.unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    """``python -m tusk.execute.worker FILE``: run the attempt pickled in FILE, a tuple (function, payload, log
    path, CUDA_VISIBLE_DEVICES, attempt number[, prepare]); write its outcome, pickled, to FILE.out."""
    if len(argv) != 1:
        print("usage: python -m tusk.execute.worker ATTEMPT_FILE", file=sys.stderr)
        return 2
    with open(argv[0], "rb") as handle:
        function, payload, log_path, gpu_env, number, *prepare = pickle.load(handle)
    wire = run_attempt(function, payload, log_path, gpu_env, number, *prepare)
    try:
        data = pickle.dumps(wire)
    except Exception as exc:  # noqa: BLE001
        data = pickle.dumps(("error", None, f"the job's result cannot be sent back: {exc}"))
    temporary = f"{argv[0]}.out.tmp"
    with open(temporary, "wb") as out:
        out.write(data)
    os.replace(temporary, f"{argv[0]}.out")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
