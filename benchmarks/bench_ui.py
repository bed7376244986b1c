"""The page's server time: the models list at 1,000 and 10,000 trained instances, and the first page of a
review whose diff has 100,000 changed rows. Target: under 300 ms each.

Measured in process through the ASGI app (httpx's in-process transport: no network), the median of 7
requests after one warm-up (the first open is printed too), and the same run's floor: for the review, what the
page cannot avoid doing (the store's diff counts and first 50 rows); for the models list by name (the default:
it plans only its 50 rows), every instance's name (the matrix) and the production aliases; for the models list
sorted by metric and the counts per status (they need every instance's status), planning every instance and
reading the aliases.

    python benchmarks/bench_ui.py                 # 1000 and 10000 instances (trains them first: minutes)
    python benchmarks/bench_ui.py --sizes 1000    # quicker
    python benchmarks/bench_ui.py --sizes "" --no-review --project DIR   # a trained project of yours (copied)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).parent))

from _project import env, make, tusk, write_rows  # noqa: E402

import tusk as _tusk  # noqa: E402,F401  (doltlite before sqlite3)


COLD: dict[str, float] = {}


def median_ms(work: Callable[[], Any], repeat: int = 7, name: str = "") -> float:
    started = time.perf_counter()
    work()
    if name:
        COLD[name] = (time.perf_counter() - started) * 1000
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def client(root: Path) -> Any:
    from starlette.testclient import TestClient

    from tusk.web import create

    return TestClient(create(root / "tusk.toml", "127.0.0.1", 8765), base_url="http://127.0.0.1:8765")


def get(web: Any, path: str, expect: str) -> Callable[[], None]:
    def work() -> None:
        answer = web.get(path)
        assert answer.status_code == 200 and expect in answer.text, (path, answer.status_code, answer.text[:300])

    return work


def models(root: Path, size: int) -> list[tuple[str, float, float]]:
    from tusk import Project
    from tusk.core.plan import Planner

    def floor() -> None:
        with Project.open(root) as project:
            project.plan(check=False)
            project.tracker.aliases()

    def names() -> None:
        with Project.open(root) as project:
            Planner(project.config, project.data, {}).instances(None)
            project.tracker.aliases()

    with client(root) as web:
        return [
            (
                f"models list, {size:,} instances (first page, by name)",
                median_ms(get(web, "/models", "m-c"), name=f"models {size}"),
                median_ms(names),
            ),
            (
                f"same, its counts per status (loaded after the rows)",
                median_ms(get(web, "/models/counts?part=1", "fresh"), name=f"models {size} counts"),
                median_ms(floor),
            ),
            (
                f"models list, {size:,} instances, sorted by metric",
                median_ms(get(web, "/models?sort=metric&dir=desc", "m-c")),
                median_ms(floor),
            ),
        ]


def review(root: Path) -> list[tuple[str, float, float]]:
    from tusk import Project

    def floor() -> None:
        with Project.open(root) as project:
            store = project.data
            base = store.merge_base(store.resolve("main"), store.resolve("big"))
            store.diff_stat(base, "big")
            store.main.execute(
                "SELECT * FROM dolt_diff_examples(?, ?) LIMIT 50", (base, store.resolve("big"))
            ).fetchall()

    with client(root) as web:
        return [
            (
                "review, 100,000 changed rows: first page",
                median_ms(get(web, "/review?branch=big", "relabelled"), name="review"),
                median_ms(floor),
            ),
            (
                "same, page 1,000 (offset 49,950)",
                median_ms(get(web, "/review?branch=big&offset=49950", "relabelled")),
                median_ms(floor),
            ),
            (
                "same, filtered to one customer",
                median_ms(get(web, "/review?branch=big&col=customer&val=c0007", "relabelled")),
                median_ms(floor),
            ),
        ]


def tusk_json(root: Path, *args: str) -> str:
    import subprocess

    exe = Path(sys.executable).with_name("tusk")
    return subprocess.run(
        [str(exe), "-C", str(root), *args, "--json"], check=True, capture_output=True, text=True, env=env()
    ).stdout


def big_review(root: Path) -> None:
    make(root, 1000, 200_000)
    import csv

    path = root / "big.csv"
    write_rows(path, 1000, 200_000)
    rows = list(csv.reader(path.open()))
    for row in rows[1:100_001]:
        row[3] = "relabelled"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    tusk(
        root,
        "data",
        "import",
        str(path),
        "--table",
        "examples",
        "--key",
        "id",
        "--branch",
        "big",
        "--mode",
        "upsert",
        "-m",
        "relabel 100k rows",
        "--yes",
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--no-review", action="store_true", help="skip the 100,000-row review")
    parser.add_argument("--project", default="", help="also a trained project of yours (copied, not changed)")
    args = parser.parse_args()
    results: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="tusk-bench-ui-") as scratch:
        if not args.no_review:
            root = Path(scratch) / "review"
            big_review(root)
            results += review(root)
        if args.project:
            import json
            import shutil

            copy = Path(scratch) / "yours"
            shutil.copytree(args.project, copy, symlinks=True)
            size = len(json.loads(tusk_json(copy, "models", "list"))["models"])
            results += models(copy, size)
        for size in (int(s) for s in args.sizes.split(",") if s):
            project = Path(scratch) / f"models-{size}"
            make(project, size, size * 2)
            seconds = tusk(project, "run")
            print(f"(trained {size:,} no-op instances in {seconds:.0f} s)", file=sys.stderr)
            results += models(project, size)
    if "review" in COLD:
        print(f"first open of the 100k-row review, nothing cached yet: {COLD['review']:.0f} ms")
    for name in sorted(COLD):
        if name.startswith("models"):
            print(f"first open of the {name} request (a new server): {COLD[name]:.0f} ms")
    print("| page | server time | floor (same run) | ratio | goal |")
    print("|---|---|---|---|---|")
    for name, ms, floor in results:
        print(
            f"| {name} | {ms:.0f} ms | {floor:.0f} ms | {ms / floor:.2f} | {'ok' if ms < 300 else 'OVER'} (< 300 ms) |"
        )


if __name__ == "__main__":
    main()
