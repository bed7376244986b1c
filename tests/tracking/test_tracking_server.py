"""tusk against an MLflow tracking server backed by PostgreSQL, both started on loopback by the tests:
plan, run, release and lineage with ``[tracking] url = "http://127.0.0.1:PORT"``, the model declarations
unchanged. The server runs with one worker (several add ~44 ms to every call, see DESIGN.md)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from train_fixtures import free_port, make_project
from tusk._internal.sqlite import child_env
from tusk.core.config import Config
from tusk.testing.tracker import TrackerSuite
from tusk.tracking.mlflow import MlflowTracker

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


def as_postgres(*command: str) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the postgres user when we are root."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)


def wait_until(check: object, what: str, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{what} did not come up within {seconds:g} s")


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    if not PG_BIN:
        pytest.skip("PostgreSQL is not installed (.ci/install adds it)")
    bin_dir = Path(PG_BIN[-1])
    folder = Path(tempfile.mkdtemp(prefix="tusk-pg-"))
    data = folder / "data"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    port = free_port()
    subprocess.run(
        as_postgres(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        as_postgres(
            str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "postgres.log"), "-w", "start"
        ),
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(
            [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "mlflow"],
            check=True,
            capture_output=True,
        )
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/mlflow"
    finally:
        subprocess.run(
            as_postgres(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"), capture_output=True
        )
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def mlflow_server(postgres: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    artifacts = tmp_path_factory.mktemp("server-artifacts")
    port = free_port()
    mlflow_cli = str(Path(sys.executable).parent / "mlflow")
    log_path = artifacts.parent / "mlflow-server.log"
    log = open(log_path, "w")  # noqa: SIM115
    server = subprocess.Popen(
        [
            mlflow_cli,
            "server",
            "--backend-store-uri",
            postgres,
            "--artifacts-destination",
            str(artifacts),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=child_env({"MLFLOW_DISABLE_TELEMETRY": "true"}),
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            assert server.poll() is None, f"mlflow server exited: {log_path.read_text()[-2000:]}"
            return bool(urllib.request.urlopen(f"{url}/health", timeout=2).status == 200)

        wait_until(healthy, "mlflow server")
        yield url
    finally:
        os.killpg(server.pid, 15)
        server.wait(30)
        log.close()


def test_plan_run_release_and_lineage_against_the_server(mlflow_server: str, tmp_path: Path) -> None:
    project = make_project(tmp_path, customers=3)
    config = (project.root / "tusk.toml").read_text()
    (project.root / "tusk.toml").write_text(
        config.replace('url = "sqlite:///.tusk/mlflow.db"', f'url = "{mlflow_server}"')
    )
    assert {p["status"] for p in project.plan().values()} == {"new"}
    jobs = project.run()
    assert {n: (j["status"], j["version"]) for n, j in jobs.items()} == {
        f"m-c{i}": ("succeeded", "1") for i in range(3)
    }
    assert {p["status"] for p in project.plan().values()} == {"fresh"}

    project.import_rows([[1, "c1", "changed text", "l0"]], message="one row")
    assert {n for n, p in project.plan().items() if p["status"] == "stale"} == {"m-c1"}
    assert {n: j["version"] for n, j in project.run().items()} == {"m-c1": "2"}

    release = project.json("release", "create", "--no-build")
    assert release["models"] == {"m-c0": "1", "m-c1": "2", "m-c2": "1"}
    assert project.json("release", "create", "--no-build")["id"] == release["id"], "an equal manifest is reused"
    lineage = project.json("lineage", "m-c1@2")
    assert lineage["data_commit"] == project.head() and release["md5"] in lineage["releases"]

    # everything landed in PostgreSQL through the server, where any MLflow client sees it
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    assert str(client.get_model_version_by_alias("m-c1", "production").version) == "2"
    model_files = client.list_artifacts(client.get_model_version("m-c1", "2").run_id)
    assert {f.path for f in model_files} >= {"model", "job.log"}


def test_logged_models_load_and_logs_read_through_the_server(mlflow_server: str, tmp_path: Path) -> None:
    """ctx.log_model's files go through the server's artifact proxy: MLflow's own API loads the production
    version from models:/NAME@production, and `tusk logs` reads the job's log back from the run."""
    from train_fixtures import SKLEARN_CODE

    project = make_project(tmp_path, customers=2, name="served-{customer}")  # names the other test does not use
    (project.root / "models" / "m.py").write_text(SKLEARN_CODE)
    config = (project.root / "tusk.toml").read_text()
    (project.root / "tusk.toml").write_text(
        config.replace('url = "sqlite:///.tusk/mlflow.db"', f'url = "{mlflow_server}"')
    )
    assert {j["status"] for j in project.run().values()} == {"succeeded"}
    import mlflow.pyfunc
    import pandas as pd

    mlflow.set_tracking_uri(mlflow_server)
    mlflow.set_registry_uri(mlflow_server)
    try:
        model = mlflow.pyfunc.load_model("models:/served-c1@production")
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
    assert float(model.predict(pd.DataFrame({"id": [4.0]}))[0]) == pytest.approx(9.0)
    shutil.rmtree(project.root / ".tusk" / "jobs")  # the log comes from the server, not from this machine
    log = project.json("logs", "served-c1")
    assert log["source"] == "run" and log["version"] == "1" and "fitted served-c1" in log["log"]
    assert log["location"].startswith("mlflow-artifacts:")


class TestMlflowServer(TrackerSuite):
    """The Tracker conformance suite through the MLflow server on PostgreSQL (each test names its own models).
    Last in this file: the projects above plan against the same server and expect to find only their models."""

    @pytest.fixture
    def tracker(self, mlflow_server: str, tmp_path: Path) -> MlflowTracker:
        tracker = MlflowTracker(mlflow_server, Config(root=tmp_path, path=tmp_path / "tusk.toml"))
        tracker.ensure_ready()
        return tracker

    def delete_version(self, tracker: Any, name: str, version: str) -> None:
        from mlflow.tracking import MlflowClient

        MlflowClient(tracking_uri=tracker.url, registry_uri=tracker.url).delete_model_version(name, version)
