"""Long life: a project after 2,000 consecutive small commits against the same project at 20 commits.

The project at 20 commits is copied and the copy grown to 2,000. In both every model is trained (``tusk
run``) and then one more row changes; ``tusk plan``, ``tusk data log`` and ``tusk status`` are timed as
whole processes, alternating between the two projects (median of 7), so that the only difference is the
length of the history and both see the same machine load. Also the data store's size: bytes per commit,
and what ``dolt_gc`` reclaims.

    python benchmarks/bench_longlife.py [COMMITS]      (default 2,000; goal: each command <= 1.5x)
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import tusk  # noqa: F401  (doltlite first)

from _project import make, row, tusk, tusk_out, write_csv
from tusk.data.ingest import import_file
from tusk.project import Project

CUSTOMERS = 20
ROWS = 1000


def timed(root: Path, *args: str, repeats: int = 5) -> float:
    return statistics.median(tusk(root, *args) for _ in range(repeats))


class Project_:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.commits = 1  # the store's first commit
        self.edit = root / "edit.csv"

    def commit_one(self, project: Project) -> None:
        k = self.commits
        write_csv(self.edit, [row((k * 7919) % ROWS, CUSTOMERS, f"edit {k}")])
        import_file(project.data, str(self.edit), "examples", ["id"], "upsert", message=f"edit {k}")  # type: ignore[arg-type]
        self.commits += 1

    def grow_to(self, commits: int) -> None:
        with Project.open(self.root) as project:
            while self.commits < commits - 1:
                self.commit_one(project)
        tusk(self.root, "run")  # everything fresh
        with Project.open(self.root) as project:
            self.commit_one(project)  # then one row changes: one instance is stale

    def check(self) -> None:
        plan = json.loads(tusk_out(self.root, "plan", "--json"))
        assert sum(1 for i in plan["instances"] if i["status"] != "fresh") == 1, "one stale instance"

    def size(self) -> float:
        return float((self.root / "data" / "training.db").stat().st_size)


def measure(small: Path, large: Path, repeats: int = 7) -> dict[str, tuple[float, float]]:
    figures = {}
    for name, args in (
        ("plan", ["plan", "--json"]),
        ("data log", ["data", "log", "--json"]),
        ("status", ["status", "--json"]),
    ):
        times: dict[Path, list[float]] = {small: [], large: []}
        for _ in range(repeats):
            for root in (small, large):
                times[root].append(timed(root, *args, repeats=1))
        figures[name] = (statistics.median(times[small]), statistics.median(times[large]))
    return figures


def main(commits: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="tusk-bench-longlife-"))
    try:
        root = make(work / "proj", CUSTOMERS, ROWS)  # the store's first commit, then the load
        state = Project_(root)
        state.commits = 2
        state.grow_to(20)
        state.check()
        grown = work / "grown"
        shutil.copytree(root, grown, symlinks=True)
        large = Project_(grown)
        large.commits = state.commits
        started = time.perf_counter()
        large.grow_to(commits)
        growing = time.perf_counter() - started
        large.check()
        figures = measure(root, grown)
        before = large.size()
        with Project.open(grown) as project:
            project.data.gc()
        after = large.size()
        for name, (at_small, at_large) in figures.items():
            print(
                f"| `tusk {name}` after {commits:,} commits vs 20 | {at_large:.2f} s | {at_small:.2f} s | "
                f"ratio {at_large / at_small:.2f} |"
            )
        per_commit = (before - state.size()) / (commits - 20)
        print(
            f"| data store at 20 / {commits:,} commits | {state.size() / 1e6:.1f} MB | {before / 1e6:.1f} MB "
            f"| {per_commit / 1e3:.1f} KB per commit; dolt_gc: {before / 1e6:.1f} → {after / 1e6:.1f} MB |"
        )
        print(f"| {commits - 20:,} small commits (one import each, in-process) | {growing:.0f} s | | |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
