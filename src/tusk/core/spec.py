"""Model specs → instances: matrix expansion, safe names, code digests and fingerprints.

An *instance* is one expansion of a ``[[models]]`` entry (``intent-{customer}`` → ``intent-acme``).
Its matrix values are bound as ``:key`` in its input queries and appear in its params (spec params
first, matrix values over them). Nothing here does I/O except reading the code files it digests and
the matrix queries it asks the data store for.
"""

from __future__ import annotations

import functools
import glob
import hashlib
import itertools
import json
import re
import string
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tusk._internal.globbing import glob_files
from tusk.core.config import Config, ModelSpec
from tusk.errors import ConfigError

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_SAFE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(?<![.-])")  # what safe_name leaves as it is
MAX_NAME = 200  # instance names: registry names (PostgreSQL: 256), file names (255 bytes), image paths
MAX_INSTANCES = 50_000  # per project: a matrix query that lists more is a mistake (a join, a wrong column)
_PLACEHOLDER = re.compile(r"(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)")

MatrixQuery = Callable[[str], list[Any]]  # SQL → the values of its first column


@dataclass(frozen=True)
class InputQuery:
    query: str
    bound: dict[str, Any]


@dataclass
class Instance:
    name: str
    spec: ModelSpec
    matrix: dict[str, Any]
    params: dict[str, Any]
    inputs: dict[str, InputQuery]
    code_files: dict[str, str] = field(default_factory=dict)  # relative path → sha256
    digest: str = ""  # the code digest, when the spec's instances share one computed once (see expand)

    @property
    def entry(self) -> str:
        return self.spec.train or f"cmd: {self.spec.cmd}"

    @property
    def code_digest(self) -> str:
        return self.digest or code_digest(self.spec, self.code_files)


def code_digest(spec: ModelSpec, code_files: Mapping[str, str]) -> str:
    """sha256 over the entry point and the digests of the code files: what a model's code is."""
    return digest_json({"entry": spec.train or f"cmd: {spec.cmd}", "files": dict(code_files)})


def digest_json(value: Any) -> str:
    return hashlib.sha256(canonical(value).encode()).hexdigest()


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def safe_name(value: Any) -> str:
    """A readable, deterministic name part: ``"Acme Corp/EU"`` → ``"Acme-Corp-EU"``, ``"café"`` → ``"cafe"``."""
    if type(value) is str and _SAFE.fullmatch(value):  # (most values, at once: 10,000 of them per plan)
        return value
    text = unicodedata.normalize("NFKD", str(value)).encode("ascii", "ignore").decode()
    text = _UNSAFE.sub("-", text).strip("-.")
    return text or "x" + hashlib.sha256(str(value).encode()).hexdigest()[:8]


def bounded_name(name: str) -> str:
    """``name`` if it is at most MAX_NAME characters, else its start and a digest of the whole of it."""
    if len(name) <= MAX_NAME:
        return name
    return name[: MAX_NAME - 9].rstrip("-.") + "-" + hashlib.sha256(name.encode()).hexdigest()[:8]


def template_fields(template: str) -> list[str]:
    try:
        return [name for _, name, _, _ in string.Formatter().parse(template) if name]
    except ValueError as exc:
        raise ConfigError(f"model name {template!r}: {exc}") from exc


@functools.lru_cache(maxsize=1024)  # every instance of a spec asks of the same query text
def _placeholders(query: str) -> tuple[str, ...]:
    return tuple(sorted(set(_PLACEHOLDER.findall(query))))


def placeholders(query: str) -> list[str]:
    """The ``:name`` parameters of a query (not ``::casts``)."""
    return list(_placeholders(query))


def fingerprint(code_digest: str, params: Mapping[str, Any], input_digests: Mapping[str, tuple[str, Any, str]]) -> str:
    """sha256 over code digest, params, and per input: query text, bound values, digest of its rows."""
    return digest_json(
        {"code": code_digest, "params": dict(params), "inputs": {k: list(v) for k, v in sorted(input_digests.items())}}
    )


class CodeHasher:
    """sha256 of code files, each read once per process."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: dict[str, str] = {}

    def files(self, spec: ModelSpec) -> dict[str, str]:
        patterns = spec.code or ([spec.train.rsplit(":", 1)[0]] if spec.train else [])
        found: dict[str, str] = {}
        for pattern in patterns:
            matches = glob_files(str(self.root / pattern))
            if not matches and not glob.has_magic(pattern):
                raise ConfigError(f"model {spec.name!r}: code file {pattern!r} not found in {self.root}")
            for match in matches:
                path = Path(match)
                found[path.relative_to(self.root).as_posix()] = self._digest(path)
        return found

    def _digest(self, path: Path) -> str:
        key = str(path)
        if key not in self._cache:
            self._cache[key] = hashlib.sha256(path.read_bytes()).hexdigest()
        return self._cache[key]


def matrix_values(spec: ModelSpec, run_query: MatrixQuery) -> list[dict[str, Any]]:
    """Every combination of the spec's matrix values, in a stable order."""
    keys = sorted(spec.matrix)
    columns: list[list[Any]] = []
    for key in keys:
        source = spec.matrix[key]
        values = run_query(source) if isinstance(source, str) else list(source)
        if any(value is None for value in values):
            raise ConfigError(
                f"model {spec.name!r}: matrix.{key} has a NULL value; leave NULLs out of the "
                f"query (e.g. WHERE {key} IS NOT NULL)"
            )
        if not values:
            raise ConfigError(
                f"model {spec.name!r}: matrix.{key} has no values, so the model has no instances "
                "(an empty table, or a filter that keeps nothing?)"
            )
        columns.append(values)
    count = 1
    for values in columns:
        count *= len(values)
    if count > MAX_INSTANCES:
        raise ConfigError(
            f"model {spec.name!r}: its matrix makes {count:,} instances (at most "
            f"{MAX_INSTANCES:,}); check the matrix queries"
        )
    return [dict(zip(keys, combo)) for combo in itertools.product(*columns)]


def expand(config: Config, run_query: MatrixQuery, hasher: CodeHasher | None = None) -> list[Instance]:
    """All instances of all specs; name collisions are errors that name both sources."""
    from tusk.core.needs import check_needs

    check_needs(config.models)
    hasher = hasher or CodeHasher(config.root)
    instances: list[Instance] = []
    folded: dict[str, Instance] = {}  # by name.casefold(): two names that differ only in case share a folder
    for spec in config.models:
        check_spec(spec)
        code_files = hasher.files(spec)
        digest = code_digest(spec, code_files)
        spec_inputs = _inputs(spec)
        for values in matrix_values(spec, run_query):
            instance = make_instance(spec, values, code_files, digest, spec_inputs)
            name = instance.name
            key = name.casefold()
            other = folded.get(key)
            if other is not None:
                _collision(other, instance)
            folded[key] = instance
            instances.append(instance)
    return instances


def _collision(first: Instance, second: Instance) -> None:
    if first.name == second.name:
        raise ConfigError(
            f"instance name {second.name!r} is produced twice: by {_where(first)} and by {_where(second)}"
        )
    raise ConfigError(
        f"instance names {first.name!r} and {second.name!r} differ only in case (by {_where(first)} "
        f"and by {_where(second)}): they would share a folder on many file systems; make the values "
        "differ by more than case"
    )


def _where(instance: Instance) -> str:
    """Which spec and values made ``instance`` (said only when two collide)."""
    spec, values = instance.spec, instance.matrix
    return f"model {spec.name!r} with {_shown(values)}" if values else f"model {spec.name!r}"


def _shown(values: Mapping[str, Any], limit: int = 60) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in values.items())
    return text if len(text) <= limit else text[:limit] + "…"


def check_spec(spec: ModelSpec) -> None:
    fields = template_fields(spec.name)
    missing = [f for f in fields if f not in spec.matrix]
    if missing:
        raise ConfigError(f"model {spec.name!r}: name uses {{{missing[0]}}} but matrix has no key {missing[0]!r}")
    unused = [k for k in spec.matrix if k not in fields]
    if unused:
        raise ConfigError(
            f"model {spec.name!r}: matrix key {unused[0]!r} is not in the name template,"
            " so its instances would share names"
        )
    for input_name, query in spec.inputs.items():
        unknown = [p for p in placeholders(query) if p not in spec.matrix and p not in spec.params]
        if unknown:
            raise ConfigError(
                f"model {spec.name!r}: inputs.{input_name} uses :{unknown[0]},"
                " which is neither a matrix key nor a param"
            )


def make_instance(
    spec: ModelSpec,
    values: dict[str, Any],
    code_files: dict[str, str],
    digest: str = "",
    spec_inputs: list[tuple[str, str, tuple[str, ...]]] | None = None,
) -> Instance:
    """One instance of ``spec`` (``values``, a matrix value per key, is kept as its matrix, not copied)."""
    name = bounded_name(spec.name.format_map({k: safe_name(v) for k, v in values.items()}))
    params = {**spec.params, **values}
    inputs = {
        input_name: InputQuery(query, {p: params[p] for p in names})
        for input_name, query, names in (spec_inputs if spec_inputs is not None else _inputs(spec))
    }
    return Instance(name, spec, values, params, inputs, code_files, digest)


def _inputs(spec: ModelSpec) -> list[tuple[str, str, tuple[str, ...]]]:
    """The spec's inputs by name with their placeholders (the same for each of its instances)."""
    return [(input_name, query, _placeholders(query)) for input_name, query in sorted(spec.inputs.items())]


def shard_of(name: str, count: int) -> int:
    """The shard (1..count) an instance belongs to: stable when other instances come and go."""
    return int(hashlib.sha256(name.encode()).hexdigest()[:12], 16) % count + 1


def parse_shard(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise ConfigError(f"--shard {text!r}: use I/N with 1 <= I <= N, e.g. 1/4")
    return int(match.group(1)), int(match.group(2))


def select(names: Sequence[str], only: str | None = None, shard: tuple[int, int] | None = None) -> list[str]:
    from fnmatch import fnmatchcase

    chosen = [n for n in names if only is None or fnmatchcase(n, only)]
    if shard:
        chosen = [n for n in chosen if shard_of(n, shard[1]) == shard[0]]
    return chosen
