"""Failed jobs in MLflow: a FAILED run with the job's params, tags, error and log; each instance's newest one."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection

from tusk._internal.crash import crash_point
from tusk.errors import TrackingError
from tusk.tracking import tags as T
from tusk.tracking.base import FailedJob, FailureRecord
from tusk.tracking.mlflow_errors import mlflow_errors
from tusk.tracking.mlflow_runs import MlflowRuns, _param_text, owner
from tusk.tracking.mlflow_store import EXPERIMENT, OWNER_TAG, _quote
from tusk.tracking.mlflow_versions import MlflowVersions


class MlflowFailures(MlflowRuns, MlflowVersions):
    def log_failure(self, record: FailureRecord) -> str:
        """A FAILED run: the job's params, its tags (as a success's), its error (``tusk.error``, the last line; the
        whole in MLflow's note) and its ``job.log``. No version is registered."""
        from mlflow.entities import Param

        self.ensure_ready()
        with mlflow_errors(f"cannot record the failed job of {record.name}"):
            tags = {**record.tags, **record.run_tags, "mlflow.note.content": record.error[-7000:]}
            run = self.client.create_run(
                self.experiment_id,
                run_name=record.name,
                tags={**{k: v[:8000] for k, v in tags.items()}, OWNER_TAG: owner()},
            )
            run_id = run.info.run_id
            crash_point("failure.run")
            if record.params:
                self.client.log_batch(
                    run_id, params=[Param(k, _param_text(v)) for k, v in sorted(record.params.items())]
                )
            if record.log_file and record.log_file.is_file():
                self._uploader(run_id, run.info.artifact_uri).log_artifact(str(record.log_file), None)
            self.client.set_terminated(run_id, status="FAILED")
            crash_point("failure.recorded")
        self._settle()
        return str(run_id)

    def failures(self, names: Collection[str] | None = None) -> dict[str, FailedJob]:
        """Each instance's newest FAILED run of the training experiment (local store: one query, no MLflow)."""
        keys = (T.INSTANCE, T.FINGERPRINT, T.DATA_COMMIT, T.ERROR)
        runs: dict[str, tuple[int, str, dict[str, str]]] = {}
        if names is not None and not names:
            return {}
        if self.sqlite_path is None:
            # a server returns the FAILED runs of tusk's instances only (not every run of the experiment: a
            # search over all of them cost O(runs) per plan), and one instance's when one is asked for
            where = f"attributes.status = 'FAILED' AND tags.`{T.INSTANCE}` IS NOT NULL"
            only = next(iter(names)) if names is not None and len(names) == 1 else None
            if only is not None:
                where += f" AND tags.`{T.INSTANCE}` = '{_quote(only)}'"
            for run_id, status, start, tags in self._experiment_runs_remote(EXPERIMENT, False, where):
                if status == "FAILED":
                    runs[run_id] = (start, "", tags)
        else:
            local = self._local_registry()
            if local is None:
                return {}
            with local:
                try:
                    rows = local.execute(
                        "SELECT r.run_uuid, r.start_time, r.artifact_uri, t.key, t.value FROM runs r "
                        "JOIN experiments e ON r.experiment_id = e.experiment_id "
                        "JOIN tags t ON t.run_uuid = r.run_uuid "
                        "WHERE e.name = ? AND r.status = 'FAILED' AND r.lifecycle_stage = 'active' "
                        f"AND t.key IN ({', '.join('?' * len(keys))})",
                        (EXPERIMENT, *keys),
                    ).fetchall()
                except sqlite3.Error:  # no runs table yet
                    return {}
            for run_id, start, uri, key, value in rows:
                runs.setdefault(run_id, (int(start or 0), uri or "", {}))[2][key] = value
        found: dict[str, FailedJob] = {}
        for run_id, (start, uri, tags) in runs.items():
            name = tags.get(T.INSTANCE, "")
            if not name or (names is not None and name not in names):
                continue
            if name not in found or (start, run_id) > (found[name].time_ms, found[name].run_id):
                found[name] = FailedJob(
                    name,
                    tags.get(T.FINGERPRINT, ""),
                    tags.get(T.DATA_COMMIT, ""),
                    tags.get(T.ERROR, "failed"),
                    run_id,
                    start,
                    f"{uri.rstrip('/')}/job.log" if uri else "",
                )
        return found

    def failure_log(self, failure: FailedJob) -> tuple[str, str]:
        with mlflow_errors(f"cannot read the log of {failure.name}'s failed run"):
            root = str(self.client.get_run(failure.run_id).info.artifact_uri).rstrip("/")
            text = self._artifact_text(f"{root}/job.log")
        if text is None:
            raise TrackingError(f"{failure.name}: its failed run {failure.run_id} has no job.log artifact")
        return text, f"{root}/job.log"
