"""``tusk reproduce NAME@VERSION``: retrain a version from its recorded data commit and code commit.

The code comes from a ``git worktree`` at the recorded commit (so today's edits play no part), the data
from a read-only snapshot at the recorded data commit. The result must have the same fingerprint; the
metric deltas are reported, and the reproduction is recorded as an MLflow run tagged
``tusk.reproduces=<original run id>``. No model version is registered. A version trained from code
that was not committed cannot be reproduced exactly, and tusk says so instead of trying.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tusk._internal.git import add_worktree, remove_worktree
from tusk.core.config import Config, load_config, url_path
from tusk.core.plan import PlannedInstance
from tusk.core.spec import expand
from tusk.errors import ReproduceError as ReproduceError  # defined in errors.py's tree
from tusk.release.lineage import parse_target
from tusk.tracking import tags as T

if TYPE_CHECKING:
    from tusk.data.base import DataStore
    from tusk.execute.base import Executor
    from tusk.tracking.base import Tracker

LocalExecutorFactory = Callable[["Config"], "Executor"]  # an executor of one worker on this machine, for a config


@dataclass
class Reproduction:
    name: str
    version: str
    data_commit: str
    code_commit: str
    fingerprint: str
    recorded_fingerprint: str
    metrics: dict[str, float]
    metric_deltas: dict[str, float] = field(default_factory=dict)
    run_id: str | None = None

    @property
    def equal(self) -> bool:
        return self.fingerprint == self.recorded_fingerprint

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "fingerprint_equal": self.equal}


def _pinned_config(old_root: Path, live: Config) -> Config:
    """The recorded commit's tusk.toml, reading data and tracking from the live project's stores."""
    config = load_config(old_root / "tusk.toml")
    config.data.url = "doltlite:///" + str(url_path(live.data.url, live.root))
    return config


def reproduce(
    live: Config, data: DataStore, tracker: Tracker, local_executor: LocalExecutorFactory, target: str
) -> Reproduction:
    """Retrain ``target`` (NAME@VERSION) from its recorded commits on a local worker (``local_executor``, given the
    recorded commit's config) and record the comparison."""
    name, version = parse_target(target)
    if not version:
        raise ReproduceError("give the version to reproduce: NAME@VERSION")
    info = tracker.version(name, version)
    tags = info.tags
    if tags.get(T.CODE_DIRTY) != "false" or not tags.get(T.CODE_COMMIT):
        raise ReproduceError(
            f"{name} v{version} was trained from code that was not committed to git "
            f"({T.CODE_DIRTY}); it cannot be reproduced exactly"
        )
    code_commit, data_commit = tags[T.CODE_COMMIT], tags[T.DATA_COMMIT]
    scratch = Path(tempfile.mkdtemp(prefix="tusk-reproduce-"))
    worktree = scratch / "code"
    try:
        old_root = add_worktree(live.root, code_commit, worktree)
        config = _pinned_config(old_root, live)
        jobs_dir = scratch / "jobs"
        result = _retrain(data, config, local_executor, name, tags.get(T.SPEC, ""), data_commit, jobs_dir)
        result.code_commit, result.version = code_commit, version
        result.recorded_fingerprint = tags.get(T.FINGERPRINT, "")
        result.metric_deltas = {k: result.metrics[k] - info.metrics[k] for k in result.metrics if k in info.metrics}
        result.run_id = _record(tracker, result, info.run_id, jobs_dir / name)
        return result
    finally:
        remove_worktree(live.root, worktree)
        shutil.rmtree(scratch, ignore_errors=True)


def _retrain(
    store: DataStore,
    config: Config,
    local_executor: LocalExecutorFactory,
    name: str,
    spec_name: str,
    data_commit: str,
    jobs_dir: Path,
) -> Reproduction:
    from tusk.train import runner

    specs = [s for s in config.models if s.name == spec_name] or config.models
    config.models = specs
    instances = [
        i
        for i in expand(config, lambda sql: [r[0] for r in store.query(sql, None, ref=data_commit).rows])
        if i.name == name
    ]
    if not instances:
        raise ReproduceError(f"the code at that commit does not declare an instance named {name!r}")
    planned = PlannedInstance(name, "stale", instance=instances[0])
    job = runner.make_job(config, planned, data_commit, jobs_dir / name)
    executor = local_executor(config)
    try:
        [outcome] = list(executor.run([job]))
    finally:
        executor.close()
    if outcome.status != "succeeded":
        raise ReproduceError(f"retraining {name} failed: {outcome.error} (log: {job.log_path})")
    record = runner.train_record(planned, outcome, data_commit, ("", False), jobs_dir)
    return Reproduction(name, "", data_commit, "", record.state.fingerprint, "", record.metrics)


def _record(tracker: Tracker, result: Reproduction, original_run: str | None, job_dir: Path) -> str:
    from tusk.tracking.base import InstanceState, TrainRecord

    state = InstanceState(
        name=result.name, version=result.version, fingerprint=result.fingerprint, data_commit=result.data_commit
    )
    tags = {
        T.REPRODUCES: original_run or "",
        T.REPRODUCES_VERSION: result.version,
        T.FINGERPRINT: result.fingerprint,
        T.DATA_COMMIT: result.data_commit,
        T.CODE_COMMIT: result.code_commit,
        T.FINGERPRINT_EQUAL: str(result.equal).lower(),
    }
    record = TrainRecord(
        state=state,
        metrics=result.metrics,
        params={},
        tags=tags,
        output_dir=job_dir / "model",
        log_file=job_dir / "job.log",
        seconds=0.0,
        resources={},
    )
    return tracker.log_run(record)
