"""``ctx.shared``: a spec's ``setup`` function, called once per worker process, not once per job.

A spec with ``setup = "models/adapter.py:load_base"`` gets, in every job, the value that function returned
in the job's worker process: loading a base model once per worker instead of once per job is most of the
cost of a fleet of small adapters. The value is kept per setup function, per version of every model the
spec needs and per device, so a new base version is loaded again; only the newest value per setup function
is kept (an old base is not held in memory). A setup that raises fails the job it ran for (its traceback in
that job's log) and is called again by the next job.

On a local worker the value lives in the long-lived worker process. Where each attempt runs in a forked
child (Ray), ``prepare`` is called in the parent before the fork, so every child inherits the value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tusk.job.context import NeededModel, SetupContext

Loader = Callable[[Path, str], Callable[..., Any]]  # (root, "file.py:function") → the function

_SHARED: dict[str, tuple[tuple[Any, ...], Any]] = {}  # setup entry → (key, value): the newest only
CALLS: list[str] = []  # setup entries called in this process, in order (for tests and the worker's log)


def needed_models(payload: Mapping[str, Any]) -> dict[str, NeededModel]:
    """The versions a job's payload hands it (``payload["needs"]``: name → the version's fields)."""
    out = {}
    for key, need in (payload.get("needs") or {}).items():
        out[key] = NeededModel(
            name=need["name"],
            version=str(need["version"]),
            path=Path(need["path"]),
            fingerprint=need["fingerprint"],
            metrics=dict(need.get("metrics") or {}),
        )
    return out


def shared_value(root: Path, payload: Mapping[str, Any], device: str, load: Loader) -> Any:
    """The value of the payload's ``setup`` in this process: called now unless it was for the same key."""
    entry = payload.get("setup")
    if not entry:
        return None
    needs = needed_models(payload)
    key = (str(root), device, tuple(sorted((k, n.name, n.version, n.fingerprint) for k, n in needs.items())))
    held = _SHARED.get(entry)
    if held is not None and held[0] == key:
        return held[1]
    _SHARED.pop(entry, None)  # the old value goes before the new one is made (one base in memory at a time)
    function = load(root, entry)
    CALLS.append(entry)
    value = function(SetupContext(spec=str(payload.get("spec") or payload.get("name", "")), needs=needs, device=device))
    _SHARED[entry] = (key, value)
    return value


def forget() -> None:
    """Drop every value (a test's fresh start)."""
    _SHARED.clear()
    CALLS.clear()
