"""``tusk cost``: compute used by recorded training jobs, priced self-hosted against cloud.

Usage comes from the model versions tusk registered: each carries its job's wall time (``tusk.seconds``)
and resources (``tusk.cpus``, ``tusk.gpus``), so CPU-hours = seconds × cpus / 3600, GPU-hours likewise.
Prices come from ``[cost]`` in tusk.toml (every figure editable). The yearly projection is the average
month that had training, times twelve. Failed and cancelled jobs register no version and are not counted.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tusk.core.config import CostConfig
from tusk.tracking import tags as T
from tusk.tracking.base import VersionInfo


@dataclass
class Usage:
    jobs: int = 0
    cpu_hours: float = 0.0
    gpu_hours: float = 0.0

    def add(self, seconds: float, cpus: float, gpus: float) -> None:
        self.jobs += 1
        self.cpu_hours += seconds * cpus / 3600
        self.gpu_hours += seconds * gpus / 3600

    def to_json(self) -> dict[str, Any]:
        return {"jobs": self.jobs, "cpu_hours": round(self.cpu_hours, 6), "gpu_hours": round(self.gpu_hours, 6)}


@dataclass
class CostReport:
    total: Usage
    by_model: dict[str, Usage] = field(default_factory=dict)
    by_month: dict[str, Usage] = field(default_factory=dict)
    by_release: dict[str, Usage] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total.to_json(),
            "by_model": {k: v.to_json() for k, v in sorted(self.by_model.items())},
            "by_month": {k: v.to_json() for k, v in sorted(self.by_month.items())},
            "by_release": {k: v.to_json() for k, v in self.by_release.items()},
            "table": self.rows,
            "assumptions": self.assumptions,
        }


def _float(text: str | None, default: float) -> float:
    try:
        return float(text) if text not in (None, "") else default
    except ValueError:
        return default


def collect(versions: Sequence[VersionInfo], releases: Mapping[str, Mapping[str, str]]) -> CostReport:
    """Usage per model, month and release from registered versions."""
    report = CostReport(total=Usage())
    by_version: dict[tuple[str, str], Usage] = {}
    for version in versions:
        tags = version.tags
        if T.SECONDS not in tags:
            continue
        seconds, cpus, gpus = _float(tags[T.SECONDS], 0), _float(tags.get(T.CPUS), 1), _float(tags.get(T.GPUS), 0)
        month = time.strftime("%Y-%m", time.localtime(version.created_ms / 1000))
        for bucket in (
            report.total,
            report.by_model.setdefault(version.name, Usage()),
            report.by_month.setdefault(month, Usage()),
            by_version.setdefault((version.name, version.version), Usage()),
        ):
            bucket.add(seconds, cpus, gpus)
    for md5, manifest in releases.items():
        usage = Usage()
        for name, number in manifest.items():
            held = by_version.get((name, str(number)))
            if held:
                usage.jobs += held.jobs
                usage.cpu_hours += held.cpu_hours
                usage.gpu_hours += held.gpu_hours
        report.by_release[md5] = usage
    return report


def owned_gpus(report: CostReport, cost: CostConfig, largest_job: float = 0.0) -> tuple[int, str]:
    """GPUs a self-hosted setup would buy, and why: ``[cost] owned_gpus``, else what the recorded jobs used
    (a CPU-only project is priced without GPUs)."""
    if cost.owned_gpus is not None:
        return cost.owned_gpus, "set in [cost] owned_gpus"
    if report.total.gpu_hours <= 0:
        return 0, "no recorded job used a GPU; set owned_gpus in [cost] to price some"
    count = max(1, math.ceil(largest_job))
    return count, "the most one recorded job asked for; set owned_gpus in [cost] to change it"


def price(report: CostReport, cost: CostConfig, largest_job: float = 0.0) -> None:
    """The article's table: fixed, variable per year, year 1 and year 2 (cumulative), per option."""
    gpus, why = owned_gpus(report, cost, largest_job)
    months = max(1, len(report.by_month))
    gpu_year = report.total.gpu_hours / months * 12
    cpu_year = report.total.cpu_hours / months * 12
    power = (gpu_year * cost.gpu_watts + cpu_year * cost.cpu_watts) / 1000 * cost.power_price_kwh
    fixed = gpus * cost.gpu_hardware_price + cost.cpu_hardware_price
    self_variable = power + cost.self_hosted_yearly
    cloud_variable = gpu_year * cost.cloud_gpu_hour + cpu_year * cost.cloud_cpu_hour
    options = [("self-hosted", fixed, self_variable), ("cloud", 0.0, cloud_variable)]
    if cost.hosted_platform_year:
        options.append(("hosted platform", 0.0, cost.hosted_platform_year))
    report.rows = [
        {
            "option": name,
            "fixed": round(f, 2),
            "variable_per_year": round(v, 2),
            "year_1": round(f + v, 2),
            "year_2": round(f + 2 * v, 2),
            "amortised_per_year": round(f / max(cost.hardware_life_years, 1e-9) + v, 2),
        }
        for name, f, v in options
    ]
    report.assumptions = [
        f"usage per year: {gpu_year:.2f} GPU-hours, {cpu_year:.2f} CPU-hours "
        f"(the average of {months} month(s) with training, times 12)",
        f"self-hosted fixed: {gpus} GPU(s) ({why}) at {cost.currency}{cost.gpu_hardware_price:,.0f} each, plus "
        f"a {cost.currency}{cost.cpu_hardware_price:,.0f} host, bought in year 1, lasting "
        f"{cost.hardware_life_years:g} years (amortised column)",
        f"self-hosted variable: power at {cost.gpu_watts:g} W per GPU and {cost.cpu_watts:g} W per CPU, "
        f"{cost.currency}{cost.power_price_kwh}/kWh, plus {cost.currency}{cost.self_hosted_yearly:,.0f}/year "
        "for hosted services (e.g. the data remote)",
        f"cloud: {cost.currency}{cost.cloud_gpu_hour}/GPU-hour, {cost.currency}{cost.cloud_cpu_hour}/CPU-hour, "
        "billed for the hours used",
        "only successful jobs are recorded; failed and retried attempts add real cost not shown here",
        "edit any figure in [cost] of tusk.toml",
    ]


def cost_report(
    versions: Sequence[VersionInfo], releases: Mapping[str, Mapping[str, str]], cost: CostConfig
) -> CostReport:
    """The whole report from every registered version and every release's manifest (md5 → manifest)."""
    report = collect(versions, releases)
    largest = max((_float(v.tags.get(T.GPUS), 0) for v in versions), default=0.0)
    price(report, cost, largest)
    return report
