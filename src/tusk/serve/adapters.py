"""Adapters share their base: one network per (base model, version) per server process, each adapter attached to it.

An adapter is a version saved with MLflow's transformers flavor holding a peft adapter and a reference to a local
base (``ctx.log_model(..., base_model_path=...)``: its MLmodel's ``peft_adaptor`` and ``local_base_model_path``).
MLflow's own loader reads the base again for every adapter, from the path it had when the adapter was trained (a
path that an image, or any other machine, does not have). Here the base is the version the adapter ``needs`` (the
release says which): its network and tokenizer are loaded once with MLflow's transformers loader, wrapped in a
``peft.PeftModel``, and every adapter is loaded onto it with ``load_adapter(dir, adapter_name=...)``. A request sets
its adapter (``SharedBase.activate``) and predicts under the base's lock, through MLflow's own pyfunc wrapper of a
text-classification pipeline on the shared network: the answer is the one the adapter's own pipeline gives.

Memory grows with the adapters' own weights (a few thousand parameters and a classifier head each), not with bases.
peft's mixed-batch inference (``adapter_names=`` in ``forward``) would let requests of different adapters run
together without the lock, but a transformers pipeline does not pass it through; on CPU the lock costs little.
"""

from __future__ import annotations

import hashlib
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Key = tuple[str, str]  # (model, version)


class BaseFailed(Exception):
    """The base an adapter needs could not be loaded: its reason."""


def transformers_flavor(folder: Path) -> dict[str, Any] | None:
    """The ``transformers`` flavor of the MLflow model in ``folder`` (None: not one)."""
    try:
        mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    except (OSError, yaml.YAMLError):
        return None
    flavor = (mlmodel or {}).get("flavors", {}).get("transformers")
    return flavor if isinstance(flavor, dict) else None


def is_adapter(folder: Path) -> bool:
    """A peft adapter saved without its base's weights (the base is another model version)."""
    flavor = transformers_flavor(folder)
    return flavor is not None and bool(flavor.get("peft_adaptor")) and bool(flavor.get("local_base_model_path"))


def base_of(needs: dict[str, Key], files: Any) -> Key | None:
    """Which of an adapter's needs is its base: the one ``base`` if named so, else the only one, else the first
    that is a transformers model without an adapter of its own."""
    if not needs:
        return None
    if "base" in needs:
        return needs["base"]
    if len(needs) == 1:
        return next(iter(needs.values()))
    for _, key in sorted(needs.items()):
        flavor = transformers_flavor(files(*key))
        if flavor is not None and not flavor.get("peft_adaptor"):
            return key
    return None


@dataclass
class SharedBase:
    """One base network with its adapters attached (``PeftModel`` after the first one); ``lock``: one request at a
    time sets its adapter and predicts."""

    key: Key
    folder: Path
    components: dict[str, Any]  # MLflow's transformers components of the base: model, tokenizer, task
    network: Any = None  # the peft model, once an adapter is attached
    lock: threading.Lock = field(default_factory=threading.Lock)
    attached: dict[str, Path] = field(default_factory=dict)  # peft adapter name → its folder
    tokenizers: dict[str, Any] = field(default_factory=dict)  # digest of a tokenizer's files → the tokenizer
    active: str | None = None  # the adapter set now
    _layers: list[Any] | None = None  # the network's peft layers (found again after an adapter comes or goes)
    _wrappers: list[Any] = field(default_factory=list)

    def ensure(self, peft_name: str, adapter_dir: Path) -> None:
        """The adapter ``peft_name`` attached (again, if it was detached while a request held it). Under ``lock``."""
        if self.network is not None and peft_name in self.network.peft_config:
            return
        if self.network is None:
            from peft import PeftModel

            self.network = PeftModel.from_pretrained(
                self.components["model"], str(adapter_dir), adapter_name=peft_name, is_trainable=False
            ).eval()
        else:
            self.network.load_adapter(str(adapter_dir), adapter_name=peft_name, is_trainable=False)
        self.attached[peft_name] = adapter_dir
        self.active, self._layers = None, None

    def activate(self, peft_name: str) -> None:
        """Set adapter ``peft_name`` for the next prediction. Under ``lock``.

        peft's ``set_adapter`` walks every module and sets ``requires_grad`` on every adapter's weights: with 100
        adapters that is about 5 ms, four times the forward pass of the example's base. The adapters here are
        frozen, so only which adapter is active changes: each peft layer's active adapter is set (found once per
        change of adapters), and the auxiliary wrappers (the classifier head that each adapter saves) through
        their own ``set_adapter``. Where peft's internals differ from what this expects, ``set_adapter``."""
        if self.active == peft_name:
            return
        try:
            if self._layers is None:
                from peft.tuners.tuners_utils import BaseTunerLayer
                from peft.utils.other import AuxiliaryTrainingWrapper

                modules = list(self.network.modules())
                self._wrappers = [m for m in modules if isinstance(m, AuxiliaryTrainingWrapper)]
                self._layers = [m for m in modules if isinstance(m, BaseTunerLayer)]
                if not all(hasattr(layer, "_active_adapter") and not layer.merged for layer in self._layers):
                    raise AttributeError("a peft layer without _active_adapter")
            for layer in self._layers:
                layer._active_adapter = [peft_name]
            for wrapper in self._wrappers:
                wrapper.set_adapter(peft_name, inference_mode=True)
            self.network.base_model.active_adapter = peft_name
            self.network.active_adapter = peft_name
        except (AttributeError, ImportError):
            self.network.set_adapter(peft_name, inference_mode=True)
        self.active = peft_name

    def detach(self, peft_name: str) -> None:
        with self.lock:
            self.attached.pop(peft_name, None)
            if self.network is not None and peft_name in self.network.peft_config and self.attached:
                with warnings.catch_warnings():  # "adapter N was active, now deleted": the next request sets its own
                    warnings.simplefilter("ignore", UserWarning)
                    self.network.delete_adapter(peft_name)  # the last one goes with the base itself
                self.active, self._layers = None, None

    def tokenizer(self, folder: Path, flavor: dict[str, Any]) -> Any:
        """The adapter's own tokenizer, shared with every adapter whose tokenizer files are the same bytes."""
        import transformers

        digest = hashlib.sha256()
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
        key = digest.hexdigest()
        held = self.tokenizers.get(key)
        if held is None:
            kind = flavor.get("tokenizer_type", "AutoTokenizer")
            cls = getattr(transformers, kind, transformers.AutoTokenizer)
            held = self.tokenizers[key] = cls.from_pretrained(str(folder))
        return held


class AdapterModel:
    """What the pool holds for an adapter: MLflow's pyfunc model (metadata, schema, ``predict``) whose predictions
    run on the shared base with this adapter set."""

    def __init__(self, pyfunc: Any, base: SharedBase, peft_name: str, adapter_dir: Path, owner: Bases) -> None:
        self.pyfunc = pyfunc
        self.base = base
        self.peft_name = peft_name
        self.adapter_dir = adapter_dir
        self.owner = owner
        self.metadata = pyfunc.metadata

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return self.pyfunc.predict(data, params=params)

    def drop(self) -> None:
        """No longer held by the pool (evicted or no longer served): the adapter leaves its base."""
        self.owner.detach(self)


class _Switching:
    """MLflow's pyfunc wrapper of the pipeline, with the adapter set before each prediction (the base's lock held)."""

    def __init__(self, wrapper: Any, base: SharedBase, peft_name: str, adapter_dir: Path) -> None:
        self.wrapper = wrapper
        self.base = base
        self.peft_name = peft_name
        self.adapter_dir = adapter_dir

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        with self.base.lock:
            self.base.ensure(self.peft_name, self.adapter_dir)
            self.base.activate(self.peft_name)
            return self.wrapper.predict(data, params=params)

    def get_raw_model(self) -> Any:
        return self.wrapper.pipeline


class Bases:
    """The bases of a server process: ``attach(key, folder, base)`` → the adapter's model on its base, loaded once
    per (base model, version). ``loads`` counts bases loaded. A base that failed is not tried again for ``retry``
    seconds (every adapter on it fails with its reason)."""

    def __init__(self, files: Any, retry: float = 30.0) -> None:
        self.files = files
        self.retry = retry
        self.loads = 0
        self._held: dict[Key, SharedBase] = {}
        self._failed: dict[Key, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._loading: dict[Key, threading.Lock] = {}
        self._names = 0

    def held(self) -> dict[Key, list[str]]:
        """Each base held → the peft names of its adapters."""
        with self._lock:
            return {key: sorted(base.attached) for key, base in self._held.items()}

    def base(self, key: Key) -> SharedBase:
        with self._lock:
            held = self._held.get(key)
            if held is not None:
                return held
            self._raise_if_failed(key)
            one = self._loading.setdefault(key, threading.Lock())
        with one:
            with self._lock:
                held = self._held.get(key)
                if held is not None:
                    return held
                self._raise_if_failed(key)
            try:
                folder = self.files(*key)
                components = _load_components(folder)
            except Exception as exc:  # any reason the base cannot load fails its adapters' requests
                reason = f"its base {key[0]} v{key[1]} failed to load: {type(exc).__name__}: {exc}".strip()
                with self._lock:
                    self._failed[key] = (reason, time.monotonic())
                raise BaseFailed(reason) from exc
            held = SharedBase(key, folder, components)
            with self._lock:
                self._held[key] = held
                self._failed.pop(key, None)
                self.loads += 1
            return held

    def _raise_if_failed(self, key: Key) -> None:
        failed = self._failed.get(key)
        if failed is not None and time.monotonic() - failed[1] < self.retry:
            raise BaseFailed(failed[0])

    def attach(self, key: Key, folder: Path, base_key: Key) -> AdapterModel:
        import mlflow.transformers as mt
        from mlflow.models import Model
        from mlflow.pyfunc import PyFuncModel
        from transformers import pipeline

        flavor = transformers_flavor(folder)
        if flavor is None:
            raise ValueError(f"{folder} is not a transformers model")
        base = self.base(base_key)
        with self._lock:
            self._names += 1
            peft_name = f"adapter{self._names}"  # unique: a module name (no dots), two versions apart
        adapter_dir = folder / str(flavor["peft_adaptor"])
        tokenizer_dir = folder / "components" / "tokenizer"
        with base.lock:
            base.ensure(peft_name, adapter_dir)
            tokenizer = (
                base.tokenizer(tokenizer_dir, flavor) if tokenizer_dir.is_dir() else base.components["tokenizer"]
            )
            make: Any = pipeline
            classify = make(task=flavor["task"], model=base.network, tokenizer=tokenizer)
        config = mt._get_model_config(folder / "components", None)  # type: ignore[no-untyped-call]
        template = mt._get_prompt_template(folder)  # type: ignore[no-untyped-call]
        wrapper = mt._TransformersWrapper(classify, flavor, config, template)  # type: ignore[no-untyped-call]
        pyfunc = PyFuncModel(Model.load(str(folder)), _Switching(wrapper, base, peft_name, adapter_dir))
        return AdapterModel(pyfunc, base, peft_name, adapter_dir, self)

    def detach(self, adapter: AdapterModel) -> None:
        adapter.base.detach(adapter.peft_name)
        with self._lock:
            if not adapter.base.attached and self._held.get(adapter.base.key) is adapter.base:
                del self._held[adapter.base.key]  # no adapter left on it: the base goes too


def _load_components(folder: Path) -> dict[str, Any]:
    """The base's network and tokenizer as MLflow's transformers flavor loads them."""
    import mlflow.transformers

    flavor = transformers_flavor(folder)
    if flavor is None or flavor.get("peft_adaptor"):
        raise ValueError(f"{folder.name} is not a transformers model with its own weights")
    components: dict[str, Any] = mlflow.transformers.load_model(str(folder), return_type="components")
    components["model"].eval()
    return components
