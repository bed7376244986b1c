"""The one place MLflow's exceptions become tusk's (``mlflow_errors``), by exception type and MLflow's error code."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from tusk.errors import ModelNotFound, TrackingError


def driver_errors() -> tuple[type[BaseException], ...]:
    """The exception types MLflow's client raises: its own, its SQL store's, its HTTP client's, sqlite's."""
    import requests
    import sqlalchemy.exc
    from mlflow.exceptions import MlflowException

    return MlflowException, sqlalchemy.exc.SQLAlchemyError, requests.RequestException, sqlite3.Error


def not_found(exc: BaseException) -> bool:
    """Whether MLflow says what was asked for does not exist (a typed error code, over REST and SQL alike)."""
    return getattr(exc, "error_code", None) == "RESOURCE_DOES_NOT_EXIST"


@contextmanager
def mlflow_errors(action: str) -> Iterator[None]:
    """The one place MLflow's exceptions become tusk's: ModelNotFound when MLflow says the model or version does
    not exist, TrackingError for the rest; each one line."""
    try:
        yield
    except TrackingError:
        raise
    except Exception as exc:
        if not isinstance(exc, driver_errors()):
            raise
        message = str(getattr(exc, "message", exc)).strip().splitlines()
        text = f"{action}: {message[0][:300] if message else type(exc).__name__}"
        raise (ModelNotFound(text) if not_found(exc) else TrackingError(text)) from exc
