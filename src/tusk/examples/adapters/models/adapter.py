"""One LoRA adapter per customer on the shared base model (models/base.py), with ``peft``.

``needs = ["base"]`` in tusk.toml makes the base's current version an input of every adapter: a new base
makes every adapter stale, and a run trains the base first and the adapters after it. ``setup =
"models/adapter.py:load_base"`` loads that version once per worker process (not once per job); each job
finds it in ``ctx.shared``.

An adapter trains a few thousand parameters (low-rank updates of the attention's query and value, and
the classifier head) on its customer's examples: each customer files one intent under another (acme's
parcel tracking is a change of address), which the shared base cannot know and the adapter learns. ``ctx.log_model``
saves only those, with MLflow's
transformers flavor and a reference to the base (``base_model_path``): a release holds the base once.
Load one with ``mlflow.transformers.load_model(adapter_dir, base_model_path=base_dir / "model")``.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from base import evaluate, fit, make_pipeline, split

from tusk import TrainContext


def load_base(ctx: Any) -> dict[str, Any]:
    """Once per worker and base version: the base's network and tokenizer, read from its MLflow model."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.set_num_threads(1)
    base = ctx.needs["base"]
    folder = Path(base.path)
    model = AutoModelForSequenceClassification.from_pretrained(folder / "model")
    tokenizer = AutoTokenizer.from_pretrained(folder / "components" / "tokenizer")
    print(f"loaded base v{base.version} from {folder}")
    return {"model": model.eval(), "tokenizer": tokenizer, "folder": folder, "version": base.version}


def train(ctx: TrainContext) -> dict[str, float]:
    import torch
    from peft import LoraConfig, TaskType, get_peft_model

    torch.manual_seed(int(ctx.params.get("seed", 0)))
    torch.set_num_threads(1)
    shared = ctx.shared if ctx.shared is not None else load_base(ctx)  # without setup: load it in the job
    tokenizer = shared["tokenizer"]
    base = copy.deepcopy(shared["model"]).to(ctx.device)  # peft changes the network it wraps: not the shared one
    lora = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=int(ctx.params.get("rank", 4)),
        lora_alpha=2 * int(ctx.params.get("rank", 4)),
        lora_dropout=0.0,
        target_modules=["query", "value"],
    )
    model: Any = get_peft_model(base, lora)
    examples = ctx.inputs["examples"]
    train_rows, test_rows = split(examples)
    label2id = base.config.label2id
    before = evaluate(model, tokenizer, test_rows, label2id, ctx.device)
    loss = fit(
        model,
        tokenizer,
        train_rows,
        label2id,
        ctx,
        epochs=int(ctx.params.get("epochs", 6)),
        lr=float(ctx.params.get("lr", 5e-3)),
    )
    accuracy = evaluate(model, tokenizer, test_rows, label2id, ctx.device)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    classify = make_pipeline(model.to("cpu").eval(), tokenizer)
    ctx.log_model(
        classify,
        flavor="transformers",
        input_example=["where is my parcel"],
        base_model_path=str(shared["folder"] / "model"),
    )
    print(
        f"{ctx.name}: {trainable} trainable parameters on base v{shared['version']}, "
        f"accuracy {before:.3f} -> {accuracy:.3f}"
    )
    return {"accuracy": accuracy, "base_accuracy": before, "loss": loss, "trainable": float(trainable)}
