"""The MLflow tracker: one run per job, one registered model version per trained instance.

``import mlflow`` costs about two seconds, so it happens only when something is written or a version is
looked up. The two reads that planning and releasing need for *every* instance (the current state of each
registered model, the production aliases) are one registry query each; on a local sqlite store they read
MLflow's registry tables directly, read-only, which keeps ``tusk plan`` well under a second for 1000 models.

A sqlite store is created as a plain SQLite file (not doltlite, see ``tusk._internal.sqlite``) and migrated once,
before any parallel work, so a plain ``mlflow ui --backend-store-uri sqlite:///...`` reads everything.

``MlflowTracker`` is put together from one class per job, each in its own module: ``mlflow_store`` (opening the
store, the experiments, the local registry's read-only connection), ``mlflow_registry`` (reads of every model at
once), ``mlflow_versions`` (reads of versions, their files and logs), ``mlflow_runs`` (runs: a job's, an
experiment's, the abandoned ones), ``mlflow_failures`` (failed jobs), ``mlflow_register`` (registering versions,
moving production, repairs); ``mlflow_errors`` maps MLflow's exceptions to tusk's and ``mlflow_releases`` holds
the release registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tusk.tracking.base import CANDIDATES_TAG
from tusk.tracking.mlflow_failures import MlflowFailures
from tusk.tracking.mlflow_register import MlflowRegistrations

if TYPE_CHECKING:
    from tusk.tracking.mlflow_releases import MlflowReleases


class MlflowTracker(MlflowRegistrations, MlflowFailures):
    """The ``Tracker`` (and ``ReleaseRegistry`` through ``release_registry``) on MLflow: a sqlite file or a server."""

    def registry_stamp(self) -> str | None:
        """A digest of the rows states() and candidates() are made of, read without parsing them (a local store
        only: through a server that would cost what states() does)."""
        import hashlib

        local = self._local_registry()
        if local is None:
            return None
        local.close()
        view = self._view(with_aliases=False)
        rows = (
            sorted(view.pointers.items()),
            sorted(view.newest.items()),
            sorted(view.top.items()),
            sorted(self._registered_model_tags(CANDIDATES_TAG).items()),
            sorted((f.name, f.run_id) for f in self.failures().values()),
        )
        return hashlib.sha256(repr(rows).encode()).hexdigest()

    def release_registry(self) -> MlflowReleases:
        from tusk.tracking.mlflow_releases import MlflowReleases

        return MlflowReleases(self)
