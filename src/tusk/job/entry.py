"""Errors before work: every spec's ``train`` entry point is imported once before any job starts.

A wrong ``train = "models/nope.py:train"`` would otherwise fail inside every job (a thousand identical
tracebacks). ``tusk plan`` and ``tusk run`` start this check first and plan meanwhile: a missing file is
seen at once; the import itself happens in a forked process (a slow import, such as torch's, does not hold
up planning, and nothing the module does at import time touches tusk). An entry that imported and had
its function is remembered by the digest of its folder's Python files, so an unchanged project pays
nothing the next time. The verdict is one line naming the model and the entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tusk.core.config import Config
from tusk.errors import ConfigError

TIMEOUT = 120.0  # seconds for one import; past it the check gives no verdict and the run goes on
MAX_REMEMBERED = 200


@dataclass
class _Pending:
    key: str
    spec: str
    entry: str
    process: Any
    conn: Any


@dataclass
class EntryCheck:
    config: Config
    cache_path: Path
    problems: list[str] = field(default_factory=list)
    pending: list[_Pending] = field(default_factory=list)
    remembered: list[str] = field(default_factory=list)

    def start(self) -> EntryCheck:
        self.remembered = _load(self.cache_path)
        seen: set[str] = set()
        for spec in self.config.models:
            for what, entry in (("train", spec.train), ("setup", spec.setup)):
                if not entry or entry in seen:
                    continue
                seen.add(entry)
                file_part, _, function = entry.rpartition(":")
                path = (self.config.root / file_part).resolve()
                if not path.is_file():
                    self.problems.append(f"model {spec.name!r}: {what} entry {entry!r}: {file_part} not found")
                    continue
                key = _key(path, function)
                if key not in self.remembered:
                    self.pending.append(_spawn(key, spec.name, entry, path, function))
        return self

    def finish(self) -> None:
        """Wait for the imports; raise ConfigError with the first problem (one line)."""
        learned = []
        for pending in self.pending:
            verdict = _wait(pending)
            if verdict is None:
                learned.append(pending.key)
            elif verdict:
                self.problems.append(f"model {pending.spec!r}: {verdict}")
        self.pending.clear()
        if learned:
            _save(self.cache_path, [k for k in self.remembered if k not in learned] + learned)
        if self.problems:
            more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
            raise ConfigError(self.problems[0] + more)

    def cancel(self) -> None:
        for pending in self.pending:
            _stop(pending)
        self.pending.clear()


def check_entries(config: Config, cache_path: Path) -> EntryCheck:
    """Start checking every train entry of ``config``; call ``finish()`` on the result before any job."""
    return EntryCheck(config, cache_path).start()


def _key(path: Path, function: str) -> str:
    """The entry file's folder's Python files (what an import of it most likely reads), and the function."""
    digest = hashlib.sha256(f"{path}:{function}".encode())
    for sibling in sorted(path.parent.glob("*.py"))[:100]:
        try:
            digest.update(sibling.name.encode() + b"\0" + sibling.read_bytes())
        except OSError:
            pass
    return digest.hexdigest()


def _spawn(key: str, spec: str, entry: str, path: Path, function: str) -> _Pending:
    import multiprocessing  # only when an entry is not known yet: most plans import none

    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(send, path, entry, function), daemon=True)
    process.start()
    send.close()
    return _Pending(key, spec, entry, process, receive)


def _child(conn: Any, path: Path, entry: str, function: str) -> None:
    """In the forked process: import the file quietly and say what went wrong ("" when nothing did)."""
    os.setpgrp()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    from tusk.job.run import load_entry

    try:
        load_entry(path, entry, function)
        message = ""
    except BaseException as exc:  # noqa: BLE001 - whatever the import raised is the verdict
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        message = (
            text
            if type(exc).__name__ == "JobError"
            else f"train entry {entry!r}: {path.name} does not import: {type(exc).__name__}: {text}"
        )
    conn.send(message[:500])
    conn.close()


def _wait(pending: _Pending) -> str | None:
    """ "" or None when the entry is fine (None: also remember it), the problem otherwise."""
    try:
        if pending.conn.poll(TIMEOUT):
            message: str = pending.conn.recv()
            pending.process.join(5)
            return message or None
    except (EOFError, OSError):
        pending.process.join(5)
        return f"train entry {pending.entry!r}: importing it ended the process (exit {pending.process.exitcode})"
    _stop(pending)
    return ""  # too slow to say: no verdict, nothing remembered; the jobs will tell


def _stop(pending: _Pending) -> None:
    if pending.process.is_alive():
        try:
            os.killpg(pending.process.pid, 9)
        except (ProcessLookupError, PermissionError):
            pending.process.kill()
    pending.process.join(5)
    pending.conn.close()


def _load(path: Path) -> list[str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [str(k) for k in data] if isinstance(data, list) else []
    except (OSError, ValueError):
        return []


def _save(path: Path, keys: list[str]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".entries-")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(keys[-MAX_REMEMBERED:], out)
        os.replace(temporary, path)
    except OSError:
        pass
