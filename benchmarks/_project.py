"""Shared by the benchmarks: a scratch tusk project with N partitions and a no-op model, and the tusk command
line run as a user runs it (a fresh process each time)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

NOOP_MODEL = """def train(ctx):
    (ctx.output_dir / "m.txt").write_text("x")
    return {"n": float(len(ctx.inputs["examples"]))}
"""

MODEL_BLOCK = """
[[models]]
name = "m-{customer}"
train = "models/m.py:train"
matrix.customer = "SELECT DISTINCT customer FROM examples ORDER BY customer"
inputs.examples = "SELECT id, text, label FROM examples WHERE customer = :customer ORDER BY id"
"""


def env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k != "_DOLTLITE_BOOTSTRAPPED"}
    clean.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    return clean


def tusk_exe() -> str:
    return str(Path(sys.executable).with_name("tusk"))


def tusk_out(root: Path, *args: str) -> str:
    """Run the tusk command line; → its standard output (a failure ends the benchmark with tusk's error)."""
    done = subprocess.run([tusk_exe(), "-C", str(root), *args], env=env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"tusk {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def tusk(root: Path, *args: str) -> float:
    """Run the tusk command line (a fresh process, as a user would); → wall seconds."""
    started = time.perf_counter()
    tusk_out(root, *args)
    return time.perf_counter() - started


def best(root: Path, repeat: int, *args: str) -> float:
    """The fastest of ``repeat`` runs of one command (this machine is shared: the others waited for someone)."""
    return min(tusk(root, *args) for _ in range(repeat))


def digits(partitions: int) -> int:
    return max(4, len(str(partitions - 1)))


def customer(i: int, partitions: int) -> str:
    """The customer of row (or model) ``i``: c0000, c0001, … (wider past 10,000)."""
    return f"c{i % partitions:0{digits(partitions)}d}"


def row(i: int, partitions: int, label: str | None = None) -> tuple[Any, ...]:
    return (i, customer(i, partitions), f"text {i}", label or f"l{i % 2}")


def write_csv(path: Path, rows: Iterable[tuple[Any, ...]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "customer", "text", "label"])
        writer.writerows(rows)
    return path


def write_rows(path: Path, partitions: int, rows: int, edit_id: int | None = None) -> Path:
    """``rows`` rows spread over ``partitions`` customers; row ``edit_id`` with another label."""
    return write_csv(path, (row(i, partitions, "edited" if i == edit_id else None) for i in range(rows)))


def make(root: Path, partitions: int, rows: int) -> Path:
    """A project with ``rows`` rows over ``partitions`` customers, imported, and a no-op model per customer."""
    subprocess.run([tusk_exe(), "init", str(root)], check=True, env=env(), stdout=subprocess.DEVNULL)
    (root / "models").mkdir(exist_ok=True)
    (root / "models" / "m.py").write_text(NOOP_MODEL)
    with (root / "tusk.toml").open("a") as handle:
        handle.write(MODEL_BLOCK)
    write_rows(root / "ex.csv", partitions, rows)
    tusk(root, "data", "import", str(root / "ex.csv"), "--table", "examples", "--key", "id", "-m", "load")
    return root
