"""Every error tusk raises on purpose is a ``TuskError``; the CLI prints its message on one line.

    TuskError
     ├── ConfigError          tusk.toml is missing, unreadable or wrong (names the file and key)
     ├── BackendMissing       a URL names a backend whose extra is not installed (with the install hint)
     ├── DataError            the data store refused something
     │    ├── RefNotFound     an unknown branch, tag or commit
     │    ├── IngestError     a file to import is unreadable or does not fit the table (names file/row/column)
     │    │    └── NeedsConfirmation  an import onto the data branch would change many rows: --yes applies it
     │    ├── MergeConflict   a merge would conflict; nothing was applied
     │    └── MergeBlocked    a review's data checks or model gate fail; nothing was merged (--force --reason)
     ├── TrackingError        the tracker (MLflow) refused something or cannot be reached
     │    └── ModelNotFound   no such registered model, or no such version of it
     ├── ExecutionError       the executor could not run jobs at all (a failed job is a result, not an error)
     ├── JobError             a job failed in a way another attempt cannot fix (bad entry point, return
     │                        value or metrics): the job fails at once, without retries
     ├── ReleaseError         a release cannot be created, found or rolled back
     │    └── BuildError      the image build failed; no release was recorded
     ├── LockHeld             another process holds the project's lock (names it)
     ├── GitError             git could not do what was asked (no repository, an unknown commit, a failed worktree)
     ├── ReproduceError       a registered version cannot be retrained as it was (no such instance at its code)
     ├── OutputRefused        a destination tusk does not write to (not a regular file), or a write that failed
     └── UnsafeBinding        the page would listen beyond this machine without a token

Each is defined here; the modules that raise them import them, so ``tusk._internal.git.GitError``,
``tusk.train.reproduce.ReproduceError``, ``tusk._internal.output.OutputRefused`` and
``tusk.web.security.UnsafeBinding`` still name them. Driver errors (sqlite3, MLflow, Ray) are mapped to these at
the backend boundary, by type or code in one function per backend, and never leak.
"""

from __future__ import annotations

from typing import Any


class TuskError(Exception):
    """Base of every error tusk raises for a user to read."""


class ConfigError(TuskError):
    pass


class BackendMissing(TuskError):
    pass


class DataError(TuskError):
    pass


class RefNotFound(DataError):
    pass


class IngestError(DataError):
    pass


class NeedsConfirmation(IngestError):
    """Nothing was written; ``counts`` are (added, modified, removed) the import would make."""

    def __init__(self, message: str, counts: tuple[int, int, int] = (0, 0, 0)) -> None:
        super().__init__(message)
        self.counts = counts


class MergeConflict(DataError):
    def __init__(self, message: str, conflicts: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.conflicts = conflicts or []


class MergeBlocked(DataError):
    """A review's merge refused by its data checks or its model gate; ``gate`` is the ``MergeGate``."""

    def __init__(self, message: str, gate: object = None) -> None:
        super().__init__(message)
        self.gate = gate


class TrackingError(TuskError):
    pass


class ModelNotFound(TrackingError):
    pass


class ExecutionError(TuskError):
    pass


class JobError(TuskError):
    retryable = False


class ReleaseError(TuskError):
    pass


class BuildError(ReleaseError):
    pass


class LockHeld(TuskError):
    pass


class GitError(TuskError):
    """git could not do what was asked (no repository, an unknown commit, a failed worktree)."""


class ReproduceError(TuskError):
    pass


class OutputRefused(TuskError):
    """A destination tusk does not write to (not a regular file), or a write that failed; nothing was changed."""


class UnsafeBinding(TuskError):
    """The page would listen beyond this machine without a token."""
