"""The one train function both tools run: a majority-label model with a word table, from a pandas frame."""

from __future__ import annotations

import pandas as pd


def fit(frame: pd.DataFrame) -> tuple[dict[str, object], dict[str, float]]:
    counts = frame["label"].value_counts()
    majority = str(counts.idxmax())
    words = frame["text"].str.split().explode().value_counts().head(20)
    model = {
        "majority": majority,
        "labels": {str(k): int(v) for k, v in counts.items()},
        "words": {str(k): int(v) for k, v in words.items()},
    }
    return model, {"accuracy": float((frame["label"] == majority).mean()), "rows": float(len(frame))}
