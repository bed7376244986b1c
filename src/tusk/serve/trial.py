"""A model's page "try it": the version ``tusk serve`` would answer with (the current release's, else the
production alias), its logged input example (``serving_input_example.json``) as the form's first payload, and a
payload scored as the server scores it: the version's files fetched into the server's cache (``TrackerSource``),
loaded by the server's loader (``pool.load_pyfunc``), parsed and answered by the server's ``score``."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tusk.errors import TuskError
from tusk.tracking.base import Tracker

KEEP = 4  # loaded models kept between tries (the page's process), least recently tried leaving first
_loaded: OrderedDict[Path, Any] = OrderedDict()
_lock = threading.Lock()


@dataclass
class Trial:
    """What the form shows: ``version`` tried ("" when the model has none served, ``why``), the example, and after
    a post, the payload and the predictions."""

    name: str
    version: str = ""
    source: str = ""  # "release v3" | "production"
    example: str = ""  # the logged input example, pretty-printed ("" when none was logged)
    why: str = ""  # why there is nothing to try
    payload: str = ""
    predictions: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "example": self.example,
            "why": self.why,
            "predictions": self.predictions,
        }


def served_version(tracker: Tracker, name: str) -> tuple[str, str]:
    """→ (version, where from): the current release's version of ``name``, else its production version; ("", "")
    when neither holds it."""
    from tusk.release.store import ReleaseStore

    current = ReleaseStore(tracker).current()
    if current is not None and name in current.models:
        return current.models[name], f"release v{current.version}"
    production = tracker.aliases().get(name)
    return (production, "production") if production else ("", "")


def _folder(tracker: Tracker, cache: Path, name: str, version: str) -> Path:
    from tusk.serve.source import TrackerSource

    return TrackerSource(tracker, cache).files(name, version)


def example(tracker: Tracker, cache: Path, name: str, version: str | None = None) -> Trial:
    """The form before a post: the version to try and its logged input example."""
    trial = Trial(name)
    if version:
        trial.version, trial.source = version, f"v{version}"
    else:
        trial.version, trial.source = served_version(tracker, name)
    if not trial.version:
        trial.why = f"{name} has no served version: no release holds it and it has no production version"
        return trial
    folder = _folder(tracker, cache, name, trial.version)
    if not (folder / "MLmodel").is_file():
        trial.why = f"{name} v{trial.version} is not an MLflow model (no MLmodel): tusk serve cannot load it"
        return trial
    logged = folder / "serving_input_example.json"
    if logged.is_file():
        try:
            trial.example = json.dumps(json.loads(logged.read_text()), indent=2)
        except ValueError:
            trial.example = logged.read_text()
    return trial


def try_model(tracker: Tracker, cache: Path, name: str, payload: str, version: str | None = None) -> Trial:
    """``payload`` (JSON in MLflow's scoring protocol) scored by ``name``'s served version (or ``version``) as
    ``tusk serve`` scores it. A payload that is not JSON or does not fit raises TuskError with the reason."""
    from tusk.serve.app import score
    from tusk.serve.pool import load_pyfunc

    trial = example(tracker, cache, name, version)
    if not trial.version:
        raise TuskError(trial.why)
    trial.payload = payload
    try:
        json.loads(payload)
    except ValueError as exc:
        raise TuskError(f"the payload is not JSON: {exc}") from None
    folder = _folder(tracker, cache, name, trial.version)
    with _lock:
        model = _loaded.get(folder)
        if model is not None:
            _loaded.move_to_end(folder)
    if model is None:
        try:
            model = load_pyfunc(folder)
        except Exception as exc:  # a model that cannot load: its reason, as the server says it
            raise TuskError(f"{name} v{trial.version} failed to load: {type(exc).__name__}: {exc}") from exc
        with _lock:
            _loaded[folder] = model
            while len(_loaded) > KEEP:
                _loaded.popitem(last=False)
    status, text = score(model, payload.encode(), "application/json")
    answer = json.loads(text)
    if status != 200:
        raise TuskError(f"{name} v{trial.version} refused the payload: {answer.get('error', text)}")
    trial.predictions = answer.get("predictions", answer)
    return trial
