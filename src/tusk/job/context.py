"""What a ``train(ctx)`` function receives (the training contract)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class NeededModel:
    """A model this one needs (``needs = ["base"]``): the version of it this job trains against."""

    name: str
    version: str
    path: Path  # the version's files (its MLflow model folder), on this machine
    fingerprint: str
    metrics: Mapping[str, float] = field(default_factory=dict)


@dataclass
class SetupContext:
    """What a spec's ``setup`` function receives: once per worker process and versions of what it needs."""

    spec: str
    needs: Mapping[str, NeededModel]
    device: str = "cpu"


@dataclass
class TrainContext:
    """``inputs`` are pandas DataFrames read at the pinned data commit. Save the model with ``log_model``
    (MLflow's own format, loadable with ``mlflow.pyfunc.load_model``) or write files to ``output_dir``.
    ``needs`` holds the versions of the models this one needs; ``shared`` the value of the spec's ``setup``
    function, called once per worker process (and per version of what it needs), not once per job."""

    name: str
    inputs: Mapping[str, pd.DataFrame]
    params: dict[str, Any]
    output_dir: Path
    device: str = "cpu"
    data_commit: str = ""
    needs: Mapping[str, NeededModel] = field(default_factory=dict)  # by the name in ``needs``/``inputs``
    shared: Any = None  # what the spec's ``setup`` returned on this worker (None without setup)
    _metrics: dict[str, float] = field(default_factory=dict)
    _on_metric: Callable[[str, float], None] | None = None

    def log_metric(self, key: str, value: float) -> None:
        """Record a metric (the last value per key wins, merged with what train() returns)."""
        self._metrics[key] = float(value)
        if self._on_metric:
            self._on_metric(key, float(value))

    def log_model(self, model: Any, flavor: str = "sklearn", input_example: Any = None, **options: Any) -> Path:
        """Save ``model`` with MLflow's ``save_model`` of ``flavor`` into ``output_dir``.

        ``flavor`` is ``"sklearn"``, ``"pytorch"``, ``"transformers"`` or ``"pyfunc"`` (anything with a
        ``predict`` method, or an ``mlflow.pyfunc.PythonModel``). With an ``input_example`` the model gets a
        signature and an example request; requirements are pinned to the versions installed here. Other
        ``options`` go to MLflow's ``save_model`` (``pip_requirements``, ``code_paths``, ``metadata``, ...).
        """
        from tusk.job.mlmodel import save_model

        return save_model(model, flavor, self.output_dir, input_example, **options)
