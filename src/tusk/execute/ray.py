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
Timeouts are enforced on the node, timed from the job's start there (a task can wait in Ray's queue for a
GPU), and so are log limits: the task stops a job whose log passed its limit within ``POLL`` s, however long
Ray's cancel then takes to arrive (a flood of output writes ~100 MB a second). Retries, cancel, events and log limits
are the scheduler's (one task per attempt), so the log and the
attempt count read the same everywhere.

Jobs read the data store and write their output and log under the project folder, so on a cluster of
several machines that folder must be on storage every node mounts at the same path.
"""

from __future__ import annotations

import os
import pickle
import secrets
import select
import signal
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tusk.backends import require
from tusk.core.config import Config
from tusk.errors import ConfigError, ExecutionError
from tusk.execute.base import Attempt, Capabilities, Job, Outcome, log_limit_error, parse_workers
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
    prepare_attempt,
)

POLL = 0.1  # seconds between checks for a cancel inside a task, and for results in tusk
CANCEL_GRACE = 10.0  # seconds a cancelled task has to kill its job before Ray is told to force it


# ----- inside a Ray task -----------------------------------------------------------------------------
def run_task(
    function: str,
    payload: Any,
    log_path: str,
    attempt: int,
    timeout: float | None,
    gpu_ids: list[str] | None = None,
    prepare: str | None = None,
    max_log: float | None = None,
    cancel_file: str | None = None,
) -> Wire:
    """Run one attempt in a forked child; → (kind, value, error) like a local worker. The job's ``prepare``
    runs first, here in Ray's worker, so what it keeps (a spec's setup value) lasts for the worker's next tasks
    and the child inherits it. Once ``cancel_file`` exists (tusk writes it beside the log when it cancels), the
    job's group is killed within ``POLL`` s, whether or not Ray's own cancel ever arrives."""
    gpu_env = ",".join(str(g) for g in (gpu_ids if gpu_ids is not None else _ray_gpu_ids()))
    failed = prepare_attempt(prepare, payload, log_path, gpu_env, attempt)
    if failed is not None:
        return failed
    read_fd, write_fd = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_fd)
        _child(write_fd, parent, function, payload, log_path, gpu_env, attempt)
    os.close(write_fd)
    try:
        return _wait_for_child(pid, read_fd, timeout, log_path, max_log, cancel_file)
    except BaseException:  # Ray's cancel raises KeyboardInterrupt here: the job's whole group goes
        _kill_group(pid)
        raise
    finally:
        os.close(read_fd)


def _ray_gpu_ids() -> list[str]:
    import ray

    return [str(g) for g in ray.get_runtime_context().get_accelerator_ids().get("GPU", [])]


def _child(write_fd: int, parent: int, function: str, payload: Any, log_path: str, gpu_env: str, attempt: int) -> None:
    code = 0
    try:
        lead_own_group()
        become_subreaper()  # what the job starts stays below this child, wherever it goes (see tusk.execute.worker)
        # If Ray's worker is killed (a forced cancel), the job goes with it, and so do the job's own children: the
        # kernel's signal on the parent's death reaches this process only, so its handler kills them all.
        signal.signal(signal.SIGTERM, kill_own_group)
        die_with_parent(parent, signal.SIGTERM)
        wire = contained_attempt(function, payload, log_path, gpu_env, attempt)
        try:
            data = pickle.dumps(wire)
        except Exception as exc:  # noqa: BLE001
            data = pickle.dumps(("error", None, f"the job's result cannot be sent back: {exc}"))
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(data)
    except BaseException:  # noqa: BLE001
        code = 70
    finally:
        os._exit(code)


def _wait_for_child(
    pid: int,
    read_fd: int,
    timeout: float | None,
    log_path: str = "",
    max_log: float | None = None,
    cancel_file: str | None = None,
) -> Wire:
    deadline = time.monotonic() + timeout if timeout else None
    chunks: list[bytes] = []
    poller = select.poll()  # not select(): Ray's worker may hold descriptors past 1024
    poller.register(read_fd, select.POLLIN)
    while True:
        wait = POLL if deadline is None else max(0.0, min(POLL, deadline - time.monotonic()))
        if poller.poll(wait * 1000):
            chunk = os.read(read_fd, 1 << 20)
            if chunk:
                chunks.append(chunk)
                continue
            break  # EOF: the child is done or dead
        if deadline is not None and time.monotonic() >= deadline:
            _kill_group(pid)
            return ("lost", None, f"timed out after {timeout:g}s")
        if max_log and _size(log_path) > max_log:
            _kill_group(pid)
            return ("lost", None, log_limit_error(max_log))
        if cancel_file and os.path.exists(cancel_file):
            _kill_group(pid)
            return ("lost", None, "cancelled")
    _, status = os.waitpid(pid, 0)
    if chunks and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return pickle.loads(b"".join(chunks))  # type: ignore[no-any-return]
    return ("lost", None, exit_reason(-os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)))


def _touch(path: str) -> None:
    try:
        Path(path).touch()
    except OSError:  # the log's folder is gone: Ray's cancel still goes
        pass


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _kill_group(pid: int) -> None:
    """The job's child and everything it started: its descendants wherever they went (it is their subreaper), then
    its group."""
    kill_tree(pid)
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
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


class RayBackend:
    capabilities = Capabilities(own_timeouts=True)

    def __init__(self, address: str | None, workers: int | None) -> None:
        self.address = address
        self.workers = workers
        self._started_ray = False
        self._ray: Any = None
        self._task: Any = None
        self._gpus = 0.0
        self._slots = 1
        self._flight: dict[Any, Attempt] = {}
        self._cancel_files: dict[Any, str] = {}  # per task: the file that tells it, on its node, to stop

    def start(self, jobs: int) -> None:
        ray = self._connect()
        resources = ray.cluster_resources()
        self._gpus = float(resources.get("GPU", 0))
        self._slots = self.workers or max(1, int(resources.get("CPU", 1)))
        self._task = ray.remote(run_task)

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
                ray.init(
                    address=self.address,
                    ignore_reinit_error=True,
                    log_to_driver=False,
                    logging_level="warning",
                    include_dashboard=False if self.address is None else None,
                )
                return
            except Exception as exc:  # ConnectionError and Ray's own errors alike
                message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                transient = isinstance(exc, ConnectionAbortedError) and attempt < attempts
                if not transient:
                    where = self.address or "a local cluster"
                    raise ExecutionError(f"cannot reach Ray at {where}: {message}") from exc
                ray.shutdown()
                time.sleep(attempt)

    def refuse(self, job: Job) -> str | None:
        if job.gpus > self._gpus:
            return f"needs {job.gpus:g} GPU(s) but the Ray cluster has {self._gpus:g}"
        return None

    def free(self) -> int:
        return self._slots - len(self._flight)

    def submit(self, attempt: Attempt) -> bool:
        job = attempt.job
        options = {"num_cpus": job.cpus, "num_gpus": job.gpus, "max_retries": 0, "name": job.name}
        cancel_file = f"{job.log_path}.cancel-{secrets.token_hex(6)}"
        ref = self._task.options(**options).remote(
            job.function,
            job.payload,
            str(job.log_path),
            attempt.number,
            job.timeout,
            None,
            job.prepare,
            job.max_log,
            cancel_file,
        )
        self._flight[ref] = attempt
        self._cancel_files[ref] = cancel_file
        return True

    def poll(self, timeout: float | None) -> list[tuple[Attempt, Outcome]]:
        if not self._flight:
            return []
        wait = POLL if timeout is None else min(timeout, POLL)
        ready, _ = self._ray.wait(list(self._flight), num_returns=1, timeout=wait)
        for ref in ready:
            self._cancel_files.pop(ref, None)
        return [self._outcome(ref, self._flight.pop(ref)) for ref in ready]

    def _outcome(self, ref: Any, attempt: Attempt) -> tuple[Attempt, Outcome]:
        device = "cuda" if attempt.job.gpus else "cpu"
        try:
            wire = self._ray.get(ref)
        except lost_errors(self._ray) as exc:
            wire = lost(exc)
        if wire[0] == "ok" and isinstance(wire[1], dict) and isinstance(wire[1].get("device"), str):
            device = wire[1]["device"]  # what the job saw: cuda:N on the node Ray chose
        return attempt, outcome(wire, device)

    def kill(self, attempts: Sequence[Attempt]) -> None:
        """Tell each task to stop twice over: its cancel file, which the task looks for on its node, and Ray's cancel
        (KeyboardInterrupt in the task: it kills its job's group); then force the stragglers. Ray's cancel alone
        was seen to leave jobs running in full test suites (its request did not reach the task, or not in time)."""
        doomed = {id(a) for a in attempts}
        refs = [ref for ref, attempt in self._flight.items() if id(attempt) in doomed]
        files = [self._cancel_files.pop(ref) for ref in refs if ref in self._cancel_files]
        for path in files:
            _touch(path)
        for ref in refs:
            self._ray.cancel(ref, force=False)
            del self._flight[ref]
        deadline = time.monotonic() + CANCEL_GRACE
        waiting = refs
        while waiting and time.monotonic() < deadline:
            _, waiting = self._ray.wait(waiting, num_returns=len(waiting), timeout=POLL)
        for ref in waiting:
            self._ray.cancel(ref, force=True)
        if waiting:  # a forced task's job goes with its worker (its death signal): give it the same grace
            self._ray.wait(waiting, num_returns=len(waiting), timeout=CANCEL_GRACE)
        for path in files:  # each task has ended, or had 10 s and more to see its file
            Path(path).unlink(missing_ok=True)

    def wake(self) -> None:
        pass  # poll waits at most POLL seconds

    def close(self) -> None:
        self._cancel_files.clear()
        if self._ray is not None and self._started_ray:
            self._ray.shutdown()
        self._ray = None
        self._started_ray = False
        self._flight.clear()


class RayExecutor(Scheduler):
    def __init__(self, url: str, config: Config | None = None, workers: int | None = None) -> None:
        self.address = ray_address(url)
        self.workers = workers or parse_workers(url)
        super().__init__(url, RayBackend(self.address, self.workers))


def lost_errors(ray: Any) -> tuple[type[BaseException], ...]:
    """What ``ray.get`` of a task's result raises when the attempt is lost rather than failed (the task's own
    failure comes back as a result): any of Ray's errors (``RayError``: its worker crashed ``WorkerCrashedError``,
    it was cancelled ``TaskCancelledError``, its node or object went ``NodeDiedError``/``ObjectLostError``...), and
    the Ray Client's connection to the cluster dropping (``ConnectionError``)."""
    return (ray.exceptions.RayError, ConnectionError)


def lost(exc: BaseException) -> tuple[str, None, str]:
    """The one place a Ray failure becomes an outcome: a lost attempt (the scheduler retries it), with Ray's first
    line."""
    first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
    return ("lost", None, f"Ray task failed: {first}")


@contextmanager
def _without_doltlite_mark() -> Iterator[None]:
    """Processes Ray starts from here must load doltlite themselves: hide the mark that says it is loaded."""
    from tusk._internal.sqlite import BOOTSTRAP_MARK

    saved = os.environ.pop(BOOTSTRAP_MARK, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[BOOTSTRAP_MARK] = saved
