"""``tusk watch``: train (and release) whenever the data branch or the code changes.

It polls the head of the data branch and a digest of the project's code (git HEAD, tusk.toml and every
spec's code files, so an uncommitted edit counts too). On a change it runs plan → run → release (the
release only with ``[release] auto = true``). The state it last handled is remembered whether the run
succeeded or not: a failing model is logged once, not retried in a hot loop, and the next change is
handled as usual. One watcher per project (``.tusk/watch.lock``); a change is handled under the project's
run lock, so a watcher and a ``tusk run`` never train at once: the later one waits.
"""

from __future__ import annotations

import hashlib
import json
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tusk._internal import git
from tusk._internal.cache import atomic_write
from tusk._internal.crash import crash_point
from tusk._internal.lock import hold
from tusk.core.spec import CodeHasher
from tusk.errors import TuskError

if TYPE_CHECKING:
    from tusk.core.config import Config
    from tusk.ports import Ports

Say = Callable[[str], None]


@dataclass
class Tick:
    data_head: str
    code: str
    changed: bool
    jobs: int = 0
    failed: int = 0
    release: str | None = None
    error: str | None = None
    synced: list[dict[str, Any]] = field(default_factory=list)  # [watch] sync = true: each source's sync

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def code_state(config: Config) -> str:
    """git HEAD (if any) and the content of tusk.toml and every spec's code files."""
    digest = hashlib.sha256(config.path.read_bytes())
    digest.update(git.head(config.root).encode())
    hasher = CodeHasher(config.root)
    for spec in config.models:
        try:
            digest.update(json.dumps(hasher.files(spec), sort_keys=True).encode())
        except TuskError:
            digest.update(b"missing")
    return digest.hexdigest()


class Watcher:
    """Remembers the last (data head, code) state it handled in ``.tusk/watch.json``, across runs."""

    def __init__(self, reopen: Callable[[], Ports], state_file: Path, say: Say) -> None:
        self.reopen = reopen  # the project opened afresh: tusk.toml is read again at each poll
        self.state_file = state_file
        self.say = say
        self.stopping = False
        try:
            saved = json.loads(state_file.read_text())
            self.last: tuple[str, str] | None = (saved["data_head"], saved["code"])
        except (OSError, ValueError, KeyError):
            self.last = None

    def poll(self) -> Tick:
        project = self.reopen()
        try:
            crash_point("watch.poll")
            synced = self._sync(project) if project.config.watch.sync else []
            head = project.data.resolve(project.config.data.branch)
            code = code_state(project.config)
            tick = Tick(head, code, changed=(head, code) != self.last, synced=synced)
            if tick.changed:
                self.last = (head, code)
                self._handle(project, tick)
                atomic_write(
                    self.state_file,
                    json.dumps({"data_head": head, "code": code, "failed": tick.failed, "error": tick.error}),
                )
                crash_point("watch.saved")
            return tick
        finally:
            project.close()

    def _sync(self, project: Ports) -> list[dict[str, Any]]:
        """Each source onto its review branch; a failing source is logged and the watcher goes on."""
        from tusk.review.sync import sync

        try:
            report = sync(project)
        except TuskError as exc:
            self.say(f"sync: {exc}")
            return []
        for result in report.sources:
            if result.status == "committed":
                self.say(
                    f"sync {result.name}: {result.added} added, {result.modified} modified, {result.removed} "
                    f"removed → {result.branch} {(result.commit or '')[:7]}"
                )
            elif result.status == "failed":
                self.say(f"sync {result.name} failed: {result.error}")
        return [r.to_json() for r in report.sources]

    def _handle(self, project: Ports, tick: Tick) -> None:
        self.say(f"data {tick.data_head[:7]}, code {tick.code[:7]}: planning")
        try:
            with project.lock("tusk watch", wait=True, on_wait=self.say):
                self._run_and_release(project, tick)
        except TuskError as exc:
            tick.error = str(exc)
            self.say(f"error: {exc} (waiting for the next change)")

    def _run_and_release(self, project: Ports, tick: Tick) -> None:
        from tusk.train.runner import run

        report = run(project)
        crash_point("watch.ran")
        for note in report.recovered:
            self.say(f"recovered: {note}")
        tick.jobs, tick.failed = len(report.jobs), report.failed
        self.say(f"ran {tick.jobs} job(s), {tick.failed} failed" if tick.jobs else "everything is fresh")
        if project.config.release.auto and not tick.failed:  # also when a killed watcher trained but did not
            from tusk.release.create import create_release  # release: an identical manifest costs a read

            outcome = create_release(
                project.config,
                project.tracker,
                project.state_dir,
                project.release_lock("tusk release create"),
                project.builder(),
            )
            crash_point("watch.released")
            if outcome.created or tick.jobs:
                tick.release = outcome.release.md5
                self.say(f"release {outcome.release.md5}: {outcome.note}")

    def loop(self, interval: float, on_tick: Callable[[Tick], None]) -> None:
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            while not self.stopping:
                on_tick(self.poll())
                deadline = time.monotonic() + interval
                while not self.stopping and time.monotonic() < deadline:
                    time.sleep(min(0.5, interval))
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self, signum: int, frame: Any) -> None:
        self.stopping = True
        self.say("stopping after this poll")


def watch(
    project: Ports,
    reopen: Callable[[], Ports],
    interval: float = 30.0,
    once: bool = False,
    say: Say | None = None,
    on_tick: Callable[[Tick], None] | None = None,
) -> list[Tick]:
    """Poll and handle changes until stopped (or once), opening the project afresh (``reopen``) at each poll.
    → the ticks seen."""
    log_path = project.state_dir / "watch.log"
    ticks: list[Tick] = []

    def log(message: str) -> None:
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}"
        with log_path.open("a") as handle:
            handle.write(line + "\n")
        if say:
            say(line)

    def record(tick: Tick) -> None:
        ticks.append(tick)
        if on_tick:
            on_tick(tick)

    with hold(project.state_dir / "watch.lock", "tusk watch"):
        watcher = Watcher(reopen, project.state_dir / "watch.json", log)
        if once:
            record(watcher.poll())
        else:
            log(f"watching every {interval:g}s (Ctrl-C to stop)")
            watcher.loop(interval, record)
    return ticks
