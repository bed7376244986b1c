"""``tusk run``: plan, then train every new or stale instance in parallel and record each in the tracker.

The calling half: what runs in a job's worker (``run_job``) is ``tusk.job.run``. ``run`` runs in the calling
process: it plans, hands jobs to the executor, and records each result as it arrives (run, model version, tags,
alias) while the other jobs go on. A failed or cancelled job registers nothing; Ctrl-C cancels the running jobs
and waits only for the recording in progress, so no version is left half-registered.
"""

from __future__ import annotations

import functools
import json
import math
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tusk._internal import git
from tusk._internal.crash import crash_point
from tusk.core.config import Config
from tusk.core.needs import need_record, needed_versions, waves
from tusk.core.plan import Plan, PlannedInstance, input_fingerprint, read_input
from tusk.core.spec import Instance, select
from tusk.errors import TrackingError, TuskError
from tusk.execute.base import EventHandler, Job, JobResult
from tusk.job.run import JOB_FUNCTION, PREPARE_FUNCTION
from tusk.job.shared import needed_models
from tusk.ports import RunCancel, Workspace
from tusk.tracking import tags as T
from tusk.tracking.base import FailureRecord, InputRecord, InstanceState, TrainRecord, last_line
from tusk.train import logs
from tusk.train.planning import make_plan

if TYPE_CHECKING:
    from tusk.ports import Ports
    from tusk.tracking.recorder import Recorded, Recorder


@dataclass
class JobOutcome:
    name: str
    status: str  # succeeded | failed | reused | cancelled | skipped (what it needs did not train)
    version: str | None = None
    seconds: float = 0.0
    error: str = ""
    log_tail: str = ""
    log: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    promoted: bool = False
    promotion: str | None = None  # why promote_if kept the version out of production

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "version": self.version,
            "seconds": round(self.seconds, 3),
            "error": self.error or None,
            "log": self.log or None,
            "metrics": {k: (v if math.isfinite(v) else str(v)) for k, v in self.metrics.items()},
            "promoted": self.promoted,
            "promotion": self.promotion,
        }


@dataclass
class RunReport:
    data_commit: str
    ref: str
    jobs: list[JobOutcome] = field(default_factory=list)
    fresh: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    candidates: CandidateFor | None = None  # set when the run trained candidates for a review
    recovered: list[str] = field(default_factory=list)  # what a killed earlier command left, and was finished

    @property
    def failed(self) -> int:
        return sum(1 for j in self.jobs if j.status in ("failed", "cancelled", "skipped"))

    def to_json(self) -> dict[str, Any]:
        return {
            "data_commit": self.data_commit,
            "ref": self.ref,
            "jobs": [j.to_json() for j in self.jobs],
            "fresh": self.fresh,
            "seconds": round(self.seconds, 3),
            "interrupted": self.interrupted,
            "candidates_for": dict(self.candidates.__dict__) if self.candidates else None,
            "recovered": self.recovered,
        }


# ----- the calling half ------------------------------------------------------------------------------
@dataclass(frozen=True)
class CandidateFor:
    """Candidates are trained for a review on its merge preview: registered, tagged, never promoted."""

    review: str  # the review branch
    review_head: str
    base: str  # the data branch's head the preview merged into
    preview: str  # the preview's commit (the data commit the candidates are pinned to)

    def tags(self) -> dict[str, str]:
        return {T.CANDIDATE: "true", T.REVIEW: self.review, T.REVIEW_HEAD: self.review_head, T.REVIEW_BASE: self.base}


def run(
    project: Ports,
    at: str | None = None,
    only: str | None = None,
    shard: tuple[int, int] | None = None,
    workers: int | None = None,
    force: bool = False,
    on_event: EventHandler | None = None,
    on_outcome: Callable[[JobOutcome], None] | None = None,
    on_start: Callable[[Plan, int], None] | None = None,
    candidates: bool = False,
    wait: bool = True,
    on_wait: Callable[[str], None] | None = None,
    cancel: RunCancel | None = None,
) -> RunReport:
    """Train what the plan says. ``candidates``: ``at`` is a review branch, trained on its merge preview (kept
    for the whole run) as candidate versions: no alias moves, no instance's current state changes.

    Holds the project's run lock (``wait=False`` refuses instead of waiting for another run), and finishes
    what a killed run left half-done before planning. ``cancel``: a handle another thread may cancel (as Ctrl-C
    does in the main thread): running jobs are killed, nothing new starts, a job already finished is still
    recorded whole; the report says interrupted."""
    with project.lock("tusk run", wait=wait, on_wait=on_wait):
        crash_point("run.locked")
        recovered = project.tracker.recover()
        _remove_abandoned_jobs(project.state_dir / "jobs")
        report = _run_locked(
            project, at, only, shard, workers, force, on_event, on_outcome, on_start, candidates, cancel or RunCancel()
        )
        report.recovered = recovered
        return report


def _run_locked(
    project: Ports,
    at: str | None,
    only: str | None,
    shard: tuple[int, int] | None,
    workers: int | None,
    force: bool,
    on_event: EventHandler | None,
    on_outcome: Callable[[JobOutcome], None] | None,
    on_start: Callable[[Plan, int], None] | None,
    candidates: bool,
    cancel: RunCancel,
) -> RunReport:
    from tusk.review.reviews import training_ref
    from tusk.tracking.recorder import Recorder

    started = time.perf_counter()
    with ExitStack() as stack:
        # started before planning, so MLflow's start (~1.5 s, in the recorder) overlaps with the plan as well as
        # the first jobs; a run with nothing to train lets it go before it registers anything
        recorder = Recorder(project.root)
        stack.callback(recorder.discard)
        review = None
        if candidates:
            plan, review = _candidate_plan(project, at, stack)
        else:
            plan = make_plan(Workspace.of(project), training_ref(project.data, project.config, at), check=True)
            plan.ref = at or plan.ref
        crash_point("run.planned")
        chosen = set(select([p.name for p in plan.instances if p.instance], only, shard))
        if review is not None:  # candidates: only what the review changes, not the data branch's own backlog
            chosen &= _review_radius(project, plan, force)
        todo = [
            p for p in plan.instances if p.name in chosen and (p.status in ("new", "stale", "failed", "reuse") or force)
        ]
        report = RunReport(
            data_commit=plan.data_commit,
            ref=plan.ref,
            fresh=sum(1 for p in plan.instances if p.name in chosen) - len(todo),
            candidates=review,
        )
        plan.todo = [p.name for p in todo]
        if on_start:
            on_start(plan, len(todo))
        emit = on_outcome or (lambda outcome: None)
        for planned in [p for p in todo if p.status == "reuse" and not force]:
            outcome = _reuse(project, planned, plan.data_commit, review)
            report.jobs.append(outcome)
            emit(outcome)
        training = [p for p in todo if p.status != "reuse" or force]
        if training and not cancel.cancelled:
            _train(project, plan, training, workers, on_event, report, emit, review, cancel, recorder)
        report.interrupted = report.interrupted or cancel.cancelled
    report.seconds = time.perf_counter() - started
    return report


def _candidate_plan(project: Ports, at: str | None, stack: ExitStack) -> tuple[Plan, CandidateFor]:
    """The plan of the review's merge preview; the preview (its scratch ref) lives until ``stack`` closes, so
    every job can read the commit while the run lasts."""
    from tusk.errors import ConfigError
    from tusk.review.reviews import is_review_branch, merge_preview

    if at and not is_review_branch(project.data, project.config, at):
        project.data.resolve(at)  # an unknown ref says so
    if not at or not is_review_branch(project.data, project.config, at):
        raise ConfigError(
            f"--candidates trains a review: give --at BRANCH, a branch other than the data branch "
            f"{project.config.data.branch!r}" + (f" ({at!r} is not one)" if at else "")
        )
    preview = stack.enter_context(merge_preview(project.data, project.config, at))
    plan = make_plan(Workspace.of(project), preview.commit, keep_cache=preview.persists, check=True)
    plan.ref, plan.preview = at, preview
    return plan, CandidateFor(at, preview.branch_head, preview.into_head, preview.commit)


def _review_radius(project: Ports, plan: Plan, force: bool) -> set[str]:
    from tusk.review.reviews import blast_radius

    if force:
        return {p.name for p in plan.instances if p.instance}
    assert plan.preview is not None
    return {p.name for p in blast_radius(Workspace.of(project), plan, plan.preview)}


def _reuse(
    project: Ports, planned: PlannedInstance, data_commit: str, review: CandidateFor | None = None
) -> JobOutcome:
    """Make the version that already has the planned fingerprint current and production (a data revert, or a
    review's candidate after its merge). For candidates: that version is the candidate; nothing moves."""
    assert planned.instance and planned.reuse_version and planned.fingerprint
    if review is not None:
        return JobOutcome(planned.name, "reused", planned.reuse_version)
    state = _state(planned.instance, planned.fingerprint, data_commit, planned.inputs, planned.state)
    state.version = planned.reuse_version
    state.fingerprints[planned.fingerprint] = planned.reuse_version
    project.tracker.reuse(state)
    return JobOutcome(planned.name, "reused", planned.reuse_version, promoted=True)


def _state(
    instance: Instance, fp: str, data_commit: str, inputs: dict[str, InputRecord], previous: InstanceState | None
) -> InstanceState:
    return InstanceState(
        name=instance.name,
        version="",
        fingerprint=fp,
        data_commit=data_commit,
        code_digest=instance.code_digest,
        code_files=dict(instance.code_files),
        params=dict(instance.params),
        inputs=dict(inputs),
        spec=instance.spec.name,
        fingerprints=dict(previous.fingerprints) if previous else {},
        production=list(previous.production) if previous else [],
        latest=previous.latest if previous else "",
    )


def _train(
    project: Ports,
    plan: Plan,
    todo: list[PlannedInstance],
    workers: int | None,
    on_event: EventHandler | None,
    report: RunReport,
    emit: Callable[[JobOutcome], None],
    review: CandidateFor | None,
    cancel: RunCancel,
    recorder: Recorder,
) -> None:
    """Train ``todo``; each finished job is handed to the recorder (``tusk.tracking.recorder``), which registers it
    while
    the others train, and its outcome is emitted once registered."""
    root = project.state_dir / "jobs"
    cleaner = logs.Cleaner()
    cleaner.remove(*logs.prunable(root, max(0, project.config.jobs.keep - 1), project.config.jobs.max_age))
    jobs_dir = root / logs.run_stamp()
    code = code_version(project.config.root, todo)
    by_name = {p.name: p for p in todo}
    jobs_dir.mkdir(parents=True, exist_ok=True)
    executor = project.executor(workers)
    import pandas  # noqa: F401  (every job reads its inputs into pandas: forked workers inherit it, once)

    handed: dict[str, tuple[PlannedInstance, TrainRecord, JobResult]] = {}
    kept: list[str] = []

    def keep_preview() -> None:  # before the first record that names the preview's commit
        if not kept:
            kept.append(_keep_preview(project, plan, review))

    failed: dict[str, JobOutcome] = {}  # failed jobs handed to the recorder (their outcome is out already)
    payloads: dict[str, dict[str, Any]] = {}

    def done(answers: list[Recorded]) -> None:
        for answer in answers:
            if answer.key in failed:
                outcome = failed.pop(answer.key)
                if answer.error:  # the run goes on: only the tracker misses this failure
                    outcome.error += f" (not recorded in the tracker: {answer.error})"
                continue
            planned, record, result = handed.pop(answer.key)
            if answer.error:
                raise TrackingError(answer.error)
            crash_point("run.recorded")
            cleaner.remove(jobs_dir / planned.name / "model")  # the version holds the model now
            outcome = JobOutcome(
                planned.name,
                "succeeded",
                answer.version,
                result.seconds,
                log=str(record.log_file),
                metrics=record.metrics,
                promoted=answer.promoted,
                promotion=answer.not_promoted or None,
            )
            report.jobs.append(outcome)
            emit(outcome)

    try:
        with _deferred_interrupt(cancel), cancel.stopping(executor.cancel):
            for wave in _waves(todo):  # what others need first; each wave's jobs in parallel
                jobs = []
                for planned in wave:
                    needs, why = needed_versions(project.tracker, planned, report.jobs, jobs_dir / ".needs")
                    if why is not None:  # what it needs did not train: skipped, and says why
                        skipped = JobOutcome(planned.name, "skipped", None, 0.0, f"skipped: {why}")
                        report.jobs.append(skipped)
                        emit(skipped)
                        continue
                    jobs.append(make_job(project.config, planned, plan.data_commit, jobs_dir / planned.name, needs))
                    payloads[planned.name] = jobs[-1].payload
                for result in executor.run(jobs, on_event):
                    crash_point("run.result")
                    planned = by_name[result.name]
                    prepared = _prepare(project, planned, result, plan.data_commit, code, jobs_dir, review)
                    if isinstance(prepared, JobOutcome):  # failed or cancelled: nothing to register
                        report.jobs.append(prepared)
                        emit(prepared)
                        if prepared.status == "failed":  # a FAILED run, so the plan and the page say so
                            keep_preview()
                            failure = failure_record(
                                project,
                                planned,
                                prepared,
                                plan.data_commit,
                                code,
                                payloads.get(planned.name, {}),
                                review,
                            )
                            failed[FAILED_KEY + planned.name] = prepared
                            done(recorder.submit(FAILED_KEY + planned.name, failure, None, None))
                        continue
                    keep_preview()
                    handed[planned.name] = (planned, prepared, result)
                    done(recorder.submit(planned.name, prepared, planned.state, review.review if review else None))
                    done(recorder.ready())
                if cancel.cancelled:
                    break
                while recorder.pending and any(p.instance and p.instance.spec.needs for p in todo):
                    recorder.answers.poll(1.0)  # the next wave needs this one's versions registered
                    done(recorder.ready())
            executor.close()  # first: forked workers hold a copy of the recorder's input
            for answer in recorder.close():  # every job handed over is registered before the run ends
                done([answer])
    finally:
        recorder.stop()  # the run stopped on an error: what was handed over is still registered
        executor.close()
        cleaner.close()
        logs.mark_done(jobs_dir)


PREVIEW_TAG = "tusk/preview/"  # + the commit: a merge preview that candidates were trained on, kept


def _keep_preview(project: Ports, plan: Plan, review: CandidateFor | None) -> str:
    """A review's merge preview is a commit on a scratch branch that is removed after the run: once a job trained on
    it is recorded, a version (or a failed run) names that commit for good. A tag keeps it (through dolt_gc, the
    review branch deleted, remotes), so lineage, reproduce, the pages and release diffs reach it. → the tag's name
    ("" when the commit outlives the preview anyway)."""
    if review is None or plan.preview is None or plan.preview.persists:
        return ""
    name = PREVIEW_TAG + review.preview
    if not any(t.name == name for t in project.data.tags()):
        project.data.tag(
            name,
            review.preview,
            f"merge preview of {review.review} ({review.review_head[:7]}) into "
            f"{plan.preview.into} ({review.base[:7]}): candidates trained on it",
        )
        crash_point("preview.tagged")
    return name


def _remove_abandoned_jobs(jobs_root: Path) -> None:
    """Job folders of a run that was killed: never marked done, and their process is gone."""
    for folder in logs.run_folders(jobs_root):
        if not (folder / logs.DONE).exists() and not logs.running(folder):
            shutil.rmtree(folder, ignore_errors=True)


def _waves(todo: list[PlannedInstance]) -> list[list[PlannedInstance]]:
    by_name = {p.name: p for p in todo}
    needs = {p.name: list(p.instance.spec.needs.values()) for p in todo if p.instance}
    return [[by_name[name] for name in wave] for wave in waves(by_name, needs)]


def make_job(
    config: Config,
    planned: PlannedInstance,
    data_commit: str,
    job_dir: Path,
    needs: dict[str, dict[str, Any]] | None = None,
) -> Job:
    instance = planned.instance
    assert instance is not None
    spec = instance.spec
    payload = {
        "name": instance.name,
        "config": config,
        "data_commit": data_commit,
        "job_dir": str(job_dir),
        "inputs": {k: {"query": q.query, "bound": q.bound} for k, q in instance.inputs.items()},
        "params": instance.params,
        "train": spec.train,
        "cmd": spec.cmd,
        "spec": spec.name,
        "setup": spec.setup,
        "needs": needs or {},
    }
    job_dir.mkdir(parents=True, exist_ok=True)
    return Job(
        name=instance.name,
        function=JOB_FUNCTION,
        payload=payload,
        log_path=job_dir / "job.log",
        cpus=spec.resources.cpus,
        gpus=spec.resources.gpus,
        timeout=spec.resources.timeout,
        retries=spec.resources.retries,
        max_log=spec.resources.max_log,
        prepare=PREPARE_FUNCTION if spec.setup else None,
    )


def _prepare(
    project: Ports,
    planned: PlannedInstance,
    result: JobResult,
    data_commit: str,
    code: tuple[str, bool],
    jobs_dir: Path,
    review: CandidateFor | None = None,
) -> JobOutcome | TrainRecord:
    """A failed job's outcome (it registers nothing), or a succeeded job's record for the recorder."""
    job_dir = jobs_dir / planned.name
    log = job_dir / logs.LOG
    if result.status != "succeeded":
        logs.finish(log, f"{result.status}: {result.error or result.status}")
        tail = result.log_tail
        if result.status == "failed":  # its traceback, from its first line, without tusk's runner frames
            tail = logs.read_failure_tail(log) or logs.failure_tail(result.log_tail)
        return JobOutcome(
            planned.name, result.status, None, result.seconds, result.error or result.status, tail, str(log)
        )
    logs.finish(log, f"succeeded in {result.seconds:.1f}s ({result.attempts} attempt(s)); registering")
    record = train_record(planned, result, data_commit, code, jobs_dir)
    record.tags[T.EXECUTOR] = project.config.executor.url.split("?", 1)[0]
    record.run_tags.update(source_tags(planned, code[0]))
    if review is not None:
        record.tags.update(review.tags())
    return record


FAILED_KEY = "failed:"


def failure_record(
    project: Ports,
    planned: PlannedInstance,
    outcome: JobOutcome,
    data_commit: str,
    code: tuple[str, bool],
    payload: dict[str, Any],
    review: CandidateFor | None,
) -> FailureRecord:
    """A failed job as the tracker records it: tagged as its success would have been, with the fingerprint it was
    trained for (a new instance's is computed here from its inputs, as the job would have)."""
    instance = planned.instance
    assert instance is not None
    try:
        fp = planned.fingerprint or _fingerprint_at(project, instance, data_commit, payload)
    except TuskError:  # its inputs cannot be read: the failure is recorded without the fingerprint
        fp = ""
    tags = {
        T.INSTANCE: instance.name,
        T.SPEC: instance.spec.name,
        T.FINGERPRINT: fp,
        T.DATA_COMMIT: data_commit,
        T.CODE_COMMIT: code[0],
        T.CODE_DIRTY: "true" if code[1] else "false",
        T.CODE_DIGEST: instance.code_digest,
        T.PARAMS: json.dumps(instance.params, sort_keys=True, default=str),
        T.SECONDS: f"{outcome.seconds:.3f}",
        T.ERROR: last_line(outcome.error),
        T.EXECUTOR: project.config.executor.url.split("?", 1)[0],
    }
    if review is not None:
        tags.update(review.tags())
    return FailureRecord(
        instance.name,
        dict(instance.params),
        tags,
        outcome.error,
        Path(outcome.log) if outcome.log else None,
        source_tags(planned, code[0]),
    )


def _fingerprint_at(project: Ports, instance: Instance, data_commit: str, payload: dict[str, Any]) -> str:
    records = {name: read_input(project.data, query, data_commit).record for name, query in instance.inputs.items()}
    for key, need in needed_models(payload).items():
        records[key] = need_record(need.name, need.fingerprint)
    return input_fingerprint(instance, records)


def source_tags(planned: PlannedInstance, commit: str) -> dict[str, str]:
    """MLflow's own run tags, so its UI shows the code's commit, the entry file and who trained."""
    spec = planned.instance.spec if planned.instance else None
    source = (spec.train.rsplit(":", 1)[0] if spec.train else (spec.cmd or "")) if spec else ""
    tags = {"mlflow.source.type": "LOCAL", "mlflow.source.name": source[:500], "mlflow.user": _user()}
    if commit:
        tags["mlflow.source.git.commit"] = commit
    return tags


@functools.cache
def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def train_record(
    planned: PlannedInstance, result: JobResult, data_commit: str, code: tuple[str, bool], jobs_dir: Path
) -> TrainRecord:
    instance = planned.instance
    assert instance is not None
    value = result.value or {}
    inputs = {k: InputRecord(**v) for k, v in value.get("inputs", {}).items()}
    fp = input_fingerprint(instance, inputs)
    state = _state(instance, fp, data_commit, inputs, planned.state)
    resources = {"cpus": instance.spec.resources.cpus, "gpus": instance.spec.resources.gpus}
    tags = version_tags(state, code, result, resources)
    tags.update({T.need(key): held for key, held in value.get("needs", {}).items()})
    job_dir = jobs_dir / planned.name
    return TrainRecord(
        state=state,
        metrics=value.get("metrics", {}),
        params=instance.params,
        tags=tags,
        output_dir=job_dir / "model",
        log_file=job_dir / "job.log",
        seconds=result.seconds,
        resources=resources,
        promote_if=instance.spec.promote_if,
    )


def version_tags(
    state: InstanceState, code: tuple[str, bool], result: JobResult, resources: dict[str, float]
) -> dict[str, str]:
    tags = {
        T.INSTANCE: state.name,
        T.SPEC: state.spec,
        T.FINGERPRINT: state.fingerprint,
        T.DATA_COMMIT: state.data_commit,
        T.CODE_COMMIT: code[0],
        T.CODE_DIRTY: "true" if code[1] else "false",
        T.CODE_DIGEST: state.code_digest,
        T.PARAMS: json.dumps(state.params, sort_keys=True, default=str),
        T.SECONDS: f"{result.seconds:.3f}",
        T.ATTEMPTS: str(result.attempts),
        T.DEVICE: result.device,
        T.CPUS: str(resources["cpus"]),
        T.GPUS: str(resources["gpus"]),
    }
    for name, record in state.inputs.items():
        tags[T.input_digest(name)] = record.digest
        tags[T.input_rows(name)] = str(record.rows)
    return tags


def code_version(root: Path, todo: list[PlannedInstance]) -> tuple[str, bool]:
    """(git commit of the project folder, whether any model's code differs from it or is not in git)."""
    return git.code_version(root, {f for p in todo if p.instance for f in p.instance.code_files} | {"tusk.toml"})


@contextmanager
def _deferred_interrupt(cancel: RunCancel) -> Iterator[None]:
    """Ctrl-C (or SIGTERM) cancels the jobs but never interrupts the recording of one that finished."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if cancel.cancelled:
            return
        print("\ninterrupted: cancelling running jobs (nothing half-registered)", file=sys.stderr)
        cancel.cancel()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
