"""``tusk plan`` after a 1-row change in a large partitioned input, against a full re-hash of the same
state (every instance's input read and digested at the new commit), in the same run.

    python benchmarks/bench_plan.py [ROWS] [PARTITIONS]   (default 1,000,000 rows, 1000 partitions)
Goals: planner time <= 10% of the full re-hash; the whole `tusk plan` process <= 3 s. Two full re-hashes
are measured: each instance's input query read and digested (what a planner without diffs does), and
the cheapest possible one, a single ordered scan of the table digesting every partition. The planner is
also timed with the query bound taken off (no progress handler, no length limit on the store's
connections, as before [data] query_timeout existed), alternately with the bounded one: the bound's cost.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from _project import make, tusk, write_rows


def full_rehash(root: Path) -> float:
    """What planning costs without diffs: expand the matrix, then read and digest every input."""
    from tusk import Project
    from tusk.core.plan import read_input
    from tusk.core.spec import expand

    project = Project.open(root)
    commit = project.data.resolve(project.config.data.branch)
    started = time.perf_counter()
    instances = expand(project.config, lambda sql: [r[0] for r in project.data.query(sql, None, ref=commit).rows])
    for instance in instances:
        for query in instance.inputs.values():
            read_input(project.data, query, commit)
    return time.perf_counter() - started


def single_pass_rehash(root: Path) -> float:
    """The cheapest full re-hash: one ordered scan of the whole table, digesting each partition's rows."""
    import hashlib

    from tusk import Project

    project = Project.open(root)
    commit = project.data.resolve(project.config.data.branch)
    started = time.perf_counter()
    digests: dict[str, object] = {}
    rows = project.data.iter_query(
        "SELECT customer, id, text, label FROM examples ORDER BY customer, id", None, ref=commit
    )
    for customer, *rest in rows:
        digest = digests.get(customer)
        if digest is None:
            digest = digests[customer] = hashlib.sha256()
        digest.update(repr(rest).encode())  # type: ignore[attr-defined]
    assert len(digests) > 0
    return time.perf_counter() - started


def unbound(off: bool) -> None:
    """Take the query bound off the store's connections opened from now on (``off``), or put it back."""
    import math

    from tusk.data import _sql, doltlite

    class Unbounded(_sql.QueryBound):
        def __init__(self, conn: object, timeout: float, memory: float) -> None:  # no handler, no length limit
            self.timeout, self.memory, self.limits, self.tripped, self._looked = (
                timeout,
                memory,
                (math.inf,) * 2,
                "",
                0.0,
            )

        def start(self) -> tuple[float, float]:
            return math.inf, math.inf

    real = getattr(unbound, "real", None) or _sql.QueryBound
    unbound.real = real  # type: ignore[attr-defined]
    _sql.QueryBound = doltlite.QueryBound = Unbounded if off else real  # type: ignore[misc]


def planner_only(root: Path, cache_path: Path, bounded: bool = True) -> float:
    """The planner alone, in a warm process, with the matrix values cached at the commit before the edit
    (``bounded=False``: the store's connections without the query bound)."""
    from tusk import Project
    from tusk._internal.cache import JsonFileCache
    from tusk.core.plan import Planner

    import gc

    unbound(not bounded)
    gc.collect()  # what an earlier measurement left is not collected during this one
    project = Project.open(root)
    try:
        states = project.tracker.states()
        cache = JsonFileCache(cache_path)
        started = time.perf_counter()
        plan = Planner(project.config, project.data, states, matrix_cache=cache).plan()
        seconds = time.perf_counter() - started
    finally:
        project.close()
    assert sum(1 for p in plan.instances if p.status != "fresh") == 1, "expected exactly one stale instance"
    return seconds


def main(rows: int, partitions: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="tusk-bench-plan-"))
    try:
        root = make(work / "proj", partitions, rows)
        tusk(root, "run", "--json")
        write_rows(root / "ex1.csv", partitions, rows, edit_id=8)
        tusk(
            root,
            "data",
            "import",
            str(root / "ex1.csv"),
            "--table",
            "examples",
            "--key",
            "id",
            "--mode",
            "upsert",
            "-m",
            "one row",
        )
        cache = root / ".tusk" / "cache" / "matrix.json"
        before_edit = cache.read_bytes()  # what `tusk run` left: the matrix values before the edit

        def plan_process() -> float:
            cache.write_bytes(before_edit)
            return tusk(root, "plan", "--json")

        process = min(plan_process() for _ in range(3))
        saved = root / "matrix-before-edit.json"
        saved.write_bytes(before_edit)
        timed: dict[bool, list[float]] = {True: [], False: []}
        for turn in range(6):  # alternately, each first in turn, so that the machine's noise falls on both
            for bounded in (True, False) if turn % 2 else (False, True):
                timed[bounded].append(planner_only(root, saved, bounded))
        planner, unbounded = min(timed[True]), min(timed[False])
        rehash = min(full_rehash(root) for _ in range(2))
        single = min(single_pass_rehash(root) for _ in range(2))
        print(
            f"| {rows:,} rows, {partitions} instances, 1 row changed | planner {planner:.3f} s "
            f"| re-hash per instance {rehash:.2f} s ({planner / rehash:.1%}) "
            f"| re-hash in one scan {single:.2f} s ({planner / single:.1%}) | `tusk plan` process {process:.2f} s "
            f"| planner without the query bound {unbounded:.3f} s (bounded/unbounded {planner / unbounded:.2f}) |"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000, int(sys.argv[2]) if len(sys.argv) > 2 else 1000)
