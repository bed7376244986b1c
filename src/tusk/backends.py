"""Backends chosen by the scheme of a URL (or, for builders, by name), imported lazily (fsspec's registry pattern).

Four ports, each a table ``scheme -> "module:Class"``:

    data       DataStore  (tusk.data.base)       doltlite://
    tracking   Tracker    (tusk.tracking.base)   sqlite://, postgresql://, http(s)://
    executor   Executor   (tusk.execute.base)    local://, ray://, immediate://
    builder    Builder    (tusk.build.base)      docker, podman, buildah, none  ([release] builder; auto picks one)

A backend's module is imported only when a URL names its scheme; one that needs a missing extra raises
``BackendMissing`` with the pip command that fixes it. Other packages add backends without editing tusk:

- by calling ``register("executor", "k8s", "tusk_k8s:K8sExecutor", "pip install tusk-k8s")``, or
- by an entry point in the group ``tusk.backends`` named ``PORT.SCHEME`` whose value is ``module:Class``::

      [project.entry-points."tusk.backends"]
      "executor.k8s" = "tusk_k8s:K8sExecutor"

Entry points are listed once per process, the first time a scheme is not otherwise known, and their modules
are imported only when used. ``register`` wins over everything; an entry point never replaces a built-in
scheme or a registered one.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, overload
from urllib.parse import urlsplit

from tusk.errors import BackendMissing, BuildError, ConfigError

if TYPE_CHECKING:
    from pathlib import Path

    from tusk.build.base import Builder
    from tusk.core.config import Config
    from tusk.data.base import DataStore
    from tusk.execute.base import Executor
    from tusk.tracking.base import Tracker

Port = Literal["data", "tracking", "executor", "builder"]
PORTS: tuple[Port, ...] = ("data", "tracking", "executor", "builder")
ENTRY_POINT_GROUP = "tusk.backends"
_SCHEME = re.compile(r"^[a-z][a-z0-9.-]*$")
_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass(frozen=True)
class Backend:
    """Where a scheme's class lives (``module:Class``) and what to install when its module is missing."""

    target: str
    install_hint: str = ""
    origin: str = "tusk"  # "tusk", "register()", or the distribution that declared the entry point


BUILTIN: dict[Port, dict[str, Backend]] = {
    "data": {"doltlite": Backend("tusk.data.doltlite:DoltliteStore")},
    "tracking": {
        "sqlite": Backend("tusk.tracking.mlflow:MlflowTracker"),
        "http": Backend("tusk.tracking.mlflow:MlflowTracker"),
        "https": Backend("tusk.tracking.mlflow:MlflowTracker"),
        "postgresql": Backend("tusk.tracking.mlflow:MlflowTracker", "pip install 'tusk-mlops[postgres]'"),
    },
    "executor": {
        "local": Backend("tusk.execute.local:LocalExecutor"),
        "ray": Backend("tusk.execute.ray:RayExecutor", "pip install 'tusk-mlops[ray]'"),
        "immediate": Backend("tusk.execute.immediate:ImmediateExecutor"),
    },
    "builder": {
        "docker": Backend("tusk.build.docker:DockerBuilder"),
        "podman": Backend("tusk.build.docker:PodmanBuilder"),
        "buildah": Backend("tusk.build.buildah:BuildahBuilder"),
        "none": Backend("tusk.build.none:NoBuilder"),
        "context": Backend("tusk.build.none:NoBuilder"),  # the same: the build context only
    },
}
AUTO_BUILDERS = ("docker", "podman", "buildah")  # what ``builder = "auto"`` tries, in this order

INSTALL_HINTS: dict[str, str] = {  # a missing top-level module → what installs it
    "ray": "pip install 'tusk-mlops[ray]'",
    "gspread": "pip install 'tusk-mlops[sheets]'",
    "google": "pip install 'tusk-mlops[sheets]'",
    "psycopg2": "pip install 'tusk-mlops[postgres]'",
}

_registered: dict[Port, dict[str, Backend]] = {port: {} for port in PORTS}
_entry_points: dict[Port, dict[str, Backend]] | None = None  # read once, on first need


class DataStoreFactory(Protocol):
    def __call__(self, url: str, config: Config | None = None) -> DataStore: ...
    def clone(self, url: str, path: Path, default_branch: str = "main") -> DataStore: ...


class TrackerFactory(Protocol):
    def __call__(self, url: str, config: Config | None = None) -> Tracker: ...


class ExecutorFactory(Protocol):
    def __call__(self, url: str, config: Config | None = None, workers: int | None = None) -> Executor: ...


class BuilderFactory(Protocol):
    def __call__(self, url: str, config: Config | None = None) -> Builder: ...


def register(port: Port, scheme: str, target: str, install_hint: str = "", *, replace: bool = False) -> None:
    """Serve URLs ``scheme://…`` of ``port`` with ``target`` (``"module:Class"``, imported when first used).

    ``install_hint`` is shown when the module cannot be imported (e.g. ``"pip install tusk-k8s"``). A scheme
    already registered with another target is refused unless ``replace``; a built-in or entry-point scheme
    is replaced (an explicit call wins)."""
    if port not in PORTS:
        raise ValueError(f"unknown port {port!r} (ports: {', '.join(PORTS)})")
    if not _SCHEME.match(scheme):
        raise ValueError(f"scheme {scheme!r}: use lowercase letters, digits, '.' and '-', starting with a letter")
    if not _TARGET.match(target):
        raise ValueError(f"target {target!r}: use 'package.module:Class'")
    previous = _registered[port].get(scheme)
    if previous is not None and previous.target != target and not replace:
        raise ValueError(f"{port} scheme {scheme!r} is already registered to {previous.target} (pass replace=True)")
    _registered[port][scheme] = Backend(target, install_hint, "register()")


def unregister(port: Port, scheme: str) -> None:
    """Forget a scheme given to ``register`` (built-in and entry-point schemes stay)."""
    _registered[port].pop(scheme, None)


def known(port: Port) -> dict[str, Backend]:
    """Every scheme of ``port``: built in, from entry points, and registered (in that order of precedence)."""
    return {**_from_entry_points()[port], **BUILTIN[port], **_registered[port]}


def _lookup(port: Port, scheme: str) -> Backend | None:
    found = _registered[port].get(scheme) or BUILTIN[port].get(scheme)
    return found if found is not None else _from_entry_points()[port].get(scheme)


def _from_entry_points() -> dict[Port, dict[str, Backend]]:
    global _entry_points
    if _entry_points is None:
        _entry_points = read_entry_points()
    return _entry_points


def read_entry_points() -> dict[Port, dict[str, Backend]]:
    """The ``tusk.backends`` entry points of the installed distributions (not imported). A malformed one is
    skipped: a broken plugin must not stop tusk, and a URL naming its scheme says the scheme is unknown."""
    from importlib.metadata import entry_points

    found: dict[Port, dict[str, Backend]] = {port: {} for port in PORTS}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        port, _, scheme = entry.name.partition(".")
        if port not in PORTS or not _SCHEME.match(scheme) or not _TARGET.match(entry.value.replace(" ", "")):
            continue
        dist = entry.dist.name if entry.dist is not None else "its distribution"
        found[port].setdefault(scheme, Backend(entry.value.replace(" ", ""), f"pip install {dist}", dist))
    return found


def reload_entry_points() -> None:
    """Read the entry points again on next need (after installing a plugin in this process; tests)."""
    global _entry_points
    _entry_points = None


def scheme_of(url: str) -> str:
    scheme = urlsplit(url).scheme
    if "+" in scheme:  # postgresql+psycopg2 -> postgresql
        scheme = scheme.split("+", 1)[0]
    return scheme


@overload
def backend_class(port: Literal["data"], url: str) -> DataStoreFactory: ...
@overload
def backend_class(port: Literal["tracking"], url: str) -> TrackerFactory: ...
@overload
def backend_class(port: Literal["executor"], url: str) -> ExecutorFactory: ...
@overload
def backend_class(port: Literal["builder"], url: str) -> BuilderFactory: ...
def backend_class(port: Port, url: str) -> Any:
    """The class that serves ``url`` for ``port`` (a builder's is its name); imported only now."""
    scheme = url if port == "builder" else scheme_of(url)
    backend = _lookup(port, scheme)
    if backend is None:
        names = ", ".join(sorted(known(port)))
        raise ConfigError(
            f"{port} url {url!r}: unknown scheme {scheme!r} (known: {names}; other backends come "
            f"from packages that register them)"
        )
    module_name, _, class_name = backend.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = (exc.name or module_name).split(".")[0]
        hint = INSTALL_HINTS.get(missing) or backend.install_hint or f"pip install {missing}"
        raise BackendMissing(f"{port} backend {scheme!r} needs {missing!r}: {hint}") from exc
    found = getattr(module, class_name, None)
    if found is None:
        raise BackendMissing(f"{port} backend {scheme!r}: {module_name} has no {class_name!r} (from {backend.origin})")
    return found


def open_store(url: str, config: Config | None = None) -> DataStore:
    return backend_class("data", url)(url, config)


def open_tracker(url: str, config: Config | None = None) -> Tracker:
    return backend_class("tracking", url)(url, config)


def open_executor(url: str, config: Config | None = None, workers: int | None = None) -> Executor:
    return backend_class("executor", url)(url, config, workers=workers)


def open_builder(setting: str, config: Config | None = None) -> Builder:
    """The image builder ``[release] builder`` names: ``auto`` is the first of docker (when its daemon answers),
    podman and buildah that is ready, else ``none`` (the build context only); a builder named on purpose must be
    installed. Plugins add builders by name (entry point ``builder.NAME``); ``auto`` tries only tusk's own."""
    if setting == "auto":
        idle = []
        for name in AUTO_BUILDERS:
            builder = backend_class("builder", name)(name, config)
            if builder.ready():
                return builder
            if builder.installed():
                idle.append(name)
        none = backend_class("builder", "none")("none", config)
        if idle and hasattr(none, "why"):
            none.why = (
                f"{idle[0]} is installed but does not answer ({idle[0]} info fails: is its daemon running, and may "
                f"this user reach it?)"
            )
        return none
    if _lookup("builder", setting) is None:
        others = sorted(set(known("builder")) - {*AUTO_BUILDERS, "none", "context"})
        names = ", ".join(["auto", *AUTO_BUILDERS, *others])
        raise ConfigError(f"[release] builder = {setting!r}: use {names} or none")
    builder = backend_class("builder", setting)(setting, config)
    if not builder.installed():
        raise BuildError(f"builder {setting!r} is not installed")
    return builder


def require(module_name: str) -> Any:
    """Import an optional dependency or raise BackendMissing with its install hint."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        top = module_name.split(".")[0]
        hint = INSTALL_HINTS.get(top, f"pip install {top}")
        raise BackendMissing(f"{module_name} is not installed: {hint}") from exc
