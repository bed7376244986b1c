"""What runs inside a job: ``run_job`` trains one instance in an executor's worker.

It reads the instance's inputs at the pinned data commit (a read-only snapshot, so a merge during the run
changes nothing), calls ``train(ctx)`` or the ``cmd``, and returns metrics and input digests. ``prepare_job``
makes the spec's setup value in the worker before the job (see ``tusk.job.shared``). Executors call both by
name (``JOB_FUNCTION``, ``PREPARE_FUNCTION``); the calling half (plan, schedule, record) is
``tusk.train.runner``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import posixpath
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tusk.core.config import Config
from tusk.core.needs import need_record
from tusk.core.plan import read_input
from tusk.core.spec import InputQuery
from tusk.errors import JobError, TuskError
from tusk.job.context import TrainContext
from tusk.job.shared import needed_models, shared_value

JOB_FUNCTION = "tusk.job.run:run_job"
PREPARE_FUNCTION = "tusk.job.run:prepare_job"  # the spec's setup, where the worker keeps it (see tusk.job.shared)

_STORES: dict[tuple[str, str], Any] = {}  # the data store per url and project, kept by the worker process
_FUNCTIONS: dict[tuple[str, str, float], Callable[..., Any]] = {}


def run_job(payload: dict[str, Any]) -> dict[str, Any]:
    """Train one instance in a worker. Returns metrics and the digests of the inputs it read."""
    config: Config = payload["config"]
    commit: str = payload["data_commit"]
    job_dir = Path(payload["job_dir"])
    output_dir = job_dir / "model"
    output_dir.mkdir(parents=True, exist_ok=True)
    frames, records = _read_inputs(config, payload["inputs"], commit)
    for key, need in needed_models(payload).items():  # what it trains against is part of its fingerprint
        records[key] = asdict(need_record(need.name, need.fingerprint))
    device = _device()
    if payload.get("train"):
        metrics = _call_train(config, payload, frames, output_dir, device, commit)
    else:
        metrics = _call_cmd(config, payload, frames, job_dir, output_dir)
    needs = {key: f"{need.name}@{need.version}" for key, need in needed_models(payload).items()}
    return {"metrics": _numbers(metrics), "inputs": records, "device": device, "needs": needs}


def prepare_job(payload: dict[str, Any]) -> None:
    """The spec's setup value, made in this worker process unless it holds it already (a Ray worker, before it
    forks the attempt's child; on a local worker ``run_job`` finds it the same way)."""
    config: Config = payload["config"]
    shared_value(config.root, payload, _device(), _load_function)


def _store(config: Config) -> Any:
    from tusk.backends import backend_class

    key = (config.data.url, str(config.root))
    if key not in _STORES:
        _STORES[key] = backend_class("data", config.data.url)(config.data.url, config)
    return _STORES[key]


def _read_inputs(config: Config, inputs: dict[str, Any], commit: str) -> tuple[dict[str, Any], dict[str, Any]]:
    import pandas as pd

    store = _store(config)
    frames, records = {}, {}
    for name, query in inputs.items():
        read = read_input(store, InputQuery(query["query"], query["bound"]), commit)
        frames[name] = pd.DataFrame.from_records(read.rows, columns=read.columns)
        records[name] = asdict(read.record)
    return frames, records


def _device() -> str:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    return f"cuda:{visible.split(',')[0]}" if visible.strip() else "cpu"


def _load_function(root: Path, entry: str) -> Callable[..., Any]:
    """``models/intent.py:train`` → the function, loaded from the file (cached by path and mtime).

    A missing file or function, or a module that does not import, is a JobError: another attempt would
    fail the same way, so the job is not retried."""
    file_part, _, function = entry.rpartition(":")
    path = (root / file_part).resolve()
    key = (str(path), function, path.stat().st_mtime if path.exists() else 0.0)
    if key not in _FUNCTIONS:
        _FUNCTIONS[key] = load_entry(path, entry, function)
    return _FUNCTIONS[key]


def load_entry(path: Path, entry: str, function: str) -> Callable[..., Any]:
    if not path.is_file():
        raise JobError(f"train entry {entry!r}: {path} not found")
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(f"tusk_user_{abs(hash(str(path)))}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except (ImportError, SyntaxError) as exc:
        raise JobError(f"train entry {entry!r}: {path.name} does not import: {type(exc).__name__}: {exc}") from exc
    if not callable(getattr(module, function, None)):
        raise JobError(f"train entry {entry!r}: {path.name} has no function {function!r}")
    return getattr(module, function)  # type: ignore[no-any-return]


def _call_train(
    config: Config, payload: dict[str, Any], frames: dict[str, Any], output_dir: Path, device: str, commit: str
) -> dict[str, Any]:
    function = _load_function(config.root, payload["train"])
    shared = shared_value(config.root, payload, device, _load_function)
    ctx = TrainContext(
        name=payload["name"],
        inputs=frames,
        params=dict(payload["params"]),
        output_dir=output_dir,
        device=device,
        data_commit=commit,
        needs=needed_models(payload),
        shared=shared,
    )
    returned = function(ctx)
    if returned is not None and not isinstance(returned, Mapping):
        raise JobError(f"{payload['train']} returned {type(returned).__name__}; return a dict of metrics (or None)")
    return {**ctx._metrics, **dict(returned or {})}


def _call_cmd(
    config: Config, payload: dict[str, Any], frames: dict[str, Any], job_dir: Path, output_dir: Path
) -> dict[str, float]:
    from tusk._internal.sqlite import child_env

    inputs_dir = job_dir / "inputs"
    inputs_dir.mkdir(exist_ok=True)
    for name, frame in frames.items():
        frame.to_csv(inputs_dir / f"{name}.csv", index=False)
    metrics_file = job_dir / "metrics.json"
    env = child_env(
        {
            "TUSK_INPUTS_DIR": str(inputs_dir),
            "TUSK_PARAMS_JSON": json.dumps(payload["params"]),
            "TUSK_OUTPUT_DIR": str(output_dir),
            "TUSK_METRICS_FILE": str(metrics_file),
            "TUSK_INSTANCE": payload["name"],
            "TUSK_DATA_COMMIT": payload["data_commit"],
            "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
        }
    )
    sys.stdout.flush()
    sys.stderr.flush()
    code = subprocess.call(payload["cmd"], shell=True, cwd=config.root, env=env)
    if code != 0:
        raise TuskError(f"command exited with code {code}")
    if not metrics_file.is_file():
        return {}
    return dict(json.loads(metrics_file.read_text() or "{}"))


METRIC_NAME = re.compile(r"[/\w.\- :]*")  # MLflow's rule for a metric's name (mlflow.utils.validation)
METRIC_NAME_MAX = 250


def metric_name_problem(name: str) -> str:
    """Why MLflow would refuse ``name`` as a metric's name ("" when it takes it): checked in the job, so such a
    metric fails that job with one line before anything is logged, not the run's registration."""
    if len(name) > METRIC_NAME_MAX:
        return f"is {len(name)} characters long (MLflow takes at most {METRIC_NAME_MAX})"
    if not METRIC_NAME.fullmatch(name):
        return "may only hold letters, digits, '_', '-', '.', ' ', ':' and '/' (MLflow's rule)"
    normal = posixpath.normpath(name)
    if normal != name or normal == "." or normal.startswith(("..", "/")):
        return "must be a plain relative path (no empty, '.' or '..' part, no leading '/')"
    return ""


def _numbers(metrics: dict[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in metrics.items():
        problem = metric_name_problem(str(key))
        if problem:
            raise JobError(f"metric name {str(key)[:60]!r}{'…' if len(str(key)) > 60 else ''} {problem}")
        try:
            out[str(key)] = float(value)
        except (TypeError, ValueError) as exc:
            raise JobError(f"metric {key!r} is not a number: {value!r}"[:300]) from exc
    return out
