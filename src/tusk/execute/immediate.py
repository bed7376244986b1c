"""``immediate://``: run jobs one after another in this process (huey's immediate mode).

For debugging a train function with a debugger or print statements, and for tests that need no
workers. No timeouts, no isolation: a job that calls ``os._exit`` ends tusk too.
"""

from __future__ import annotations

import contextlib
import os
import time
import traceback
from collections.abc import Iterator, Sequence
from importlib import import_module
from typing import Any

from tusk.config import Config
from tusk.execute.base import EventHandler, Job, JobEvent, JobResult, log_tail, retryable


class ImmediateExecutor:
    def __init__(self, url: str, config: Config | None = None, workers: int | None = None) -> None:
        self.url = url
        self._cancelled = False

    def run(self, jobs: Sequence[Job], on_event: EventHandler | None = None) -> Iterator[JobResult]:
        for job in jobs:
            if self._cancelled:
                yield JobResult(job.name, "cancelled", error="cancelled")
                continue
            if on_event:
                on_event(JobEvent("started", job.name))
            result = self._run_one(job)
            if on_event:
                on_event(JobEvent("finished", job.name, result=result))
            yield result

    def _run_one(self, job: Job) -> JobResult:
        module_name, _, function_name = job.function.partition(":")
        function = getattr(import_module(module_name), function_name)
        started = time.perf_counter()
        job.log_path.parent.mkdir(parents=True, exist_ok=True)
        attempts = 0
        while True:
            attempts += 1
            with open(job.log_path, "a", encoding="utf-8") as log, _cpu_only():
                try:
                    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                        value: Any = function(job.payload)
                    return JobResult(job.name, "succeeded", value, seconds=time.perf_counter() - started,
                                     attempts=attempts)
                except Exception as exc:  # a failed job is a result
                    log.write(traceback.format_exc())
                    error = f"{type(exc).__name__}: {exc}"
                    again = retryable(exc)
            if attempts > job.retries or not again:
                log.close()
                return JobResult(job.name, "failed", error=error, log_tail=log_tail(job.log_path),
                                 seconds=time.perf_counter() - started, attempts=attempts, retryable=again)

    def cancel(self) -> None:
        self._cancelled = True

    def close(self) -> None:
        pass


@contextlib.contextmanager
def _cpu_only() -> Iterator[None]:
    previous = os.environ.get("CUDA_VISIBLE_DEVICES")
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = previous
