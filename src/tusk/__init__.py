"""tusk: versioned training data, stale-aware parallel training, MLflow tracking, hashed releases.

``import doltlite`` must come before any ``import sqlite3`` in the process, so it is the first thing
this package does (see ``tusk._internal.sqlite``).
"""

from tusk._internal import sqlite as _sqlite  # noqa: F401  (loads doltlite before anything imports sqlite3)

# isort: split
from tusk._internal import dist as _dist
from tusk.errors import (
    BackendMissing,
    BuildError,
    ConfigError,
    DataError,
    ExecutionError,
    IngestError,
    LockHeld,
    MergeBlocked,
    MergeConflict,
    ModelNotFound,
    RefNotFound,
    ReleaseError,
    TrackingError,
    TuskError,
)
from tusk.job.context import NeededModel, SetupContext, TrainContext
from tusk.project import Project, RunCancel

__all__ = [
    "BackendMissing",
    "BuildError",
    "ConfigError",
    "DataError",
    "ExecutionError",
    "IngestError",
    "LockHeld",
    "MergeBlocked",
    "MergeConflict",
    "ModelNotFound",
    "NeededModel",
    "Project",
    "RefNotFound",
    "ReleaseError",
    "RunCancel",
    "SetupContext",
    "TrackingError",
    "TrainContext",
    "TuskError",
]
__version__ = _dist.SOURCE_VERSION
