"""A run started from the page, in its own process: ``Project.run`` exactly as ``tusk run`` calls it (the same plan,
executor, recording and project lock; SIGINT cancels it as Ctrl-C cancels the CLI), writing one JSON line per
event to ``events.jsonl`` and ``result.json`` at the end (``tusk.train.background`` reads them). A face, like the CLI:
it opens the project through the facade."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tusk.errors import LockHeld, TuskError


def main(config: str, folder: Path, at: str | None, only: str | None, candidates: bool = False) -> int:
    from tusk.project import Project

    record = Project.background_run_record(folder)
    emit = record.event

    def on_start(plan: Any, count: int) -> None:
        emit(
            event="plan",
            data_commit=plan.data_commit,
            jobs=list(plan.todo),
            fresh=sum(1 for p in plan.instances if p.status == "fresh"),
        )

    def on_event(event: Any) -> None:
        if event.kind in ("started", "retrying"):
            emit(event=event.kind, job=event.job, attempt=event.attempt)

    def on_outcome(outcome: Any) -> None:
        emit(event="outcome", **outcome.to_json())

    def on_wait(message: str) -> None:  # a CLI run took the lock after the page looked: this run waits for it
        emit(event="waiting", message=message)

    status, error = "failed", ""
    try:
        with Project.open(config) as project:
            report = project.run(
                at=at,
                only=only,
                candidates=candidates,
                on_event=on_event,
                on_outcome=on_outcome,
                on_start=on_start,
                wait=True,
                on_wait=on_wait,
            )
        status = "cancelled" if report.interrupted else "failed" if report.failed else "succeeded"
    except LockHeld as exc:
        status, error = "refused", str(exc)
    except TuskError as exc:
        error = str(exc)
    except KeyboardInterrupt:
        status, error = "cancelled", "cancelled before the jobs started"
    record.end(status, error)
    return 0 if status == "succeeded" else 1


if __name__ == "__main__":  # pragma: no cover - run by start()
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tusk.web.run_child")
    parser.add_argument("config")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--at")
    parser.add_argument("--only")
    parser.add_argument("--candidates", action="store_true")
    args = parser.parse_args()
    sys.exit(main(args.config, args.folder, args.at, args.only, args.candidates))
