"""``tusk run`` of N no-op models against a plain sequential script making the same doltlite reads and
MLflow calls (run, params, metrics, tags, artifact, registered version, alias), in the same run.

    python benchmarks/bench_run.py [N] [BURN_MS]    (default 1000, 0; goals: ratio <= 1.3 for no-op models;
                                                   <= 0.6 for models burning 50 ms of CPU, on 2 workers)

With BURN_MS each model (and each step of the plain loop) first burns that much CPU: training on two workers
overlaps with the recording, which the recorder process does while the other jobs train.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _project import digits, env, make, tusk

PLAIN_LOOP = """
import doltlite, sqlite3, sys, time, tempfile, pathlib
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
n, uri, db, burn, width = int(sys.argv[1]), f"sqlite:///{sys.argv[2]}", sys.argv[3], float(sys.argv[4]) / 1000, int(sys.argv[5])
conn = sqlite3.connect(db); client = MlflowClient(uri, uri)
exp = client.create_experiment("base")
scratch = pathlib.Path(tempfile.mkdtemp(dir=pathlib.Path(sys.argv[2]).parent))
for k in range(n):
    end = time.process_time() + burn
    while time.process_time() < end:
        pass
    customer = f"c{k:0{width}d}"
    rows = conn.execute("select id, text, label from examples where customer=? order by id", (customer,)).fetchall()
    d = scratch / str(k); d.mkdir(); (d / "m.txt").write_text("x")
    run = client.create_run(exp); rid = run.info.run_id
    client.log_batch(rid, metrics=[Metric("n", float(len(rows)), int(time.time() * 1000), 0)],
                     params=[Param("C", "1")], tags=[RunTag("tusk.fingerprint", str(k))])
    client.log_artifacts(rid, str(d), "model"); client.set_terminated(rid)
    name = f"m-{customer}"; client.create_registered_model(name)
    v = client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=rid, tags={"f": str(k)})
    client.set_registered_model_alias(name, "production", v.version)
"""


def plain_loop(work: Path, root: Path, n: int, burn_ms: float = 0.0) -> float:
    """The plain sequential loop a user would write with MLflow's client: for each of the ``n`` customers of the
    project at ``root`` (a copy of its data store) the same doltlite read and MLflow calls (a run with params,
    metrics and a tag, its files, a registered model and version, the production alias) in a fresh MLflow store
    (SQLite's defaults), after burning ``burn_ms`` of CPU. → wall seconds. Its files go under ``work``."""
    db = work / "plain-mlflow.db"
    subprocess.run(
        ["/usr/bin/python3", "-c", f"import sqlite3; sqlite3.connect('{db}').execute('pragma user_version=0')"],
        check=True,
    )  # a plain SQLite file, as MLflow makes one (doltlite would make its own format)
    subprocess.run(
        [sys.executable, "-c", f"from mlflow import MlflowClient; MlflowClient('sqlite:///{db}').search_experiments()"],
        check=True,
        env=env(),
        capture_output=True,
    )  # the store's tables, made before the clock starts
    shutil.copy(root / "data" / "training.db", work / "plain-data.db")
    (work / "plain_loop.py").write_text(PLAIN_LOOP)
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            str(work / "plain_loop.py"),
            str(n),
            str(db),
            str(work / "plain-data.db"),
            str(burn_ms),
            str(digits(n)),
        ],
        check=True,
        env=env(),
        capture_output=True,
        cwd=work,
    )
    return time.perf_counter() - started


BURNING_MODEL = """import time

def train(ctx):
    end = time.process_time() + {burn}
    while time.process_time() < end:
        pass
    (ctx.output_dir / "m.txt").write_text("x")
    return {{"n": float(len(ctx.inputs["examples"]))}}
"""


def main(n: int, burn_ms: float = 0.0) -> None:
    work = Path(tempfile.mkdtemp(prefix="tusk-bench-run-"))
    try:
        root = make(work / "proj", n, 20 * n)
        if burn_ms:
            (root / "models" / "m.py").write_text(BURNING_MODEL.format(burn=burn_ms / 1000))
        baseline = plain_loop(work, root, n, burn_ms)
        tusk_seconds = tusk(root, "run", "--json")
        ratio = tusk_seconds / baseline
        what = f"{n} models burning {burn_ms:g} ms" if burn_ms else f"{n} no-op models"
        print(
            f"| {what} | plain loop {baseline:.1f} s | tusk run {tusk_seconds:.1f} s "
            f"| ratio {ratio:.2f} | overhead {(tusk_seconds - baseline) / n * 1000:+.1f} ms/job "
            f"| load {os.getloadavg()[0]:.1f} |"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000, float(sys.argv[2]) if len(sys.argv) > 2 else 0.0)
