"""Crash tests' tools: tusk in its own process group (optionally told to SIGKILL that group at a named
kill point, see ``tusk._internal.crash``), a sniper that kills the group the moment a registry table grows, and
the invariants every crash must leave intact, read straight from the stores (plain SQL, no MLflow).
"""

from __future__ import annotations

import collections
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TUSK = str(Path(sys.executable).parent / "tusk")


def env(crash_at: str | None = None, **extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k not in ("_DOLTLITE_BOOTSTRAPPED", "TUSK_CRASH_AT")}
    out.update({"MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONUNBUFFERED": "1", **extra})
    if crash_at:
        out["TUSK_CRASH_AT"] = crash_at
    return out


def start(root: Path, *args: str, crash_at: str | None = None, **extra: str) -> subprocess.Popen[str]:
    """``tusk -C root ARGS`` leading its own process group (as ``setsid tusk ...`` would), in ``root``.
    Output goes to files, not pipes: a process that outlives tusk cannot keep the caller waiting."""
    files = (tempfile.TemporaryFile(), tempfile.TemporaryFile())  # noqa: SIM115
    proc = subprocess.Popen(
        [TUSK, "-C", str(root), *args],
        env=env(crash_at, **extra),
        start_new_session=True,
        cwd=root,
        stdout=files[0],
        stderr=files[1],
    )
    proc.files = files  # type: ignore[attr-defined]
    return proc  # type: ignore[return-value]


def output(proc: subprocess.Popen[Any]) -> tuple[str, str]:
    texts = []
    for handle in proc.files:  # type: ignore[attr-defined]
        handle.seek(0)
        texts.append(handle.read().decode("utf-8", "replace"))
        handle.close()
    return texts[0], texts[1]


def tusk(
    root: Path, *args: str, crash_at: str | None = None, timeout: float = 300, **extra: str
) -> subprocess.CompletedProcess[str]:
    return finish(start(root, *args, crash_at=crash_at, **extra), timeout)


def finish(proc: subprocess.Popen[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Wait for ``proc`` (its whole group killed if it takes over ``timeout`` s) → its exit code and output."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc.pid)
        proc.wait()
    out, err = output(proc)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def mlflow_db(root: Path) -> Path:
    return root / ".tusk" / "mlflow.db"


def registry_count(db: Path, table: str = "model_versions") -> int | None:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.05)
        try:
            return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def snipe(
    proc: subprocess.Popen[str], db: Path, grow_by: int, table: str = "model_versions", limit: float = 120
) -> bool:
    """SIGKILL ``proc``'s group the moment ``table`` has ``grow_by`` more rows than when first seen."""
    start_count = None
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and proc.poll() is None:
        count = registry_count(db, table)
        if count is not None and start_count is None:
            start_count = count
        if count is not None and start_count is not None and count >= start_count + grow_by:
            kill_group(proc.pid)
            proc.wait()
            return True
        time.sleep(0.002)
    kill_group(proc.pid)
    proc.wait()
    return False


# ----- invariants -----------------------------------------------------------------------------------
def registry(db: Path) -> dict[str, Any]:
    """Versions, their fingerprints, aliases and state tags of every registered model, read-only."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        versions = collections.defaultdict(set)
        for name, version in conn.execute(
            "SELECT name, version FROM model_versions WHERE current_stage != 'Deleted_Internal'"
        ):
            versions[name].add(int(version))
        fingerprints = collections.defaultdict(list)
        for name, version, value in conn.execute(
            "SELECT name, version, value FROM model_version_tags WHERE key = 'tusk.fingerprint'"
        ):
            fingerprints[name].append((int(version), value))
        aliases = {
            (n, a): int(v) for n, a, v in conn.execute("SELECT name, alias, version FROM registered_model_aliases")
        }
        models = {r[0] for r in conn.execute("SELECT name FROM registered_models")}
        running = conn.execute("SELECT count(*) FROM runs WHERE status = 'RUNNING'").fetchone()[0]
    finally:
        conn.close()
    return {
        "versions": dict(versions),
        "fingerprints": dict(fingerprints),
        "aliases": aliases,
        "models": models,
        "running": running,
    }


def duplicate_fingerprints(db: Path) -> dict[str, dict[str, int]]:
    found = {}
    for name, pairs in registry(db)["fingerprints"].items():
        counts = collections.Counter(fp for _, fp in pairs)
        dups = {fp[:12]: n for fp, n in counts.items() if n > 1}
        if dups:
            found[name] = dups
    return found


def dangling_aliases(db: Path) -> list[str]:
    reg = registry(db)
    return [
        f"{name}@{alias}=v{version}"
        for (name, alias), version in reg["aliases"].items()
        if version not in reg["versions"].get(name, set())
    ]


def tusk_json(root: Path, *args: str) -> Any:
    done = tusk(root, *args, "--json")
    assert done.returncode == 0, f"tusk {' '.join(args)}: exit {done.returncode}: {done.stderr[-2000:]}"
    return json.loads(done.stdout)


def processes_in(folder: Path, exclude: int | None = None) -> list[int]:
    """Processes whose working directory is ``folder`` (what a killed run may leave behind)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in (os.getpid(), exclude):
            continue
        try:
            if Path(os.readlink(entry / "cwd")) == folder.resolve():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def wait_gone(folder: Path, seconds: float = 120) -> list[int]:
    """Processes still working in ``folder`` after waiting at most ``seconds`` for them to go (killed
    processes take their time to exit on a loaded machine; the wait ends as soon as they have)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = processes_in(folder)
        if not left:
            return []
        time.sleep(0.1)
    return processes_in(folder)
