"""Backends chosen by the scheme of a URL, imported lazily (fsspec's registry pattern).

Each port has a dict ``scheme -> "module:Class"``. A backend whose module needs an extra that is not
installed raises ``BackendMissing`` with the pip command that fixes it.
"""

from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import urlsplit

from tusk.errors import BackendMissing, ConfigError

REGISTRY: dict[str, dict[str, str]] = {
    "data": {"doltlite": "tusk.data.doltlite:DoltliteStore"},
    "tracking": {
        "sqlite": "tusk.tracking.mlflow:MlflowTracker",
        "http": "tusk.tracking.mlflow:MlflowTracker",
        "https": "tusk.tracking.mlflow:MlflowTracker",
        "postgresql": "tusk.tracking.mlflow:MlflowTracker",
    },
    "executor": {
        "local": "tusk.execute.local:LocalExecutor",
        "ray": "tusk.execute.ray:RayExecutor",
        "immediate": "tusk.execute.immediate:ImmediateExecutor",
    },
}

INSTALL_HINTS: dict[str, str] = {
    "ray": "pip install 'tusk-mlops[ray]'",
    "gspread": "pip install 'tusk-mlops[sheets]'",
    "google": "pip install 'tusk-mlops[sheets]'",
}


def scheme_of(url: str) -> str:
    scheme = urlsplit(url).scheme
    if "+" in scheme:  # postgresql+psycopg2 -> postgresql
        scheme = scheme.split("+", 1)[0]
    return scheme


def backend_class(port: str, url: str) -> Any:
    """The class that serves ``url`` for ``port``; imported only now."""
    scheme = scheme_of(url)
    known = REGISTRY[port]
    if scheme not in known:
        raise ConfigError(f"{port} url {url!r}: unknown scheme {scheme!r} (known: {', '.join(sorted(known))})")
    module_name, _, class_name = known[scheme].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        hint = INSTALL_HINTS.get(missing, f"pip install {missing}")
        raise BackendMissing(f"{port} backend {scheme!r} needs {missing!r}: {hint}") from exc
    return getattr(module, class_name)


def require(module_name: str) -> Any:
    """Import an optional dependency or raise BackendMissing with its install hint."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        top = module_name.split(".")[0]
        hint = INSTALL_HINTS.get(top, f"pip install {top}")
        raise BackendMissing(f"{module_name} is not installed: {hint}") from exc
