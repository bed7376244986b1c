"""``tusk plan`` against the number of changed rows, at N instances (default 10,000 customers x 20 rows, a
no-op model each, trained by a real first run): after 1, 100, 1,000 and 10,000 changed rows (one row each of
that many customers, as bench_peers' sweep), the whole ``tusk plan --json`` process with the stale instances'
inputs re-read by one grouped query (now) and one query per stale instance (before: the same code with the
grouped read switched off, ``tusk.core.plan.GROUP_AFTER``), in the same run; both plans must say the same.

    python benchmarks/bench_changed.py [--n 10000] [--rows 1,100,1000,10000] [--repeat 3] [--out FILE]

Each figure is the best of ``--repeat`` fresh processes (the per-instance plan of 1,000 rows and more: one,
it takes a minute at 10,000), with the load average (1 min) read just before it. Writes a JSON of every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _project
from _project import env, tusk, tusk_exe, tusk_out

ROWS_PER_CUSTOMER = 20
# The tusk command line with the grouped re-read switched off: every stale instance reads its own input.
PER_INSTANCE = (
    "import sys, tusk.core.plan; tusk.core.plan.GROUP_AFTER = 10 ** 9; from tusk.cli import main; "
    "sys.argv[0] = 'tusk'; sys.exit(main())"
)


def load() -> float:
    return os.getloadavg()[0]


def plan(root: Path, grouped: bool) -> tuple[float, dict[str, Any]]:
    """One fresh ``tusk plan --json`` → (wall seconds, its answer)."""
    command = [tusk_exe()] if grouped else [sys.executable, "-c", PER_INSTANCE]
    started = time.perf_counter()
    done = subprocess.run([*command, "-C", str(root), "plan", "--json"], env=env(), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"tusk plan failed: {done.stderr.strip()[-500:]}")
    return seconds, json.loads(done.stdout)


def said(answer: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(p["name"], p["status"], p["reasons"], p["reuse_version"]) for p in answer["instances"]]


def edit(root: Path, n: int, rows: int) -> None:
    """Rows 0..rows-1 (one row each of ``rows`` customers, up to n) get another label: one commit."""
    path = _project.write_csv(root / "edit.csv", (_project.row(i, n, "edited") for i in range(rows)))
    tusk(
        root,
        "data",
        "import",
        str(path),
        "--table",
        "examples",
        "--key",
        "id",
        "--mode",
        "upsert",
        "--yes",
        "-m",
        f"{rows} rows",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--rows", default="1,100,1000,10000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tusk-bench-changed-"))
    results: list[dict[str, Any]] = []
    try:
        root = _project.make(work / "proj", args.n, args.n * ROWS_PER_CUSTOMER)
        started, at = time.perf_counter(), load()
        tusk_out(root, "run", "--json")
        print(f"first run of {args.n:,} models: {time.perf_counter() - started:.1f} s (load {at:.1f})", flush=True)
        print("| changed rows | stale | `tusk plan`, grouped re-read | load | per-instance re-read | load | ratio |")
        print("|---|---|---|---|---|---|---|")
        for rows in (int(r) for r in args.rows.split(",")):
            edit(root, args.n, rows)
            figures: dict[str, Any] = {"n": args.n, "changed_rows": rows}
            answers = {}
            for grouped in (True, False):
                repeat = args.repeat if grouped or rows < 1000 else 1
                best = None
                for _ in range(repeat):
                    before = load()
                    seconds, answer = plan(root, grouped)
                    if best is None or seconds < best[0]:
                        best = (seconds, before)
                assert best is not None
                answers[grouped] = answer
                kind = "grouped" if grouped else "per_instance"
                figures[kind], figures[f"{kind}_load"] = round(best[0], 3), round(best[1], 2)
            if said(answers[True]) != said(answers[False]):
                raise SystemExit(f"the grouped and the per-instance plans differ at {rows} changed rows")
            figures["stale"] = answers[True]["summary"]["stale"]
            results.append(figures)
            print(
                f"| {rows:,} | {figures['stale']:,} | {figures['grouped']:.2f} s | {figures['grouped_load']:.1f} "
                f"| {figures['per_instance']:.2f} s | {figures['per_instance_load']:.1f} "
                f"| {figures['per_instance'] / figures['grouped']:.1f}x |",
                flush=True,
            )
        if args.out:
            args.out.write_text(json.dumps({"when": time.strftime("%Y-%m-%d %H:%M"), "results": results}, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
