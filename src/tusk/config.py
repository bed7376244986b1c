"""``tusk.toml`` → typed configuration. Errors name the file, the model and the key.

Relative paths in URLs (``doltlite:///data/training.db``, ``sqlite:///.tusk/mlflow.db``) resolve against
the folder of ``tusk.toml``; four slashes (``sqlite:////abs/path``) mean an absolute path.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tusk.errors import ConfigError

CONFIG_NAME = "tusk.toml"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: str | int | float | None) -> float | None:
    """``"10m"`` → 600.0; numbers are seconds; None stays None."""
    if value is None or isinstance(value, (int, float)):
        return None if value is None else float(value)
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"not a duration: {value!r} (use e.g. 90s, 10m, 2h)")
    return float(match.group(1)) * _UNITS[match.group(2)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Section):
    url: str = "doltlite:///data/training.db"
    branch: str = "main"
    remotes: dict[str, str] = Field(default_factory=dict)


class TrackingConfig(_Section):
    url: str = "sqlite:///.tusk/mlflow.db"


class ExecutorConfig(_Section):
    url: str = "local://?workers=2"
    gpus: str | int | list[int] = "auto"


class ReleaseConfig(_Section):
    image: str = "localhost/tusk-models"
    base_image: str = "python:3.11-slim"
    builder: str = "auto"
    auto: bool = False


class Resources(_Section):
    cpus: float = 1.0
    gpus: float = 0.0
    timeout: float | None = None
    retries: int = 0

    @field_validator("timeout", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float | None:
        return parse_duration(value)

    @field_validator("cpus", "gpus", "retries")
    @classmethod
    def _not_negative(cls, value: float) -> float:
        if value < 0:
            raise ValueError("must not be negative")
        return value


class ModelSpec(_Section):
    name: str
    train: str | None = None
    cmd: str | None = None
    code: list[str] | None = None
    inputs: dict[str, str] = Field(default_factory=dict)
    matrix: dict[str, str | list[str | int | float]] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    resources: Resources = Field(default_factory=Resources)
    promote_if: str | None = None

    @field_validator("code", mode="before")
    @classmethod
    def _code_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _train_or_cmd(self) -> "ModelSpec":
        if bool(self.train) == bool(self.cmd):
            raise ValueError("give exactly one of 'train' (\"path/module.py:function\") or 'cmd'")
        if self.train and ":" not in self.train:
            raise ValueError(f"train {self.train!r} must look like \"models/intent.py:train\"")
        if self.promote_if:
            from tusk.errors import TuskError
            from tusk.promote import parse

            try:
                parse(self.promote_if)
            except TuskError as exc:
                raise ValueError(str(exc)) from exc
        return self


class CostConfig(_Section):
    """Prices for ``tusk cost``; every figure is editable in ``[cost]``."""

    owned_gpus: int = 8
    gpu_hardware_price: float = 3500.0
    cpu_hardware_price: float = 2000.0
    hardware_life_years: float = 3.0
    gpu_watts: float = 350.0
    cpu_watts: float = 65.0
    power_price_kwh: float = 0.30
    cloud_gpu_hour: float = 3.0
    cloud_cpu_hour: float = 0.05
    self_hosted_yearly: float = 3600.0  # e.g. a hosted database or remote for the data store
    hosted_platform_year: float = 0.0
    currency: str = "$"


class Config(_Section):
    root: Path
    path: Path
    data: DataConfig = Field(default_factory=DataConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    release: ReleaseConfig = Field(default_factory=ReleaseConfig)
    cost: CostConfig = Field(default_factory=CostConfig)
    models: list[ModelSpec] = Field(default_factory=list)

    def resolve(self, relative: str | Path) -> Path:
        path = Path(relative)
        return path if path.is_absolute() else self.root / path


def url_path(url: str, root: Path) -> Path:
    """The file path in ``scheme:///rel`` or ``scheme:////abs``, resolved against ``root``."""
    rest = url.split("://", 1)[1] if "://" in url else url
    rest = rest.split("?", 1)[0]
    if rest.startswith("/"):
        rest = rest[1:]  # the empty host of scheme:///path
    path = Path(rest)
    return path if path.is_absolute() else root / path


def find_config(start: Path | None = None) -> Path:
    """The nearest ``tusk.toml`` at or above ``start`` (default: the working directory)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    raise ConfigError(f"no {CONFIG_NAME} in {here} or any parent folder (run 'tusk init' first)")


def load_config(path: Path) -> Config:
    path = path.resolve()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return Config(root=path.parent, path=path, **raw)
    except ValidationError as exc:
        raise ConfigError(_describe(path, raw, exc)) from exc
    except TypeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def _describe(path: Path, raw: dict[str, Any], exc: ValidationError) -> str:
    """One line: file, model (by name) and key of the first problem."""
    error = exc.errors()[0]
    loc = list(error["loc"])
    where = ""
    if len(loc) >= 2 and loc[0] == "models" and isinstance(loc[1], int):
        models = raw.get("models") or []
        name = models[loc[1]].get("name", "?") if loc[1] < len(models) and isinstance(models[loc[1]], dict) else "?"
        where = f"model {name!r} ([[models]] #{loc[1] + 1}): "
        loc = loc[2:]
    key = ".".join(str(part) for part in loc) or "(model)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    return f"{path}: {where}{key}: {message}"


