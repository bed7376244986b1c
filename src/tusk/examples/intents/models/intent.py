"""An intent classifier per customer: TF-IDF features and a logistic regression.

tusk calls ``train(ctx)`` once per customer, with that customer's rows read at the pinned data commit.
"""

from __future__ import annotations

import pickle

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline


def train(ctx):
    examples = ctx.inputs["examples"]
    texts, labels = examples["text"].tolist(), examples["label"].tolist()
    stratify = labels if min(labels.count(label) for label in set(labels)) >= 2 else None
    train_x, test_x, train_y, test_y = train_test_split(texts, labels, test_size=0.25, random_state=0,
                                                        stratify=stratify)
    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                          LogisticRegression(C=float(ctx.params.get("C", 1.0)), max_iter=1000))
    model.fit(train_x, train_y)
    accuracy = float(model.score(test_x, test_y))
    with open(ctx.output_dir / "model.pkl", "wb") as handle:
        pickle.dump(model, handle)
    print(f"{ctx.name}: {len(train_x)} train / {len(test_x)} held out, accuracy {accuracy:.3f}")
    return {"accuracy": accuracy, "n_train": float(len(train_x)), "n_test": float(len(test_x))}
