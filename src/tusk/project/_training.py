"""Project's training commands: plan, run (with progress events and a cancel handle), status, models, logs,
watch and the CI workflow."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tusk.ports import RunCancel
from tusk.project._base import ProjectBase

if TYPE_CHECKING:
    from tusk.core.plan import Plan
    from tusk.execute.base import EventHandler
    from tusk.project.results import ModelList, ModelVersions, Promoted, RolledBack, Status, Watched, Workflow
    from tusk.train.logs import JobLog
    from tusk.train.runner import JobOutcome, RunReport


class TrainingMethods(ProjectBase):
    """What ``tusk plan | run | status | models | logs | watch | ci`` call."""

    def plan(self, at: str | None = None, check: bool = True) -> Plan:
        """Which instances are new, stale, fresh, reusable or orphaned at ``at`` (default: the data branch).

        ``at`` a branch other than the data branch plans the merge preview: what merging it would retrain.
        With ``check``, a train entry point that is missing or does not import is refused (ConfigError)."""
        from tusk.train.planning import make_plan

        if not self.is_review_branch(at):
            return make_plan(self.workspace, at, check=check)
        assert at is not None
        with self.merge_preview(at) as preview:
            plan = make_plan(self.workspace, preview.commit, keep_cache=preview.persists, check=check)
        plan.ref, plan.preview = at, preview
        return plan

    def training_ref(self, at: str | None) -> str | None:
        """The ref a run at ``at`` trains from: a review branch only when it merges without a merge commit."""
        from tusk.review.reviews import training_ref

        return training_ref(self.data, self.config, at)

    def run(
        self,
        at: str | None = None,
        only: str | None = None,
        shard: str | tuple[int, int] | None = None,
        workers: int | None = None,
        force: bool = False,
        candidates: bool = False,
        *,
        on_start: Callable[[Plan, int], None] | None = None,
        on_event: EventHandler | None = None,
        on_outcome: Callable[[JobOutcome], None] | None = None,
        cancel: RunCancel | None = None,
        wait: bool = True,
        on_wait: Callable[[str], None] | None = None,
    ) -> RunReport:
        """Train what the plan says, in parallel, pinned to the data commit; record each in the tracker.

        ``only`` a glob of instance names, ``shard`` ``"I/N"`` (or ``(I, N)``): a deterministic slice.
        ``candidates``: train the blast radius of review branch ``at`` on its merge preview as candidate
        versions for the review (no alias moves, nothing becomes current, no release).

        Holds the project's run lock (``wait=False`` refuses instead of waiting for another run, ``on_wait`` hears
        who holds it), finishes what a killed run left half-done first, then plans.

        Progress comes as events: ``on_start(plan, jobs to run)``, ``on_event`` for each executor event (a job
        started, retrying, finished), ``on_outcome`` for each job once recorded. ``cancel`` (a ``RunCancel``) stops
        the run from another thread, as Ctrl-C does in the main one."""
        from tusk.core.spec import parse_shard
        from tusk.train import runner

        shard_range = parse_shard(shard) if isinstance(shard, str) else shard
        return runner.run(
            self,
            at=at,
            only=only,
            shard=shard_range,
            workers=workers,
            force=force,
            candidates=candidates,
            on_start=on_start,
            on_event=on_event,
            on_outcome=on_outcome,
            cancel=cancel,
            wait=wait,
            on_wait=on_wait,
        )

    def status(self) -> Status:
        """Each instance's current version, fingerprint, data commit, production version and plan status."""
        from tusk._internal import gc as _gc
        from tusk.project.results import InstanceStatus, Status

        with _gc.paused():
            plan = self.plan(check=False)
            production = self.tracker.aliases()
            rows = []
            for planned in plan.instances:
                state = planned.state
                rows.append(
                    InstanceStatus(
                        planned.name,
                        planned.status,
                        state.version if state else None,
                        production.get(planned.name),
                        state.fingerprint if state else None,
                        state.data_commit if state else None,
                        planned.reasons,
                        planned.failure.error if planned.failure else None,
                        planned.failure.log if planned.failure else None,
                    )
                )
        return Status(rows)

    def models(self) -> ModelList:
        """Every registered model but tusk's own (the release log): current and production versions."""
        from tusk._internal import gc as _gc
        from tusk.project.results import ModelList
        from tusk.tracking.base import INTERNAL_MODELS, ModelSummary

        with _gc.paused():
            states, production = self.tracker.states(), self.tracker.aliases()
            names = sorted((set(states) | set(production)) - INTERNAL_MODELS)
            return ModelList(
                [
                    ModelSummary(
                        n,
                        states[n].version if n in states else None,
                        production.get(n),
                        states[n].spec if n in states else None,
                    )
                    for n in names
                ]
            )

    def model_versions(self, name: str) -> ModelVersions:
        """Every version of model ``name``, newest first: commits, fingerprint, aliases, when; and the current
        version's metrics."""
        import time

        from tusk.project.results import CurrentVersion, ModelVersion, ModelVersions
        from tusk.tracking import tags as T

        versions = [
            ModelVersion(
                v.version,
                v.aliases,
                v.tags.get(T.DATA_COMMIT),
                v.tags.get(T.CODE_COMMIT),
                v.tags.get(T.FINGERPRINT),
                v.run_id,
                time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(v.created_ms / 1000)),
            )
            for v in self.tracker.versions(name)
        ]
        state = self.tracker.states([name]).get(name)
        current = None
        if state is not None and state.version and any(v.version == state.version for v in versions):
            current = CurrentVersion(state.version, dict(self.tracker.version(name, state.version).metrics))
        return ModelVersions(name, versions, current)

    def rollback_model(self, name: str, to: str | None = None) -> RolledBack:
        """Move ``name``'s production alias back one step of its production history (or to version ``to``). On
        its first production version nothing moves (``moved`` is false)."""
        from tusk.project.results import RolledBack

        before, after = self.tracker.rollback(name, to.lstrip("v") if to else None)
        return RolledBack(name, before, after)

    def promote(self, name: str, version: str) -> Promoted:
        """Point ``name``'s production alias at ``version`` (``3`` or ``v3``)."""
        from tusk.project.results import Promoted

        number = version.lstrip("v")
        self.tracker.set_alias(name, number)
        return Promoted(name, number)

    def logs(self, target: str) -> JobLog:
        """The log of NAME@VERSION (from its MLflow run), or of NAME's running or latest job.

        Without a version: a job of NAME that is running now, else the newer of NAME's last local job and
        its current version's run (a failed job after the last success shows the failure)."""
        from tusk.errors import TrackingError
        from tusk.release.lineage import parse_target
        from tusk.train import logs

        name, version = parse_target(target)
        local = logs.newest_job_log(self.state_dir / "jobs", name) if version is None else None
        if local is not None and local.live:
            return self._local_log(name, local)
        asked = version
        if version is None:
            state = self.tracker.states().get(name)
            version = state.version if state else self.tracker.aliases().get(name)
        failure = (
            self.tracker.failures([name]).get(name) if asked is None and (local is None or local.succeeded) else None
        )
        if failure is not None and (
            version is None or failure.time_ms > self.tracker.version(name, version).created_ms
        ):
            text, where = self.tracker.failure_log(failure)  # no job folder here: the log kept with the FAILED run
            return logs.JobLog(name, None, "failed run", where, text)
        if version is None:
            if local is not None:
                return self._local_log(name, local)
            raise TrackingError(f"no log for {name!r}: it has no registered version and no job on this machine")
        if (
            local is not None
            and not local.succeeded
            and local.modified * 1000 > self.tracker.version(name, version).created_ms
        ):
            return self._local_log(name, local)
        text, where = self.tracker.run_log(name, version)
        return logs.JobLog(name, version, "run", where, text)

    @staticmethod
    def _local_log(name: str, found: Any) -> JobLog:
        from tusk.train import logs

        data = found.path.read_bytes()
        return logs.JobLog(
            name, None, "job folder", str(found.path), data.decode("utf-8", "replace"), live=found.live, size=len(data)
        )

    def follow_log(self, log: JobLog) -> Iterator[str]:
        """What a live job's log gains after ``log.text``, as it is written, until the job ends."""
        from tusk.train import logs

        path = Path(log.location)
        return logs.follow(path, lambda: logs.running(path.parent.parent), offset=log.size)

    def watch(
        self, interval: float | None = None, once: bool = False, say: Callable[[str], None] | None = None
    ) -> Watched:
        """Poll the data branch and the code; on a change plan → run → release ([release] auto). ``say`` gets each
        line of the watch log; one watcher per project (LockHeld names the other)."""
        from tusk.project.results import Watched
        from tusk.train.watch import watch

        root = self.root
        return Watched(
            watch(self, lambda: type(self).open(root), interval or self.config.watch.interval or 30.0, once, say=say)
        )

    def ci_github(
        self,
        output: Path | None = None,
        strict: bool = False,
        shards: int = 4,
        runs_on: Sequence[str] = (),
        max_parallel: int | None = None,
        timeout_minutes: int = 360,
        install: str | None = None,
    ) -> Workflow:
        """Write the GitHub Actions workflow (plan → ``tusk run --shard i/N`` matrix → release); its warnings say
        what runners could not share (``strict``: refused instead, nothing written)."""
        from tusk.project.results import Workflow
        from tusk.train.ci_github import write

        labels = list(runs_on) or ["self-hosted"]
        path, warnings = write(
            self.config,
            output,
            remotes=self.shared_remotes(),
            strict=strict,
            shards=shards,
            runs_on=labels,
            max_parallel=max_parallel,
            timeout_minutes=timeout_minutes,
            install=install,
        )
        return Workflow(path, shards, labels, warnings)
