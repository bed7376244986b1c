"""MLflow runs: a trained job's run (params and metrics in batches MLflow takes, its files), the runs of one
experiment (the release log), and the runs a killed tusk left RUNNING on this machine."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Mapping
from typing import Any

from tusk._internal.process import process_alive
from tusk.tracking.base import TrainRecord
from tusk.tracking.mlflow_errors import mlflow_errors
from tusk.tracking.mlflow_store import EXPERIMENT, OWNER_TAG, MlflowStore

RunRow = tuple[str, str, int, dict[str, str]]  # run id, status, start time (ms), tags
METRICS_PER_BATCH, PARAMS_PER_BATCH = 900, 100  # log_batch: ≤ 1,000 metrics, ≤ 100 params, ≤ 1,000 in all


def owner() -> str:
    """``host:pid``, tagged on runs so that a later tusk can tell an abandoned RUNNING run from a live one."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _gone(owner_tag: str, host: str) -> bool:
    where, _, pid = owner_tag.rpartition(":")
    return where == host and pid.isdigit() and not process_alive(int(pid))


class _RunUploader:
    """A run's uploads through the client (a tracking server's artifact store)."""

    def __init__(self, client: Any, run_id: str) -> None:
        self.client, self.run_id = client, run_id

    def log_artifacts(self, local_dir: str, artifact_path: str | None) -> None:
        self.client.log_artifacts(self.run_id, local_dir, artifact_path)

    def log_artifact(self, local_file: str, artifact_path: str | None) -> None:
        self.client.log_artifact(self.run_id, local_file, artifact_path)


def _param_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)[:6000]


class MlflowRuns(MlflowStore):
    def log_run(self, record: TrainRecord, status: str = "FINISHED") -> str:
        """A run with params, metrics, tags, the model files under ``model/`` and the job log under ``logs/``."""
        from mlflow.entities import Metric, Param

        self.ensure_ready()
        now = int(time.time() * 1000)
        with mlflow_errors(f"cannot log the run of {record.state.name}"):
            tags = {**record.tags, **record.run_tags}
            run = self.client.create_run(
                self.experiment_id,
                run_name=record.state.name,
                tags={**{k: v[:8000] for k, v in tags.items()}, OWNER_TAG: owner()},
            )
            run_id = run.info.run_id
            try:
                metrics = [Metric(k, float(v), now, 0) for k, v in record.metrics.items()]
                params = [Param(k, _param_text(v)) for k, v in sorted(record.params.items())]
                # in batches MLflow takes (the run's name tag came with create_run)
                batches = max(-(-len(metrics) // METRICS_PER_BATCH), -(-len(params) // PARAMS_PER_BATCH))
                for i in range(batches):
                    self.client.log_batch(
                        run_id,
                        metrics=metrics[i * METRICS_PER_BATCH : (i + 1) * METRICS_PER_BATCH],
                        params=params[i * PARAMS_PER_BATCH : (i + 1) * PARAMS_PER_BATCH],
                    )
                self._log_artifacts(run_id, run.info.artifact_uri, record)
            except Exception:  # not left RUNNING, for the next command to call KILLED
                self.client.set_terminated(run_id, status="FAILED")
                raise
            self.client.set_terminated(run_id, status=status)
        record.run_id, record.artifact_uri = run_id, run.info.artifact_uri
        return str(run_id)

    def _log_artifacts(self, run_id: str, artifact_uri: str, record: TrainRecord) -> None:
        upload = self._uploader(run_id, artifact_uri)
        output = record.output_dir
        staging = output.parent  # the job folder holds model/ and job.log side by side
        if output.name == "model" and record.log_file and record.log_file.parent == staging:
            upload.log_artifacts(str(staging), None)
            return
        if output.is_dir():
            upload.log_artifacts(str(output), "model")
        if record.log_file and record.log_file.is_file():
            upload.log_artifact(str(record.log_file), "logs")

    def _uploader(self, run_id: str, artifact_uri: str) -> Any:
        """Where a run's files go. A local store's run folder is written directly: the client would first read
        the run back from the store to find it (a query and a commit per upload)."""
        if artifact_uri.startswith("file:"):
            from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

            return get_artifact_repository(artifact_uri)
        return _RunUploader(self.client, run_id)

    def _abandoned_runs(self) -> list[str]:
        """Runs left RUNNING by a tusk process of this machine that is gone (local store only)."""
        local = self._local_registry()
        if local is None:
            return []
        host = socket.gethostname()
        with local:  # training runs only: a release event's RUNNING run is finished by ReleaseStore.settle
            rows = local.execute(
                "SELECT r.run_uuid, t.value FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
                "AND t.key = ? JOIN experiments e ON e.experiment_id = r.experiment_id "
                "WHERE r.status = 'RUNNING' AND e.name = ?",
                (OWNER_TAG, EXPERIMENT),
            ).fetchall()
        return [run_id for run_id, owner in rows if _gone(owner, host)]

    def experiment_runs(self, experiment: str, running_only: bool = False) -> list[RunRow]:
        """(run id, status, start time in ms, tags) of the active runs of ``experiment``, RUNNING ones only if
        asked. A local store is read directly (read-only, no ``import mlflow``); one that MLflow has not set up
        yet has none."""
        if self.sqlite_path is None:
            return self._experiment_runs_remote(experiment, running_only)
        local = self._local_registry()
        if local is None:
            return []
        with local:
            try:
                found = local.execute(
                    "SELECT r.run_uuid, r.status, r.start_time FROM runs r JOIN experiments e "
                    "ON r.experiment_id = e.experiment_id WHERE e.name = ? AND r.lifecycle_stage = 'active'"
                    + (" AND r.status = 'RUNNING'" if running_only else ""),
                    (experiment,),
                ).fetchall()
                tags: dict[str, dict[str, str]] = {}
                if found:
                    for run_id, key, value in local.execute(
                        "SELECT t.run_uuid, t.key, t.value FROM tags t JOIN runs r ON t.run_uuid = r.run_uuid "
                        "JOIN experiments e ON r.experiment_id = e.experiment_id WHERE e.name = ?",
                        (experiment,),
                    ):
                        tags.setdefault(run_id, {})[key] = value
            except sqlite3.Error:  # no runs table yet: nothing was ever recorded
                return []
        return [(run_id, status, int(start or 0), tags.get(run_id, {})) for run_id, status, start in found]

    def _experiment_runs_remote(self, experiment: str, running_only: bool, where: str = "") -> list[RunRow]:
        """The runs of ``experiment`` on a server: RUNNING ones only if asked, else those ``where`` (an MLflow
        filter string) selects."""
        with mlflow_errors(f"cannot read the runs of {experiment}"):
            found = self.client.get_experiment_by_name(experiment)
            if found is None:
                return []
            runs: list[Any] = []
            token = None
            while True:
                page = self.client.search_runs(
                    [found.experiment_id],
                    max_results=1000,
                    page_token=token,
                    filter_string="attributes.status = 'RUNNING'" if running_only else where,
                )
                runs.extend(page)
                token = page.token
                if not token:
                    break
        return [(r.info.run_id, r.info.status, int(r.info.start_time or 0), dict(r.data.tags)) for r in runs]

    def start_run(self, experiment: str, name: str, tags: Mapping[str, str]) -> str:
        """A RUNNING run in ``experiment`` (created if missing) with these tags → its id."""
        with mlflow_errors(f"cannot record a run in {experiment}"):
            run = self.client.create_run(
                self._experiment(experiment), run_name=name, tags=dict(tags), start_time=int(time.time() * 1000)
            )
        return str(run.info.run_id)

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        with mlflow_errors("cannot finish the run"):
            self.client.set_terminated(run_id, status=status)
