"""``ctx.log_model``: a model in MLflow's own format, so MLflow's tools load and serve what tusk trains.

The flavor's own ``save_model`` writes the model into the job's output folder (an ``MLmodel`` file, the
serialized model, a signature inferred from the input example, and pinned requirements); the output
folder becomes the registered version's artifact, so ``mlflow.pyfunc.load_model("models:/NAME@production")``
and ``mlflow models serve`` work on it. Anything else the train function writes to ``ctx.output_dir``
stays beside it.

Requirements are pinned from what is installed in the worker (``scikit-learn==1.5.2``, ...) instead of
MLflow's inference, which loads the model again in a subprocess (about 4 s a model). Pass
``pip_requirements=`` or ``extra_pip_requirements=`` to say more; they go to MLflow unchanged.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import shutil
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from tusk.errors import JobError

FLAVORS = ("sklearn", "pytorch", "transformers", "pyfunc")
_FLAVOR_PACKAGES = {"sklearn": "sklearn", "pytorch": "torch", "transformers": "transformers", "pyfunc": None}
_ALWAYS_PINNED = ("numpy", "pandas")
_ENV_OPTIONS = ("pip_requirements", "extra_pip_requirements", "conda_env")


def save_model(model: Any, flavor: str, output_dir: Path, input_example: Any = None, **options: Any) -> Path:
    """Save ``model`` with MLflow's ``save_model`` of ``flavor`` into ``output_dir``; → output_dir."""
    if flavor not in FLAVORS:
        raise JobError(f"log_model: unknown flavor {flavor!r} (use one of {', '.join(FLAVORS)})")
    package = _FLAVOR_PACKAGES[flavor]
    if package and importlib.util.find_spec(package) is None:
        raise JobError(f"log_model(flavor={flavor!r}) needs the {package!r} package in the training environment")
    if (output_dir / "MLmodel").exists():
        raise JobError("log_model was already called in this job: one model per instance")
    staging = output_dir.parent / ".mlmodel"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with _quiet():
            _SAVERS[flavor](model, staging, input_example, options)
        _move_into(staging, output_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return output_dir


def _move_into(staging: Path, output_dir: Path) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    clashes = sorted(p.name for p in staging.iterdir() if (output_dir / p.name).exists())
    if clashes:
        raise JobError(f"log_model: {', '.join(clashes)} already in ctx.output_dir (MLflow's model files go there)")
    for path in staging.iterdir():
        path.rename(output_dir / path.name)


@contextmanager
def _quiet() -> Iterator[None]:
    """MLflow's save notes (pickle caveats, type-hint hints) are not the job's news: warnings and worse only."""
    names = ["mlflow"] + [name for name in logging.root.manager.loggerDict if name.startswith("mlflow.")]
    chatty = [logging.getLogger(name) for name in names]
    levels = [log.level for log in chatty]
    for log in chatty:
        log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            yield
    finally:
        for log, level in zip(chatty, levels):
            log.setLevel(level)


# ----- requirements ------------------------------------------------------------------------------------
@cache
def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


@cache
def _distributions() -> dict[str, list[str]]:
    return dict(importlib.metadata.packages_distributions())


def pinned(*distributions: str) -> list[str]:
    """``name==version`` for each installed distribution (those not installed are left out)."""
    out = []
    for name in dict.fromkeys(distributions):
        version = _version(name)
        if version:
            out.append(f"{name}=={version}")
    return out


def _distribution_of(obj: Any) -> list[str]:
    """The installed distribution that provides ``obj``'s class (none for the project's own code)."""
    top = type(obj).__module__.split(".", 1)[0]
    if top in ("builtins", "__main__") or top not in sys.modules:
        return []
    return _distributions().get(top, [])[:1]


def _env(options: dict[str, Any], *distributions: str) -> dict[str, Any]:
    """The options for MLflow's save_model: the caller's, or tusk's pinned requirements when it gave none."""
    if any(options.get(key) is not None for key in _ENV_OPTIONS):
        return options
    return {**options, "pip_requirements": pinned(*distributions, *_ALWAYS_PINNED)}


# ----- one saver per flavor ---------------------------------------------------------------------------
def _save_sklearn(model: Any, path: Path, example: Any, options: dict[str, Any]) -> None:
    import mlflow.sklearn

    options = dict(options)
    chosen = options.pop("serialization_format", None)
    formats = [chosen] if chosen else (["skops", "cloudpickle"] if _importable(model) else ["cloudpickle"])
    for number, fmt in enumerate(formats, 1):
        extra = {"skops": ("skops",), "cloudpickle": ("cloudpickle",)}.get(fmt, ())
        try:
            mlflow.sklearn.save_model(
                model,
                str(path),
                input_example=example,
                serialization_format=fmt,
                **_env(options, "scikit-learn", *extra, *_distribution_of(model)),
            )
            return
        except Exception:
            if number == len(formats):
                raise
            shutil.rmtree(path, ignore_errors=True)  # skops cannot hold every estimator: cloudpickle can


def _importable(model: Any) -> bool:
    """Whether every class in the estimator (and its nested estimators) can be imported by name when loaded.

    A class defined in the train file is not (tusk loads that file under a private name), so such a model
    is pickled by value with cloudpickle instead of skops, which stores classes by name."""
    seen = [model]
    try:
        seen += [v for v in model.get_params(deep=True).values() if hasattr(v, "__class__")]
    except Exception:  # noqa: BLE001
        pass
    for obj in seen:
        module = type(obj).__module__
        if module.startswith("tusk_user_") or module == "__main__" or module not in sys.modules:
            return False
    return True


def _save_pytorch(model: Any, path: Path, example: Any, options: dict[str, Any]) -> None:
    import mlflow.pytorch

    mlflow.pytorch.save_model(model, str(path), input_example=example, **_env(options, "torch", "cloudpickle"))


def _save_transformers(model: Any, path: Path, example: Any, options: dict[str, Any]) -> None:
    import mlflow.transformers

    mlflow.transformers.save_model(
        model, str(path), input_example=example, **_env(options, "transformers", "torch", "tokenizers", "safetensors")
    )


def _save_pyfunc(model: Any, path: Path, example: Any, options: dict[str, Any]) -> None:
    import mlflow.pyfunc

    if isinstance(model, mlflow.pyfunc.PythonModel):
        wrapped, provided_by = model, _distribution_of(model)
    elif callable(getattr(model, "predict", None)):
        wrapped, provided_by = _predictor(model), _distribution_of(model)
    else:
        raise JobError(
            f"log_model(flavor='pyfunc') needs an object with a predict() method or an "
            f"mlflow.pyfunc.PythonModel, not {type(model).__name__}"
        )
    mlflow.pyfunc.save_model(
        str(path), python_model=wrapped, input_example=example, **_env(options, "cloudpickle", *provided_by)
    )


def _predictor(model: Any) -> Any:
    """A PythonModel whose predict calls ``model.predict``. The class is made here, inside a function, so
    cloudpickle stores it by value: loading the model does not need tusk installed."""
    import mlflow.pyfunc

    base: Any = mlflow.pyfunc.PythonModel

    class Predictor(base):  # type: ignore[misc]
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            return self.inner.predict(model_input)

    return Predictor(model)


_SAVERS: dict[str, Callable[[Any, Path, Any, dict[str, Any]], None]] = {
    "sklearn": _save_sklearn,
    "pytorch": _save_pytorch,
    "transformers": _save_transformers,
    "pyfunc": _save_pyfunc,
}
