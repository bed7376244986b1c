"""Ten thousand instances on one machine: every command a user runs on a fleet, timed at N and at a small
fleet (100) in the same run, so the ratio says what grows with the fleet.

For N instances (5 rows each, a no-op model) it times the first ``tusk run`` against a plain sequential
script making the same doltlite reads and MLflow calls (run, params, metrics, tags, artifact, registered
version, alias; ``bench_run.plain_loop``), and the peak memory of ``tusk run``'s whole process tree (the run,
its recorder, its workers: the sum of their proportional set sizes, sampled every 0.2 s); then, after a 1-row change: ``tusk plan``, ``status``,
``models list``, the 1-model ``run``, ``release create --no-build`` of a new manifest, ``release list``,
``lineage`` of a version and of a data commit, and a ``run`` with nothing to do. Each command is a fresh
process, as a user runs it; the figure is the best of ``--repeat`` runs (this machine is shared).

    python benchmarks/bench_scale.py [--n 10000] [--small 100] [--repeat 3] [--no-baseline]

Goals (issue "Ten thousand models"): at 10,000, plan <= 0.6 s, status <= 0.8 s, release create --no-build
<= 3 s, the first run <= 1.1x the plain loop, peak memory of tusk run <= 1 GiB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _project import best, customer, env, make, tusk, tusk_exe, tusk_out, write_rows
from bench_run import plain_loop

ROWS = 5


def tree(pid: int) -> list[int]:
    """``pid`` and every process below it (from /proc: the run, its recorder, its workers and their children)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        found.append(todo.pop())
        todo.extend(children.get(found[-1], []))
    return found


def memory_kib(pids: list[int]) -> tuple[int, int]:
    """(sum of PSS, sum of RSS) of the processes, KiB. PSS counts a page shared by k processes (the forked
    workers share the run's pages copy-on-write) as 1/k in each: the sum is the memory the tree really holds.
    RSS counts it in each: an upper bound."""
    pss = rss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith(("Pss:", "Rss:")):
                    value = int(line.split()[1])
                    pss, rss = (pss + value, rss) if line.startswith("Pss:") else (pss, rss + value)
        except (OSError, ValueError):
            continue  # gone meanwhile
    return pss, rss


def first_run(root: Path) -> tuple[float, float, float]:
    """→ (seconds, peak MiB of the process tree's summed PSS, peak MiB of its summed RSS), sampled every 0.2 s."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [tusk_exe(), "-C", str(root), "run", "--json"],
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = [0, 0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            pss, rss = memory_kib(tree(proc.pid))
            peak[0], peak[1] = max(peak[0], pss), max(peak[1], rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"tusk run exited {proc.returncode}: {err.strip()[-500:]}")
    return seconds, peak[0] / 1024, peak[1] / 1024


def fleet(work: Path, n: int, repeat: int, with_baseline: bool) -> dict[str, float]:
    root = make(work / f"proj-{n}", n, ROWS * n)
    out: dict[str, float] = {}
    out["first run"], out["peak MiB"], out["peak MiB (RSS summed)"] = first_run(root)
    if with_baseline:
        out["plain loop"] = plain_loop(work, root, n)
    tusk(root, "release", "create", "--no-build", "--json")
    write_rows(root / "ex1.csv", n, ROWS * n, edit_id=3 + n)  # one row of customer 3
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
    out["plan"] = best(root, repeat, "plan", "--json")
    out["status"] = best(root, repeat, "status", "--json")
    out["models list"] = best(root, repeat, "models", "list", "--json")
    out["1-model run"] = tusk(root, "run", "--json")
    out["release create --no-build"] = tusk(root, "release", "create", "--no-build", "--json")
    out["release list"] = best(root, repeat, "release", "list", "--json")
    out["lineage NAME@V"] = best(root, repeat, "lineage", f"m-{customer(3, n)}@2", "--json")
    head = json.loads(tusk_out(root, "data", "log", "--json"))["commits"][0]["hash"]
    out["lineage --data-commit"] = best(root, repeat, "lineage", "--data-commit", head, "--json")
    out["run, nothing to do"] = best(root, repeat, "run", "--json")
    shutil.rmtree(root, ignore_errors=True)
    return out


GOALS = {
    "plan": "<= 0.6 s",
    "status": "<= 0.8 s",
    "release create --no-build": "<= 3 s",
    "peak MiB": "<= 1024 (PSS of the whole tree)",
    "first run": "<= 1.1x the plain loop",
    "run, nothing to do": "<= 1.5x plan",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-baseline", action="store_true", help="skip the plain loop (as long as the first run)")
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tusk-bench-scale-"))
    load = [os.getloadavg()[0]]
    try:
        small = fleet(work, args.small, args.repeat, with_baseline=False)
        load.append(os.getloadavg()[0])
        big = fleet(work, args.n, args.repeat, with_baseline=not args.no_baseline)
        load.append(os.getloadavg()[0])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"| command | N={args.small} | N={args.n:,} | N={args.n:,} / N={args.small} | goal |\n|---|---|---|---|---|")
    for name, value in big.items():
        if name == "plain loop":
            continue
        unit = " MiB" if name.startswith("peak MiB") else " s"
        ratio = f"{value / small[name]:.2f}" if name in small and small[name] else "-"
        goal = GOALS.get(name, "")
        if name == "first run" and "plain loop" in big:
            goal += f" (plain loop {big['plain loop']:.1f} s: **{value / big['plain loop']:.2f}x**)"
        if name == "run, nothing to do":
            goal += f" (**{value / big['plan']:.2f}x** plan)"
        print(f"| {name} | {small.get(name, 0):.2f}{unit} | {value:.2f}{unit} | {ratio} | {goal} |")
    print(f"load average (1 min) during the run: {', '.join(f'{x:.1f}' for x in load)}")
    if args.out:
        Path(args.out).write_text(
            json.dumps(
                {
                    "n": args.n,
                    "small": args.small,
                    "big": big,
                    "small_fleet": small,
                    "load": load,
                    "when": time.strftime("%Y-%m-%d %H:%M"),
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
