"""An intent classifier per customer: TF-IDF features and a logistic regression.

tusk calls ``train(ctx)`` once per customer, with that customer's rows read at the pinned data commit.
``ctx.log_model`` saves the pipeline in MLflow's format, so any version loads with
``mlflow.pyfunc.load_model("models:/intent-acme@production")`` and serves with ``mlflow models serve``:
it takes a table with a ``text`` column and predicts the intent of each row.
"""

from __future__ import annotations

from sklearn.compose import make_column_transformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from tusk import TrainContext


def train(ctx: TrainContext) -> dict[str, float]:
    examples = ctx.inputs["examples"]
    texts, labels = examples[["text"]], examples["label"].tolist()
    stratify = labels if min(labels.count(label) for label in set(labels)) >= 2 else None
    train_x, test_x, train_y, test_y = train_test_split(
        texts, labels, test_size=0.25, random_state=0, stratify=stratify
    )
    features = make_column_transformer((TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), "text"))
    model = make_pipeline(features, LogisticRegression(C=float(ctx.params.get("C", 1.0)), max_iter=1000))
    model.fit(train_x, train_y)
    accuracy = float(model.score(test_x, test_y))
    ctx.log_model(model, flavor="sklearn", input_example=test_x.head(2))
    print(f"{ctx.name}: {len(train_x)} train / {len(test_x)} held out, accuracy {accuracy:.3f}")
    return {"accuracy": accuracy, "n_train": float(len(train_x)), "n_test": float(len(test_x))}
