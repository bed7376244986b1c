"""Models that use other models: ``needs = ["base"]`` (or ``inputs.base = "model:base"``).

A need names another ``[[models]]`` entry with one instance (a name without ``{matrix keys}``). The needed
model's version is an input of the model that needs it: its fingerprint is part of the dependent's, so a
new base makes every adapter stale; a run trains what is needed first (in waves: every job of a wave has
what it needs); a job gets the version in ``ctx.needs``. Cycles are refused with the cycle named.

The graph, the records and the reasons are pure; ``needed_versions`` asks the tracker which version a job
gets and where its files are.
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tusk.core.config import ModelSpec
from tusk.errors import ConfigError
from tusk.tracking.base import InputRecord

if TYPE_CHECKING:
    from tusk.core.plan import PlannedInstance
    from tusk.tracking.base import Tracker

NEED_QUERY = "model:"  # the query text of a need's input record: "model:base"


def check_needs(specs: Sequence[ModelSpec]) -> list[str]:
    """The spec names in an order where each comes after what it needs; ConfigError for a need that names
    no spec, a spec with many instances, or a cycle (named: ``loop-a → loop-b → loop-a``)."""
    names = {spec.name for spec in specs}
    graph: dict[str, list[str]] = {}
    for spec in specs:
        for key, needed in spec.needs.items():
            if needed not in names:
                known = ", ".join(sorted(n for n in names if "{" not in n)) or "none"
                raise ConfigError(
                    f"model {spec.name!r}: needs.{key} = {needed!r}, but no [[models]] entry is "
                    f"named {needed!r} (models with one instance: {known})"
                )
            if "{" in needed:
                raise ConfigError(
                    f"model {spec.name!r}: needs {needed!r}, which has a matrix (many instances); a need is one model"
                )
        graph[spec.name] = sorted(set(spec.needs.values()))
    try:
        return list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        cycle = list(exc.args[1])  # [a, b, ..., a]: each needs the one before it
        raise ConfigError(
            f"models need each other in a cycle: {' → '.join(reversed(cycle))}; "
            "a model cannot need itself, even through others"
        ) from None


def waves(names: Iterable[str], needs: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """``names`` in waves: a name comes in the wave after the last of its needs that is also in ``names``
    (needs outside ``names`` are there already). Order within a wave follows ``names``."""
    todo = list(dict.fromkeys(names))
    wanted = set(todo)
    level: dict[str, int] = {}

    def depth(name: str, seen: tuple[str, ...] = ()) -> int:
        if name not in level:
            if name in seen:
                raise ConfigError(f"models need each other in a cycle: {' → '.join(seen + (name,))}")
            inner = [depth(n, seen + (name,)) + 1 for n in needs.get(name, ()) if n in wanted]
            level[name] = max(inner, default=0)
        return level[name]

    out: list[list[str]] = []
    for name in todo:
        at = depth(name)
        while len(out) <= at:
            out.append([])
        out[at].append(name)
    return [wave for wave in out if wave]


def need_record(needed: str, fingerprint: str) -> InputRecord:
    """A need as an input record: its digest is the needed version's fingerprint (so it is in the dependent's
    fingerprint, its tags and its state like any input)."""
    return InputRecord(NEED_QUERY + needed, {}, fingerprint, 0)


def is_need(record: InputRecord | Mapping[str, Any]) -> bool:
    query = record.get("query", "") if isinstance(record, Mapping) else record.query
    return str(query).startswith(NEED_QUERY)


def version_of(fingerprints: Mapping[str, str], fingerprint: str) -> str | None:
    """The version of the needed model that has ``fingerprint`` (from its state's fingerprint → version)."""
    return fingerprints.get(fingerprint)


def change_reason(key: str, before: str | None, after: str, planned: str, had: bool = True) -> str:
    """Why a need made its dependent stale: ``base: retrained (v3 → v4)``.

    ``before`` is the version the dependent was trained against (None: unknown), ``after`` the version it
    will get ("" while the needed model is to be trained in this run), ``planned`` the needed model's own
    status in the plan, ``had``: whether the dependent was trained with this need at all."""
    if not had:
        return f"{key}: newly needed" + (f" (v{after})" if after else "")
    old = f"v{before}" if before else "an older version"
    if planned in ("stale", "new"):
        return f"{key}: retrained ({old} → next version, trained first)"
    if planned == "reuse":
        return f"{key}: went back ({old} → v{after})"
    return f"{key}: retrained ({old} → v{after})"


class Outcome(Protocol):  # what needed_versions reads of a job that ran before (runner.JobOutcome)
    name: str
    status: str
    error: str


def needed_versions(
    tracker: Tracker, planned: PlannedInstance, earlier: Iterable[Outcome], copies: Path
) -> tuple[dict[str, dict[str, Any]], str | None]:
    """The versions a job needs (the one trained earlier in this run, else the current one) as its payload's
    ``needs``, or why it cannot run: what it needs failed, was cancelled or skipped, or has no version."""
    wanted = planned.instance.spec.needs if planned.instance else {}
    if not wanted:
        return {}, None
    done = {job.name: job for job in earlier}
    states = tracker.states()
    payload: dict[str, dict[str, Any]] = {}
    for key, needed in sorted(wanted.items()):
        outcome = done.get(needed)
        if outcome is not None and outcome.status not in ("succeeded", "reused"):
            return {}, f"{needed} {outcome.status}: {outcome.error.removeprefix('skipped: ') or outcome.status}"
        state = states.get(needed)
        if state is None or not state.version:
            return {}, f"{needed} has no version yet"
        info = tracker.version(needed, state.version)
        payload[key] = {
            "name": needed,
            "version": state.version,
            "fingerprint": state.fingerprint,
            "path": str(version_folder(tracker, info.source, needed, state.version, copies)),
            "metrics": dict(info.metrics),
        }
    return payload, None


def version_folder(tracker: Tracker, source: str, name: str, version: str, copies: Path) -> Path:
    """A version's model files on this machine: the tracker's own folder when it is local, else a copy made
    once under ``copies``."""
    from urllib.parse import unquote, urlsplit

    if source.startswith("file:"):
        local = Path(unquote(urlsplit(source).path))
        if local.is_dir():
            return local
    folder = copies / name / version
    if not folder.is_dir():
        tracker.download(name, version, folder)
    return folder
