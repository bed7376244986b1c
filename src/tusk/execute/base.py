"""The Executor port: run many independent jobs with resources, timeouts, retries and a log file each.

A job is a picklable ``payload`` and the dotted name of a module-level function that takes it
(``"tusk.runner:run_job"``). The executor imports and calls it in a worker, with the job's stdout and
stderr (file descriptors 1 and 2, so child processes too) sent to ``log_path``, and
``CUDA_VISIBLE_DEVICES`` set to the GPU slot it was given ("" when it asked for none).

A job that raises, exits, is killed or times out is *failed* after its retries, with the tail of its
log; the others go on. An exception that another attempt cannot fix (an ``ImportError``, or one whose
class says ``retryable = False``, such as tusk's ``JobError``) fails the job at once, without retries. ``cancel()`` (e.g. on Ctrl-C) stops running jobs and marks the rest cancelled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

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
    """Progress for a display: kind is 'started', 'retrying', or 'finished'."""

    kind: Literal["started", "retrying", "finished"]
    job: str
    attempt: int = 1
    result: JobResult | None = None
    extra: dict[str, Any] = field(default_factory=dict)


EventHandler = Callable[[JobEvent], None]


@runtime_checkable
class Executor(Protocol):
    url: str

    def run(self, jobs: Sequence[Job], on_event: EventHandler | None = None) -> Iterator[JobResult]:
        """Yield one result per job, in the order they finish."""
        ...

    def cancel(self) -> None: ...
    def close(self) -> None: ...


def retryable(exc: BaseException) -> bool:
    """Whether another attempt might succeed where this exception was raised."""
    if getattr(exc, "retryable", True) is False:
        return False
    return not isinstance(exc, (ImportError, SyntaxError))


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
