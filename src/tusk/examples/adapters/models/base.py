"""The shared base model: a small BERT-style intent classifier, made from a config and trained here.

No weights are downloaded: the vocabulary is the words of the project's own examples, the network is
``BertForSequenceClassification`` built from a ``BertConfig`` (a few hundred thousand parameters), and a
few epochs over every customer's examples teach it the intents all customers share. The per-customer
adapters (models/adapter.py) start from the version of this model that tusk hands them.

``ctx.log_model`` saves it with MLflow's transformers flavor: ``mlflow.transformers.load_model`` (or
``mlflow.pyfunc.load_model``) on a version gives a text-classification pipeline. The same code trains on a
GPU when tusk gives the job one (``ctx.device``).
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is made here: never ask a hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tusk import TrainContext

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def train(ctx: TrainContext) -> dict[str, float]:
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(int(ctx.params.get("seed", 0)))
    torch.set_num_threads(1)  # tusk runs jobs side by side: one core each
    examples = ctx.inputs["examples"]
    labels = sorted(set(examples["label"]))
    tokenizer = make_tokenizer(examples["text"], ctx.output_dir.parent / "vocab.txt")
    hidden = int(ctx.params.get("hidden", 64))
    config: Any = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=hidden,
        num_hidden_layers=int(ctx.params.get("layers", 2)),
        num_attention_heads=int(ctx.params.get("heads", 2)),
        intermediate_size=2 * hidden,
        max_position_embeddings=64,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    model: Any = BertForSequenceClassification(config)
    model = model.to(ctx.device)
    train_rows, test_rows = split(examples)
    loss = fit(
        model,
        tokenizer,
        train_rows,
        config.label2id,
        ctx,
        epochs=int(ctx.params.get("epochs", 4)),
        lr=float(ctx.params.get("lr", 2e-3)),
    )
    accuracy = evaluate(model, tokenizer, test_rows, config.label2id, ctx.device)
    classify = make_pipeline(model.to("cpu").eval(), tokenizer)
    ctx.log_model(classify, flavor="transformers", input_example=["where is my parcel"])
    print(
        f"{ctx.name}: vocabulary {tokenizer.vocab_size} words, {sum(p.numel() for p in model.parameters())} "
        f"parameters, {len(train_rows)} train / {len(test_rows)} held out, accuracy {accuracy:.3f}"
    )
    return {"accuracy": accuracy, "loss": loss, "n_train": float(len(train_rows))}


def make_pipeline(model: Any, tokenizer: Any) -> Any:
    """The model and its tokenizer as a text-classification pipeline (what MLflow's transformers flavor saves)."""
    from transformers import pipeline

    make: Any = pipeline
    return make("text-classification", model=model, tokenizer=tokenizer)


def make_tokenizer(texts: Iterable[Any], vocab_path: Path) -> Any:
    """A word-level tokenizer whose vocabulary is every word of ``texts`` (the project's own text)."""
    from transformers import BertTokenizer

    words = sorted({word for text in texts for word in re.findall(r"\w+|[^\w\s]", str(text).lower())})
    vocab_path.write_text("\n".join(SPECIAL + words) + "\n", encoding="utf-8")
    return BertTokenizer(str(vocab_path), model_max_length=64)  # the vocabulary file (first argument in 4 and 5)


def split(examples: Any) -> tuple[Any, Any]:
    """A fifth of the rows held out, chosen by a hash of their id: the same rows whatever else changes."""
    held = examples["id"].map(lambda i: zlib.crc32(str(i).encode()) % 5 == 0)
    return examples[~held], examples[held]


def batches(tokenizer: Any, rows: Any, label2id: dict[str, int], device: str, size: int = 32) -> Iterator[Any]:
    import torch

    texts, labels = rows["text"].astype(str).tolist(), [label2id.get(label, 0) for label in rows["label"]]
    for start in range(0, len(texts), size):
        encoded = tokenizer(texts[start : start + size], padding=True, truncation=True, return_tensors="pt")
        yield encoded.to(device), torch.tensor(labels[start : start + size], device=device)


def fit(
    model: Any, tokenizer: Any, rows: Any, label2id: dict[str, int], ctx: TrainContext, epochs: int, lr: float
) -> float:
    """A few epochs of AdamW over the trainable parameters; → the last epoch's mean loss."""
    import torch

    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    mean = 0.0
    for epoch in range(epochs):
        shuffled = rows.sample(frac=1.0, random_state=epoch)
        losses = []
        for encoded, labels in batches(tokenizer, shuffled, label2id, ctx.device):
            loss = model(**encoded, labels=labels).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses.append(float(loss.detach()))
        mean = sum(losses) / max(len(losses), 1)
        ctx.log_metric("loss", mean)
    return mean


def evaluate(model: Any, tokenizer: Any, rows: Any, label2id: dict[str, int], device: str) -> float:
    import torch

    if len(rows) == 0:
        return 0.0
    model.eval()
    right = 0
    with torch.no_grad():
        for encoded, labels in batches(tokenizer, rows, label2id, device):
            right += int((model(**encoded).logits.argmax(-1) == labels).sum())
    return right / len(rows)
