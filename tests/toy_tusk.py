"""A toy executor from outside tusk, and the example of docs/architecture.md: one fresh Python process per
attempt. The tests register it through ``tusk.backends.register`` and through an entry point of a tiny
distribution, and run the executor conformance suite on it. ``toy://?record=FILE`` also appends each job's
name to FILE, so a test can tell that it was the toy that ran them."""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tusk._sqlite import child_env
from tusk.execute.base import Attempt, Capabilities, Job, Outcome
from tusk.execute.scheduler import Scheduler
from tusk.execute.worker import exit_reason, outcome


class ProcessBackend:
    capabilities = Capabilities()  # parallel, isolated, can kill: the scheduler does timeouts and cancel

    def __init__(self, slots: int = 2, record: str | None = None) -> None:
        self.slots, self.record = slots, record
        self.running: dict[Attempt, tuple[subprocess.Popen[bytes], Path]] = {}
        self.folder = Path(tempfile.mkdtemp(prefix="tusk-toy-"))

    def start(self, jobs: int) -> None: ...

    def refuse(self, job: Job) -> str | None:
        return "the toy has no GPUs" if job.gpus else None

    def free(self) -> int:
        return self.slots - len(self.running)

    def submit(self, attempt: Attempt) -> bool:
        job, spec = attempt.job, self.folder / f"{id(attempt)}.pkl"
        spec.write_bytes(pickle.dumps((job.function, job.payload, str(job.log_path), "", attempt.number)))
        command = [sys.executable, "-m", "tusk.execute.worker", str(spec)]
        env = child_env({"PYTHONPATH": os.pathsep.join(sys.path)})  # the modules tusk sees
        self.running[attempt] = (subprocess.Popen(command, env=env, start_new_session=True), spec)
        if self.record:
            with open(self.record, "a", encoding="utf-8") as out:
                out.write(f"{job.name}\n")
        return True

    def poll(self, timeout: float | None) -> list[tuple[Attempt, Outcome]]:
        time.sleep(min(0.02, timeout if timeout is not None else 0.02))
        ended = [a for a, (process, _) in self.running.items() if process.poll() is not None]
        return [(attempt, self._outcome(*self.running.pop(attempt))) for attempt in ended]

    def _outcome(self, process: subprocess.Popen[bytes], spec: Path) -> Outcome:
        result = Path(f"{spec}.out")
        if process.returncode == 0 and result.is_file():
            return outcome(pickle.loads(result.read_bytes()))
        return Outcome("lost", error=exit_reason(process.returncode))

    def kill(self, attempts: Sequence[Attempt]) -> None:
        for attempt in attempts:
            process, _ = self.running.pop(attempt)
            try:
                os.killpg(process.pid, signal.SIGKILL)  # the worker leads its own group: its children go too
            except ProcessLookupError:
                pass
            process.wait()

    def wake(self) -> None: ...

    def close(self) -> None:
        self.kill(list(self.running))
        shutil.rmtree(self.folder, ignore_errors=True)


class ToyExecutor(Scheduler):
    def __init__(self, url: str, config: object = None, workers: int | None = None) -> None:
        record = parse_qs(urlsplit(url).query).get("record", [None])[0]
        super().__init__(url, ProcessBackend(workers or 2, record))
