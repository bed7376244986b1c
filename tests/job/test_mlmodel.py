"""``ctx.log_model``: versions in MLflow's own format, loaded by MLflow's API and served by its scoring server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from train_fixtures import SKLEARN_CODE, TrainProject, free_port, git_commit, make_project


def sklearn_project(tmp_path: Path, customers: int = 2, code: str = SKLEARN_CODE, **block: Any) -> TrainProject:
    project = make_project(tmp_path, customers=customers, **block)
    (project.root / "models" / "m.py").write_text(code)
    return project


def load_production(project: TrainProject, name: str) -> Any:
    import mlflow.pyfunc

    uri = f"sqlite:///{project.root / '.tusk' / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        return mlflow.pyfunc.load_model(f"models:/{name}@production")
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)


def test_a_logged_sklearn_model_loads_in_a_plain_mlflow_process(tmp_path: Path) -> None:
    project = sklearn_project(tmp_path)
    commit = git_commit(project.root)
    jobs = project.run()
    assert {j["status"] for j in jobs.values()} == {"succeeded"}
    script = textwrap.dedent("""
        import sys, json, mlflow, pandas as pd
        mlflow.set_tracking_uri(sys.argv[1]); mlflow.set_registry_uri(sys.argv[1])
        model = mlflow.pyfunc.load_model("models:/m-c1@production")
        client = mlflow.MlflowClient(sys.argv[1], sys.argv[1])
        run = client.get_run(client.get_model_version_by_alias("m-c1", "production").run_id)
        print(json.dumps({"y": float(model.predict(pd.DataFrame({"id": [10.0]}))[0]),
                          "inputs": str(model.metadata.get_input_schema()),
                          "tags": {k: v for k, v in run.data.tags.items() if k.startswith("mlflow.")}}))
    """)
    out = subprocess.run(
        [sys.executable, "-c", script, f"sqlite:///{project.root / '.tusk' / 'mlflow.db'}"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "_DOLTLITE_BOOTSTRAPPED"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["y"] == pytest.approx(21.0)
    assert "'id': double" in seen["inputs"], "a signature inferred from the input example"
    assert seen["tags"]["mlflow.source.git.commit"] == commit
    assert seen["tags"]["mlflow.source.name"] == "models/m.py" and seen["tags"]["mlflow.user"]

    client = project.client()
    version = client.get_model_version_by_alias("m-c1", "production")
    model_dir = Path(client.download_artifacts(version.run_id, "model", str(tmp_path / "dl")))
    assert {"MLmodel", "requirements.txt", "input_example.json", "notes.txt"} <= {p.name for p in model_dir.iterdir()}
    requirements = (model_dir / "requirements.txt").read_text().split()
    import sklearn

    assert f"scikit-learn=={sklearn.__version__}" in requirements and all("==" in r for r in requirements)
    assert not (Path(jobs["m-c1"]["log"]).parent / "model").exists(), "no second copy once registered"


def test_pyfunc_wraps_anything_with_predict_and_python_models(tmp_path: Path) -> None:
    code = textwrap.dedent("""
        import mlflow.pyfunc

        class Doubler:
            def predict(self, frame):
                return frame["x"] * 2

        class Adder(mlflow.pyfunc.PythonModel):
            def predict(self, context, model_input, params=None):
                return model_input["x"] + 1

        def train(ctx):
            import pandas as pd
            model = Doubler() if ctx.params["customer"] == "c0" else Adder()
            ctx.log_model(model, flavor="pyfunc", input_example=pd.DataFrame({"x": [1.0, 2.0]}))
            return {"n": 1}
    """)
    project = sklearn_project(tmp_path, code=code)
    project.run()
    import pandas as pd

    frame = pd.DataFrame({"x": [5.0]})
    assert list(load_production(project, "m-c0").predict(frame)) == [10.0]
    assert list(load_production(project, "m-c1").predict(frame)) == [6.0]


def test_a_model_class_from_the_train_file_survives_without_its_module(tmp_path: Path) -> None:
    """A custom estimator defined in the train file is saved by value (cloudpickle), not by name (skops)."""
    code = textwrap.dedent("""
        from sklearn.base import BaseEstimator, RegressorMixin

        class Constant(BaseEstimator, RegressorMixin):
            def fit(self, x, y):
                self.value_ = float(y.mean())
                return self
            def predict(self, x):
                return [self.value_] * len(x)

        def train(ctx):
            x = ctx.inputs["examples"][["id"]].astype(float)
            ctx.log_model(Constant().fit(x, x["id"] * 0 + 7), input_example=x.head(1))
            return {}
    """)
    project = sklearn_project(tmp_path, customers=1)
    (project.root / "models" / "m.py").write_text(code)
    project.run()
    import pandas as pd

    assert list(load_production(project, "m-c0").predict(pd.DataFrame({"id": [1.0, 2.0]}))) == [7.0, 7.0]


BAD_CALLS = {
    "unknown flavor": ("ctx.log_model(object(), flavor='onnx-ish')", "unknown flavor 'onnx-ish'"),
    "nothing to predict with": ("ctx.log_model(object(), flavor='pyfunc')", "needs an object with a predict()"),
    "twice": ("ctx.log_model(M(), flavor='pyfunc'); ctx.log_model(M(), flavor='pyfunc')", "already called"),
    "clashing file": (
        "(ctx.output_dir / 'requirements.txt').write_text('x'); ctx.log_model(M(), flavor='pyfunc')",
        "requirements.txt already in ctx.output_dir",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_a_bad_log_model_fails_the_job_once_without_retries(tmp_path: Path, case: str) -> None:
    call, message = BAD_CALLS[case]
    code = f"class M:\n    def predict(self, x):\n        return x\n\ndef train(ctx):\n    {call}\n    return {{}}\n"
    project = sklearn_project(tmp_path, customers=1, code=code, resources="resources = { retries = 2 }")
    result = project.json("run", code=3)
    [job] = result["jobs"]
    assert job["status"] == "failed" and message in job["error"], job["error"]
    log = Path(job["log"]).read_text()
    assert "attempt 2" not in log and "not retried" in log
    assert project.client().search_registered_models() == [], "nothing registered"


def test_a_flavor_whose_package_is_missing_says_so(tmp_path: Path) -> None:
    missing = next(
        (
            f
            for f, pkg in (("pytorch", "torch"), ("transformers", "transformers"))
            if __import__("importlib").util.find_spec(pkg) is None
        ),
        None,
    )
    if missing is None:
        pytest.skip("torch and transformers are both installed")
    code = f"def train(ctx):\n    ctx.log_model(object(), flavor={missing!r})\n    return {{}}\n"
    project = sklearn_project(tmp_path, customers=1, code=code)
    [job] = project.json("run", code=3)["jobs"]
    assert "needs the" in job["error"] and "package in the training environment" in job["error"]


def test_pytorch_flavor(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    code = textwrap.dedent("""
        import numpy as np
        import torch

        def train(ctx):
            model = torch.nn.Linear(1, 1)
            with torch.no_grad():
                model.weight.fill_(2.0)
                model.bias.fill_(1.0)
            ctx.log_model(model, flavor="pytorch", input_example=np.array([[1.0]], dtype=np.float32))
            return {}
    """)
    project = sklearn_project(tmp_path, customers=1, code=code)
    project.run()
    import numpy as np

    assert float(load_production(project, "m-c0").predict(np.array([[3.0]], dtype=np.float32))[0][0]) == 7.0


def test_transformers_flavor(tmp_path: Path) -> None:
    """A tiny text classifier made here (no download): the pipeline is saved with MLflow's transformers flavor."""
    pytest.importorskip("transformers")
    pytest.importorskip("torch")
    code = textwrap.dedent("""
        import torch
        from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast, pipeline

        def train(ctx):
            vocab = ctx.output_dir.parent / "vocab.txt"
            vocab.write_text("\\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "where", "is", "refund"]))
            config = BertConfig(vocab_size=8, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=16, num_labels=2, id2label={0: "track", 1: "refund"},
                                label2id={"track": 0, "refund": 1})
            torch.manual_seed(0)
            classify = pipeline("text-classification", model=BertForSequenceClassification(config),
                                tokenizer=BertTokenizerFast(vocab_file=str(vocab)))
            ctx.log_model(classify, flavor="transformers", input_example=["where is"])
            return {}
    """)
    project = sklearn_project(tmp_path, customers=1, code=code)
    project.run()
    predicted = load_production(project, "m-c0").predict(["refund"])
    assert set(predicted["label"]) <= {"track", "refund"}


@pytest.mark.slow
def test_a_released_model_serves_predictions_through_mlflow_scoring_server(tmp_path: Path) -> None:
    """The release's build context holds /models/<instance>/ as MLflow models: `mlflow models serve` on
    one of them (as in the image) answers a prediction on loopback."""
    project = sklearn_project(tmp_path)
    config = (project.root / "tusk.toml").read_text().replace('builder = "auto"', 'builder = "none"')
    (project.root / "tusk.toml").write_text(config)
    project.run()
    release = project.json("release", "create")
    model = project.root / ".tusk" / "releases" / release["md5"] / "models" / "m-c0"
    assert (model / "MLmodel").is_file()
    port = free_port()
    bin_dir = Path(sys.executable).parent
    env = {
        **{k: v for k, v in os.environ.items() if k != "_DOLTLITE_BOOTSTRAPPED"},
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    log = open(tmp_path / "serve.log", "w")  # noqa: SIM115
    server = subprocess.Popen(
        [
            str(bin_dir / "mlflow"),
            "models",
            "serve",
            "-m",
            str(model),
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    try:
        body = json.dumps({"dataframe_split": {"columns": ["id"], "data": [[10.0]]}}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", data=body, headers={"Content-Type": "application/json"}
        )
        answer = None
        deadline = time.monotonic() + 300  # for the server to start (slow on a loaded machine)
        while answer is None and time.monotonic() < deadline:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()[-2000:]
            try:
                answer = json.loads(urllib.request.urlopen(request, timeout=60).read())
            except OSError:
                time.sleep(0.2)
        assert answer is not None, (tmp_path / "serve.log").read_text()[-2000:]
        assert answer["predictions"][0] == pytest.approx(21.0)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        log.close()
