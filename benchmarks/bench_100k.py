"""One hundred thousand instances: ``tusk plan`` after a 1-row change and ``tusk status``, against the same
commands at a tenth of the fleet in the same run (so the ratio says whether they grow linearly: ~10x).

The fleet is two specs of N/2 instances each over N/2 customers (``a-{customer}`` reads a customer's rows,
``b-{customer}`` their labels): tusk refuses a matrix of more than 50,000 instances per spec (a guard against a
matrix query gone wrong, issue "Hostile input"), and a fleet this size is several kinds of model per customer.

Training 100,000 models takes hours, so the registry is **seeded through the tracker port**: each instance's
state is made exactly as a run records it (its inputs read and digested at the data commit, its fingerprint,
code digest and params) and registered with ``Tracker.register``, all versions sharing one logged run. The
plan after seeding says every instance is fresh (checked), which is what a first run leaves behind. Seeding
takes ~15 min at 100,000 on 2 cores (MLflow's registry calls, ~8 ms of CPU each with the scratch store's fsyncs
and MLflow's prompt check off); ``--keep DIR`` keeps the seeded projects so the next run only copies them.

    python benchmarks/bench_100k.py [--n 100000] [--repeat 3] [--keep DIR]

Goals (issue "Ten thousand models"): at 100,000, plan <= 3 s, status <= 4 s.
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

import _project
from _project import NOOP_MODEL, env
from _project import tusk as timed  # one tusk command (a fresh process) → its wall seconds

ROWS = 2  # rows per customer
SPECS = """
[[models]]
name = "a-{customer}"
train = "models/m.py:train"
matrix.customer = "SELECT DISTINCT customer FROM examples ORDER BY customer"
inputs.examples = "SELECT id, text, label FROM examples WHERE customer = :customer ORDER BY id"

[[models]]
name = "b-{customer}"
train = "models/m.py:train"
matrix.customer = "SELECT DISTINCT customer FROM examples ORDER BY customer"
inputs.examples = "SELECT id, label FROM examples WHERE customer = :customer ORDER BY id"
"""
# Run in the project's Python: every instance's state as a run records it, registered through the port.
SEED = """
import sys, time
from pathlib import Path
from sqlalchemy import event
from sqlalchemy.engine import Engine

@event.listens_for(Engine, "connect")
def _scratch(dbapi_conn, record):  # a scratch registry: no fsync per commit (the seeding is not measured)
    cursor = dbapi_conn.cursor(); cursor.execute("PRAGMA synchronous=OFF"); cursor.close()

from mlflow.tracking.client import MlflowClient
# MLflow asks for the whole registered model before moving an alias (is it a prompt?): half of each registration
MlflowClient._raise_if_prompt = lambda self, name: None

from tusk import Project
from tusk.core.plan import Planner, input_fingerprint, rows_digest
from tusk.tracking.base import InputRecord, InstanceState, TrainRecord

root = Path(sys.argv[1])
with Project.open(root) as project:
    tracker, store = project.tracker, project.data
    tracker.ensure_ready()
    planner = Planner(project.config, store, {})
    instances = planner.instances(None)
    commit = planner.commit
    digests = {}  # (query, customer) -> InputRecord, from one ordered scan per input query
    for query in sorted({q.query for i in instances for q in i.inputs.values()}):
        columns = query.split("SELECT ", 1)[1].split(" FROM", 1)[0].split(", ")
        scan = store.query(f"SELECT customer, {', '.join(columns)} FROM examples ORDER BY customer, id", None, ref=commit)
        groups = {}
        for row in scan.rows:
            groups.setdefault(row[0], []).append(tuple(row[1:]))
        for customer, rows in groups.items():
            digests[(query, customer)] = InputRecord(query, {"customer": customer}, rows_digest(columns, rows), len(rows))
    job = root / ".tusk" / "seed"
    (job / "model").mkdir(parents=True, exist_ok=True)
    (job / "model" / "m.txt").write_text("x")
    (job / "job.log").write_text("seeded\\n")

    def record(state, run_id=None, uri=None):
        return TrainRecord(state=state, metrics={"n": 1.0}, params={}, tags={}, output_dir=job / "model",
                           log_file=job / "job.log", seconds=0.01, resources={"cpus": 1, "gpus": 0},
                           run_id=run_id, artifact_uri=uri)

    shared = None
    started = time.time()
    for count, instance in enumerate(instances, 1):
        records = {name: digests[(q.query, q.bound["customer"])] for name, q in instance.inputs.items()}
        state = InstanceState(name=instance.name, version="", fingerprint=input_fingerprint(instance, records),
                              data_commit=commit, code_digest=instance.code_digest,
                              code_files=dict(instance.code_files), params=dict(instance.params), inputs=records,
                              spec=instance.spec.name)
        if shared is None:
            shared = record(state)
            tracker.register(shared)
        else:
            tracker.register(record(state, shared.run_id, shared.artifact_uri))
        if count % 5000 == 0:
            print(f"seeded {count:,} of {len(instances):,} ({time.time() - started:.0f} s)", file=sys.stderr, flush=True)
"""


def tusk_exe() -> str:
    return str(Path(sys.executable).with_name("tusk"))


def answer(root: Path, *args: str) -> dict:
    done = subprocess.run([tusk_exe(), "-C", str(root), *args, "--json"], env=env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"tusk {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return dict(json.loads(done.stdout))


def write_rows(path: Path, customers: int, edit: bool = False) -> None:
    """ROWS rows per customer; ``edit``: one row of the fourth customer changed."""
    _project.write_rows(path, customers, ROWS * customers, edit_id=3 + customers if edit else None)


def seeded(root: Path, n: int) -> Path:
    """A project of n instances (two specs of n/2) whose registry says each is trained at the data's head."""
    customers = n // 2
    subprocess.run([tusk_exe(), "init", str(root)], check=True, env=env(), stdout=subprocess.DEVNULL)
    (root / "models").mkdir(exist_ok=True)
    (root / "models" / "m.py").write_text(NOOP_MODEL)
    with (root / "tusk.toml").open("a") as handle:
        handle.write(SPECS)
    write_rows(root / "ex.csv", customers)
    timed(root, "data", "import", str(root / "ex.csv"), "--table", "examples", "--key", "id", "-m", "load")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", SEED, str(root)], check=True, env=env())
    print(f"seeded {n:,} instances in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    summary = answer(root, "plan")["summary"]
    if summary.get("fresh") != n:
        raise SystemExit(f"the seeded registry does not plan as trained: {summary}")
    return root


def project(work: Path, keep: Path | None, n: int) -> Path:
    """A seeded project of n instances in ``work`` (copied from ``keep`` when seeded there before)."""
    target = work / f"proj-{n}"
    if keep is None:
        return seeded(target, n)
    kept = keep / f"proj-{n}"
    if not (kept / ".tusk" / "seeded").exists():
        shutil.rmtree(kept, ignore_errors=True)
        seeded(kept, n)
        (kept / ".tusk" / "seeded").write_text(time.strftime("%Y-%m-%d %H:%M"))
    shutil.copytree(kept, target, symlinks=True)
    return target


def fleet(work: Path, keep: Path | None, n: int, repeat: int) -> dict[str, float]:
    root = project(work, keep, n)
    write_rows(root / "ex1.csv", n // 2, edit=True)
    timed(
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
    out = {"plan, first after the change": timed(root, "plan", "--json")}
    out["plan"] = min(timed(root, "plan", "--json") for _ in range(repeat))
    out["status"] = min(timed(root, "status", "--json") for _ in range(repeat))
    out["models list --limit 50"] = min(timed(root, "models", "list", "--limit", "50", "--json") for _ in range(repeat))
    stale = [i["name"] for i in answer(root, "plan")["instances"] if i["status"] != "fresh"]
    if len(stale) != 2 or stale[0][2:] != stale[1][2:] or [s[:2] for s in stale] != ["a-", "b-"]:
        raise SystemExit(f"after a 1-row change the plan should retrain one customer's a- and b-, not {stale[:5]}")
    shutil.rmtree(root, ignore_errors=True)
    return out


GOALS = {"plan, first after the change": "<= 3 s", "plan": "<= 3 s", "status": "<= 4 s"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="instances (even; at most 100,000: two specs)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", default="", help="a folder where seeded projects are kept between runs")
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    keep = Path(args.keep) if args.keep else None
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="tusk-bench-100k-"))
    small_n = args.n // 10
    load = [os.getloadavg()[0]]
    try:
        small = fleet(work, keep, small_n, args.repeat)
        load.append(os.getloadavg()[0])
        big = fleet(work, keep, args.n, args.repeat)
        load.append(os.getloadavg()[0])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"| command | N={small_n:,} | N={args.n:,} | ratio (linear: 10) | goal at N={args.n:,} |\n|---|---|---|---|---|"
    )
    for name, value in big.items():
        print(f"| {name} | {small[name]:.2f} s | {value:.2f} s | {value / small[name]:.1f} | {GOALS.get(name, '')} |")
    print(f"load average (1 min) during the run: {', '.join(f'{x:.1f}' for x in load)}")
    if args.out:
        Path(args.out).write_text(
            json.dumps(
                {
                    "n": args.n,
                    "small": small_n,
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
