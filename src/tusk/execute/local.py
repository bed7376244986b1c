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
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import sys
import time
import traceback
import weakref
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import import_module
from multiprocessing.connection import Connection, wait
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tusk.config import Config
from tusk.errors import ConfigError
from tusk.execute.base import EventHandler, Job, JobEvent, JobResult, log_tail, retryable
from tusk.execute.gpus import GpuSlots, devices

_CONTEXT = mp.get_context("fork")
PR_SET_PDEATHSIG = 1
_PARENT_ENDS: "weakref.WeakSet[Connection]" = weakref.WeakSet()  # tusk's pipe ends: closed in every worker


def parse_workers(url: str) -> int | None:
    query = parse_qs(urlsplit(url).query)
    if "workers" not in query:
        return None
    value = query["workers"][0]
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"executor url {url!r}: workers must be a positive integer")
    return int(value)


# ----- inside a worker ---------------------------------------------------------------------------------
def die_with_parent(parent: int, sig: int = signal.SIGKILL) -> None:
    """Linux: the kernel sends ``sig`` to this process when its parent dies. Elsewhere: best effort."""
    try:
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, sig)
    except (AttributeError, OSError):
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os.kill(os.getpid(), sig)


def _kill_own_group(signum: int, frame: Any) -> None:
    os.killpg(os.getpgrp(), signal.SIGKILL)


def _worker_main(conn: Connection, parent: int) -> None:
    os.setpgrp()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _kill_own_group)
    for end in list(_PARENT_ENDS):
        end.close()
    die_with_parent(parent, signal.SIGTERM)
    while True:
        try:
            message = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if message is None:
            return
        conn.send(_execute(*message))


def _execute(function: str, payload: Any, log_path: str, gpu_env: str, attempt: int) -> tuple[str, Any, str]:
    """Call the job with fds 1 and 2 (and sys.stdout/stderr) sent to its log; → (status, value, error)."""
    os.environ["CUDA_VISIBLE_DEVICES"] = gpu_env
    with open(log_path, "a", buffering=1, encoding="utf-8") as log:
        log.write(f"[tusk] attempt {attempt} started {time.strftime('%Y-%m-%d %H:%M:%S')} pid {os.getpid()} "
                  f"CUDA_VISIBLE_DEVICES={gpu_env!r}\n")
        with _redirected(log.fileno()):
            try:
                module_name, _, name = function.partition(":")
                value = getattr(import_module(module_name), name)(payload)
                outcome = ("ok", value, "")
            except BaseException as exc:  # the job's failure is a result
                traceback.print_exc()
                status = "error" if retryable(exc) else "fatal"
                outcome = (status, None, f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:500])
        verdict = "succeeded" if outcome[0] == "ok" else "failed: " + outcome[2]
        if outcome[0] == "fatal":
            verdict += " (not retried: another attempt would fail the same way)"
        log.write(f"[tusk] attempt {attempt} {verdict}\n")
    return outcome


@contextmanager
def _redirected(fd: int) -> Iterator[None]:
    """fds 1 and 2 → ``fd`` (so child processes and C code write there too), and Python's streams with them."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved, streams = (os.dup(1), os.dup(2)), (sys.stdout, sys.stderr)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
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


# ----- in tusk -----------------------------------------------------------------------------------------
LOG_CHECK = 0.25  # seconds between looks at the size of running jobs' logs


def _log_too_big(job: Job) -> bool:
    try:
        return bool(job.max_log) and job.log_path.stat().st_size > (job.max_log or 0)
    except OSError:
        return False


@dataclass
class _Running:
    job: Job
    attempt: int
    started: float
    first_started: float
    gpus: list[int] = field(default_factory=list)

    @property
    def deadline(self) -> float | None:
        return self.started + self.job.timeout if self.job.timeout else None


class _Worker:
    def __init__(self) -> None:
        self.conn, child = _CONTEXT.Pipe()
        _PARENT_ENDS.add(self.conn)
        self.process = _CONTEXT.Process(target=_worker_main, args=(child, os.getpid()), daemon=True)
        self.process.start()
        child.close()
        self.running: _Running | None = None

    def kill(self) -> None:
        pid = self.process.pid
        try:
            if pid is None:
                raise ProcessLookupError
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


class LocalExecutor:
    def __init__(self, url: str = "local://", config: Config | None = None, workers: int | None = None) -> None:
        self.url = url
        self.workers = workers or parse_workers(url) or os.cpu_count() or 1
        self.gpu_ids = devices(config.executor.gpus if config else "auto")
        self._wake_read, self._wake_write = _CONTEXT.Pipe(duplex=False)
        _PARENT_ENDS.update((self._wake_read, self._wake_write))
        self._cancelled = False
        self._pool: list[_Worker] = []
        self._limit = self.workers

    def cancel(self) -> None:
        self._cancelled = True
        try:
            self._wake_write.send(b"x")
        except OSError:
            pass

    def close(self) -> None:
        for worker in self._pool:
            worker.stop()
        self._pool.clear()

    def run(self, jobs: Sequence[Job], on_event: EventHandler | None = None) -> Iterator[JobResult]:
        emit = on_event or (lambda event: None)
        slots = GpuSlots(self.gpu_ids)
        self._limit = max(1, min(self.workers, len(jobs)))
        pending: deque[tuple[Job, int, float]] = deque()
        for job in jobs:
            job.log_path.parent.mkdir(parents=True, exist_ok=True)
            if not slots.possible(job.gpus):
                yield self._impossible(job, len(self.gpu_ids))
                continue
            pending.append((job, 1, 0.0))
        while pending or self._busy():
            if self._cancelled:
                yield from self._cancel_all(pending)
                return
            self._start_jobs(pending, slots, emit)
            for result in self._collect(pending, slots, emit):
                emit(JobEvent("finished", result.name, result.attempts, result))
                yield result

    def _busy(self) -> list[_Worker]:
        return [w for w in self._pool if w.running is not None]

    def _idle_worker(self) -> _Worker | None:
        for worker in self._pool:
            if worker.running is None:
                return worker
        if len(self._pool) < self._limit:
            self._pool.append(_Worker())
            return self._pool[-1]
        return None

    def _start_jobs(self, pending: deque[tuple[Job, int, float]], slots: GpuSlots, emit: EventHandler) -> None:
        waiting: deque[tuple[Job, int, float]] = deque()
        while pending:
            job, attempt, first = pending.popleft()
            held = slots.take(job.gpus)
            worker = self._idle_worker() if held is not None else None
            if worker is None:
                if held:
                    slots.give_back(held, job.gpus)
                waiting.append((job, attempt, first))
                continue
            now = time.monotonic()
            worker.running = _Running(job, attempt, now, first or now, held or [])
            gpu_env = ",".join(str(d) for d in held or [])
            worker.conn.send((job.function, job.payload, str(job.log_path), gpu_env, attempt))
            emit(JobEvent("started", job.name, attempt))
        pending.extend(waiting)

    def _collect(self, pending: deque[tuple[Job, int, float]], slots: GpuSlots,
                 emit: EventHandler) -> Iterator[JobResult]:
        busy = self._busy()
        if not busy:
            return
        deadlines = [w.running.deadline for w in busy if w.running and w.running.deadline]
        timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
        if any(w.running and w.running.job.max_log for w in busy):  # look at the logs' sizes now and then
            timeout = LOG_CHECK if timeout is None else min(timeout, LOG_CHECK)
        handles: list[Any] = [self._wake_read] + [w.conn for w in busy] + [w.process.sentinel for w in busy]
        ready = wait(handles, timeout)
        if self._wake_read in ready:
            self._wake_read.recv()
        for worker in busy:
            running = worker.running
            assert running is not None
            outcome = self._outcome(worker, ready)
            if outcome is None:
                continue
            worker.running = None
            slots.give_back(running.gpus, running.job.gpus)
            result = self._result(running, *outcome)
            if result.status == "failed" and result.retryable and running.attempt <= running.job.retries:
                emit(JobEvent("retrying", running.job.name, running.attempt + 1, result))
                pending.append((running.job, running.attempt + 1, running.first_started))
                continue
            yield result

    def _outcome(self, worker: _Worker, ready: list[Any]) -> tuple[str, Any, str] | None:
        running = worker.running
        assert running is not None
        if worker.conn in ready:
            try:
                return worker.conn.recv()  # type: ignore[no-any-return]
            except (EOFError, OSError):
                pass
        elif worker.process.sentinel not in ready:
            if _log_too_big(running.job):
                self._replace(worker)
                return ("lost", None, f"stopped: its log passed {(running.job.max_log or 0) / 1e6:g} MB (resources.max_log)")
            deadline = running.deadline
            if deadline is None or time.monotonic() < deadline:
                return None
            self._replace(worker)
            return ("lost", None, f"timed out after {running.job.timeout:g}s")
        worker.process.join(2)  # the pipe can close before the process is reaped
        code = worker.process.exitcode
        self._replace(worker)
        reason = f"killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
        return ("lost", None, f"worker {reason}")

    def _replace(self, worker: _Worker) -> None:
        worker.kill()
        self._pool.remove(worker)
        worker.running = None

    def _result(self, running: _Running, status: str, value: Any, error: str) -> JobResult:
        seconds = time.monotonic() - running.started
        device = f"cuda:{running.gpus[0]}" if running.gpus else "cpu"
        if status == "ok":
            return JobResult(running.job.name, "succeeded", value, seconds=seconds, attempts=running.attempt,
                             device=device)
        if status == "lost":  # the worker could not say so itself
            with open(running.job.log_path, "a", encoding="utf-8") as log:
                log.write(f"[tusk] attempt {running.attempt} failed: {error}\n")
        return JobResult(running.job.name, "failed", error=error, log_tail=log_tail(running.job.log_path),
                         seconds=seconds, attempts=running.attempt, device=device, retryable=status != "fatal")

    def _cancel_all(self, pending: deque[tuple[Job, int, float]]) -> Iterator[JobResult]:
        for worker in list(self._pool):
            running = worker.running
            if running is not None:
                self._replace(worker)
                yield JobResult(running.job.name, "cancelled", error="cancelled",
                                seconds=time.monotonic() - running.started, attempts=running.attempt)
        while pending:
            job, attempt, _ = pending.popleft()
            yield JobResult(job.name, "cancelled", error="cancelled", attempts=attempt - 1)

    @staticmethod
    def _impossible(job: Job, count: int) -> JobResult:
        message = f"needs {job.gpus:g} GPU(s) but this executor has {count}"
        return JobResult(job.name, "failed", error=message, attempts=0)
