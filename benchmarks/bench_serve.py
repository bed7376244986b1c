"""``tusk serve`` of a whole release against ``mlflow models serve`` of one of its models, in the same run, on the
intents example (N customers, one scikit-learn model each) and on the adapters example (one transformer base and a
LoRA adapter per customer):

- memory: the server's summed PSS (the process tree, /proc/PID/smaps_rollup) with every model loaded, against one
  ``mlflow models serve`` process measured and multiplied by N (MLflow serves one model per process: N models are
  N processes; one is measured, not N started);
- cold start to ready (``/health``, every model loaded: ``--preload``; and lazily) against MLflow's to ``/ping``;
- the first request to a model not loaded yet (lazy server; for adapters the first one also loads the base, a second
  adapter only attaches itself);
- warm p50/p99 latency and requests/s with 8 concurrent clients (keep-alive, one row per request) on one model,
  against MLflow's server of that model; and across every model in turn (reported);
- the time from ``tusk release rollback`` (the command started) to the first answer of the rolled-back version from
  a running server following the current release.

    python benchmarks/bench_serve.py [--n 100] [--adapters 100] [--requests 1600] [--only intents|adapters]
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _project import env, tusk_exe, tusk_out

CLIENTS = 8
INTENTS_BODY = {"dataframe_split": {"columns": ["text"], "data": [["where is my order"]]}}
ADAPTERS_BODY = {"inputs": ["where is my parcel"]}


# ----- the projects -----------------------------------------------------------------------------------------------
def rows_for(customers: int, routed: bool) -> list[tuple[int, str, str, str]]:
    """The intents example's utterances for ``customers`` customers (c000, c001, ...: the 20 customers' wordings
    in turn); ``routed``: each files one intent under another, as the adapters example's customers do."""
    from tusk.project.scaffold import CUSTOMERS, INTENTS, intent_rows

    by_customer: dict[str, list[tuple[str, str]]] = {}
    for _, customer, text, label in intent_rows():
        by_customer.setdefault(customer, []).append((text, label))
    intents = list(INTENTS)
    out = []
    for i in range(customers):
        source, target = intents[i % len(intents)], intents[(i + 3) % len(intents)]
        for text, label in by_customer[CUSTOMERS[i % len(CUSTOMERS)]]:
            label = target if routed and label == source else label
            out.append((len(out) + 1, f"c{i:03d}", text, label))
    return out


def build(work: Path, example: str, customers: int) -> tuple[Path, float]:
    """A trained project of ``example`` for ``customers`` customers, with a release; → (root, training seconds)."""
    root = work / example
    tusk_out(work, "init", str(root), "--example", example)
    with (root / "data" / "examples.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "customer", "text", "label"])
        writer.writerows(rows_for(customers, routed=example == "adapters"))
    config = (root / "tusk.toml").read_text()
    (root / "tusk.toml").write_text(re.sub(r"(?m)^builder *=.*$", 'builder = "none"', config))
    tusk_out(root, "data", "import", str(root / "data" / "examples.csv"), "--table", "examples", "--key", "id")
    started = time.perf_counter()
    tusk_out(root, "run")
    trained = time.perf_counter() - started
    tusk_out(root, "release", "create", "--no-build")
    tusk_out(root, "release", "build")  # the context: a folder per model, what MLflow's server is given
    return root, trained


def current(root: Path) -> dict[str, Any]:
    releases = json.loads(tusk_out(root, "release", "list", "--json"))["releases"]
    found: dict[str, Any] = next(r for r in releases if r["current"])
    return found


# ----- processes and their memory ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tree(pid: int) -> list[int]:
    out = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            out.extend(tree(int(child)))
    return out


def pss_mb(pid: int) -> float:
    """Summed PSS of the process and its descendants, in MB."""
    total = 0
    for one in tree(pid):
        try:
            text = Path(f"/proc/{one}/smaps_rollup").read_text()
        except OSError:
            continue
        match = re.search(r"^Pss:\s+(\d+) kB", text, re.M)
        total += int(match.group(1)) if match else 0
    return total / 1024


class Server:
    """A server process; ``ready`` seconds from its start to its health path answering 200."""

    def __init__(self, command: list[str], cwd: Path, health: str) -> None:
        self.port = free_port()
        self.log = cwd / f"server-{self.port}.log"
        started = time.perf_counter()
        path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"  # MLflow's server execs uvicorn
        self.proc = subprocess.Popen(
            [*command, "--port", str(self.port)],
            cwd=cwd,
            env=env() | {"PATH": path},
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{command[0]} exited: {self.log.read_text()[-2000:]}")
            try:
                if request(self.port, "GET", health)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            raise SystemExit(f"{' '.join(command)}: not ready in 900 s")
        self.ready = time.perf_counter() - started

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def request(port: int, method: str, path: str, body: Any = None) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        data = json.dumps(body).encode() if body is not None else None
        connection.request(method, path, body=data, headers={"Content-Type": "application/json"})
        answer = connection.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        connection.close()


def load(port: int, paths: list[str], body: Any, total: int) -> dict[str, float]:
    """``total`` requests from 8 clients (keep-alive), each sending the paths in turn → p50, p99 (ms), req/s."""
    data = json.dumps(body).encode()
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        mine = []
        for turn in range(total // CLIENTS):
            path = paths[(number + turn * CLIENTS) % len(paths)]
            started = time.perf_counter()
            connection.request("POST", path, body=data, headers={"Content-Type": "application/json"})
            answer = connection.getresponse()
            answer.read()
            mine.append(time.perf_counter() - started)
            if answer.status != 200:
                failures.append(f"{path}: {answer.status}")
        connection.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, e.g. {failures[:3]}")
    latencies.sort()
    return {
        "p50": 1000 * statistics.median(latencies),
        "p99": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "rps": len(latencies) / wall,
    }


def timed_post(port: int, path: str, body: Any) -> float:
    started = time.perf_counter()
    status, _, text = request(port, "POST", path, body)
    if status != 200:
        raise SystemExit(f"{path}: {status} {text[:300]!r}")
    return time.perf_counter() - started


# ----- one example ------------------------------------------------------------------------------------------------
def measure(work: Path, example: str, customers: int, total: int) -> dict[str, Any]:
    body = ADAPTERS_BODY if example == "adapters" else INTENTS_BODY
    root, trained = build(work, example, customers)
    release = current(root)
    names = sorted(release["models"])
    served = [n for n in names if n != "base"]
    one, two = served[0], served[1]
    tusk = [tusk_exe(), "-C", str(root), "serve"]
    out: dict[str, Any] = {"example": example, "models": len(names), "trained_s": trained, "one": one}

    # every model loaded before /health: memory, cold start, warm latency on one model and across all of them
    full = Server([*tusk, "--preload"], work, "/health")
    try:
        out["tusk_ready_s"] = full.ready
        for name in names:
            timed_post(full.port, f"/models/{name}/invocations", body)
        out["tusk_pss_mb"] = pss_mb(full.proc.pid)
        load(full.port, [f"/models/{one}/invocations"], body, 80)  # warm-up
        out["tusk_one"] = load(full.port, [f"/models/{one}/invocations"], body, total)
        out["tusk_all"] = load(full.port, [f"/models/{n}/invocations" for n in served], body, total)
    finally:
        full.stop()

    # MLflow's own server of the same model (its folder of the release context), one process
    folder = root / ".tusk" / "releases" / release["md5"] / "models" / one
    mlflow = [str(Path(sys.executable).with_name("mlflow")), "models", "serve", "-m", str(folder)]
    theirs = Server([*mlflow, "--env-manager", "local", "--host", "127.0.0.1"], work, "/ping")
    try:
        out["mlflow_ready_s"] = theirs.ready
        timed_post(theirs.port, "/invocations", body)
        out["mlflow_pss_mb"] = pss_mb(theirs.proc.pid)
        load(theirs.port, ["/invocations"], body, 80)
        out["mlflow_one"] = load(theirs.port, ["/invocations"], body, total)
    finally:
        theirs.stop()
    if example == "adapters":
        adapter_files = folder.parent.glob("adapter-*")
        out["adapters_files_mb"] = sum(p.stat().st_size for f in adapter_files for p in f.rglob("*") if p.is_file())
        out["adapters_files_mb"] /= 1024 * 1024

    # lazily: ready at once; the first request to a model loads it; then a rollback reaching the running server
    lazy = Server(tusk, work, "/health")
    try:
        out["tusk_lazy_ready_s"] = lazy.ready
        out["first_s"] = timed_post(lazy.port, f"/models/{one}/invocations", body)
        out["first_second_s"] = timed_post(lazy.port, f"/models/{two}/invocations", body)
        out["warm_s"] = statistics.median(timed_post(lazy.port, f"/models/{one}/invocations", body) for _ in range(9))
        out["rollback_s"], out["rollback_command_s"] = rollback(root, lazy.port, one, body, release["md5"])
    finally:
        lazy.stop()
    return out


def rollback(root: Path, port: int, one: str, body: Any, first_md5: str) -> tuple[float, float]:
    """A new version of ``one`` released (and served), then ``tusk release rollback``: → seconds from the command's
    start to the first answer of the rolled-back release, and to the command's own end."""
    tusk_out(root, "run", "--force", "--only", one)
    tusk_out(root, "release", "create", "--no-build")
    second = current(root)["md5"]
    deadline = time.monotonic() + 60
    while request(port, "POST", f"/models/{one}/invocations", body)[1].get("x-tusk-release") != second:
        if time.monotonic() > deadline:
            raise SystemExit("the running server did not reach the new release in 60 s")
        time.sleep(0.05)
    command = subprocess.Popen(
        [tusk_exe(), "-C", str(root), "release", "rollback"], env=env(), stdout=subprocess.DEVNULL
    )
    started = time.perf_counter()
    try:
        while True:
            status, headers, _ = request(port, "POST", f"/models/{one}/invocations", body)
            if status == 200 and headers.get("x-tusk-release") == first_md5:
                answered = time.perf_counter() - started
                command.wait()
                return answered, time.perf_counter() - started
            if time.perf_counter() - started > 60:
                raise SystemExit("the rolled-back release was not served in 60 s")
            time.sleep(0.01)
    finally:
        command.wait()


# ----- the table --------------------------------------------------------------------------------------------------
def rows(m: dict[str, Any], n: int) -> list[str]:
    t1, m1, ta = m["tusk_one"], m["mlflow_one"], m["tusk_all"]
    label = f"{m['example']}, {m['models']} models"
    times_n = m["mlflow_pss_mb"] * n
    out = [
        f"| {label}: memory, every model loaded (summed PSS) | {m['tusk_pss_mb']:.0f} MB | one `mlflow models serve` "
        f"{m['mlflow_pss_mb']:.0f} MB, ×{n} = {times_n:.0f} MB (measured once, multiplied) "
        f"| **{m['tusk_pss_mb'] / times_n:.3f}** |",
    ]
    if "adapters_files_mb" in m:
        floor = m["mlflow_pss_mb"] + m["adapters_files_mb"]
        out.append(
            f"| {label}: same, against one base served plus the adapters' own files | {m['tusk_pss_mb']:.0f} MB "
            f"| {m['mlflow_pss_mb']:.0f} + {m['adapters_files_mb']:.1f} MB | **{m['tusk_pss_mb'] / floor:.2f}** "
            f"(goal ≤ 1.5) |"
        )
    out += [
        f"| {label}: cold start to ready, every model loaded (`--preload`) | {m['tusk_ready_s']:.1f} s "
        f"| MLflow, 1 model: {m['mlflow_ready_s']:.1f} s | {m['tusk_ready_s'] / m['mlflow_ready_s']:.2f} |",
        f"| {label}: cold start to ready, lazy | {m['tusk_lazy_ready_s']:.1f} s | MLflow, 1 model: "
        f"{m['mlflow_ready_s']:.1f} s | {m['tusk_lazy_ready_s'] / m['mlflow_ready_s']:.2f} |",
        f"| {label}: first request to an unloaded model; a second model | {1000 * m['first_s']:.0f} ms; "
        f"{1000 * m['first_second_s']:.0f} ms | the same model warm: {1000 * m['warm_s']:.1f} ms "
        f"| {m['first_s'] / m['warm_s']:.0f}; {m['first_second_s'] / m['warm_s']:.0f} |",
        f"| {label}: warm p50 / p99, 8 clients, one model | {t1['p50']:.1f} / {t1['p99']:.1f} ms "
        f"| MLflow {m1['p50']:.1f} / {m1['p99']:.1f} ms | {t1['p50'] / m1['p50']:.2f} / "
        f"**{t1['p99'] / m1['p99']:.2f}** (goal ≤ 1.2) |",
        f"| {label}: requests/s, 8 clients, one model | {t1['rps']:.0f} | MLflow {m1['rps']:.0f} "
        f"| {t1['rps'] / m1['rps']:.2f} |",
        f"| {label}: warm p50 / p99 and requests/s, 8 clients, every model in turn | {ta['p50']:.1f} / "
        f"{ta['p99']:.1f} ms, {ta['rps']:.0f}/s | MLflow one model {m1['p50']:.1f} / {m1['p99']:.1f} ms, "
        f"{m1['rps']:.0f}/s | {ta['p99'] / m1['p99']:.2f} (p99) |",
        f"| {label}: `tusk release rollback` to the first answer of the rolled-back release | "
        f"{m['rollback_s']:.2f} s | the command itself (to its exit) {m['rollback_command_s']:.2f} s "
        f"| {m['rollback_s'] / m['rollback_command_s']:.2f} |",
    ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100, help="customers of the intents example")
    parser.add_argument("--adapters", type=int, default=100, help="adapters on the one base")
    parser.add_argument("--requests", type=int, default=1600, help="requests per load measurement")
    parser.add_argument("--only", choices=("intents", "adapters"))
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tusk-bench-serve-"))
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    results = []
    try:
        for example, n in (("intents", args.n), ("adapters", args.adapters)):
            if args.only and example != args.only:
                continue
            measured = measure(work, example, n, args.requests)
            results.append(measured)
            print(f"# {example}: {measured['models']} models trained in {measured['trained_s']:.0f} s", flush=True)
            print("\n".join(rows(measured, n)), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    print(f"# load average before {' '.join(load_before)}, after {' '.join(load_after)}")
    if args.json:
        args.json.write_text(json.dumps({"load": [load_before, load_after], "results": results}, indent=2))


if __name__ == "__main__":
    main()
