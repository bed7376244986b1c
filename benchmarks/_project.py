"""Shared by the benchmarks: a scratch tusk project with N partitions and a no-op model."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

NOOP_MODEL = '''def train(ctx):
    (ctx.output_dir / "m.txt").write_text("x")
    return {"n": float(len(ctx.inputs["examples"]))}
'''

MODEL_BLOCK = '''
[[models]]
name = "m-{customer}"
train = "models/m.py:train"
matrix.customer = "SELECT DISTINCT customer FROM examples ORDER BY customer"
inputs.examples = "SELECT id, text, label FROM examples WHERE customer = :customer ORDER BY id"
'''


def env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k != "_DOLTLITE_BOOTSTRAPPED"}
    clean.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    return clean


def tusk(root: Path, *args: str) -> float:
    """Run the tusk command line (a fresh process, as a user would); → wall seconds."""
    exe = Path(sys.executable).with_name("tusk")
    started = time.perf_counter()
    subprocess.run([str(exe), "-C", str(root), *args], check=True, env=env(), stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def write_rows(path: Path, partitions: int, rows: int, edit_id: int | None = None) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "customer", "text", "label"])
        for i in range(rows):
            label = "edited" if i == edit_id else f"l{i % 2}"
            writer.writerow([i, f"c{i % partitions:04d}", f"text {i}", label])


def make(root: Path, partitions: int, rows: int) -> Path:
    exe = Path(sys.executable).with_name("tusk")
    subprocess.run([str(exe), "init", str(root)], check=True, env=env(), stdout=subprocess.DEVNULL)
    (root / "models").mkdir(exist_ok=True)
    (root / "models" / "m.py").write_text(NOOP_MODEL)
    with (root / "tusk.toml").open("a") as handle:
        handle.write(MODEL_BLOCK)
    write_rows(root / "ex.csv", partitions, rows)
    tusk(root, "data", "import", str(root / "ex.csv"), "--table", "examples", "--key", "id", "-m", "load")
    return root
