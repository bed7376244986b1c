"""``ray://…``: jobs as Ray tasks on a Ray cluster (extra ``tusk-mlops[ray]``).

URLs:
    ray://HOST:PORT    a running cluster through Ray Client (``ray start --head`` listens on 10001)
    ray://auto         the cluster started on this machine with ``ray start``
    ray://local        a cluster started by tusk for the run and stopped with it
    ...?workers=N      at most N jobs in flight (default: the cluster's CPUs)

Each job is a task with ``num_cpus`` and fractional ``num_gpus`` from its resources; Ray picks the node
and sets ``CUDA_VISIBLE_DEVICES``. Inside the task the job runs in a forked child that leads its own
process group, exactly as on a local worker (same log file, same ``[tusk]`` lines): a job that exits or
is killed costs the child, not Ray's worker; a timeout or a cancel kills the child's whole group.
Retries are tusk's (one task per attempt), so the log and the attempt count read the same everywhere.

Jobs read the data store and write their output and log under the project folder, so on a cluster of
several machines that folder must be on storage every node mounts at the same path.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import select
import signal
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tusk.backends import require
from tusk.config import Config
from tusk.errors import ConfigError, ExecutionError
from tusk.execute.base import EventHandler, Job, JobEvent, JobResult, log_tail
from tusk.execute.local import _execute, parse_workers

POLL = 0.1  # seconds between checks for a cancel inside a task, and for results in tusk
PR_SET_PDEATHSIG = 1


# ----- inside a Ray task -----------------------------------------------------------------------------
def run_task(function: str, payload: Any, log_path: str, attempt: int, timeout: float | None,
             gpu_ids: list[str] | None = None) -> tuple[str, Any, str]:
    """Run one attempt in a forked child; → (status, value, error) like a local worker."""
    gpu_env = ",".join(str(g) for g in (gpu_ids if gpu_ids is not None else _ray_gpu_ids()))
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_fd)
        _child(write_fd, function, payload, log_path, gpu_env, attempt)
    os.close(write_fd)
    try:
        outcome = _wait_for_child(pid, read_fd, timeout)
    except BaseException:  # Ray's cancel raises KeyboardInterrupt here: the job's whole group goes
        _kill_group(pid)
        raise
    finally:
        os.close(read_fd)
    if outcome[0] == "lost":
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(f"[tusk] attempt {attempt} failed: {outcome[2]}\n")
    return outcome


def _ray_gpu_ids() -> list[str]:
    import ray

    return [str(g) for g in ray.get_runtime_context().get_accelerator_ids().get("GPU", [])]


def _child(write_fd: int, function: str, payload: Any, log_path: str, gpu_env: str, attempt: int) -> None:
    code = 0
    try:
        os.setpgrp()
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _die_with_parent()
        outcome = _execute(function, payload, log_path, gpu_env, attempt)
        try:
            data = pickle.dumps(outcome)
        except Exception as exc:
            data = pickle.dumps(("error", None, f"the job's result cannot be sent back: {exc}"))
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(data)
    except BaseException:
        code = 70
    finally:
        os._exit(code)


def _die_with_parent() -> None:
    """Linux: if Ray's worker is killed (a forced cancel), the job goes with it. Elsewhere: best effort."""
    try:
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (AttributeError, OSError):
        pass


def _wait_for_child(pid: int, read_fd: int, timeout: float | None) -> tuple[str, Any, str]:
    deadline = time.monotonic() + timeout if timeout else None
    chunks: list[bytes] = []
    while True:
        wait = POLL if deadline is None else max(0.0, min(POLL, deadline - time.monotonic()))
        ready, _, _ = select.select([read_fd], [], [], wait)
        if ready:
            chunk = os.read(read_fd, 1 << 20)
            if chunk:
                chunks.append(chunk)
                continue
            break  # EOF: the child is done or dead
        if deadline is not None and time.monotonic() >= deadline:
            _kill_group(pid)
            return ("lost", None, f"timed out after {timeout:g}s")
    _, status = os.waitpid(pid, 0)
    if chunks and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return pickle.loads(b"".join(chunks))  # type: ignore[no-any-return]
    if os.WIFSIGNALED(status):
        return ("lost", None, f"worker killed by signal {os.WTERMSIG(status)}")
    return ("lost", None, f"worker exited with code {os.WEXITSTATUS(status)}")


def _kill_group(pid: int) -> None:
    for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            kill()
        except (ProcessLookupError, PermissionError):
            pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


# ----- in tusk ---------------------------------------------------------------------------------------
def ray_address(url: str) -> str | None:
    """``ray://HOST:PORT`` → Ray Client address; ``ray://auto`` → "auto"; ``ray://local`` → None (start one)."""
    parts = urlsplit(url)
    host = parts.netloc
    if parts.scheme != "ray":
        raise ConfigError(f"executor url {url!r}: expected ray://HOST:PORT, ray://auto or ray://local")
    if host in ("", "local"):
        return None
    if host == "auto":
        return "auto"
    return f"ray://{host if ':' in host else host + ':10001'}"


@dataclass
class _InFlight:
    job: Job
    attempt: int
    started: float


class RayExecutor:
    def __init__(self, url: str, config: Config | None = None, workers: int | None = None) -> None:
        self.url = url
        self.address = ray_address(url)
        self.workers = workers or parse_workers(url)
        self._cancelled = False
        self._started_ray = False
        self._ray: Any = None

    def _connect(self) -> Any:
        if self._ray is None:
            ray = require("ray")
            if not ray.is_initialized():
                with _without_doltlite_mark():
                    self._init(ray)
                self._started_ray = True
            self._ray = ray
        return self._ray

    def _init(self, ray: Any, attempts: int = 3) -> None:
        """``ray.init``; Ray Client's per-connection server sometimes fails to start: try again then."""
        for attempt in range(1, attempts + 1):
            try:
                ray.init(address=self.address, ignore_reinit_error=True, log_to_driver=False,
                         logging_level="warning", include_dashboard=False if self.address is None else None)
                return
            except Exception as exc:  # ConnectionError and Ray's own errors alike
                message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                transient = isinstance(exc, ConnectionAbortedError) and attempt < attempts
                if not transient:
                    where = self.address or "a local cluster"
                    raise ExecutionError(f"cannot reach Ray at {where}: {message}") from exc
                ray.shutdown()
                time.sleep(attempt)

    def _slots(self, ray: Any) -> int:
        if self.workers:
            return self.workers
        return max(1, int(ray.cluster_resources().get("CPU", 1)))

    def run(self, jobs: Sequence[Job], on_event: EventHandler | None = None) -> Iterator[JobResult]:
        emit = on_event or (lambda event: None)
        if not jobs:
            return
        ray = self._connect()
        gpus_total = float(ray.cluster_resources().get("GPU", 0))
        task = ray.remote(run_task)
        queue: list[tuple[Job, int]] = []
        for job in jobs:
            job.log_path.parent.mkdir(parents=True, exist_ok=True)
            if job.gpus > gpus_total:
                yield JobResult(job.name, "failed", attempts=0,
                                error=f"needs {job.gpus:g} GPU(s) but the Ray cluster has {gpus_total:g}")
            else:
                queue.append((job, 1))
        queue.reverse()  # pop() takes them in the order given
        flight: dict[Any, _InFlight] = {}
        slots = self._slots(ray)
        while queue or flight:
            if self._cancelled:
                yield from self._cancel_all(ray, flight, queue)
                return
            while queue and len(flight) < slots:
                job, attempt = queue.pop()
                options = {"num_cpus": job.cpus, "num_gpus": job.gpus, "max_retries": 0, "name": job.name}
                ref = task.options(**options).remote(job.function, job.payload, str(job.log_path), attempt,
                                                     job.timeout)
                flight[ref] = _InFlight(job, attempt, time.monotonic())
                emit(JobEvent("started", job.name, attempt))
            ready, _ = ray.wait(list(flight), num_returns=1, timeout=POLL)
            for ref in ready:
                running = flight.pop(ref)
                result = self._result(ray, ref, running)
                if result.status == "failed" and result.retryable and running.attempt <= running.job.retries:
                    emit(JobEvent("retrying", running.job.name, running.attempt + 1, result))
                    queue.append((running.job, running.attempt + 1))
                    continue
                emit(JobEvent("finished", result.name, result.attempts, result))
                yield result

    def _result(self, ray: Any, ref: Any, running: _InFlight) -> JobResult:
        seconds = time.monotonic() - running.started
        device = "cuda" if running.job.gpus else "cpu"
        try:
            status, value, error = ray.get(ref)
        except Exception as exc:  # the task's worker died, or Ray lost the task
            status, value, error = "lost", None, f"Ray task failed: {str(exc).strip().splitlines()[0][:300]}"
        if status == "ok":
            if isinstance(value, dict) and isinstance(value.get("device"), str):
                device = value["device"]  # what the job saw: cuda:N on the node Ray chose
            return JobResult(running.job.name, "succeeded", value, seconds=seconds, attempts=running.attempt,
                             device=device)
        return JobResult(running.job.name, "failed", error=error, log_tail=log_tail(running.job.log_path),
                         seconds=seconds, attempts=running.attempt, device=device, retryable=status != "fatal")

    def _cancel_all(self, ray: Any, flight: dict[Any, _InFlight], queue: list[tuple[Job, int]]) -> Iterator[JobResult]:
        for ref in flight:
            ray.cancel(ref, force=False)  # KeyboardInterrupt in the task: it kills the job's group
        deadline = time.monotonic() + 10
        waiting = list(flight)
        while waiting and time.monotonic() < deadline:
            _, waiting = ray.wait(waiting, num_returns=len(waiting), timeout=POLL)
        for ref in waiting:
            ray.cancel(ref, force=True)
        for running in flight.values():
            yield JobResult(running.job.name, "cancelled", error="cancelled", attempts=running.attempt,
                            seconds=time.monotonic() - running.started)
        for job, attempt in reversed(queue):
            yield JobResult(job.name, "cancelled", error="cancelled", attempts=attempt - 1)
        flight.clear()
        queue.clear()

    def cancel(self) -> None:
        self._cancelled = True

    def close(self) -> None:
        if self._ray is not None and self._started_ray:
            self._ray.shutdown()
        self._ray = None
        self._started_ray = False


@contextmanager
def _without_doltlite_mark() -> Iterator[None]:
    """Processes Ray starts from here must load doltlite themselves: hide the mark that says it is loaded."""
    from tusk._sqlite import BOOTSTRAP_MARK

    saved = os.environ.pop(BOOTSTRAP_MARK, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[BOOTSTRAP_MARK] = saved
