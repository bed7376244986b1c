"""Backends by URL scheme: the built-in ones, and a toy executor from outside tusk, added through
``register()`` and through an entry point of an installed distribution, then used by a whole ``tusk run``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.executor import ExecutorSuite
from toy_tusk import ToyExecutor
from train_fixtures import make_project
from tusk import backends
from tusk._sqlite import child_env
from tusk.errors import BackendMissing, ConfigError
from tusk.execute.local import LocalExecutor

TESTS = Path(__file__).parent


@pytest.fixture
def clean_registry() -> Iterator[None]:
    saved = {port: dict(table) for port, table in backends._registered.items()}
    backends.reload_entry_points()
    yield
    for port, table in saved.items():
        backends._registered[port].clear()
        backends._registered[port].update(table)
    backends.reload_entry_points()


def plugin_dist(folder: Path, entries: str, name: str = "toy-tusk-plugin") -> Path:
    """A distribution as pip installs it (its module and its .dist-info with entry points) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(TESTS / "toy_tusk.py", folder / "toy_tusk_plugin.py")
    info = folder / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[tusk.backends]\n{entries}\n")
    return folder


def test_built_in_schemes_resolve_lazily_with_install_hints(clean_registry: None) -> None:
    assert backends.backend_class("executor", "local://?workers=2") is LocalExecutor
    assert backends.scheme_of("postgresql+psycopg2://h/db") == "postgresql"
    with pytest.raises(ConfigError, match="unknown scheme 'k8s' .*known: immediate, local, ray"):
        backends.backend_class("executor", "k8s://cluster")
    backends.register("executor", "gone", "tusk_no_such_plugin:Executor", "pip install tusk-gone")
    with pytest.raises(BackendMissing, match="needs 'tusk_no_such_plugin': pip install tusk-gone"):
        backends.backend_class("executor", "gone://")
    backends.register("executor", "typo", "toy_tusk:NoSuchClass")
    with pytest.raises(BackendMissing, match="toy_tusk has no 'NoSuchClass'"):
        backends.backend_class("executor", "typo://")


def test_register_refuses_what_cannot_work(clean_registry: None) -> None:
    with pytest.raises(ValueError, match="unknown port"):
        backends.register("queue", "k8s", "x:Y")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="scheme"):
        backends.register("executor", "K8S://", "x:Y")
    with pytest.raises(ValueError, match="module:Class"):
        backends.register("executor", "k8s", "tusk_k8s.K8sExecutor")
    backends.register("executor", "k8s", "tusk_k8s:K8sExecutor")
    backends.register("executor", "k8s", "tusk_k8s:K8sExecutor")  # the same again: fine
    with pytest.raises(ValueError, match="already registered"):
        backends.register("executor", "k8s", "other:Executor")
    backends.register("executor", "k8s", "other:Executor", replace=True)
    assert backends.known("executor")["k8s"].target == "other:Executor"


def test_a_registered_toy_executor_runs_a_project(tmp_path: Path, clean_registry: None) -> None:
    backends.register("executor", "toy", "toy_tusk:ToyExecutor", "pip install toy-tusk")
    record = tmp_path / "ran.txt"
    project = make_project(tmp_path, customers=3, executor=f"toy://?record={record}")
    jobs = project.run()
    assert {n: j["status"] for n, j in jobs.items()} == {f"m-c{i}": "succeeded" for i in range(3)}
    assert sorted(record.read_text().split()) == ["m-c0", "m-c1", "m-c2"], "the toy ran every job"
    client = project.client()
    assert client.get_model_version_by_alias("m-c0", "production").tags["tusk.executor"] == "toy://"


def test_an_entry_point_adds_a_backend_without_editing_tusk(tmp_path: Path, clean_registry: None) -> None:
    site = plugin_dist(tmp_path / "site", "executor.toy = toy_tusk_plugin:ToyExecutor\n"
                                          "executor.local = toy_tusk_plugin:ToyExecutor\n"
                                          "nonsense = x\nexecutor.Bad Name = x:Y")
    record = tmp_path / "ran.txt"
    project = make_project(tmp_path, customers=2, executor=f"toy://?record={record}")
    tusk = shutil.which("tusk", path=str(Path(sys.executable).parent))
    assert tusk
    env = child_env({"PYTHONPATH": str(site)})
    done = subprocess.run([tusk, "-C", str(project.root), "run", "--json"], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert {j["name"]: j["status"] for j in json.loads(done.stdout)["jobs"]} == {"m-c0": "succeeded",
                                                                               "m-c1": "succeeded"}
    assert sorted(record.read_text().split()) == ["m-c0", "m-c1"]
    without = subprocess.run([tusk, "-C", str(project.root), "plan"], env=child_env(), capture_output=True,
                             text=True, timeout=300)
    assert without.returncode == 0, "plan opens no executor"
    (project.root / "tusk.toml").write_text((project.root / "tusk.toml").read_text().replace("toy://", "toy2://"))
    failed = subprocess.run([tusk, "-C", str(project.root), "run", "--force"], env=env, capture_output=True,
                            text=True, timeout=300)
    assert failed.returncode == 1 and "unknown scheme 'toy2'" in failed.stderr.splitlines()[-1]


def test_entry_points_are_read_once_and_never_replace_built_ins(tmp_path: Path, clean_registry: None,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    site = plugin_dist(tmp_path / "site", "executor.toy = toy_tusk_plugin:ToyExecutor\n"
                                          "executor.local = toy_tusk_plugin:ToyExecutor\n"
                                          "data.gone = toy_tusk_missing:Store")
    monkeypatch.syspath_prepend(str(site))
    toy = backends.known("executor")["toy"]
    assert (toy.target, toy.origin, toy.install_hint) == ("toy_tusk_plugin:ToyExecutor", "toy-tusk-plugin",
                                                         "pip install toy-tusk-plugin")
    assert backends.backend_class("executor", "toy://").__name__ == "ToyExecutor"
    assert backends.backend_class("executor", "local://") is LocalExecutor, "a plugin does not replace local"
    with pytest.raises(BackendMissing, match="pip install toy-tusk-plugin"):
        backends.backend_class("data", "gone://x")
    calls = []
    real = backends.read_entry_points
    monkeypatch.setattr(backends, "read_entry_points", lambda: calls.append(1) or real())
    backends.reload_entry_points()
    for _ in range(3):
        with pytest.raises(ConfigError):
            backends.backend_class("executor", "nope://")
    assert backends.backend_class("executor", "local://") is LocalExecutor
    assert calls == [1], "entry points are listed once per process, and not for a built-in scheme"


class TestToy(ExecutorSuite):
    """The toy backend from outside tusk passes the same suite as tusk's own (one process per attempt)."""

    pytestmark = pytest.mark.slow

    @pytest.fixture
    def executor(self) -> Iterator[ToyExecutor]:
        executor = ToyExecutor("toy://")
        yield executor
        executor.close()
