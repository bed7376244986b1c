"""Pipelined tracking: a recorder process registers finished jobs while the others train.

``tusk run`` hands each finished job's ``TrainRecord`` to a recorder, a fresh Python process that opens the
project's tracker and registers the records one by one, in the order given, answering each with its version.
The run never waits for MLflow between jobs (only when ``MAX_PENDING`` records are unanswered: a bounded
queue), its workers are never idle while a registration is written, and the calling process never imports
MLflow: the recorder's start (~1.1 s of imports and store set-up, MLflow's optional data-science packages hidden)
overlaps with the plan and the first jobs.

Nothing is lost. Ctrl-C reaches the recorder too (same terminal) but it ignores it: it registers every record
it was handed and stops at the end of its input, and the run waits for that. If tusk dies, the recorder reads
the end of its input and finishes what it got. A kill of the whole process group (``kill -9 -- -PGID``, the
crash suite's ``TUSK_CRASH_AT`` points, which in the recorder kill tusk's group) stops both half-way: a version
half-registered is finished by the next command (``tracker.recover``), a job trained but not registered is
trained again, none twice.

Protocol: ``multiprocessing.connection`` messages over two pipes. tusk → recorder ``(key, record, previous,
review)``; recorder → tusk ``(key, "ok", (version, promoted, not_promoted))`` or ``(key, "error", message)``.
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import weakref
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tusk.errors import TrackingError, TuskError
from tusk.tracking.base import FailureRecord, InstanceState, TrainRecord

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

MAX_PENDING = 64  # records handed over and not yet answered before the run waits for the recorder
_LIVE: weakref.WeakSet[Recorder] = weakref.WeakSet()  # recorders of this process: their pipes close in a fork


def _forget_in_child() -> None:
    """A process forked from tusk (a worker, and whatever its job forks) holds no end of a recorder's pipes."""
    for recorder in list(_LIVE):
        for end in (recorder.requests, recorder.answers):
            if not end.closed:
                end.close()


os.register_at_fork(after_in_child=_forget_in_child)


@dataclass
class Recorded:
    key: str
    version: str | None
    promoted: bool = False
    not_promoted: str = ""
    error: str = ""


class Recorder:
    """tusk's end: ``submit`` a record, ``ready()`` the answers written so far, ``close()`` ends the input and
    yields the rest as they come; ``stop()`` when the run stops on an error."""

    def __init__(self, root: Path, max_pending: int = MAX_PENDING) -> None:
        from multiprocessing.connection import Connection

        from tusk._internal.sqlite import child_env

        env = child_env()
        if os.getpgrp() == os.getpid():  # a crash point in the recorder kills tusk's whole group, as in tusk
            env["TUSK_CRASH_GROUP"] = str(os.getpgrp())
        requests, self._requests_end = os.pipe()
        self._answers_end, answers = os.pipe()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tusk.tracking.recorder", str(root), str(requests), str(answers)],
                pass_fds=(requests, answers),
                env=env,
            )
        finally:
            os.close(requests)
            os.close(answers)
        self.requests = Connection(self._requests_end, readable=False)
        self.answers = Connection(self._answers_end, writable=False)
        self.max_pending = max_pending
        self.pending: deque[str] = deque()
        _LIVE.add(self)

    def submit(
        self, key: str, record: TrainRecord | FailureRecord, previous: InstanceState | None, review: str | None = None
    ) -> list[Recorded]:
        """Hand a record over; → the answers that had to be waited for (the queue was full)."""
        try:
            self.requests.send((key, record, previous, review))
        except OSError as exc:
            raise self._died() from exc
        self.pending.append(key)
        waited = []
        while len(self.pending) > self.max_pending:
            waited.append(self._answer())
        return waited

    def ready(self) -> list[Recorded]:
        """The answers already written (never waits)."""
        found = []
        while self.pending and self.answers.poll(0):
            found.append(self._answer())
        return found

    def close(self) -> Iterator[Recorded]:
        """End the input; → every answer still due, as the recorder writes them; then the recorder is gone."""
        self._end()
        try:
            while self.pending:
                yield self._answer()
        finally:
            self.process.wait()
            self.answers.close()

    def stop(self, timeout: float = 300.0) -> None:
        """End the input and let the recorder register what it was handed (unanswered), then go; killed only if it
        hangs past ``timeout``. What a run that stopped on an error had handed over is still registered."""
        self._end()
        if not self.answers.closed:
            self.answers.close()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _end(self) -> None:
        """End the input by saying so, then closing it: the recorder stops on the word, so a copy of the pipe some
        other process still holds (a forked process a job left behind) cannot keep it waiting for the end."""
        if self.requests.closed:
            return
        try:
            self.requests.send(None)
        except OSError:
            pass
        self.requests.close()

    def discard(self) -> None:
        """Let a recorder go that was handed nothing (a run with nothing to train): killed, not waited for."""
        if not self.pending and self.process.poll() is None and not self.requests.closed:
            self.process.kill()
        self.stop()

    def _answer(self) -> Recorded:
        try:
            key, status, value = self.answers.recv()
        except (EOFError, OSError) as exc:
            raise self._died() from exc
        self.pending.remove(key)
        if status == "ok":
            version, promoted, not_promoted = value
            return Recorded(key, version, promoted, not_promoted or "")
        return Recorded(key, None, error=str(value))

    def _died(self) -> TrackingError:
        code = self.process.wait()
        lost = ", ".join(list(self.pending)[:5]) + (" …" if len(self.pending) > 5 else "")
        return TrackingError(
            f"the recorder stopped (exit code {code}) before registering {lost or 'anything'}; "
            "a job that was not registered trains again on the next run"
        )


# ----- the recorder process ------------------------------------------------------------------------------------
# MLflow's optional data-science packages. `import mlflow` loads every one that is installed (~0.4 s of the
# recorder's ~1.6 s start, which a 1-model run waits for); a registration uses none of them, and MLflow is made to
# import without them (its `mlflow-skinny` has none: it imports them under try/except ImportError).
OPTIONAL = ("numpy", "pandas", "pyarrow", "scipy")
HIDE_ENV = "TUSK_RECORDER_HIDE"  # comma-separated: the packages hidden while the tracker starts ("" for none)


def hidden_packages() -> tuple[str, ...]:
    value = os.environ.get(HIDE_ENV)
    return OPTIONAL if value is None else tuple(name for name in value.split(",") if name)


@contextmanager
def hiding(names: tuple[str, ...]) -> Iterator[None]:
    """While it lasts, the packages ``names`` (not yet imported) look not installed to whatever imports them; after
    it, they import as usual when something needs them after all (a record carrying a numpy number)."""
    hidden = [name for name in names if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # what the import system reads as "not installed"
    try:
        yield
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def needed(exc: BaseException, names: tuple[str, ...]) -> bool:
    """Whether ``exc`` (or what caused it) is the import of one of ``names`` refused by ``hiding``."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ImportError) and (seen.name or "").split(".")[0] in names:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def start_tracker(root: Path) -> Any:
    """The project's tracker, ready to write, started with MLflow's optional packages hidden (and the garbage
    collector paused). If the tracker needs
    one of them after all (another MLflow version, a plugin), the recorder starts again without hiding any
    (``os.execv``: same process, same pipes; only its start is slower)."""
    from tusk._internal import gc as _gc
    from tusk.backends import backend_class
    from tusk.core.config import find_config, load_config

    config = load_config(find_config(root))
    names = hidden_packages()
    try:
        # the collector paused: starting MLflow makes ~330,000 objects (modules, classes, functions) that live as
        # long as the recorder; its passes over them were ~0.17 s of a ~1 s start, and frozen (moved out of its
        # generations) they are never scanned again: re-enabled, its first pass would have scanned them all
        with hiding(names), _gc.paused():
            tracker = backend_class("tracking", config.tracking.url)(config.tracking.url, config)
            tracker.ensure_ready()
            gc.freeze()
    except Exception as exc:
        if not names or not needed(exc, names):
            raise
        os.environ[HIDE_ENV] = ""
        os.execv(sys.executable, [sys.executable, "-m", "tusk.tracking.recorder", *sys.argv[1:]])
    return tracker


def serve(root: Path, requests: Connection, answers: Connection) -> None:
    """Register each record handed over, in order, answering each; until the end of the input. A tracker that
    cannot start (a store of another MLflow's schema, a server that refuses) answers every record with why."""
    tracker: Any = None
    unusable = ""
    try:
        tracker = start_tracker(root)
    except Exception as exc:  # noqa: BLE001
        unusable = _message(exc)
    while True:
        try:
            message = requests.recv()
            if message is None:  # tusk's end of the input (see Recorder._end)
                raise EOFError
            key, record, previous, review = message
        except EOFError:
            close = getattr(tracker, "close", None)  # leaves a local store's log empty for the readers to come
            if close is not None:
                close()
            return
        answer: tuple[str, str, Any]
        try:
            if unusable:
                answer = (key, "error", unusable)
            elif isinstance(record, FailureRecord):  # a failed job: a FAILED run, no version
                answer = (key, "ok", (tracker.log_failure(record), False, ""))
            elif review is not None:
                answer = (key, "ok", (tracker.register_candidate(record, review), False, ""))
            else:
                version = tracker.register(record, previous=previous)
                answer = (key, "ok", (version, record.promoted, record.not_promoted))
        except Exception as exc:  # said to tusk, which stops the run with it; the records after it still go in  # noqa: BLE001
            answer = (key, "error", _message(exc))
        try:
            answers.send(answer)
        except OSError:  # tusk is gone: register the rest of what it handed over, unanswered
            pass


def _message(exc: Exception) -> str:
    return str(exc) if isinstance(exc, TuskError) else f"{type(exc).__name__}: {exc}"


def main() -> None:
    from multiprocessing.connection import Connection

    for sig in (signal.SIGINT, signal.SIGTERM):  # tusk decides when to stop; this ends at the end of its input
        signal.signal(sig, signal.SIG_IGN)
    os.dup2(2, 1)  # anything MLflow prints goes to stderr, never into tusk's --json
    root, requests, answers = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    serve(root, Connection(requests, writable=False), Connection(answers, readable=False))
    sys.stdout.flush()
    sys.stderr.flush()
    # every registration is committed by now; tearing down MLflow's and SQLAlchemy's modules took ~0.6 s, which a
    # 1-model run waited for
    os._exit(0)


if __name__ == "__main__":
    main()
