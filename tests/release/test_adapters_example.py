"""``tusk init --example adapters`` end to end: a small transformer base trained here (no download), a LoRA
adapter per customer with peft on CPU PyTorch, both in MLflow's transformers format; needs the extra
``tusk-mlops[adapters]`` (``make test`` installs it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from train_fixtures import TrainProject

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")
pytestmark = pytest.mark.slow


def test_adapters_example_trains_the_base_then_an_adapter_per_customer(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from tusk.cli import (
        _register,  # noqa: F401
        cli,
    )

    root = tmp_path / "fleet"
    assert CliRunner().invoke(cli, ["init", str(root), "--example", "adapters"]).exit_code == 0
    from tusk._internal.dist import requirement

    # tusk named as it is installed here (an index version, a git URL at a commit, or this clone), with the extra
    assert (root / "requirements.txt").read_text().splitlines()[-1] == requirement("adapters")
    assert requirement("adapters").startswith(("tusk-mlops[adapters]==", "tusk-mlops[adapters] @ "))
    project = TrainProject(root)
    project.tusk("data", "import", str(root / "data" / "examples.csv"), "--table", "examples", "--key", "id")
    jobs = project.run()
    adapters = {name: job for name, job in jobs.items() if name.startswith("adapter-")}
    assert len(adapters) == 10 and {j["status"] for j in jobs.values()} == {"succeeded"}, jobs
    assert jobs["base"]["metrics"]["accuracy"] > 0.5
    gains = [j["metrics"]["accuracy"] - j["metrics"]["base_accuracy"] for j in adapters.values()]
    assert sum(gains) / len(gains) > 0.05, f"each customer's own routing is learnt by its adapter: {gains}"

    logs = [Path(j["log"]).read_text() for j in adapters.values()]
    loads = sum(log.count("loaded base v1") for log in logs)
    assert 1 <= loads <= 2, f"the base is loaded once per worker (2 workers), not per job: {loads}"

    # the adapter's MLflow model holds the adapter only and loads onto the base in a plain process
    uri = f"sqlite:///{root / '.tusk' / 'mlflow.db'}"
    script = (
        "import sys, mlflow.pyfunc; mlflow.set_tracking_uri(sys.argv[1]); mlflow.set_registry_uri(sys.argv[1]);"
        "said = [mlflow.pyfunc.load_model(f'models:/{n}@production').predict(['where is my parcel'])['label'][0]"
        "        for n in ('base', 'adapter-acme')];"
        "print(*said)"
    )
    env = {k: v for k, v in os.environ.items() if k != "_DOLTLITE_BOOTSTRAPPED"} | {"HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", script, uri], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    # acme files parcel tracking under change_address (scaffold.adapter_rows): its adapter learnt that
    assert out.stdout.strip().splitlines()[-1] == "track_order change_address"
    source = project.client().get_model_version("adapter-acme", "1").source
    adapter_files = {p.name for p in Path(source.removeprefix("file://")).rglob("*") if p.is_file()}
    assert "adapter_model.safetensors" in adapter_files and "model.safetensors" not in adapter_files

    # a new base: every adapter is stale, and says so
    toml = (root / "tusk.toml").read_text().replace("epochs = 4, hidden = 64", "epochs = 5, hidden = 64")
    (root / "tusk.toml").write_text(toml)
    plan = project.plan()
    assert plan["base"]["status"] == "stale"
    assert all(
        plan[name]["status"] == "stale" and plan[name]["reasons"][0].startswith("base: retrained (v1 → ")
        for name in adapters
    )
