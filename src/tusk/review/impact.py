"""What merging a review would cost: per model of its blast radius, the training time its current version
took (``tusk.seconds`` × its cpus/gpus), priced at ``[cost]``'s cloud rates; a model never trained is
estimated from the other instances of its spec. Pure but for one registry read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from tusk.ports import Workspace
    from tusk.review.reviews import Review

RowCounter = Callable[[str, Sequence[str]], dict[str, int | None]]  # (branch, names) → changed rows feeding each


@dataclass
class ModelEstimate:
    name: str
    seconds: float | None  # None: nothing recorded to estimate from
    cpus: float = 1.0
    gpus: float = 0.0
    basis: str = ""  # "v3's job" | "the average of 4 intent-{customer} jobs" | "no recorded job"


@dataclass
class Estimate:
    models: list[ModelEstimate]
    workers: int
    currency: str
    cpu_hour: float
    gpu_hour: float
    unknown: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        """Training time of every job, added up."""
        return sum(m.seconds or 0.0 for m in self.models)

    @property
    def wall_seconds(self) -> float:
        """About how long the run takes with the executor's workers in parallel."""
        longest = max((m.seconds or 0.0 for m in self.models), default=0.0)
        return max(longest, self.seconds / max(1, self.workers))

    @property
    def cost(self) -> float:
        return sum((m.seconds or 0.0) / 3600 * (m.cpus * self.cpu_hour + m.gpus * self.gpu_hour) for m in self.models)

    def to_json(self) -> dict[str, Any]:
        return {
            "models": [dict(m.__dict__) for m in self.models],
            "seconds": round(self.seconds, 3),
            "wall_seconds": round(self.wall_seconds, 3),
            "cost": round(self.cost, 6),
            "currency": self.currency,
            "workers": self.workers,
            "unknown": self.unknown,
        }


def estimate(workspace: Workspace, names: list[str]) -> Estimate:
    """Time and cost of training ``names`` from what their (or their spec's) last jobs took (a name the tracker
    has no state of is planned, to find its spec)."""
    from tusk.train.planning import make_plan

    tracker = workspace.tracker
    states = tracker.states()
    spec_of = {n: states[n].spec for n in names if n in states}
    for planned in make_plan(workspace, None, check=False).instances if any(n not in states for n in names) else []:
        if planned.name in names and planned.instance is not None:
            spec_of[planned.name] = planned.instance.spec.name
    same_spec = {n for n, s in states.items() if s.spec in set(spec_of.values())}
    wanted = [(n, states[n].version) for n in set(names) | same_spec if n in states]
    infos = tracker.version_infos(wanted)
    recorded: dict[str, tuple[float, float, float]] = {}
    for (name, _), info in infos.items():
        try:
            recorded[name] = (
                float(info.tags["tusk.seconds"]),
                float(info.tags.get("tusk.cpus", 1)),
                float(info.tags.get("tusk.gpus", 0)),
            )
        except (KeyError, ValueError):
            continue
    models, unknown = [], []
    for name in names:
        if name in recorded:
            seconds, cpus, gpus = recorded[name]
            models.append(ModelEstimate(name, seconds, cpus, gpus, f"v{states[name].version}'s job"))
            continue
        peers = [recorded[n] for n in recorded if states[n].spec == spec_of.get(name)]
        if peers:
            average = [sum(p[i] for p in peers) / len(peers) for i in range(3)]
            models.append(
                ModelEstimate(
                    name, average[0], average[1], average[2], f"the average of {len(peers)} {spec_of.get(name)} job(s)"
                )
            )
        else:
            models.append(ModelEstimate(name, None, basis="no recorded job"))
            unknown.append(name)
    cost = workspace.config.cost
    return Estimate(
        models,
        _workers(workspace.config.executor.url),
        cost.currency,
        cost.cloud_cpu_hour,
        cost.cloud_gpu_hour,
        unknown,
    )


def _workers(url: str) -> int:
    try:
        return max(1, int(parse_qs(urlsplit(url).query).get("workers", ["2"])[0]))
    except ValueError:
        return 2


@dataclass
class ReviewImpact:
    """A review's blast radius for a person deciding: the review on its merge preview (plan, checks, candidates,
    conflicts), how many of its changed rows feed each model, the training time and cost, and the heads it was
    computed at (an action carries them; a head that moved refuses it)."""

    review: Review
    rows: dict[str, int | None]
    estimate: Estimate | None
    head: str
    into_head: str

    @property
    def verdicts(self) -> dict[str, Any]:
        return {m.name: m for m in self.review.models}

    def to_json(self) -> dict[str, Any]:
        return {
            "review": self.review.to_json(),
            "rows": self.rows,
            "head": self.head,
            "into_head": self.into_head,
            "estimate": self.estimate.to_json() if self.estimate else None,
        }


def review_impact(workspace: Workspace, branch: str, rows_per_model: RowCounter) -> ReviewImpact:
    """The review of ``branch`` (``reviews.show``), ``rows_per_model`` of its blast radius (approve's count, given
    by the facade) and the estimate of retraining it, at the heads read first."""
    from tusk.review.reviews import show

    store = workspace.data
    head, into_head = store.resolve(branch), store.resolve(workspace.config.data.branch)
    result = show(workspace, branch)
    names = [p["name"] for p in result.plan]
    rows = rows_per_model(branch, names) if names and not result.conflicts else {}
    return ReviewImpact(result, rows, estimate(workspace, names) if names else None, head, into_head)
