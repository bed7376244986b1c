"""``immediate://``: run jobs one after another in this process (huey's immediate mode).

For debugging a train function with a debugger or print statements, and for tests that need no
workers. Its capabilities say what it cannot do: no parallel jobs, no timeouts or log limits, no
isolation (a job that calls ``os._exit`` ends tusk too), and a cancel waits for the running job.
Retries, events and logs are the scheduler's, as on every backend.
"""

from __future__ import annotations

from collections.abc import Sequence

from tusk.core.config import Config
from tusk.execute.base import Attempt, Capabilities, Job, Outcome
from tusk.execute.scheduler import Scheduler
from tusk.execute.worker import outcome, run_attempt


class ImmediateBackend:
    capabilities = Capabilities(parallel=False, isolated=False, kill=False)

    def __init__(self) -> None:
        self._next: Attempt | None = None

    def start(self, jobs: int) -> None:
        pass

    def refuse(self, job: Job) -> str | None:
        return None  # a job asking for GPUs runs on the CPU here, as it would in a debugger

    def free(self) -> int:
        return 0 if self._next is not None else 1

    def submit(self, attempt: Attempt) -> bool:
        self._next = attempt
        return True

    def poll(self, timeout: float | None) -> list[tuple[Attempt, Outcome]]:
        attempt, self._next = self._next, None
        if attempt is None:
            return []
        job = attempt.job
        wire = run_attempt(job.function, job.payload, str(job.log_path), "", attempt.number, job.prepare)
        return [(attempt, outcome(wire))]

    def kill(self, attempts: Sequence[Attempt]) -> None:
        pass

    def wake(self) -> None:
        pass

    def close(self) -> None:
        pass


class ImmediateExecutor(Scheduler):
    def __init__(self, url: str = "immediate://", config: Config | None = None, workers: int | None = None) -> None:
        super().__init__(url, ImmediateBackend())
