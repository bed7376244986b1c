"""``setup`` (once per worker) against loading the base in every job: N adapter jobs that need a base whose
load takes LOAD seconds, on 2 local workers, and the same jobs with no load at all, in the same run.

    python benchmarks/bench_setup.py [N] [LOAD]      (default 100 jobs, 1.0 s; goal: >= 10x less per job)

Per-job overhead of a way = (its run's wall time - the no-load run's) / N, each the best of two runs.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from _project import make, tusk

REPEAT = 2

MODELS = """
import time

def train_base(ctx):
    (ctx.output_dir / "base.txt").write_text("base")
    return {"n": 1.0}

def load_base(ctx):
    time.sleep(LOAD)  # a base model read from disk and moved to the device
    return {"base": (ctx.needs["base"].path / "base.txt").read_text()}

def train_adapter(ctx):
    shared = ctx.shared if ctx.shared is not None else (load_base(ctx) if ctx.params["load"] else {})
    (ctx.output_dir / "a.txt").write_text(str(shared))
    return {"n": float(len(ctx.inputs["examples"]))}
"""

BLOCKS = """
[[models]]
name = "base"
train = "models/m.py:train_base"
inputs.all = "SELECT count(*) FROM examples"

[[models]]
name = "m-{{customer}}"
train = "models/m.py:train_adapter"
{setup}
needs = ["base"]
matrix.customer = "SELECT DISTINCT customer FROM examples ORDER BY customer"
inputs.examples = "SELECT id, text, label FROM examples WHERE customer = :customer ORDER BY id"
params = {{ load = {load} }}
"""


def project(work: Path, name: str, n: int, load: float, way: str) -> Path:
    root = make(work / name, n, 5 * n)
    (root / "models" / "m.py").write_text(MODELS.replace("LOAD", repr(load)))
    config = (root / "tusk.toml").read_text().split("\n[[models]]", 1)[0]
    setup = 'setup = "models/m.py:load_base"' if way == "setup" else ""
    (root / "tusk.toml").write_text(config + BLOCKS.format(setup=setup, load="true" if way == "each" else "false"))
    tusk(root, "run", "--only", "base")
    return root


def main(n: int, load: float) -> None:
    work = Path(tempfile.mkdtemp(prefix="tusk-bench-setup-"))
    try:
        roots = {way: project(work, way, n, load, way) for way in ("none", "setup", "each")}
        seconds = {way: float("inf") for way in roots}
        for _ in range(REPEAT):  # the machine is shared: each way's best of REPEAT, interleaved
            for way, root in roots.items():
                seconds[way] = min(seconds[way], tusk(root, "run", "--workers", "2", "--force", "--only", "m-*"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    per_job = {way: max(seconds[way] - seconds["none"], 0.0) / n for way in ("setup", "each")}
    ratio = per_job["each"] / per_job["setup"] if per_job["setup"] > 0 else float("inf")
    print(
        f"{n} adapter jobs, base load {load:g} s, 2 workers: no load {seconds['none']:.1f} s, "
        f"setup {seconds['setup']:.1f} s, load in each job {seconds['each']:.1f} s"
    )
    print(
        f"| per-job overhead of the base load: setup / in each job | {per_job['setup'] * 1000:.0f} ms | "
        f"{per_job['each'] * 1000:.0f} ms | **{ratio:.0f}x less** (goal >= 10x) |"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100, float(sys.argv[2]) if len(sys.argv) > 2 else 1.0)
