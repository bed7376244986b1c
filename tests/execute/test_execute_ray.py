"""The Ray executor: the executor conformance suite against a Ray cluster that the tests start on
loopback (``ray start --head``) and reach through Ray Client, then a whole ``tusk run`` on it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from train_fixtures import free_port, make_project
from tusk._internal.sqlite import child_env
from tusk.errors import ConfigError
from tusk.testing.executor import ExecutorSuite, job, results

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.ray, pytest.mark.slow]
TESTS = Path(__file__).parents[1]


@pytest.fixture(scope="module", autouse=True)
def no_ray_token() -> Iterator[None]:
    """Ray turns token authentication on once a token file exists in ~/.ray (any earlier ``ray.init()``
    writes one); the loopback test cluster and its clients run without it."""
    saved = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    yield
    if saved is None:
        os.environ.pop("RAY_AUTH_MODE", None)
    else:
        os.environ["RAY_AUTH_MODE"] = saved


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, no_ray_token: None) -> Iterator[str]:
    """A two-CPU Ray head on 127.0.0.1; yields the executor URL (Ray Client)."""
    ray_cli = shutil.which("ray", path=str(Path(sys.executable).parent))
    assert ray_cli, "the ray extra installs the ray command"
    temp = Path("/tmp") / f"tusk-ray-{os.getpid()}"  # Ray's socket paths must stay short
    gcs, client = free_port(), free_port()
    env = child_env({"PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path]), "RAY_USAGE_STATS_ENABLED": "0"})
    started = subprocess.run(
        [
            ray_cli,
            "start",
            "--head",
            "--node-ip-address=127.0.0.1",
            f"--port={gcs}",
            f"--ray-client-server-port={client}",
            "--num-cpus=2",
            "--num-gpus=0",
            "--include-dashboard=false",
            f"--temp-dir={temp}",
            "--disable-usage-stats",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield f"ray://127.0.0.1:{client}"
    finally:
        if ray.is_initialized():
            ray.shutdown()
        subprocess.run([ray_cli, "stop", "--force"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)


class TestRay(ExecutorSuite):
    @pytest.fixture
    def executor(self, cluster: str) -> Iterator[object]:
        from tusk.execute.ray import RayExecutor

        executor = RayExecutor(cluster)
        yield executor
        executor.close()


def test_a_job_asking_more_gpus_than_the_cluster_has_fails_alone(cluster: str, tmp_path: Path) -> None:
    from tusk.execute.ray import RayExecutor

    executor = RayExecutor(cluster)
    try:
        got = results(executor, [job(tmp_path, "g", "echo", 1, gpus=0.5), job(tmp_path, "c", "echo", 2)])
    finally:
        executor.close()
    assert got["g"].status == "failed" and "needs 0.5 GPU(s) but the Ray cluster has 0" in got["g"].error
    assert got["c"].status == "succeeded"


def test_tusk_run_on_the_cluster_trains_and_registers(cluster: str, tmp_path: Path) -> None:
    project = make_project(tmp_path, customers=4, executor=cluster)
    jobs = project.run()
    assert {n: j["status"] for n, j in jobs.items()} == {f"m-c{i}": "succeeded" for i in range(4)}
    client = project.client()
    for name in jobs:
        version = client.get_model_version_by_alias(name, "production")
        assert str(version.version) == "1" and version.tags["tusk.executor"].startswith("ray://")
    logs = list((project.root / ".tusk" / "jobs").glob("*/m-c0/job.log"))
    assert len(logs) == 1 and "training m-c0 on 10 rows" in logs[0].read_text()
    assert all(p["status"] == "fresh" for p in project.plan().values())


def test_ray_local_starts_a_cluster_for_the_run_and_stops_it(tmp_path: Path) -> None:
    if ray.is_initialized():
        ray.shutdown()
    project = make_project(tmp_path, customers=2, executor="ray://local")
    jobs = project.run()
    assert {n: j["status"] for n, j in jobs.items()} == {"m-c0": "succeeded", "m-c1": "succeeded"}
    assert not ray.is_initialized(), "the cluster tusk started is gone after the run"


def test_ray_urls() -> None:
    from tusk.execute.ray import ray_address

    assert ray_address("ray://10.0.0.5") == "ray://10.0.0.5:10001"
    assert ray_address("ray://head:20001?workers=4") == "ray://head:20001"
    assert ray_address("ray://auto") == "auto"
    assert ray_address("ray://local") is None
    with pytest.raises(ConfigError):
        ray_address("http://x")


def test_an_unreachable_cluster_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ray.util.client import worker

    monkeypatch.setattr(worker, "INITIAL_TIMEOUT_SEC", 1)  # Ray Client gives up after ~35 s by default
    monkeypatch.setattr(worker, "MAX_TIMEOUT_SEC", 1)
    project = make_project(tmp_path, executor=f"ray://127.0.0.1:{free_port()}")
    result = project.tusk("run", code=1)
    assert result.stderr.splitlines()[-1].startswith("error: cannot reach Ray at ray://127.0.0.1:")
    assert "Traceback" not in result.output
    assert all(p["status"] == "new" for p in project.plan().values()), "nothing was registered"


def test_setup_runs_once_per_ray_worker_not_once_per_job(cluster: str, tmp_path: Path) -> None:
    """Each attempt runs in a child forked from Ray's worker: the spec's setup runs in that worker, before the
    fork, so the worker's later tasks (and their children) have it. Counted, not timed."""
    calls = tmp_path / "setup.calls"
    project = make_project(tmp_path, customers=8, per_customer=2, executor=cluster)
    (project.root / "models" / "m.py").write_text(
        "import os\n"
        "def train_base(ctx):\n    return {'n': 1.0}\n"
        "def load_base(ctx):\n"
        f"    open({str(calls)!r}, 'a').write(f'{{os.getpid()}}\\n')\n"
        "    return {'parent': os.getpid(), 'version': ctx.needs['base'].version}\n"
        "def train_adapter(ctx):\n"
        "    assert ctx.shared['version'] == ctx.needs['base'].version\n"
        "    return {'setup_pid': float(ctx.shared['parent']), 'pid': float(os.getpid())}\n"
    )
    head = (project.root / "tusk.toml").read_text().split("\n[[models]]", 1)[0]
    (project.root / "tusk.toml").write_text(
        head
        + """
[[models]]
name = "base"
train = "models/m.py:train_base"

[[models]]
name = "a-{customer}"
train = "models/m.py:train_adapter"
setup = "models/m.py:load_base"
needs = ["base"]
matrix.customer = "SELECT DISTINCT customer FROM examples ORDER BY customer"
inputs.examples = "SELECT id FROM examples WHERE customer = :customer"
"""
    )
    jobs = project.run()
    adapters = [j for name, j in jobs.items() if name.startswith("a-")]
    assert len(adapters) == 8 and {j["status"] for j in jobs.values()} == {"succeeded"}
    setup_pids = calls.read_text().split()
    assert len(setup_pids) == len(set(setup_pids)) < 8, f"once per Ray worker, not per job: {setup_pids}"
    assert {str(int(j["metrics"]["setup_pid"])) for j in adapters} == set(setup_pids)
    assert all(j["metrics"]["pid"] != j["metrics"]["setup_pid"] for j in adapters), "the job ran in a forked child"
