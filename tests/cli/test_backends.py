"""Backends by URL scheme: the built-in ones, and an executor from outside tusk — the example of
docs/architecture.md, taken from the page — added through ``register()`` and through an entry point of an
installed distribution, used by a whole ``tusk run``, and put through the executor conformance suite. The
plugin author's page, docs/plugins.md: its builder and its pytest files, run as a plugin author runs them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from train_fixtures import TrainProject, make_project
from tusk import backends
from tusk._internal.sqlite import child_env
from tusk.errors import BackendMissing, ConfigError
from tusk.execute.local import LocalExecutor
from tusk.testing import ExecutorSuite

DOC = Path(__file__).parents[2] / "docs" / "architecture.md"
PLUGINS = Path(__file__).parents[2] / "docs" / "plugins.md"


def code_block(page: Path, file: str) -> str:
    """The ``python`` code block of ``page`` that starts with the comment ``# <file>``."""
    [code] = re.findall(rf"```python\n(# {re.escape(file)}\n.*?)```", page.read_text(), re.S)
    return code


def documented_example() -> str:
    """The ``tusk_procs.py`` code block of docs/architecture.md."""
    return code_block(DOC, "tusk_procs.py")


def plugin_dist(folder: Path, entries: str, name: str = "tusk-procs", modules: dict[str, str] | None = None) -> Path:
    """A distribution as pip installs it — its modules (the documented ``tusk_procs.py`` unless given) and a
    .dist-info with entry points — in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for module, code in (modules or {"tusk_procs.py": documented_example()}).items():
        (folder / module).write_text(code)
    info = folder / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[tusk.backends]\n{entries}\n")
    return folder


@pytest.fixture
def clean_registry() -> Iterator[None]:
    saved = {port: dict(table) for port, table in backends._registered.items()}
    backends.reload_entry_points()
    yield
    for port, table in saved.items():
        backends._registered[port].clear()
        backends._registered[port].update(table)
    backends.reload_entry_points()


@pytest.fixture
def plugin(tmp_path: Path, clean_registry: None, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The documented plugin installed in a folder on sys.path (its entry points are found from there)."""
    site = plugin_dist(
        tmp_path / "site",
        "executor.procs = tusk_procs:ProcessExecutor\n"
        "executor.local = tusk_procs:ProcessExecutor\n"
        "data.gone = tusk_procs_missing:Store\n"
        "nonsense = x\nexecutor.Bad Name = x:Y",
    )
    monkeypatch.syspath_prepend(str(site))
    return site


def job_pids(project: TrainProject) -> list[str]:
    logs = sorted((project.root / ".tusk" / "jobs").glob("*/*/job.log"))
    return [
        re.search(r"\[tusk\] attempt 1 started \S+ \S+ pid (\d+)", log.read_text()).group(1)  # type: ignore[union-attr]
        for log in logs
    ]


def test_built_in_schemes_resolve_lazily_with_install_hints(clean_registry: None) -> None:
    assert backends.backend_class("executor", "local://?workers=2") is LocalExecutor
    assert backends.scheme_of("postgresql+psycopg2://h/db") == "postgresql"
    with pytest.raises(ConfigError, match="unknown scheme 'k8s' .*known: immediate, local, ray"):
        backends.backend_class("executor", "k8s://cluster")
    backends.register("executor", "gone", "tusk_no_such_plugin:Executor", "pip install tusk-gone")
    with pytest.raises(BackendMissing, match="needs 'tusk_no_such_plugin': pip install tusk-gone"):
        backends.backend_class("executor", "gone://")
    backends.register("executor", "typo", "tusk.execute.local:NoSuchClass")
    with pytest.raises(BackendMissing, match="tusk.execute.local has no 'NoSuchClass'"):
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


def test_a_registered_executor_runs_a_project(tmp_path: Path, plugin: Path) -> None:
    backends.register("executor", "myprocs", "tusk_procs:ProcessExecutor", "pip install tusk-procs")
    project = make_project(tmp_path, customers=3, executor="myprocs://")
    jobs = project.run("--workers", "1")
    assert {n: j["status"] for n, j in jobs.items()} == {f"m-c{i}": "succeeded" for i in range(3)}
    assert len(set(job_pids(project))) == 3, "a fresh process per attempt, though one at a time"
    client = project.client()
    assert client.get_model_version_by_alias("m-c0", "production").tags["tusk.executor"] == "myprocs://"


def test_an_entry_point_adds_a_backend_without_editing_tusk(tmp_path: Path, plugin: Path) -> None:
    project = make_project(tmp_path, customers=3, executor="procs://")
    tusk = shutil.which("tusk", path=str(Path(sys.executable).parent))
    assert tusk
    env = child_env({"PYTHONPATH": str(plugin)})

    def run(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [tusk, "-C", str(project.root), *args], capture_output=True, text=True, timeout=300, check=False, **kwargs
        )

    done = run("run", "--workers", "1", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert {j["name"]: j["status"] for j in json.loads(done.stdout)["jobs"]} == {
        f"m-c{i}": "succeeded" for i in range(3)
    }
    assert len(set(job_pids(project))) == 3, "the plugin ran them, a fresh process each"
    assert run("plan", env=child_env()).returncode == 0, "a command that runs no job opens no executor"
    missing = run("run", "--force", env=child_env())
    assert missing.returncode == 1 and "unknown scheme 'procs'" in missing.stderr.splitlines()[-1]


def test_entry_points_are_read_once_and_never_replace_built_ins(plugin: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    procs = backends.known("executor")["procs"]
    assert (procs.target, procs.origin, procs.install_hint) == (
        "tusk_procs:ProcessExecutor",
        "tusk-procs",
        "pip install tusk-procs",
    )
    assert backends.backend_class("executor", "procs://").__name__ == "ProcessExecutor"
    assert backends.backend_class("executor", "local://") is LocalExecutor, "a plugin does not replace local"
    with pytest.raises(BackendMissing, match="pip install tusk-procs"):
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


class TestDocumentedExecutor(ExecutorSuite):
    """The executor of docs/architecture.md passes the suite tusk's own executors pass."""

    pytestmark = pytest.mark.slow

    @pytest.fixture
    def executor(self, plugin: Path) -> Iterator[Any]:
        executor = backends.backend_class("executor", "procs://")("procs://")
        yield executor
        executor.close()


NERDCTL = """#!/bin/sh
# nerdctl's command line, served by buildah (this machine has no containerd)
case "$1" in
  image) shift 2; exec buildah --storage-driver vfs inspect --type image "$@" ;;
  *) exec buildah --storage-driver vfs "$@" ;;
esac
"""


def run_plugin_tests(folder: Path, test_file: str, site: Path, path: str | None = None) -> str:
    """Run the page's pytest file ``test_file`` as a plugin author does: in a folder of its own (no tusk
    conftest, no tests/ on the path), with the plugin installed in ``site``. → pytest's summary."""
    folder.mkdir(parents=True)
    (folder / test_file).write_text(code_block(PLUGINS, test_file))
    env = child_env({"PYTHONPATH": str(site), "PATH": path or os.environ["PATH"]})
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", test_file],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_the_plugin_page_builder_passes_the_builder_suite_run_from_the_page(tmp_path: Path) -> None:
    site = plugin_dist(
        tmp_path / "site",
        "builder.nerdctl = tusk_nerdctl:NerdctlBuilder",
        "tusk-nerdctl",
        {"tusk_nerdctl.py": code_block(PLUGINS, "tusk_nerdctl.py")},
    )
    absent = run_plugin_tests(tmp_path / "absent", "test_tusk_nerdctl.py", site, path="/usr/bin:/bin")
    assert re.search(r"\b6 skipped\b", absent) and "nerdctl is not installed here" in absent, absent
    if shutil.which("buildah") is None:
        pytest.skip("buildah not installed (.ci/install adds it): nerdctl's stand-in")
    shim = tmp_path / "bin" / "nerdctl"
    shim.parent.mkdir()
    shim.write_text(NERDCTL)
    shim.chmod(0o755)
    summary = run_plugin_tests(
        tmp_path / "present", "test_tusk_nerdctl.py", site, f"{shim.parent}:{os.environ['PATH']}"
    )
    assert re.search(r"\b5 passed, 1 skipped\b", summary) and "nerdctl builds images" in summary, summary


@pytest.mark.slow
def test_the_plugin_page_executor_test_file_runs_the_suite_outside_tusks_tests(tmp_path: Path) -> None:
    """The executor suite's jobs are tusk.testing.jobs: nothing of tusk's tests/ folder is needed."""
    site = plugin_dist(tmp_path / "site", "executor.procs = tusk_procs:ProcessExecutor")
    summary = run_plugin_tests(tmp_path / "tests", "test_tusk_procs.py", site)
    assert re.search(r"\b\d+ passed\b", summary) and "failed" not in summary and "error" not in summary, summary


def test_tusk_testing_without_pytest_says_what_to_install_and_its_jobs_need_no_pytest() -> None:
    script = (
        "import sys; sys.modules['pytest'] = None\n"
        "try:\n    import tusk.testing\nexcept ImportError as exc:\n    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=child_env(), check=False)
    assert done.stdout == "tusk.testing needs pytest: pip install 'tusk-mlops[test]'\n", done.stderr
    light = "import sys, tusk.testing.jobs; print(sorted({'pytest', 'tusk.testing.executor'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", light], capture_output=True, text=True, env=child_env(), check=False)
    assert done.stdout == "[]\n", "a worker importing the suite's jobs imports neither pytest nor a suite"
