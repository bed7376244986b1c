"""A metric's change as a person reads it: ``−0.067`` (not ``-0.06667``), ``±0`` (not ``+0``), and whether it is
worse. The change is shown as it is when the metrics' own digits hold it (``0.625 − 0.5``: ``+0.125``), else to two
significant digits; never finer than the metrics themselves are shown (``.4g``), and never rounding a whole number
into tens (``+234``). A metric whose name says an error or a cost (loss, error,
rmse, mae, latency …) is better lower; any other (accuracy, f1, auc …) is better higher, so its drop is worse."""

from __future__ import annotations

import math
import re

SHOWN = 4  # significant digits a metric's value is shown with (``.4g``)
DELTA = 2  # significant digits of a change
MINUS = "−"
_LOWER_IS_BETTER = re.compile(
    r"(?:^|[^a-z])(?:loss|err|error|errors|rmse|mse|mae|mape|smape|rmsle|wer|cer|perplexity|logloss|latency|"
    r"seconds|secs|time|duration|cost|bias|brier|nll)(?:$|[^a-z])|(?:loss|error)$",
    re.IGNORECASE,
)


def lower_is_better(name: str) -> bool:
    """Whether a smaller value of the metric ``name`` is the better one (by its name: loss, error, rmse …)."""
    return bool(_LOWER_IS_BETTER.search(name))


def _decimals(value: float, digits: int) -> int:
    """Decimal places of ``value`` shown to ``digits`` significant digits (0 for a value with no fraction shown)."""
    if value == 0 or not math.isfinite(value):
        return 0
    return max(0, digits - 1 - math.floor(math.log10(abs(value))))


def delta_text(delta: float, *values: float) -> str:
    """``delta`` to two significant digits, at most as fine as ``values`` (the metrics compared) are shown:
    ``−0.067``, ``+0.5``, ``+234``, ``±0`` for no change that shows."""
    if not math.isfinite(delta):
        return f"{delta:+}".replace("-", MINUS)
    shown = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    finest = max((_places(f"{v:.{SHOWN}g}") for v in shown), default=None)
    places = _decimals(delta, DELTA)
    if finest is not None:
        exact = round(delta, finest)  # 0.625 − 0.5: +0.125 as it is, not +0.12
        places = finest if math.isclose(exact, delta, rel_tol=1e-9, abs_tol=1e-12) else min(places, finest)
    rounded = round(delta, places)
    if rounded == 0:
        return "±0"
    text = f"{abs(rounded):.{places}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return ("+" if rounded > 0 else MINUS) + text


def _places(shown: str) -> int:
    """Decimal places in a number as shown (``0.9333`` → 4, ``1.2e-05`` → 6, ``120`` → 0)."""
    if "e" in shown:
        mantissa, exponent = shown.split("e")
        return max(0, _places(mantissa) - int(exponent))
    return len(shown.split(".", 1)[1]) if "." in shown else 0


def delta_quality(name: str, delta: float, *values: float) -> str:
    """``worse``, ``better`` or ``same`` (no change that shows) for a change of the metric ``name``."""
    if delta_text(delta, *values) == "±0" or not math.isfinite(delta):
        return "same"
    higher = delta > 0
    return "better" if higher != lower_is_better(name) else "worse"
