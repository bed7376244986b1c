"""``tusk.toml`` → typed configuration. Errors name the file, the model and the key.

Relative paths in URLs (``doltlite:///data/training.db``, ``sqlite:///.tusk/mlflow.db``) resolve against
the folder of ``tusk.toml``; four slashes (``sqlite:////abs/path``) mean an absolute path.
"""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path, PurePosixPath, PureWindowsPath
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


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1e3,
    "mb": 1e6,
    "gb": 1e9,
    "tb": 1e12,
    "kib": 1 << 10,
    "mib": 1 << 20,
    "gib": 1 << 30,
    "tib": 1 << 40,
}


def parse_size(value: str | int | float | None) -> float | None:
    """``"256MB"`` → 256e6; numbers are bytes; None stays None."""
    if value is None or isinstance(value, (int, float)):
        return None if value is None else float(value)
    match = _SIZE.match(value)
    if not match:
        raise ValueError(f"not a size: {value!r} (use e.g. 500MB, 2GiB)")
    return float(match.group(1)) * _SIZE_UNITS[(match.group(2) or "").lower()]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Section):
    url: str = "doltlite:///data/training.db"
    branch: str = "main"
    remotes: dict[str, str] = Field(default_factory=dict)
    # an import onto the data branch that would modify or remove more than this share of a table's rows (and
    # at least confirm_min_rows rows) asks for --yes: a stale file re-imported would silently undo a merged fix
    confirm_fraction: float = Field(default=0.1, ge=0.0, le=1.0)
    confirm_min_rows: int = Field(default=10, ge=0)
    # every query of the store's data (tusk data sql, matrix and input queries, checks) is stopped after this
    # long, or when the process has grown by query_memory while it ran (tusk.data._sql.QueryBound)
    query_timeout: float = 60.0
    query_memory: float = float(1 << 30)

    @field_validator("query_timeout", mode="before")
    @classmethod
    def _timeout(cls, value: Any) -> float | None:
        return parse_duration(value)

    @field_validator("query_memory", mode="before")
    @classmethod
    def _memory(cls, value: Any) -> float | None:
        return parse_size(value)

    @field_validator("query_timeout", "query_memory")
    @classmethod
    def _positive(cls, value: float) -> float:
        if not math.isfinite(value) or value <= 0:
            raise ValueError('must be a positive amount (e.g. query_timeout = "60s", query_memory = "1GiB")')
        return value


class TrackingConfig(_Section):
    url: str = "sqlite:///.tusk/mlflow.db"


# Ceilings of what a setting may ask for: beyond them a number is a typo (1e9 CPUs), not a machine.
MAX_CPUS = 1024  # a job's resources.cpus
MAX_GPUS = 64  # a job's resources.gpus
MAX_DEVICES = 1024  # [executor] gpus: devices of one machine
MAX_RETRIES = 100  # a job's resources.retries
MAX_WORKERS = 1024  # jobs at once: local://?workers=N, tusk run --workers


class ExecutorConfig(_Section):
    url: str = "local://?workers=2"
    gpus: str | int | list[int] = "auto"

    @field_validator("url")
    @classmethod
    def _workers(cls, value: str) -> str:
        """``?workers=N`` within MAX_WORKERS, said when tusk.toml is read (tusk.execute.base.parse_workers reads it)."""
        found = re.search(r"[?&]workers=(\d+)", value)
        if found and int(found.group(1)) > MAX_WORKERS:
            raise ValueError(f"at most {MAX_WORKERS} workers")
        return value

    @field_validator("gpus")
    @classmethod
    def _devices(cls, value: str | int | list[int]) -> str | int | list[int]:
        count = len(value) if isinstance(value, list) else int(value) if str(value).isdigit() else 0
        if count > MAX_DEVICES:
            raise ValueError(f"at most {MAX_DEVICES} devices")
        return value


class ReleaseConfig(_Section):
    image: str = "localhost/tusk-models"
    base_image: str = "python:3.11-slim"
    builder: str = "auto"
    auto: bool = False


class JobsConfig(_Section):
    """Job folders under .tusk/jobs (one per ``tusk run``): the newest ``keep`` are kept, none older than
    ``max_age``. A registered version's log is an artifact of its MLflow run, so pruning loses nothing."""

    keep: int = Field(default=20, ge=0)
    max_age: float | None = 30 * 86400.0

    @field_validator("max_age", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float | None:
        return parse_duration(value)


class Resources(_Section):
    cpus: float = 1.0
    gpus: float = 0.0
    timeout: float | None = None
    retries: int = 0
    max_log: float | None = 1e9  # bytes of a job's log (stdout and stderr); a job that writes more is stopped

    @field_validator("timeout", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float | None:
        return parse_duration(value)

    @field_validator("max_log", mode="before")
    @classmethod
    def _size(cls, value: Any) -> float | None:
        return parse_size(value)

    @field_validator("cpus", "gpus", "retries")
    @classmethod
    def _not_negative(cls, value: float) -> float:
        if value < 0:
            raise ValueError("must not be negative")
        return value

    @field_validator("cpus")
    @classmethod
    def _cpus(cls, value: float) -> float:
        return _at_most(value, MAX_CPUS)

    @field_validator("gpus")
    @classmethod
    def _gpus(cls, value: float) -> float:
        return _at_most(value, MAX_GPUS)

    @field_validator("retries")
    @classmethod
    def _retries(cls, value: int) -> int:
        return int(_at_most(value, MAX_RETRIES))


def _at_most(value: float, ceiling: int) -> float:
    if not math.isfinite(value) or value > ceiling:
        raise ValueError(f"{value:g} is more than tusk allows ({ceiling})")
    return value


def _inside_project(pattern: str) -> str:
    """A ``code`` glob names files of the project: refused, before any walking, when absolute or escaping it."""
    path = PurePosixPath(pattern.replace("\\", "/"))
    if not pattern.strip() or path.is_absolute() or pattern.startswith("~") or PureWindowsPath(pattern).drive:
        raise ValueError(f'{pattern!r}: use a path relative to the project\'s folder (e.g. "models/*.py")')
    depth = 0
    for part in path.parts:
        depth += -1 if part == ".." else 0 if part == "." else 1
        if depth < 0:
            raise ValueError(f"{pattern!r} leaves the project's folder: code globs name files inside it")
    return pattern


MODEL_INPUT = "model:"  # inputs.base = "model:base": another spec's version as an input (same as needs)


class ModelSpec(_Section):
    name: str
    train: str | None = None
    cmd: str | None = None
    code: list[str] | None = None
    inputs: dict[str, str] = Field(default_factory=dict)  # name → SQL (a "model:" input moves to ``needs``)
    needs: dict[str, str] = Field(default_factory=dict)  # name in ctx.needs → the spec whose version it gets
    setup: str | None = None  # "models/x.py:function": its value is ctx.shared, once per worker process
    matrix: dict[str, str | list[str | int | float]] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    resources: Resources = Field(default_factory=Resources)
    promote_if: str | None = None

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        literal = re.sub(r"\{[A-Za-z_][A-Za-z0-9_]*\}", "x", value)
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}", literal) or ".." in literal:
            raise ValueError(
                f"name {value!r}: use letters, digits, '_', '.', '-' and {{matrix keys}}, "
                "starting with a letter or digit (it names registry models and folders)"
            )
        return value

    @field_validator("code", mode="before")
    @classmethod
    def _code_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("code")
    @classmethod
    def _code_inside(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [_inside_project(pattern) for pattern in value]

    @model_validator(mode="before")
    @classmethod
    def _model_inputs(cls, raw: Any) -> Any:
        """``needs = ["base"]`` and ``inputs.base = "model:base"`` both become ``needs = {"base": "base"}``."""
        if not isinstance(raw, dict):
            return raw
        needs = raw.get("needs", {})
        if isinstance(needs, str):
            needs = [needs]
        if isinstance(needs, list):
            if not all(isinstance(n, str) for n in needs):
                raise ValueError('needs: a list of model names, e.g. needs = ["base"]')
            needs = {name: name for name in needs}
        inputs = raw.get("inputs", {})
        if isinstance(inputs, dict) and isinstance(needs, dict):
            for key, value in list(inputs.items()):
                if isinstance(value, str) and value.strip().startswith(MODEL_INPUT):
                    needed = value.strip()[len(MODEL_INPUT) :].strip()
                    if needs.get(key, needed) != needed:
                        raise ValueError(f"inputs.{key} and needs give {key!r} two models")
                    needs = {**needs, key: needed}
                    inputs = {k: v for k, v in inputs.items() if k != key}
            raw = {**raw, "inputs": inputs, "needs": needs}
        return raw

    @model_validator(mode="after")
    def _train_or_cmd(self) -> ModelSpec:
        if bool(self.train) == bool(self.cmd):
            raise ValueError("give exactly one of 'train' (\"path/module.py:function\") or 'cmd'")
        if self.train and ":" not in self.train:
            raise ValueError(f'train {self.train!r} must look like "models/intent.py:train"')
        if self.setup and ":" not in self.setup:
            raise ValueError(f'setup {self.setup!r} must look like "models/adapter.py:load_base"')
        if self.setup and not self.train:
            raise ValueError("setup needs a 'train' function to hand its value to (a 'cmd' model has no ctx)")
        clash = sorted(set(self.needs) & set(self.inputs))
        if clash:
            raise ValueError(f"{clash[0]!r} is both an input and a need")
        for key, needed in self.needs.items():
            if not key.strip() or not needed.strip():
                raise ValueError(f'needs {key!r}: name the model it needs (needs = ["base"])')
        if self.promote_if:
            from tusk.core.promote import parse
            from tusk.errors import TuskError

            try:
                parse(self.promote_if)
            except TuskError as exc:
                raise ValueError(str(exc)) from exc
        return self


_SOURCE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _identifier(value: str, what: str) -> str:
    if not _IDENTIFIER.match(value or "") or value.lower().startswith(("dolt_", "sqlite_", "tusk_")):
        raise ValueError(f"{what} {value!r}: use letters, digits and _ (not starting with a digit)")
    return value


def _key_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class SourceConfig(_Section):
    """A ``[[sources]]`` entry: where edits come from; ``tusk data sync`` brings them to ``sync/<name>``."""

    name: str
    url: str  # gsheet://ID/TAB, a file or glob (relative to tusk.toml), or an http(s):// CSV/Parquet URL
    table: str
    key: list[str] = Field(default_factory=list)
    mode: str = "replace"

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _SOURCE_NAME.match(value) or ".." in value or value.endswith("."):
            raise ValueError(f"{value!r}: use letters, digits, '.', '_' and '-' (it names the branch sync/<name>)")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("table")
    @classmethod
    def _table(cls, value: str) -> str:
        return _identifier(value, "table")

    @field_validator("key", mode="before")
    @classmethod
    def _keys(cls, value: Any) -> Any:
        return _key_list(value)

    @field_validator("mode")
    @classmethod
    def _mode(cls, value: str) -> str:
        if value not in ("replace", "upsert", "append"):
            raise ValueError(f"{value!r}: use replace, upsert or append")
        return value

    @property
    def branch(self) -> str:
        return f"sync/{self.name}"


CHECK_KINDS = ("not_null", "unique", "accepted_values", "range", "row_count", "max_changed_rows", "sql")


class AcceptedValues(_Section):
    column: str
    values: list[str | int | float | bool]


class RangeRule(_Section):
    column: str
    min: float | None = None
    max: float | None = None


class Bounds(_Section):
    min: int | None = None
    max: int | None = None


class CheckConfig(_Section):
    """A ``[[checks]]`` entry: one rule over one table (or an ``sql`` query whose rows are violations)."""

    name: str
    table: str | None = None
    not_null: list[str] | None = None
    unique: list[str] | None = None
    accepted_values: AcceptedValues | None = None
    range: RangeRule | None = None
    row_count: Bounds | None = None
    max_changed_rows: int | None = None
    sql: str | None = None

    @field_validator("not_null", "unique", mode="before")
    @classmethod
    def _columns(cls, value: Any) -> Any:
        return _key_list(value)

    @model_validator(mode="after")
    def _one_rule(self) -> CheckConfig:
        given = [kind for kind in CHECK_KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(CHECK_KINDS)} (found {', '.join(given) or 'none'})")
        if self.table is not None:
            _identifier(self.table, "table")
        if given[0] not in ("sql", "max_changed_rows") and self.table is None:
            raise ValueError(f"{given[0]} needs 'table'")
        if self.max_changed_rows is not None and self.max_changed_rows < 0:
            raise ValueError("max_changed_rows must not be negative")
        return self

    @property
    def kind(self) -> str:
        return next(kind for kind in CHECK_KINDS if getattr(self, kind) is not None)


class ReviewConfig(_Section):
    """``[review]``: ``gate`` must hold for every candidate model of a review before it merges."""

    gate: str | None = None

    @field_validator("gate")
    @classmethod
    def _gate(cls, value: str | None) -> str | None:
        if value:
            from tusk.core.promote import parse
            from tusk.errors import TuskError

            try:
                parse(value, allow_production=True)
            except TuskError as exc:
                raise ValueError(str(exc)) from exc
        return value


class WatchConfig(_Section):
    """``[watch]``: ``sync = true`` makes ``tusk watch`` sync every source on each poll."""

    sync: bool = False
    interval: float | None = None

    @field_validator("interval", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float | None:
        return parse_duration(value)


class CostConfig(_Section):
    """Prices for ``tusk cost``; every figure is editable in ``[cost]``."""

    owned_gpus: int | None = Field(default=None, ge=0)  # None: follow the recorded jobs (none used a GPU → 0)
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
    review: ReviewConfig = Field(default_factory=ReviewConfig)
    watch: WatchConfig = Field(default_factory=WatchConfig)
    jobs: JobsConfig = Field(default_factory=JobsConfig)
    models: list[ModelSpec] = Field(default_factory=list)
    sources: list[SourceConfig] = Field(default_factory=list)
    checks: list[CheckConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        for what, entries in (("sources", self.sources), ("checks", self.checks)):
            seen: set[str] = set()
            for entry in entries:
                if entry.name in seen:
                    raise ValueError(f"[[{what}]]: the name {entry.name!r} is used twice")
                seen.add(entry.name)
        return self

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
    if len(loc) >= 2 and loc[0] in ("models", "sources", "checks") and isinstance(loc[1], int):
        entries = raw.get(str(loc[0])) or []
        entry = entries[loc[1]] if loc[1] < len(entries) and isinstance(entries[loc[1]], dict) else {}
        name = entry.get("name", "?")
        what = {"models": "model", "sources": "source", "checks": "check"}[str(loc[0])]
        where = f"{what} {name!r} ([[{loc[0]}]] #{loc[1] + 1}): "
        loc = loc[2:]
    key = ".".join(str(part) for part in loc) or "(model)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key" + _did_you_mean(str(loc[-1]) if loc else "")
    return f"{path}: {where}{key}: {message}"


def _did_you_mean(key: str) -> str:
    """`` (did you mean promote_if?)`` for a misspelt key: the closest key any section of tusk.toml has."""
    import difflib

    known: set[str] = set()
    sections: list[type[BaseModel]] = [_Section]
    while sections:
        section = sections.pop()
        sections.extend(section.__subclasses__())
        known.update(name for name, field in section.model_fields.items() if not name.startswith("_"))
        known.update(field.alias for field in section.model_fields.values() if field.alias)
    close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""
