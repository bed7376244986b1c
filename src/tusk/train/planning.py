"""The planner with its ports: the tracker's states and candidates, the data store, and the files it remembers
between commands (matrix values per commit, what queries parse to, which train entry points import). Kept apart
from the runner, so a ``tusk plan`` (or a page) imports no more than planning needs."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

from tusk.core.plan import Plan, Planner, needed_closure
from tusk.job.entry import check_entries
from tusk.train.plan_cache import SqlFacts

if TYPE_CHECKING:
    from tusk.ports import Workspace
    from tusk.tracking.base import Tracker


def make_plan(
    workspace: Workspace,
    at: str | None = None,
    keep_cache: bool = True,
    check: bool = False,
    pick: Callable[[list[str]], Collection[str]] | None = None,
) -> Plan:
    """The plan at ``at``; ``keep_cache=False`` for a commit that will not last (a merge preview): the matrix
    cache is read but not saved, so it never points at a commit the store loses. With ``check``, every train
    entry point is imported meanwhile (see tusk.job.entry) and a missing or broken one is refused with one line.
    ``pick`` chooses, from every name the whole plan would hold, those to plan (only their states are read).
    ``workspace``: the config, the data store read at ``at``, the tracker's states and ``.tusk/`` for the caches."""
    from tusk._internal import gc as _gc
    from tusk._internal.cache import JsonFileCache

    config, state_dir = workspace.config, workspace.state_dir
    entries = check_entries(config, state_dir / "cache" / "entries.json") if check else None
    try:
        if entries and entries.problems:  # a missing file is known at once: say so before planning
            entries.finish()
        cache = JsonFileCache(state_dir / "cache" / "matrix.json")
        tracker = workspace.tracker
        facts = SqlFacts(state_dir / "cache" / "sql.json")
        with _gc.paused():
            planner = Planner(
                config,
                workspace.data,
                {} if pick else tracker.states(),
                matrix_cache=cache,
                candidates=tracker.candidates(),
                facts=facts,
                failures=tracker.failures(),
            )
            plan = planner.plan(at) if pick is None else _plan_picked(planner, tracker, at, pick)
        facts.save()  # what queries parse to holds at any commit
        if keep_cache:
            cache.save()
    except BaseException:
        if entries:
            entries.cancel()
        raise
    if entries:
        entries.finish()
    return plan


def _plan_picked(
    planner: Planner, tracker: Tracker, at: str | None, pick: Callable[[list[str]], Collection[str]]
) -> Plan:
    """The plan of the names ``pick`` chooses among every instance and orphan (the names of registered models
    no instance has are few: only theirs and the chosen states are read)."""
    instances = planner.instances(at)
    known = {i.name for i in instances}
    orphans = tracker.states([name for name in tracker.models() if name not in known])
    chosen = set(pick([i.name for i in instances] + sorted(orphans)))
    planner.states = {
        **tracker.states(needed_closure(planner.config, chosen) & known),
        **{name: state for name, state in orphans.items() if name in chosen},
    }
    return planner.plan_instances(instances, only=chosen)
