"""Plots of a bench_peers.py result: time against N for each command and tool (log-log), and status/plan time
against the number of changed rows.

    python benchmarks/plot_peers.py [RESULT.json ...]     (default: the newest benchmarks/results/peers-*.json)

Several results (e.g. two runs of the same day) are drawn together, one marker per run, so their spread shows.
Writes benchmarks/peers-time-vs-n.png and benchmarks/peers-plan-vs-rows.png.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

HERE = Path(__file__).resolve().parent
COMMANDS = ("first run", "status/plan", "1-model retrain", "nothing to do")
TITLES = {
    "first run": "first run (dvc repro / tusk run)",
    "status/plan": "after a 1-row edit (dvc status / tusk plan)",
    "1-model retrain": "1-model retrain (dvc repro / tusk run)",
    "nothing to do": "nothing to do (dvc repro / tusk run)",
}
STYLE = {"dvc": {"color": "#945ec5", "label": "DVC"}, "tusk": {"color": "#1f7a4d", "label": "tusk"}}
MARKERS = "osD^v"
PLAIN = FuncFormatter(lambda value, _: f"{value:,.10g}")


def axes_style(ax: Any) -> None:
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(PLAIN)
        axis.set_minor_formatter(FuncFormatter(lambda value, _: ""))
    # a range within one decade has no major tick: label the minor ones at 2 and 5
    ax.yaxis.set_minor_formatter(
        FuncFormatter(lambda value, _: f"{value:g}" if f"{value:g}".lstrip("0.")[:1] in "25" else "")
    )
    ax.grid(True, which="both", alpha=0.3)


def load(paths: list[Path]) -> list[dict[str, Any]]:
    if not paths:
        found = sorted((HERE / "results").glob("peers-*.json"))
        if not found:
            sys.exit("no benchmarks/results/peers-*.json: run bench_peers.py first")
        paths = found[-1:]
    return [json.loads(p.read_text()) | {"path": p} for p in paths]


def time_vs_n(runs: list[dict[str, Any]], out: Path) -> None:
    fig, axes = plt.subplots(2, 2, figsize=(11, 8.5))
    for ax, command in zip(axes.flat, COMMANDS):
        for i, run in enumerate(runs):
            for tool, style in STYLE.items():
                rows = sorted(
                    (r for r in run["results"] if r["tool"] == tool and r["command"] == command), key=lambda r: r["n"]
                )
                if not rows:
                    continue
                ns, ts = [r["n"] for r in rows], [r["seconds"] for r in rows]
                label = f"{style['label']} ({run['when']})" if len(runs) > 1 else style["label"]
                ax.plot(ns, ts, marker=MARKERS[i % len(MARKERS)], color=style["color"], label=label, alpha=0.85)
                for r in rows:
                    if r.get("extrapolated"):
                        ax.plot(
                            [r["n"]],
                            [r["seconds"]],
                            marker=MARKERS[i % len(MARKERS)],
                            markersize=13,
                            markerfacecolor="none",
                            color=style["color"],
                        )
                        when = f" ({run['when'][11:]})" if len(runs) > 1 else ""
                        ax.annotate(
                            f"extrapolated from\n{r['measured_stages']} stages{when}",
                            (r["n"], r["seconds"]),
                            textcoords="offset points",
                            xytext=(-105, -4 - 24 * i),
                            fontsize=8,
                            color=style["color"],
                        )  # one below the other when runs are drawn together
        axes_style(ax)
        ax.set_title(TITLES[command], fontsize=10)
        ax.set_xlabel("models (customers)")
        ax.set_ylabel("seconds, whole command")
        ax.legend(fontsize=8)
    fig.suptitle(
        f"tusk and DVC, same workload (20 rows per customer, same pandas train function), "
        f"{runs[-1].get('cpus', '?')} cores",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def plan_vs_rows(runs: list[dict[str, Any]], out: Path) -> None:
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for i, run in enumerate(runs):
        sweeps = sorted({(r["tool"], r["n"]) for r in run["results"] if "changed_rows" in r})
        for tool, n in sweeps:
            rows = sorted(
                (r for r in run["results"] if r["tool"] == tool and r["n"] == n and "changed_rows" in r),
                key=lambda r: r["changed_rows"],
            )
            style = STYLE[tool]
            what = "dvc status" if tool == "dvc" else "tusk plan"
            ax.plot(
                [r["changed_rows"] for r in rows],
                [r["seconds"] for r in rows],
                marker=MARKERS[i % len(MARKERS)],
                color=style["color"],
                linestyle="-" if n <= 1000 else "--",
                label=f"{what}, {n:,} models" + (f" ({run['when']})" if len(runs) > 1 else ""),
            )
    axes_style(ax)
    ax.set_xlabel("rows changed since the last run (one per customer)")
    ax.set_ylabel("seconds, whole command")
    ax.set_title("What is stale: time against the size of the change", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main() -> None:
    runs = load([Path(p) for p in sys.argv[1:]])
    time_vs_n(runs, HERE / "peers-time-vs-n.png")
    plan_vs_rows(runs, HERE / "peers-plan-vs-rows.png")
    print(f"wrote {HERE / 'peers-time-vs-n.png'} and {HERE / 'peers-plan-vs-rows.png'}")


if __name__ == "__main__":
    main()
