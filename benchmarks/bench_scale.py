"""Ten thousand instances on one machine: every command a user runs on a fleet, timed at N and at a small
fleet (100) in the same run, so the ratio says what grows with the fleet.

For N instances (5 rows each, a no-op model) it times the first ``tusk run`` against a plain sequential
script making the same doltlite reads and MLflow calls (run, params, metrics, tags, artifact, registered
version, alias), and the peak memory of ``tusk run``; then, after a 1-row change: ``tusk plan``, ``status``,
``models list``, the 1-model ``run``, ``release create --no-build`` of a new manifest, ``release list``,
``lineage`` of a version and of a data commit, and a ``run`` with nothing to do. Each command is a fresh
process, as a user runs it; the figure is the best of ``--repeat`` runs (this machine is shared).

    python benchmarks/bench_scale.py [--n 10000] [--small 100] [--repeat 3] [--no-baseline]

Goals (issue "Ten thousand models"): at 10,000, plan <= 0.6 s, status <= 0.8 s, release create --no-build
<= 3 s, the first run <= 1.1x the plain loop, peak memory of tusk run <= 1 GiB.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _project import NOOP_MODEL, env

ROWS = 5
MODEL_BLOCK = '''
[[models]]
name = "m-{customer}"
train = "models/m.py:train"
matrix.customer = "SELECT DISTINCT customer FROM examples ORDER BY customer"
inputs.examples = "SELECT id, text, label FROM examples WHERE customer = :customer ORDER BY id"
'''
BASELINE = '''
import doltlite, sqlite3, sys, time, tempfile, pathlib
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
n, uri, db = int(sys.argv[1]), f"sqlite:///{sys.argv[2]}", sys.argv[3]
conn = sqlite3.connect(db); client = MlflowClient(uri, uri)
exp = client.create_experiment("base")
scratch = pathlib.Path(tempfile.mkdtemp(dir=pathlib.Path(sys.argv[2]).parent))
for k in range(n):
    customer = f"c{k:05d}"
    rows = conn.execute("select id, text, label from examples where customer=? order by id", (customer,)).fetchall()
    d = scratch / str(k); d.mkdir(); (d / "m.txt").write_text("x")
    run = client.create_run(exp); rid = run.info.run_id
    client.log_batch(rid, metrics=[Metric("n", float(len(rows)), int(time.time() * 1000), 0)],
                     params=[Param("C", "1")], tags=[RunTag("tusk.fingerprint", str(k))])
    client.log_artifacts(rid, str(d), "model"); client.set_terminated(rid)
    name = f"m-{customer}"; client.create_registered_model(name)
    v = client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=rid, tags={"f": str(k)})
    client.set_registered_model_alias(name, "production", v.version)
'''
PEAK = ("import resource, subprocess, sys\n"
        "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)\n")


def tusk_exe() -> str:
    return str(Path(sys.executable).with_name("tusk"))


def timed(root: Path, *args: str) -> float:
    started = time.perf_counter()
    done = subprocess.run([tusk_exe(), "-C", str(root), *args], env=env(), stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"tusk {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return time.perf_counter() - started


def best(root: Path, repeat: int, *args: str) -> float:
    return min(timed(root, *args) for _ in range(repeat))


def write_rows(path: Path, n: int, edit: bool = False) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "customer", "text", "label"])
        for i in range(ROWS * n):
            label = "lQ" if edit and i == 3 + n else f"l{i % 2}"  # the edit: one row of customer 3
            writer.writerow([i, f"c{i % n:05d}", f"text {i}", label])


def make(root: Path, n: int) -> Path:
    subprocess.run([tusk_exe(), "init", str(root)], check=True, env=env(), stdout=subprocess.DEVNULL)
    (root / "models").mkdir(exist_ok=True)
    (root / "models" / "m.py").write_text(NOOP_MODEL)
    with (root / "tusk.toml").open("a") as handle:
        handle.write(MODEL_BLOCK)
    write_rows(root / "ex.csv", n)
    timed(root, "data", "import", str(root / "ex.csv"), "--table", "examples", "--key", "id", "-m", "load")
    return root


def first_run(root: Path) -> tuple[float, float]:
    """→ (seconds, peak resident memory in MiB of tusk run and its workers)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK, tusk_exe(), "-C", str(root), "run", "--json"], env=env(),
                          capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - started
    peak_kib, code = done.stdout.split()
    if code != "0":
        raise SystemExit(f"tusk run exited {code}")
    return seconds, int(peak_kib) / 1024


def baseline(work: Path, root: Path, n: int) -> float:
    """The plain sequential loop: the same reads and MLflow calls, no planning, no workers."""
    db = work / "base-mlflow.db"
    subprocess.run(["/usr/bin/python3", "-c", f"import sqlite3; sqlite3.connect('{db}').execute('pragma user_version=0')"],
                   check=True)
    subprocess.run([sys.executable, "-c", f"from mlflow import MlflowClient; MlflowClient('sqlite:///{db}').search_experiments()"],
                   check=True, env=env(), capture_output=True)
    shutil.copy(root / "data" / "training.db", work / "base.db")
    (work / "baseline.py").write_text(BASELINE)
    started = time.perf_counter()
    subprocess.run([sys.executable, str(work / "baseline.py"), str(n), str(db), str(work / "base.db")], check=True,
                   env=env(), capture_output=True, cwd=work)
    return time.perf_counter() - started


def fleet(work: Path, n: int, repeat: int, with_baseline: bool) -> dict[str, float]:
    root = make(work / f"proj-{n}", n)
    out: dict[str, float] = {}
    out["first run"], out["peak MiB"] = first_run(root)
    if with_baseline:
        out["plain loop"] = baseline(work / f"proj-{n}", root, n)
    timed(root, "release", "create", "--no-build", "--json")
    write_rows(root / "ex1.csv", n, edit=True)
    timed(root, "data", "import", str(root / "ex1.csv"), "--table", "examples", "--key", "id", "--mode", "upsert",
          "-m", "one row")
    out["plan"] = best(root, repeat, "plan", "--json")
    out["status"] = best(root, repeat, "status", "--json")
    out["models list"] = best(root, repeat, "models", "list", "--json")
    out["1-model run"] = timed(root, "run", "--json")
    out["release create --no-build"] = timed(root, "release", "create", "--no-build", "--json")
    out["release list"] = best(root, repeat, "release", "list", "--json")
    out["lineage NAME@V"] = best(root, repeat, "lineage", "m-c00003@2", "--json")
    head = json.loads(subprocess.run([tusk_exe(), "-C", str(root), "data", "log", "--json"], env=env(),
                                     capture_output=True, text=True, check=True).stdout)["commits"][0]["hash"]
    out["lineage --data-commit"] = best(root, repeat, "lineage", "--data-commit", head, "--json")
    out["run, nothing to do"] = best(root, repeat, "run", "--json")
    shutil.rmtree(root, ignore_errors=True)
    return out


GOALS = {"plan": "<= 0.6 s", "status": "<= 0.8 s", "release create --no-build": "<= 3 s", "peak MiB": "<= 1024",
         "first run": "<= 1.1x the plain loop", "run, nothing to do": "<= 1.5x plan"}


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
        unit = " MiB" if name == "peak MiB" else " s"
        ratio = f"{value / small[name]:.2f}" if name in small and small[name] else "-"
        goal = GOALS.get(name, "")
        if name == "first run" and "plain loop" in big:
            goal += f" (plain loop {big['plain loop']:.1f} s: **{value / big['plain loop']:.2f}x**)"
        if name == "run, nothing to do":
            goal += f" (**{value / big['plan']:.2f}x** plan)"
        print(f"| {name} | {small.get(name, 0):.2f}{unit} | {value:.2f}{unit} | {ratio} | {goal} |")
    print(f"load average (1 min) during the run: {', '.join(f'{x:.1f}' for x in load)}")
    if args.out:
        Path(args.out).write_text(json.dumps({"n": args.n, "small": args.small, "big": big, "small_fleet": small,
                                              "load": load, "when": time.strftime("%Y-%m-%d %H:%M")}, indent=1))


if __name__ == "__main__":
    main()
