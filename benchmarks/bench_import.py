"""Import of a 100k-row CSV plus its commit: tusk's import against a plain ``executemany`` + ``dolt_commit`` of
the same rows (read with the csv module) into a fresh doltlite file, in the same run.

    python benchmarks/bench_import.py [ROWS]      (default 100,000; goal: ratio <= 1.5)
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
import sqlite3

from tusk.data.doltlite import DoltliteStore
from tusk.data.ingest import import_file


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "customer", "text", "label"])
        writer.writerows((i, f"c{i % 1000:04d}", f"some utterance number {i}", f"l{i % 8}") for i in range(rows))


def plain(csv_path: Path, db: Path) -> float:
    started = time.perf_counter()
    with csv_path.open(newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        rows = [(int(a), b, c, d) for a, b, c, d in reader]
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("CREATE TABLE examples (id INTEGER PRIMARY KEY, customer TEXT, text TEXT, label TEXT)")
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO examples VALUES (?, ?, ?, ?)", rows)
    conn.execute("SELECT dolt_commit('-A', '-m', 'load')")
    conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - started


def with_tusk(csv_path: Path, db: Path) -> float:
    store = DoltliteStore("doltlite:///b.db", path=db)
    store.create()
    started = time.perf_counter()
    import_file(store, str(csv_path), "examples", ["id"], "replace", message="load")
    seconds = time.perf_counter() - started
    store.close()
    return seconds


def main(rows: int, repeats: int = 5) -> None:
    work = Path(tempfile.mkdtemp(prefix="tusk-bench-import-"))
    try:
        csv_path = work / "rows.csv"
        write_csv(csv_path, rows)
        plains, tusks = [], []
        for i in range(repeats):  # interleaved, so both see the same machine load
            plains.append(plain(csv_path, work / f"plain{i}.db"))
            tusks.append(with_tusk(csv_path, work / f"tusk{i}.db"))
        p, t = statistics.median(plains), statistics.median(tusks)
        print(f"| import {rows:,} rows + commit | plain {p:.2f} s | tusk {t:.2f} s | ratio {t / p:.2f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
