"""What a ``train(ctx)`` function receives (the training contract)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class TrainContext:
    """``inputs`` are pandas DataFrames read at the pinned data commit; write the model to ``output_dir``."""

    name: str
    inputs: Mapping[str, "pd.DataFrame"]
    params: dict[str, Any]
    output_dir: Path
    device: str = "cpu"
    data_commit: str = ""
    _metrics: dict[str, float] = field(default_factory=dict)
    _on_metric: Callable[[str, float], None] | None = None

    def log_metric(self, key: str, value: float) -> None:
        """Record a metric (the last value per key wins, merged with what train() returns)."""
        self._metrics[key] = float(value)
        if self._on_metric:
            self._on_metric(key, float(value))
