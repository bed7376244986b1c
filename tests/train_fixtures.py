"""A small partitioned project for planner and runner tests: real doltlite store, real MLflow sqlite store.

``TrainProject`` drives everything through the ``tusk`` command line (click's runner, in-process), the
way a user would, and reads the registry back through MLflow.
"""

from __future__ import annotations

import csv
import json
import socket
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

MODEL_CODE = textwrap.dedent("""
    import json, os, pathlib, time

    def train(ctx):
        p = ctx.params
        who = p.get("customer") or p.get("who")
        df = ctx.inputs["examples"]
        marks = pathlib.Path(p.get("marks", "")) if p.get("marks") else None
        if marks:
            marks.mkdir(parents=True, exist_ok=True)
            (marks / f"{who}.start").write_text(str(time.time()))
        if p.get("fail") == who:
            raise RuntimeError(f"boom for {who}")
        if p.get("exit") == who:
            os._exit(3)
        if p.get("flaky") == who and marks and not (marks / f"{who}.tried").exists():
            (marks / f"{who}.tried").write_text("1")
            raise RuntimeError("first attempt fails")
        if p.get("meet") and marks:  # wait until that many jobs have started (at most 5 min): jobs side by side
            deadline = time.monotonic() + 300
            while len(list(marks.glob("*.start"))) < int(p["meet"]) and time.monotonic() < deadline:
                time.sleep(0.05)
            (marks / f"{who}.met").write_text(str(len(list(marks.glob("*.start")))))
        time.sleep(float(p.get("sleep", 0)))
        print(f"training {ctx.name} on {len(df)} rows")
        (ctx.output_dir / "model.json").write_text(json.dumps({"rows": len(df)}))
        if marks:
            (marks / f"{who}.end").write_text(str(time.time()))
        ctx.log_metric("rows", len(df))
        return {"accuracy": float(p.get("accuracy", 0.9))}
""")


SKLEARN_CODE = textwrap.dedent("""
    import os
    from sklearn.linear_model import LinearRegression

    def train(ctx):
        x = ctx.inputs["examples"][["id"]].astype(float)
        model = LinearRegression().fit(x, x["id"] * 2 + 1)
        (ctx.output_dir / "notes.txt").write_text("plain files stay beside the model")
        print("fitted", ctx.name, "in", os.getpid())
        ctx.log_model(model, flavor="sklearn", input_example=x.head(2))
        return {"r2": float(model.score(x, x["id"] * 2 + 1))}
""")


def rows(customers: int = 4, per_customer: int = 10) -> list[list[Any]]:
    return [[i, f"c{i % customers}", f"text {i}", f"l{i % 3}"] for i in range(customers * per_customer)]


def write_csv(path: Path, data: list[list[Any]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "customer", "text", "label"])
        writer.writerows(data)
    return path


def model_block(
    name: str = "m-{customer}",
    params: dict[str, Any] | None = None,
    resources: str = "",
    matrix: str | None = None,
    extra: str = "",
) -> str:
    params_toml = ", ".join(f"{k} = {json.dumps(v)}" for k, v in (params or {"C": 1.0}).items())
    matrix = matrix or 'matrix.customer = "SELECT DISTINCT customer FROM examples ORDER BY customer"'
    return textwrap.dedent(f'''
        [[models]]
        name = "{name}"
        train = "models/m.py:train"
        {matrix}
        inputs.examples = "SELECT id, text, label FROM examples WHERE customer = :customer ORDER BY id"
        params = {{ {params_toml} }}
        {resources}
        {extra}
    ''')


class CliProject:
    """A project folder driven through the ``tusk`` command line (click's runner, in-process)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.runner = CliRunner()

    def tusk(self, *args: str, code: int | None = 0) -> Result:
        from tusk.cli import (
            _register,  # noqa: F401
            cli,
        )

        result = self.runner.invoke(cli, ["-C", str(self.root), *args], catch_exceptions=False)
        if code is not None:
            assert result.exit_code == code, f"tusk {' '.join(args)} exited {result.exit_code}:\n{result.output}"
        return result

    def json(self, *args: str, code: int | None = 0) -> Any:
        result = self.tusk(*args, "--json", code=code)
        return json.loads(result.stdout)


class TrainProject(CliProject):
    def import_rows(
        self,
        data: list[list[Any]],
        mode: str = "upsert",
        branch: str | None = None,
        message: str = "edit",
        yes: bool = True,
    ) -> None:
        """Tests edit on purpose: ``yes`` confirms a large change to the data branch (test_undo tests asking)."""
        path = write_csv(self.root / "edit.csv", data)
        extra = (["--branch", branch] if branch else []) + (["--yes"] if yes else [])
        self.tusk(
            "data", "import", str(path), "--table", "examples", "--key", "id", "--mode", mode, "-m", message, *extra
        )

    def set_models(self, *blocks: str) -> None:
        config = (self.root / "tusk.toml").read_text()
        head = config.split("\n[[models]]", 1)[0].rstrip() + "\n"
        (self.root / "tusk.toml").write_text(head + "".join(blocks))

    def plan(self, *args: str) -> dict[str, dict[str, Any]]:
        return {i["name"]: i for i in self.json("plan", *args)["instances"]}

    def run(self, *args: str, code: int = 0) -> dict[str, dict[str, Any]]:
        return {j["name"]: j for j in self.json("run", *args, code=code)["jobs"]}

    def head(self) -> str:
        return str(self.json("data", "log")["commits"][0]["hash"])

    def client(self) -> Any:
        from mlflow.tracking import MlflowClient

        uri = f"sqlite:///{self.root / '.tusk' / 'mlflow.db'}"
        return MlflowClient(tracking_uri=uri, registry_uri=uri)


_TEMPLATES: dict[str, tuple[Path, Any]] = {}  # key → (a project built once, what its build returned)
TEMPLATE_USES = {False: 0, True: 0}  # builds, copies (conftest prints them)
# Variables pytest, tusk and MLflow set on their own while the tests run: not a test's choice.
_OWN_ENV = {"PYTEST_CURRENT_TEST", "MLFLOW_DISABLE_TELEMETRY", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"}


def _templates_root() -> Path:
    if "" not in _TEMPLATES:
        import atexit
        import shutil
        import tempfile

        _TEMPLATES[""] = (Path(tempfile.mkdtemp(prefix="tusk-test-templates-")), None)
        atexit.register(shutil.rmtree, _TEMPLATES[""][0], True)
    return _TEMPLATES[""][0]


def project_template(tmp_path: Path, key: Any, build: Callable[[Path], Any]) -> Any:
    """What ``build(folder)`` returns (a TrainProject in folder/proj, or a tuple of one and plain values), built
    once per key in a session (the first call's folder is a template's), then copied: each call gets its own
    project in tmp_path/proj and its own copy of the values. A copied project keeps working
    (tests/reliability/test_moved_project.py). The key holds the environment too (less what pytest and the
    libraries set), so a test that sets a variable first gets a template of its own; a test that patches a
    module's attribute before building must put that in the key."""
    import copy
    import hashlib
    import os
    import shutil

    env = sorted((k, v) for k, v in os.environ.items() if k not in _OWN_ENV)
    digest = hashlib.sha256(json.dumps([key, env], sort_keys=True, default=repr).encode()).hexdigest()[:16]
    TEMPLATE_USES[digest in _TEMPLATES] += 1
    if digest not in _TEMPLATES:
        folder = _templates_root() / digest
        shutil.rmtree(folder, ignore_errors=True)  # what a failed build left
        folder.mkdir()
        _TEMPLATES[digest] = (folder / "proj", build(folder))
    template, made = _TEMPLATES[digest]
    root = tmp_path / "proj"
    shutil.copytree(template, root, symlinks=True)
    if isinstance(made, tuple):
        return (TrainProject(root), *copy.deepcopy(made[1:]))
    return TrainProject(root)


def make_project(tmp_path: Path, own_history: bool = False, **kwargs: Any) -> TrainProject:
    """A project in tmp_path/proj: init, the model, `customers` × `per_customer` rows imported (the arguments are
    _build_project's). Built once per set of arguments in a session, then copied: each test has its own folder,
    but the copies share their commits; `own_history` builds one whose commits no other project has."""
    if own_history:
        return _build_project(tmp_path, **kwargs)
    return project_template(tmp_path, ("make_project", kwargs), lambda folder: _build_project(folder, **kwargs))


def trained_project(tmp_path: Path, **kwargs: Any) -> TrainProject:
    """make_project's project after a first `tusk run` (every instance trained), built once per set of arguments
    in a session, then copied."""

    def build(folder: Path) -> TrainProject:
        project = make_project(folder, **kwargs)
        project.run()
        return project

    return project_template(tmp_path, ("trained_project", kwargs), build)


def migrated_tracking_store(root: Path) -> Path:
    """root/.tusk/mlflow.db: an MLflow sqlite store migrated and holding tusk's experiment, copied from one made once
    per session (migrating a new store takes seconds). The tracker relocates its artifact root on open."""
    import shutil

    from tusk.core.config import Config
    from tusk.tracking.mlflow import MlflowTracker

    template = _templates_root() / "tracking-store"
    if not (template / ".tusk" / "mlflow.db").is_file():
        shutil.rmtree(template, ignore_errors=True)
        template.mkdir()
        MlflowTracker("sqlite:///.tusk/mlflow.db", Config(root=template, path=template / "tusk.toml")).ensure_ready()
    shutil.copytree(template / ".tusk", root / ".tusk", dirs_exist_ok=True)
    return root / ".tusk" / "mlflow.db"


def _build_project(
    folder: Path, customers: int = 4, per_customer: int = 10, executor: str = "local://?workers=2", **block: Any
) -> TrainProject:
    runner = CliRunner()
    from tusk.cli import (
        _register,  # noqa: F401
        cli,
    )

    root = folder / "proj"
    result = runner.invoke(cli, ["init", str(root)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    project = TrainProject(root)
    config = (root / "tusk.toml").read_text()
    config = config.replace('url = "local://?workers=2"', f'url = "{executor}"')
    (root / "tusk.toml").write_text(config)
    (root / "models").mkdir(exist_ok=True)
    (root / "models" / "m.py").write_text(MODEL_CODE)
    project.set_models(model_block(**block))
    project.import_rows(rows(customers, per_customer), mode="replace", message="load")
    return project


def register_instances(root: Path, names: list[str], fingerprint: str = "f") -> None:
    """Instances registered (and promoted) through the tracker exactly as a run records them, without
    training: for tests and benchmarks of what happens after training, at scale."""
    from tusk import Project
    from tusk.tracking.base import InputRecord, InstanceState, TrainRecord

    with Project.open(root) as project:
        tracker = project.tracker
        tracker.ensure_ready()
        states = tracker.states()
        job = root / ".tusk" / "registered-job"
        (job / "model").mkdir(parents=True, exist_ok=True)
        (job / "model" / "weights.txt").write_text("w")
        (job / "job.log").write_text("log\n")
        for name in names:
            state = InstanceState(
                name=name,
                version="",
                fingerprint=f"{fingerprint}-{name}",
                data_commit="c" * 40,
                inputs={"examples": InputRecord("SELECT 1", {}, "d", 1)},
                spec="m-{customer}",
            )
            record = TrainRecord(
                state=state,
                metrics={"accuracy": 0.9},
                params={},
                tags={"tusk.seconds": "0.01"},
                output_dir=job / "model",
                log_file=job / "job.log",
                seconds=0.01,
                resources={"cpus": 1, "gpus": 0},
            )
            tracker.register(record, previous=states.get(name))


def git_commit(root: Path, message: str = "models") -> str:
    """Commit the project folder to git (a repository made on first use); → the commit."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    if not (root / ".git").exists():
        git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", message, "--allow-empty")
    return git("rev-parse", "HEAD")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now, for a server a test starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
