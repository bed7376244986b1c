"""The one scheduler: every executor is a ``Scheduler`` over a ``Backend`` (see tusk.execute.base).

The scheduler owns what is the same on every backend: the queue and its order, retries (none for a
failure another attempt would repeat), timeouts, log limits, cancel, progress events, the result of each
job, and the ``[tusk]`` line in a job's log for an attempt that could not write its own (its worker died,
or it was stopped). A backend only starts attempts, reports the ones that ended and stops them.

The loop: submit waiting attempts while the backend has room, wait in ``poll`` until an attempt ends, a
deadline passes or a log needs a look, then settle what ended. Each round costs O(running) plus the
attempts submitted, so a run of 10,000 jobs costs the same per job as a run of 10.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator, Sequence

from tusk.execute.base import (
    Attempt,
    Backend,
    Capabilities,
    EventHandler,
    Job,
    JobEvent,
    JobResult,
    Outcome,
    log_limit_error,
    log_tail,
)

LOG_CHECK = 0.25  # seconds between looks at the size of running jobs' logs (jobs with a max_log)


def _ignore(event: JobEvent) -> None:
    pass


class Scheduler:
    """An ``Executor``: ``run(jobs)`` yields one ``JobResult`` per job, in the order they finish."""

    def __init__(self, url: str, backend: Backend) -> None:
        self.url = url
        self.backend = backend
        self._cancelled = False
        self._log_check = 0.0  # when logs are next looked at

    @property
    def capabilities(self) -> Capabilities:
        return self.backend.capabilities

    def cancel(self) -> None:
        """Stop running jobs and cancel the rest; safe from another thread or a signal handler."""
        self._cancelled = True
        self.backend.wake()

    def close(self) -> None:
        self.backend.close()

    def run(self, jobs: Sequence[Job], on_event: EventHandler | None = None) -> Iterator[JobResult]:
        if not jobs:
            return
        emit = on_event or _ignore
        self.backend.start(len(jobs))
        queue: deque[Attempt] = deque()
        for job in jobs:
            job.log_path.parent.mkdir(parents=True, exist_ok=True)
            why = self.backend.refuse(job)
            if why:
                yield JobResult(job.name, "failed", error=why, attempts=0)
            else:
                queue.append(Attempt(job, 1))
        running: dict[int, Attempt] = {}
        while queue or running:
            if self._cancelled:
                yield from self._cancel_all(queue, running, emit)
                return
            self._submit(queue, running, emit)
            for attempt, outcome in self._wait(running):
                del running[id(attempt)]
                result = self._result(attempt, outcome)
                if result.status == "failed" and result.retryable and attempt.number <= attempt.job.retries:
                    emit(JobEvent("retrying", attempt.job.name, attempt.number + 1, result))
                    queue.append(Attempt(attempt.job, attempt.number + 1))
                    continue
                emit(JobEvent("finished", result.name, result.attempts, result))
                yield result

    def _submit(self, queue: deque[Attempt], running: dict[int, Attempt], emit: EventHandler) -> None:
        """Start waiting attempts in order while the backend has room; one whose resources are taken waits
        without holding back the ones behind it."""
        waiting: list[Attempt] = []
        while queue and self.backend.free() > 0:
            attempt = queue.popleft()
            attempt.started = time.monotonic()
            if not self.backend.submit(attempt):
                waiting.append(attempt)
                continue
            running[id(attempt)] = attempt
            emit(JobEvent("started", attempt.job.name, attempt.number))
        queue.extendleft(reversed(waiting))

    def _wait(self, running: dict[int, Attempt]) -> list[tuple[Attempt, Outcome]]:
        """Attempts that ended: reported by the backend, or stopped here (timeout, log limit)."""
        if not running:
            return []
        ended = self.backend.poll(self._timeout(running))
        if not self.capabilities.kill:
            return ended
        now = time.monotonic()
        logs = now >= self._log_check
        if logs:
            self._log_check = now + LOG_CHECK
        settled = {id(a) for a, _ in ended}
        stopped = [(a, why) for a in running.values() if id(a) not in settled and (why := self._overdue(a, now, logs))]
        if stopped:
            self.backend.kill([a for a, _ in stopped])
            ended += [(a, Outcome("lost", error=why)) for a, why in stopped]
        return ended

    def _timeout(self, running: dict[int, Attempt]) -> float | None:
        """How long ``poll`` may wait: until the next deadline, or the next look at the logs."""
        if not self.capabilities.kill:
            return None
        now, wait = time.monotonic(), None
        for attempt in running.values():
            deadline = attempt.deadline if not self.capabilities.own_timeouts else None
            if deadline is not None:
                wait = max(0.0, deadline - now) if wait is None else min(wait, max(0.0, deadline - now))
            if attempt.job.max_log:
                look = max(0.0, self._log_check - now)
                wait = look if wait is None else min(wait, look)
        return wait

    def _overdue(self, attempt: Attempt, now: float, logs: bool) -> str:
        """Why a running attempt must stop now ("" when it may go on); its log's size only when ``logs``."""
        job = attempt.job
        deadline = attempt.deadline
        if deadline is not None and not self.capabilities.own_timeouts and now >= deadline:
            return f"timed out after {job.timeout:g}s"
        if logs and job.max_log and _log_size(job) > job.max_log:
            return log_limit_error(job.max_log)
        return ""

    def _result(self, attempt: Attempt, outcome: Outcome) -> JobResult:
        job = attempt.job
        seconds = time.monotonic() - attempt.started
        device = outcome.device or "cpu"
        if outcome.kind == "ok":
            return JobResult(
                job.name, "succeeded", outcome.value, seconds=seconds, attempts=attempt.number, device=device
            )
        if outcome.kind == "lost":  # the attempt could not say so itself
            _append(job, f"[tusk] attempt {attempt.number} failed: {outcome.error}\n")
        return JobResult(
            job.name,
            "failed",
            error=outcome.error,
            log_tail=log_tail(job.log_path),
            seconds=seconds,
            attempts=attempt.number,
            device=device,
            retryable=outcome.kind != "fatal",
        )

    def _cancel_all(
        self, queue: deque[Attempt], running: dict[int, Attempt], emit: EventHandler
    ) -> Iterator[JobResult]:
        now = time.monotonic()
        if running and self.capabilities.kill:
            self.backend.kill(list(running.values()))
        for attempt in running.values():
            result = JobResult(
                attempt.job.name, "cancelled", error="cancelled", seconds=now - attempt.started, attempts=attempt.number
            )
            emit(JobEvent("finished", result.name, result.attempts, result))
            yield result
        running.clear()
        while queue:
            attempt = queue.popleft()
            yield JobResult(attempt.job.name, "cancelled", error="cancelled", attempts=attempt.number - 1)


def _log_size(job: Job) -> int:
    try:
        return job.log_path.stat().st_size
    except OSError:
        return 0


def _append(job: Job, line: str) -> None:
    try:
        with open(job.log_path, "a", encoding="utf-8") as log:
            log.write(line)
    except OSError:
        pass
