"""``local://?workers=N``: long-lived worker processes on this machine.

Workers are forked once per run (a fresh process per job would cost ~14 ms; a job on a warm worker
~0.1 ms) and inherit the loaded doltlite library. Fork, not forkserver or spawn: a fresh interpreter
inherits doltlite's "already bootstrapped" mark and would skip loading it.

Each worker leads its own process group and ignores SIGINT: Ctrl-C reaches only tusk, which cancels
by killing the groups, so a job's own child processes go too. A job that times out, or whose worker
dies (``os._exit``, a signal, a segfault), costs that worker, which is replaced; the other jobs go on.

Workers die with tusk, however tusk dies: a worker holds no end of any pipe but its own (so an idle
worker reads EOF when tusk is gone), and on Linux the kernel sends it SIGTERM when tusk dies
(``PR_SET_PDEATHSIG``), on which it kills its own process group: itself and the job's children.

This module is the backend (start, submit, poll, kill); retries, timeouts, cancel and events are the
scheduler's (tusk.execute.scheduler).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import weakref
from collections.abc import Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

from tusk.core.config import Config
from tusk.execute.base import Attempt, Capabilities, Job, Outcome, parse_workers
from tusk.execute.gpus import GpuSlots, devices
from tusk.execute.scheduler import Scheduler
from tusk.execute.worker import (
    Wire,
    become_subreaper,
    contained_attempt,
    die_with_parent,
    exit_reason,
    kill_own_group,
    kill_tree,
    lead_own_group,
    outcome,
    reap_leftovers,
)

_CONTEXT = mp.get_context("fork")
_PARENT_ENDS: weakref.WeakSet[Connection] = weakref.WeakSet()  # tusk's pipe ends: closed in every worker
__all__ = ["LocalBackend", "LocalExecutor", "parse_workers"]


# ----- inside a worker ---------------------------------------------------------------------------------
def _worker_main(conn: Connection, parent: int) -> None:
    lead_own_group()
    become_subreaper()  # what a job starts stays below this worker, wherever it goes (see tusk.execute.worker)
    signal.signal(signal.SIGTERM, kill_own_group)
    for end in list(_PARENT_ENDS):
        end.close()
    die_with_parent(parent, signal.SIGTERM)
    try:
        while True:
            try:
                message = conn.recv()
            except (EOFError, KeyboardInterrupt):
                return
            if message is None:
                return
            conn.send(contained_attempt(*message))
    finally:
        reap_leftovers()  # a spec's setup's processes end with the worker


# ----- in tusk -----------------------------------------------------------------------------------------
class _Worker:
    def __init__(self) -> None:
        self.conn, child = _CONTEXT.Pipe()
        _PARENT_ENDS.add(self.conn)
        self.process = _CONTEXT.Process(target=_worker_main, args=(child, os.getpid()), daemon=True)
        self.process.start()
        child.close()
        self.attempt: Attempt | None = None
        self.gpus: list[int] = []

    def kill(self) -> None:
        """The worker and everything its job started: its group, and what left the group (the worker is their
        subreaper: stopped first, it adopts the orphans of what dies until the last is killed)."""
        pid = self.process.pid
        try:
            if pid is None:
                raise ProcessLookupError
            kill_tree(pid)
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            self.process.kill()
        self.process.join(5)
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (BrokenPipeError, OSError):
            pass
        self.process.join(2)
        if self.process.is_alive():
            self.kill()
        self.conn.close()

    def death(self) -> str:
        self.process.join(2)  # the pipe can close before the process is reaped
        return exit_reason(self.process.exitcode)


class LocalBackend:
    capabilities = Capabilities()

    def __init__(self, workers: int, gpu_ids: Sequence[int]) -> None:
        self.workers = workers
        self.gpu_ids = list(gpu_ids)
        self._slots = GpuSlots(self.gpu_ids)
        self._wake_read, self._wake_write = _CONTEXT.Pipe(duplex=False)
        _PARENT_ENDS.update((self._wake_read, self._wake_write))
        self._pool: list[_Worker] = []
        self._limit = workers

    def start(self, jobs: int) -> None:
        self._limit = max(1, min(self.workers, jobs))
        self._slots = GpuSlots(self.gpu_ids)

    def refuse(self, job: Job) -> str | None:
        if self._slots.possible(job.gpus):
            return None
        return f"needs {job.gpus:g} GPU(s) but this executor has {len(self.gpu_ids)}"

    def free(self) -> int:
        return sum(1 for w in self._pool if w.attempt is None) + max(0, self._limit - len(self._pool))

    def submit(self, attempt: Attempt) -> bool:
        held = self._slots.take(attempt.job.gpus)
        if held is None:
            return False
        worker = self._idle_worker()
        job = attempt.job
        worker.attempt, worker.gpus = attempt, held
        worker.conn.send(
            (job.function, job.payload, str(job.log_path), ",".join(map(str, held)), attempt.number, job.prepare)
        )
        return True

    def _idle_worker(self) -> _Worker:
        for worker in self._pool:
            if worker.attempt is None:
                return worker
        self._pool.append(_Worker())
        return self._pool[-1]

    def poll(self, timeout: float | None) -> list[tuple[Attempt, Outcome]]:
        busy = [w for w in self._pool if w.attempt is not None]
        handles: list[Any] = [self._wake_read] + [w.conn for w in busy] + [w.process.sentinel for w in busy]
        ready = set(wait(handles, timeout))
        if self._wake_read in ready:
            self._wake_read.recv()
        ended = []
        for worker in busy:
            if worker.conn not in ready and worker.process.sentinel not in ready:
                continue
            wire: Wire | None = None
            if worker.conn in ready:
                try:
                    wire = worker.conn.recv()
                except (EOFError, OSError):
                    pass
            attempt, device = self._release(worker)
            if wire is None:
                wire = ("lost", None, worker.death())
                self._replace(worker)
            ended.append((attempt, outcome(wire, device)))
        return ended

    def _release(self, worker: _Worker) -> tuple[Attempt, str]:
        attempt = worker.attempt
        assert attempt is not None
        self._slots.give_back(worker.gpus, attempt.job.gpus)
        device = f"cuda:{worker.gpus[0]}" if worker.gpus else "cpu"
        worker.attempt, worker.gpus = None, []
        return attempt, device

    def kill(self, attempts: Sequence[Attempt]) -> None:
        doomed = {id(a) for a in attempts}
        for worker in [w for w in self._pool if w.attempt is not None and id(w.attempt) in doomed]:
            self._release(worker)
            self._replace(worker)

    def _replace(self, worker: _Worker) -> None:
        worker.kill()
        self._pool.remove(worker)

    def wake(self) -> None:
        try:
            self._wake_write.send(b"x")
        except OSError:
            pass

    def close(self) -> None:
        for worker in self._pool:
            worker.stop()
        self._pool.clear()


class LocalExecutor(Scheduler):
    def __init__(self, url: str = "local://", config: Config | None = None, workers: int | None = None) -> None:
        self.workers = workers or parse_workers(url) or os.cpu_count() or 1
        self.gpu_ids = devices(config.executor.gpus if config else "auto")
        super().__init__(url, LocalBackend(self.workers, self.gpu_ids))
