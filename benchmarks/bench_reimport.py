"""Re-importing a table in replace mode against the same re-import as an upsert, both of an unchanged file
and of a file with 1% of its rows changed and 1% removed (replace removes them; the upsert keeps them).

Replace must also find the rows to remove, so it does one more pass than the upsert; it must not be
quadratic (it was: 200k rows took 16 min 21 s against 1.45 s as an upsert, before the incoming rows
were indexed by key).

    python benchmarks/bench_reimport.py [ROWS]      (default 200,000; goal: replace <= 3x upsert)
"""

from __future__ import annotations

import csv
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import tusk  # noqa: F401  (doltlite first)

from tusk.data.doltlite import DoltliteStore
from tusk.data.ingest import import_file


def write_csv(path: Path, rows: int, changed: bool = False) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "customer", "text", "label"])
        for i in range(rows):
            if changed and i % 100 == 7:
                continue  # 1% removed
            text = f"edited {i}" if changed and i % 100 == 3 else f"some utterance number {i}"
            writer.writerow((i, f"c{i % 1000:04d}", text, f"l{i % 8}"))


def timed(store: DoltliteStore, path: Path, mode: str) -> float:
    started = time.perf_counter()
    import_file(store, str(path), "examples", ["id"], mode, message=mode)
    return time.perf_counter() - started


def main(rows: int, repeats: int = 3) -> None:
    work = Path(tempfile.mkdtemp(prefix="tusk-bench-reimport-"))
    try:
        same, edited = work / "same.csv", work / "edited.csv"
        write_csv(same, rows)
        write_csv(edited, rows, changed=True)
        for label, path in (("unchanged file", same), ("1% modified, 1% removed", edited)):
            upserts, replaces = [], []
            for i in range(repeats):
                for mode, into in (("upsert", upserts), ("replace", replaces)):
                    store = DoltliteStore("doltlite:///b.db", path=work / f"{mode}{i}-{len(upserts)}.db")
                    store.create()
                    import_file(store, str(same), "examples", ["id"], "replace", message="load")
                    into.append(timed(store, path, mode))
                    store.close()
            u, r = statistics.median(upserts), statistics.median(replaces)
            print(f"| re-import {rows:,} rows, {label} | upsert {u:.2f} s | replace {r:.2f} s | ratio {r / u:.2f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
