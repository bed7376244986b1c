"""Per-job overhead of the executors: N no-op jobs on local workers and on a Ray cluster started for the
run (``ray://local``, extra ``tusk-mlops[ray]``), each after a warm-up batch, in the same run.

    python benchmarks/bench_executors.py [N]     (default 300)
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import tusk  # noqa: E402,F401  (doltlite before sqlite3)
from tusk.execute.base import Job  # noqa: E402


def jobs(folder: Path, n: int, prefix: str) -> list[Job]:
    return [Job(f"{prefix}{i}", "jobs_for_tests:noop", None, folder / f"{prefix}{i}.log") for i in range(n)]


def per_job(executor: object, folder: Path, n: int) -> float:
    list(executor.run(jobs(folder, 20, "warm")))  # type: ignore[attr-defined]
    started = time.perf_counter()
    results = list(executor.run(jobs(folder, n, "job")))  # type: ignore[attr-defined]
    seconds = time.perf_counter() - started
    assert all(r.status == "succeeded" for r in results), [r.error for r in results if r.status != "succeeded"]
    return seconds / n


def main(n: int) -> None:
    from tusk.execute.local import LocalExecutor

    folder = Path(tempfile.mkdtemp(prefix="tusk-bench-exec-"))
    try:
        local = LocalExecutor("local://?workers=2")
        local_ms = per_job(local, folder, n) * 1000
        local.close()
        try:
            from tusk.execute.ray import RayExecutor
        except ImportError:
            print(f"| {n} no-op jobs | local {local_ms:.2f} ms/job | ray: not installed |")
            return
        import os

        os.environ["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1] / "tests"), *sys.path])
        ray = RayExecutor("ray://local")
        ray_ms = per_job(ray, folder, n) * 1000
        ray.close()
        print(
            f"| {n} no-op jobs, 2 slots | local {local_ms:.2f} ms/job | ray://local {ray_ms:.2f} ms/job "
            f"| ratio {ray_ms / local_ms:.1f} |"
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
