"""tusk and DVC side by side on the same workload: N customers x 20 rows, one model per customer, the same
pandas train function (``peers/trainfn.py``).

DVC gets what its docs recommend for this shape: one CSV per customer and one ``foreach`` stage per customer
(``peers/dvc.yaml``), run by ``dvc repro`` (sequential, as DVC runs a pipeline). tusk gets one table in its
data store and one ``[[models]]`` entry with a matrix over the customers. For each N both tools are timed,
one after the other in this one script, on:

    first run            dvc repro                    tusk run
    after a 1-row edit   dvc status                   tusk plan
    1-model retrain      dvc repro                    tusk run
    nothing to do        dvc repro                    tusk run

and, at the largest N both run, status/plan against the number of changed rows (spread over customers).
The last three (an edit, then the three commands) are repeated ``--repeat`` times, each with another label on
the edited row, the two tools' commands alternated (tusk plan, dvc status, tusk run, dvc repro, ...: both see
the same load on a shared machine); the figure is the median, every sample and the load are in the JSON.
DVC's first run grows faster than linearly (each stage costs more as the pipeline grows): above
``--dvc-cap`` customers only its first ``--dvc-stages`` stages run, and the whole run is extrapolated from
their measured per-stage times (a straight line fitted to stage time against stage number, summed to N);
the remaining stages' outputs are then made by the same script and committed with ``dvc commit`` (untimed),
so the later commands run on a complete pipeline. The extrapolation is checked against a measured full run
at the largest N at or under the cap (the JSON says by how much it missed).

    python benchmarks/bench_peers.py [--sizes 10,100,1000] [--tusk-only 10000] [--out FILE]

DVC comes from its own virtualenv (``make bench`` makes ``.venv-dvc``; or set TUSK_BENCH_DVC to a ``dvc``),
never from the project's dependencies. The stages run the same Python (and pandas) as tusk's jobs. tusk's own
package is byte-compiled first (``--no-compile`` skips it), as ``pip install`` leaves both tools: an editable
checkout run with PYTHONDONTWRITEBYTECODE set (this machine's environment) would otherwise compile tusk's
modules again in every process, which DVC's installed package never does.
Writes a JSON of every figure (plots: ``benchmarks/plot_peers.py``) and prints a table.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _project import env

HERE = Path(__file__).resolve().parent
PEERS = HERE / "peers"
ROWS_PER_CUSTOMER = 20
EDITED_CUSTOMER = 3  # the customer whose row the 1-row change edits
MODEL_BLOCK = """
[[models]]
name = "m-{customer}"
train = "models/m.py:train"
code = ["models/*.py"]
matrix.customer = "SELECT DISTINCT customer FROM examples ORDER BY customer"
inputs.examples = "SELECT id, text, label FROM examples WHERE customer = :customer ORDER BY id"
"""


def dvc_exe() -> str:
    found = os.environ.get("TUSK_BENCH_DVC") or str(HERE.parent / ".venv-dvc" / "bin" / "dvc")
    if not Path(found).is_file():
        sys.exit(f"no DVC at {found}: run `make bench` (it makes .venv-dvc) or set TUSK_BENCH_DVC")
    return found


def tool_env() -> dict[str, str]:
    """tusk's venv first on PATH: DVC's stages run `python` with the same pandas as tusk's jobs."""
    e = env()
    e.update(DVC_NO_ANALYTICS="1", PATH=f"{Path(sys.executable).parent}:{e.get('PATH', '')}")
    return e


def timed(cmd: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=tool_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 3):
        raise SystemExit(f"{' '.join(cmd[:4])} failed in {cwd}: {done.stderr.strip()[-500:]}")
    return seconds


def customer(c: int) -> str:
    return f"c{c:05d}"


def row(i: int, n: int, edited: set[int], mark: str = "") -> tuple[int, str, str, str]:
    return i, customer(i % n), f"text {i} word{i % 7} word{i % 11}", f"lQ{mark}" if i in edited else f"l{i % 2}"


# ----- the DVC project -----------------------------------------------------------------------------------
def dvc_project(root: Path, n: int) -> Path:
    root.mkdir(parents=True)
    for name in ("trainfn.py", "dvc_train.py", "dvc.yaml"):
        shutil.copy(PEERS / name, root / name)
    write_dvc_data(root, n, set(), range(n))
    (root / "params.yaml").write_text("customers:\n" + "".join(f"  - {customer(c)}\n" for c in range(n)))
    subprocess.run([dvc_exe(), "init", "--no-scm", "-q"], cwd=root, env=tool_env(), check=True)
    subprocess.run([dvc_exe(), "config", "core.analytics", "false"], cwd=root, env=tool_env(), check=True)
    return root


def write_dvc_data(root: Path, n: int, edited: set[int], customers: Any, mark: str = "") -> None:
    (root / "data").mkdir(exist_ok=True)
    for c in customers:
        with (root / "data" / f"{customer(c)}.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "text", "label"])
            writer.writerows(r[:1] + r[2:] for r in (row(k * n + c, n, edited, mark) for k in range(ROWS_PER_CUSTOMER)))


def dvc_first_run(root: Path, n: int, cap: int, stages: int) -> dict[str, Any]:
    """The whole ``dvc repro`` when n <= cap; otherwise its first ``stages`` stages, extrapolated to n."""
    dvc = dvc_exe()
    if n <= cap:
        seconds = timed([dvc, "repro", "-q"], root)
        return {"seconds": seconds, "extrapolated": False, "per_stage": stage_times(root, n, seconds)}
    targets = [f"train@{customer(c)}" for c in range(stages)]
    measured = timed([dvc, "repro", "-q", *targets], root)
    per_stage = stage_times(root, stages, measured)
    estimate = extrapolate(per_stage, n)
    finish_dvc(root, n, stages)
    return {
        "seconds": estimate,
        "extrapolated": True,
        "measured_stages": stages,
        "measured_seconds": measured,
        "per_stage": per_stage,
    }


def stage_times(root: Path, count: int, total: float) -> list[float]:
    """Each stage's finish time from its metrics file (DVC leaves an uncached metric file as the stage wrote
    it), as seconds since the first stage finished, with the first stage's own time from the total."""
    ends = sorted((root / "metrics" / f"{customer(c)}.json").stat().st_mtime for c in range(count))
    first = total - (ends[-1] - ends[0])  # process start to the first stage's end
    return [first] + [b - a for a, b in zip(ends, ends[1:])]


def extrapolate(per_stage: list[float], n: int) -> float:
    """The first stage as measured, then a least-squares line through stage time against stage number, summed
    over stages 2..n (the line never goes below the mean of the last tenth measured)."""
    ks = list(range(2, len(per_stage) + 1))
    ys = per_stage[1:]
    mean_k, mean_y = sum(ks) / len(ks), sum(ys) / len(ys)
    slope = sum((k - mean_k) * (y - mean_y) for k, y in zip(ks, ys)) / sum((k - mean_k) ** 2 for k in ks)
    intercept = mean_y - slope * mean_k
    floor = sum(ys[-max(1, len(ys) // 10) :]) / max(1, len(ys) // 10)
    line = sum(max(intercept + slope * k, floor if k > len(per_stage) else 0.0) for k in range(2, n + 1))
    return per_stage[0] + line


def finish_dvc(root: Path, n: int, done: int) -> None:
    """The outputs of the stages not run, made by the same script in one process, then committed (untimed)."""
    code = (
        "import runpy, sys\n"
        f"for c in range({done}, {n}):\n"
        "    sys.argv = ['dvc_train.py', f'c{c:05d}']\n"
        "    runpy.run_path('dvc_train.py', run_name='__main__')\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=root, env=tool_env(), check=True)
    subprocess.run([dvc_exe(), "commit", "-f", "-q"], cwd=root, env=tool_env(), check=True)


# ----- the tusk project ----------------------------------------------------------------------------------
def tusk_exe() -> str:
    return str(Path(sys.executable).with_name("tusk"))


def tusk_project(root: Path, n: int) -> Path:
    subprocess.run([tusk_exe(), "init", str(root)], check=True, env=tool_env(), stdout=subprocess.DEVNULL)
    (root / "models").mkdir(exist_ok=True)
    shutil.copy(PEERS / "tusk_model.py", root / "models" / "m.py")
    shutil.copy(PEERS / "trainfn.py", root / "models" / "trainfn.py")
    with (root / "tusk.toml").open("a") as handle:
        handle.write(MODEL_BLOCK)
    write_tusk_rows(root / "all.csv", n, set(), range(n * ROWS_PER_CUSTOMER))
    tusk(root, "data", "import", "all.csv", "--table", "examples", "--key", "id", "-m", "load")
    return root


def write_tusk_rows(path: Path, n: int, edited: set[int], ids: Any, mark: str = "") -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "customer", "text", "label"])
        writer.writerows(row(i, n, edited, mark) for i in ids)


def tusk(root: Path, *args: str) -> float:
    return timed([tusk_exe(), "-C", str(root), *args], root)


def tusk_edit(root: Path, n: int, edited: set[int], mark: str = "") -> None:
    write_tusk_rows(root / "edit.csv", n, edited, sorted(edited), mark)
    tusk(
        root,
        "data",
        "import",
        "edit.csv",
        "--table",
        "examples",
        "--key",
        "id",
        "--mode",
        "upsert",
        "--yes",
        "-m",
        f"{len(edited)} rows",
    )


def dvc_edit(root: Path, n: int, edited: set[int], mark: str = "") -> None:
    write_dvc_data(root, n, edited, sorted({i % n for i in edited}), mark)


# ----- one size ------------------------------------------------------------------------------------------
def one_size(work: Path, n: int, args: argparse.Namespace, with_dvc: bool, sweep: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def note(
        tool: str, command: str, seconds: float | list[float], loads: list[float] | None = None, **more: Any
    ) -> None:
        samples = seconds if isinstance(seconds, list) else [seconds]
        figure = statistics.median(samples)
        load = statistics.median(loads) if loads else os.getloadavg()[0]
        out.append(
            {
                "tool": tool,
                "n": n,
                "command": command,
                "seconds": round(figure, 3),
                "load_1min": round(load, 2),
                **({"samples": [round(x, 3) for x in samples]} if len(samples) > 1 else {}),
                **more,
            }
        )
        spread = f" (median of {', '.join(f'{x:.2f}' for x in samples)})" if len(samples) > 1 else ""
        print(
            f"  N={n:>6} {tool:4} {command:16} {figure:8.2f} s{spread} load {load:.1f} "
            f"{'(extrapolated)' if more.get('extrapolated') else ''}",
            flush=True,
        )

    def after_edits(edits: list[Any], commands: list[tuple[str, str, Any]]) -> None:
        """``args.repeat`` times: one row of one customer gets another label in each project, then each command,
        the two tools' alternated (so both see the same load: this machine is shared)."""
        samples: dict[tuple[str, str], list[float]] = {(tool, command): [] for tool, command, _ in commands}
        loads: dict[tuple[str, str], list[float]] = {key: [] for key in samples}
        for k in range(args.repeat):
            for edit in edits:
                edit(str(k))
            for tool, command, run in commands:
                samples[(tool, command)].append(run())
                loads[(tool, command)].append(os.getloadavg()[0])
        for (tool, command), seconds in samples.items():
            note(tool, command, seconds, loads[(tool, command)])

    one = {EDITED_CUSTOMER % n + n * 5}  # one row of one customer
    tp = tusk_project(work / f"tusk-{n}", n)
    note("tusk", "first run", tusk(tp, "run", "--json"))
    edits: list[Any] = [lambda mark: tusk_edit(tp, n, one, mark)]
    commands: list[tuple[str, str, Any]] = [
        ("tusk", "status/plan", lambda: tusk(tp, "plan", "--json")),
        ("tusk", "status", lambda: tusk(tp, "status", "--json")),
        ("tusk", "1-model retrain", lambda: tusk(tp, "run", "--json")),
        ("tusk", "nothing to do", lambda: tusk(tp, "run", "--json")),
    ]
    if with_dvc:
        dp = dvc_project(work / f"dvc-{n}", n)
        first = dvc_first_run(dp, n, args.dvc_cap, args.dvc_stages)
        note("dvc", "first run", first.pop("seconds"), **first)
        edits.append(lambda mark: dvc_edit(dp, n, one, mark))
        commands[1:1] = [("dvc", "status/plan", lambda: timed([dvc_exe(), "status", "--json"], dp))]
        commands[4:4] = [("dvc", "1-model retrain", lambda: timed([dvc_exe(), "repro", "-q"], dp))]
        commands.append(("dvc", "nothing to do", lambda: timed([dvc_exe(), "repro", "-q"], dp)))
    after_edits(edits, commands)
    if sweep:
        for rows in (1, 10, 100, 1000, 10000):
            if rows > n * ROWS_PER_CUSTOMER // 2:
                break
            edited = one | set(range(rows))  # the first `rows` ids: one row each of `rows` customers (up to n)
            tusk_edit(tp, n, edited)
            note("tusk", f"plan {rows} rows", tusk(tp, "plan", "--json"), changed_rows=rows)
            if with_dvc:
                dvc_edit(dp, n, edited)
                note("dvc", f"status {rows} rows", timed([dvc_exe(), "status", "--json"], dp), changed_rows=rows)
    shutil.rmtree(tp, ignore_errors=True)
    if with_dvc:
        shutil.rmtree(dp, ignore_errors=True)
    return out


def compile_tusk() -> None:
    """tusk's package byte-compiled in place (its __pycache__ folders), as an installed package is."""
    found = subprocess.run(
        [tusk_python(), "-c", "import tusk, os; print(os.path.dirname(tusk.__file__))"],
        env=tool_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    subprocess.run(
        [tusk_python(), "-m", "compileall", "-q", found], env=tool_env(), check=True, stdout=subprocess.DEVNULL
    )


def tusk_python() -> str:
    return str(Path(tusk_exe()).with_name("python"))


def check_extrapolation(results: list[dict[str, Any]], cap: int, stages: int) -> dict[str, Any] | None:
    """How far the extrapolation lands from a measured full run: fit on its first stages, compare."""
    full = [
        r
        for r in results
        if r["tool"] == "dvc" and r["command"] == "first run" and not r["extrapolated"] and r["n"] > stages // 3
    ]
    if not full:
        return None
    best = max(full, key=lambda r: r["n"])
    head = best["per_stage"][: max(10, min(stages, best["n"] // 3))]
    predicted = extrapolate(head, best["n"])
    return {
        "n": best["n"],
        "fitted_on_stages": len(head),
        "predicted": round(predicted, 2),
        "measured": best["seconds"],
        "error": round(predicted / best["seconds"] - 1, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100,1000", help="N for both tools")
    parser.add_argument("--tusk-only", default="10000", help="N for tusk alone ('' for none)")
    parser.add_argument("--dvc-cap", type=int, default=300, help="largest N whose DVC first run is run whole")
    parser.add_argument("--dvc-stages", type=int, default=120, help="stages DVC runs above the cap")
    parser.add_argument("--sweep-at", type=int, default=1000, help="N of the changed-rows sweep")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="edits (each followed by status/plan, 1-model retrain, nothing to do) per N; median shown",
    )
    parser.add_argument("--no-compile", action="store_true", help="do not byte-compile tusk's package first")
    parser.add_argument("--out", default=str(HERE / "results" / f"peers-{time.strftime('%Y%m%d-%H%M')}.json"))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    alone = [int(s) for s in args.tusk_only.split(",") if s]
    if not args.no_compile:
        compile_tusk()
    work = Path(tempfile.mkdtemp(prefix="tusk-bench-peers-"))
    load = [os.getloadavg()[0]]
    results: list[dict[str, Any]] = []
    try:
        for n in sizes + alone:
            results += one_size(work, n, args, with_dvc=n in sizes, sweep=n == args.sweep_at or n in alone)
            load.append(os.getloadavg()[0])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = {
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "load_1min": load,
        "cpus": os.cpu_count(),
        "repeat": args.repeat,
        "compiled": not args.no_compile,
        "dvc": subprocess.run([dvc_exe(), "--version"], capture_output=True, text=True).stdout.strip(),
        "results": results,
        "extrapolation_check": check_extrapolation(results, args.dvc_cap, args.dvc_stages),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=1))
    print_table(results)
    print(f"load average (1 min) during the run: {', '.join(f'{x:.1f}' for x in load)}; figures in {args.out}")


def print_table(results: list[dict[str, Any]]) -> None:
    by = {(r["tool"], r["n"], r["command"]): r for r in results}
    print("| N | command | DVC | tusk | DVC / tusk |\n|---|---|---|---|---|")
    for n in sorted({r["n"] for r in results}):
        for command in ("first run", "status/plan", "1-model retrain", "nothing to do"):
            t, d = by.get(("tusk", n, command)), by.get(("dvc", n, command))
            if not t:
                continue
            dvc = f"{d['seconds']:.2f} s{' (extrapolated)' if d.get('extrapolated') else ''}" if d else "-"
            ratio = f"{d['seconds'] / t['seconds']:.1f}x" if d else "-"
            print(f"| {n} | {command} | {dvc} | {t['seconds']:.2f} s | {ratio} |")


if __name__ == "__main__":
    main()
