"""The planner's oracle: every instance planned the slow, obvious way (the planner and workflow oracles compare
the diff-aware plan against it)."""

from __future__ import annotations

from typing import Any

import tusk  # noqa: F401  (doltlite before sqlite3)
from tusk.core.plan import read_input
from tusk.core.spec import CodeHasher, expand, fingerprint
from tusk.data.doltlite import DoltliteStore
from tusk.tracking.base import InstanceState


def oracle(config: Any, store: DoltliteStore, commit: str, states: dict[str, InstanceState]) -> dict[str, Any]:
    """Every instance planned the slow, obvious way: every matrix query and every input read in full."""

    def matrix(sql: str) -> list[Any]:
        return [row[0] for row in store.query(sql, None, ref=commit).rows]

    planned: dict[str, Any] = {}
    for instance in expand(config, matrix, CodeHasher(config.root)):
        records = {}
        for name, query in instance.inputs.items():
            records[name] = read_input(store, query, commit).record
        fp = fingerprint(
            instance.code_digest, instance.params, {k: (r.query, r.params, r.digest) for k, r in records.items()}
        )
        state = states.get(instance.name)
        if state is None:
            status, reuse = "new", None
        elif fp == state.fingerprint:
            status, reuse = "fresh", None
        elif state.fingerprints.get(fp) not in (None, state.version):
            status, reuse = "reuse", state.fingerprints[fp]
        else:
            status, reuse = "stale", None
        planned[instance.name] = {
            "status": status,
            "reuse": reuse,
            "fingerprint": fp,
            "inputs": records,
            "code": instance.code_digest,
            "params": dict(instance.params),
        }
    for name in states:
        planned.setdefault(name, {"status": "orphaned", "reuse": None, "fingerprint": None, "inputs": {}})
    return planned
