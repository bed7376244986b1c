"""The Executor port: run many independent jobs with resources, timeouts, retries and a log file each.

A job is a picklable ``payload`` and the dotted name of a module-level function that takes it
(``"tusk.job.run:run_job"``). The executor imports and calls it in a worker, with the job's stdout and
stderr (file descriptors 1 and 2, so child processes too) sent to ``log_path``, and
``CUDA_VISIBLE_DEVICES`` set to the GPU slot it was given ("" when it asked for none).

A job that raises, exits, is killed or times out is *failed* after its retries, with the tail of its
log; the others go on. An exception that another attempt cannot fix (an ``ImportError``, or one whose
class says ``retryable = False``, such as tusk's ``JobError``) fails the job at once, without retries.
``cancel()`` (e.g. on Ctrl-C) stops running jobs and marks the rest cancelled.

Two layers. ``Executor`` is what the runner uses. Every executor tusk ships is the one ``Scheduler``
(tusk.execute.scheduler: retries, timeouts, cancel, events, log limits) driving a ``Backend``, the small
per-backend part that starts an attempt somewhere (``submit``), says which attempts ended (``poll``) and
stops them (``kill``). A backend says what it cannot do in its ``Capabilities``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable
from urllib.parse import parse_qs, urlsplit

from tusk.core.config import MAX_WORKERS
from tusk.errors import ConfigError

JobStatus = Literal["succeeded", "failed", "cancelled"]


@dataclass
class Job:
    name: str
    function: str  # "package.module:function", called as function(payload) in the worker
    payload: Any
    log_path: Path
    cpus: float = 1.0
    gpus: float = 0.0
    timeout: float | None = None  # seconds per attempt
    retries: int = 0
    max_log: float | None = None  # bytes: a job whose log grows past this is stopped (and failed)
    # "package.module:function" called as function(payload) in the worker process before an attempt, for what
    # should outlive the attempt on that worker (a spec's setup); where each attempt runs in a child forked
    # from the worker (Ray), it runs in the worker before the fork, so every child inherits what it made
    prepare: str | None = None


def log_limit_error(max_log: float) -> str:
    """Why a job whose log grew past ``max_log`` bytes was stopped (one line, the same wherever it was)."""
    return f"stopped: its log passed {max_log / 1e6:g} MB (resources.max_log)"


@dataclass
class JobResult:
    name: str
    status: JobStatus
    value: Any = None  # what the function returned (succeeded only)
    error: str = ""  # one line: the exception, the exit code, or "timed out after 10s"
    log_tail: str = ""
    seconds: float = 0.0
    attempts: int = 1
    device: str = "cpu"
    retryable: bool = True  # False: another attempt would fail the same way (see ``retryable``)


@dataclass
class JobEvent:
    """Progress for a display. Each attempt is ``started``; it ends in ``retrying`` (another attempt follows)
    or, for the job's last attempt, ``finished`` (with the result). A job that never started (refused, or
    cancelled while waiting) has no events, only its result."""

    kind: Literal["started", "retrying", "finished"]
    job: str
    attempt: int = 1
    result: JobResult | None = None
    extra: dict[str, Any] = field(default_factory=dict)


EventHandler = Callable[[JobEvent], None]


@dataclass(frozen=True)
class Capabilities:
    """What an executor can do; the conformance suite skips what a backend says it cannot."""

    parallel: bool = True  # runs several jobs at once
    isolated: bool = True  # a job that exits, segfaults or is killed costs only itself, not tusk
    kill: bool = True  # a running attempt can be stopped: timeouts, log limits, cancelling running jobs
    own_timeouts: bool = False  # the backend stops attempts at ``job.timeout`` itself, timed where they run


@runtime_checkable
class Executor(Protocol):
    url: str
    capabilities: Capabilities

    def run(self, jobs: Sequence[Job], on_event: EventHandler | None = None) -> Iterator[JobResult]:
        """Yield one result per job, in the order they finish."""
        ...

    def cancel(self) -> None: ...  # from any thread or a signal handler
    def close(self) -> None: ...


# ----- the per-backend interface the scheduler drives -----------------------------------------------
OutcomeKind = Literal["ok", "error", "fatal", "lost"]


@dataclass(frozen=True)
class Outcome:
    """How an attempt ended. ``ok``: it returned ``value``. ``error``: it raised (``error`` says what; another
    attempt may do better). ``fatal``: it raised what another attempt would raise again. ``lost``: it could not
    say (its worker died, or it was stopped): the scheduler writes the reason to the job's log."""

    kind: OutcomeKind
    value: Any = None
    error: str = ""
    device: str = ""  # what the attempt ran on, when the backend knows better than the scheduler ("cuda:1")


@dataclass(eq=False)
class Attempt:
    """One try of a job. ``handle`` is the backend's own (a worker, a task reference, GPU slots held)."""

    job: Job
    number: int
    started: float = 0.0  # time.monotonic() when submitted
    handle: Any = None

    @property
    def deadline(self) -> float | None:
        return self.started + self.job.timeout if self.job.timeout else None


class Backend(Protocol):
    """Where attempts run. The scheduler calls it from one thread, except ``wake`` (any thread, a signal
    handler). ``poll`` never reports an attempt that ``kill`` stopped. A class that names ``Backend`` as its
    base gets the defaults below and writes only ``free``, ``submit``, ``poll`` and ``kill``."""

    capabilities: Capabilities = Capabilities()

    def free(self) -> int: ...  # how many more attempts ``submit`` could take now
    def submit(self, attempt: Attempt) -> bool: ...  # start it now; False: it must wait (its GPUs are taken)
    def poll(self, timeout: float | None) -> list[tuple[Attempt, Outcome]]: ...  # ended attempts; waits ≤ timeout
    def kill(self, attempts: Sequence[Attempt]) -> None: ...  # stop them and everything they started

    def start(self, jobs: int) -> None:
        """A run of ``jobs`` jobs begins: connect, size the pool."""

    def refuse(self, job: Job) -> str | None:
        """Why ``job`` can never run here (it asks for more GPUs than exist), or None."""
        return None

    def wake(self) -> None:
        """Make a waiting ``poll`` return now (from any thread or a signal handler)."""

    def close(self) -> None:
        """Stop everything; the executor is not used again."""


def parse_workers(url: str) -> int | None:
    """``…?workers=N`` → N (at most N jobs at once); None when the URL does not say."""
    query = parse_qs(urlsplit(url).query)
    if "workers" not in query:
        return None
    value = query["workers"][0]
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"executor url {url!r}: workers must be a positive integer")
    if int(value) > MAX_WORKERS:
        raise ConfigError(f"executor url {url!r}: at most {MAX_WORKERS} workers")
    return int(value)


def retryable(exc: BaseException) -> bool:
    """Whether another attempt might succeed where this exception was raised."""
    if getattr(exc, "retryable", True) is False:
        return False
    return not isinstance(exc, (ImportError, SyntaxError))


def log_tail(path: Path, lines: int = 20, most: int = 64 * 1024) -> str:
    """The last ``lines`` lines of a log, read from its last ``most`` bytes (a log can be huge)."""
    try:
        with open(path, "rb") as log:
            size = log.seek(0, 2)
            log.seek(max(0, size - most))
            text = log.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
