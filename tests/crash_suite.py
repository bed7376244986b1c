"""The crash-safety suite: kill -9 of a command's whole process group at many moments, then the same
command again, then the invariants.

For each command (``run``, ``data import`` of 200k rows, ``data merge``, ``data sync``, ``release create``
with an image build where buildah exists, ``release rollback``, ``watch --once``) a trial makes something
for the command to do, starts it in its own process group, and kills the group: at a named kill point
(``TUSK_CRASH_AT``, see ``tusk._internal.crash``; the N-th time it is reached) or after a random delay. Then it runs
the same command again, which must succeed, and checks:

- the data store passes SQLite's integrity check; no committed row is lost (the table equals the file
  imported, the merged branch's rows are on main, the synced branch equals its source);
- no instance holds two versions with the same fingerprint; every alias resolves; the plan has nothing
  stale that the run owed; every instance trained has its production version in the current release;
- the release log and the current release agree (the newest event names the current release, none is
  left pending);
- nothing half-written is left: no scratch or staging branch, no job folder of a dead run, no RUNNING
  training run, no held lock, no process of the killed command.

    python tests/crash_suite.py [--moments N] [--seed S] [--only run,import] [--write docs/reliability.md]

``--moments`` is the number of distinct kill moments per command (named points first, then timed kills).
The pytest test ``test_crash_suite.py`` runs a few moments per command; ``make reliability`` runs at least 20.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tusk  # noqa: F401  (doltlite before sqlite3 anywhere else)
from crash_helpers import env, finish, kill_group, processes_in, start, wait_gone
from crash_helpers import tusk as run_tusk

CUSTOMERS = 8
BIG_ROWS = 200_000


@dataclass
class Trial:
    command: str
    moment: str
    killed: bool = False  # the process died of SIGKILL (it may also have finished before the moment came)
    recovered: bool = False  # the same command again succeeded
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0  # of the command run again after the kill

    @property
    def ok(self) -> bool:
        return self.recovered and not self.failures


# ----- the project a scenario works in -------------------------------------------------------------------
MODEL = """
import time
def train(ctx):
    time.sleep(0.1)
    (ctx.output_dir / "m.txt").write_text(str(len(ctx.inputs["examples"])))
    return {"rows": float(len(ctx.inputs["examples"]))}
"""

MODELS_TOML = """
[[models]]
name = "m-{customer}"
train = "models/m.py:train"
matrix.customer = "SELECT DISTINCT customer FROM examples ORDER BY customer"
inputs.examples = "SELECT id, text, label FROM examples WHERE customer = :customer ORDER BY id"
resources = { retries = 0 }
"""


def must(root: Path, *args: str) -> str:
    done = run_tusk(root, *args, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"tusk {' '.join(args)}: exit {done.returncode}: {done.stderr.strip()[-500:]}")
    return done.stdout


def new_project(folder: Path, models: bool = True, release: str = "") -> Path:
    root = folder / "proj"
    subprocess.run(
        [str(Path(sys.executable).parent / "tusk"), "init", str(root)], check=True, capture_output=True, env=env()
    )
    config = root / "tusk.toml"
    text = config.read_text().replace('base_image = "python:3.11-slim"', 'base_image = "scratch"')
    if release:
        text = text.replace('builder = "auto"', release)
    (root / "models").mkdir(exist_ok=True)
    (root / "models" / "m.py").write_text(MODEL)
    config.write_text(text + (MODELS_TOML if models else ""))
    return root


def write_rows(path: Path, rows: list[tuple[Any, ...]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "customer", "text", "label"])
        writer.writerows(rows)
    return path


def examples(version: int, count: int = CUSTOMERS * 10, touched: int = 2) -> list[tuple[Any, ...]]:
    """Rows where ``touched`` customers' texts depend on ``version`` (so they go stale)."""
    changed = {(version * 3 + k) % CUSTOMERS for k in range(touched)}
    return [
        (i, f"c{i % CUSTOMERS}", f"text {i} v{version if i % CUSTOMERS in changed else 0}", f"l{i % 3}")
        for i in range(count)
    ]


def import_rows(
    root: Path,
    rows: list[tuple[Any, ...]],
    table: str = "examples",
    branch: str | None = None,
    mode: str = "replace",
    message: str = "edit",
) -> None:
    from tusk.data.ingest import import_file
    from tusk.project import Project

    path = write_rows(root / f".crash-{table}.csv", rows)
    with Project.open(root) as project:
        import_file(project.data, str(path), table, ["id"], mode, branch, message)  # type: ignore[arg-type]
    path.unlink()


# ----- invariants ------------------------------------------------------------------------------------------
def store_checks(root: Path, branches: set[str]) -> list[str]:
    from tusk.data.base import SCRATCH_PREFIX
    from tusk.project import Project

    problems = []
    db = root / "data" / "training.db"
    conn = sqlite3.connect(db)
    try:
        result = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if result != "ok":
            problems.append(f"data store integrity: {result}")
    finally:
        conn.close()
    with Project.open(root) as project:
        names = {b.name for b in project.data.branches()}
    scratch = sorted(n for n in names if n.startswith((SCRATCH_PREFIX, "tusk-sync/")))
    if scratch:
        problems.append(f"scratch or staging branches left: {scratch}")
    from tusk.review.meta import META  # where reviews' conversation lives: made by the first review write

    unexpected = sorted(names - branches - set(scratch) - {META})
    if unexpected:
        problems.append(f"unexpected branches: {unexpected}")
    return problems


def table_digest(root: Path, table: str, ref: str = "main") -> tuple[int, str]:
    from tusk.project import Project

    with Project.open(root) as project:
        rows = project.data.query(f"SELECT * FROM {table} ORDER BY id", None, ref=ref).rows
    return len(rows), hashlib.sha256(repr([tuple(str(v) for v in r) for r in rows]).encode()).hexdigest()


def file_digest(path: Path) -> tuple[int, str]:
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    rows.sort(key=lambda r: int(r[0]))
    return len(rows), hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()


def registry_checks(root: Path) -> list[str]:
    """No duplicate fingerprints, aliases resolve, no RUNNING training run, release log agrees with current."""
    problems = []
    db = sqlite3.connect(f"file:{root / '.tusk' / 'mlflow.db'}?mode=ro", uri=True)
    try:
        duplicates = db.execute(
            "SELECT name, value, count(*) FROM model_version_tags WHERE key = 'tusk.fingerprint' "
            "GROUP BY name, value HAVING count(*) > 1"
        ).fetchall()
        if duplicates:
            problems.append(f"duplicate fingerprints: {[(n, v[:10], c) for n, v, c in duplicates]}")
        dangling = db.execute(
            "SELECT a.name, a.alias, a.version FROM registered_model_aliases a LEFT JOIN model_versions v "
            "ON v.name = a.name AND v.version = a.version WHERE v.version IS NULL"
        ).fetchall()
        if dangling:
            problems.append(f"aliases that do not resolve: {dangling}")
        running = db.execute(
            "SELECT count(*) FROM runs r JOIN experiments e ON e.experiment_id = r.experiment_id "
            "WHERE r.status = 'RUNNING' AND e.name = 'tusk'"
        ).fetchone()[0]
        if running:
            problems.append(f"{running} training run(s) left RUNNING")
        releases = db.execute(
            "SELECT count(*), count(DISTINCT t.value) FROM model_version_tags t "
            "WHERE t.name = 'tusk-release' AND t.key = 'tusk.release.md5'"
        ).fetchone()
        if releases[0] != releases[1]:
            problems.append(f"{releases[0] - releases[1]} duplicate release(s) of one manifest")
    finally:
        db.close()
    return problems


def release_checks(root: Path, wanted: dict[str, str] | None = None) -> list[str]:
    """The release log's newest event names the current release and nothing is pending; the current release
    holds every production version (or ``wanted``)."""
    from tusk.project import Project
    from tusk.release.create import production_manifest
    from tusk.release.store import ReleaseStore

    problems = []
    with Project.open(root) as project:
        store = ReleaseStore(project.tracker)  # type: ignore[arg-type]
        current = store.current()
        events = store.history.events()
        manifest = production_manifest(project.tracker)
    if current is None:
        return ["no current release"]
    if any(e.status != "done" for e in events):
        problems.append(f"pending release events: {[e.event for e in events if e.status != 'done']}")
    done = [e for e in events if e.status == "done"]
    if not done or done[0].md5 != current.md5:
        problems.append(
            f"the release log's newest event ({done[0].md5[:8] if done else None}) is not the current "
            f"release ({current.md5[:8]})"
        )
    expected = wanted if wanted is not None else manifest
    if current.models != expected:
        differ = sorted(k for k in set(current.models) | set(expected) if current.models.get(k) != expected.get(k))
        problems.append(f"current release differs from production in {differ[:5]}")
    return problems


def training_checks(root: Path) -> list[str]:
    from tusk.project import Project
    from tusk.train import logs

    problems = []
    with Project.open(root) as project:
        plan = project.plan()
        states = project.tracker.states()
        aliases = project.tracker.aliases()
    owed = [p.name for p in plan.instances if p.status not in ("fresh", "orphaned")]
    if owed:
        problems.append(f"plan still owes: {owed}")
    unpromoted = sorted(n for n, s in states.items() if aliases.get(n) != s.version)
    if unpromoted:
        problems.append(f"current version not in production: {unpromoted}")
    jobs = root / ".tusk" / "jobs"
    half = [f.name for f in logs.run_folders(jobs) if not (f / logs.DONE).exists()]
    if half:
        problems.append(f"job folders of a killed run: {half}")
    return problems


def leftovers(root: Path) -> list[str]:
    import fcntl

    problems = []
    alive = processes_in(root)
    if alive:
        problems.append(f"processes left: {alive}")
    for lock in (root / ".tusk").glob("*.lock"):
        with lock.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(handle, fcntl.LOCK_UN)
            except BlockingIOError:
                problems.append(f"lock still held: {lock.name}")
    temps = [p.name for p in (root / ".tusk").rglob(".tmp-*")]
    if temps:
        problems.append(f"temporary files left: {temps}")
    return problems


# ----- scenarios -------------------------------------------------------------------------------------------
@dataclass
class Scenario:
    name: str
    points: list[str]  # kill points, each tried at its 1st, 2nd... occurrence
    max_delay: float  # timed kills fall in [0.05, max_delay] seconds
    setup: Callable[[Path], Context]
    occurrences: int = 1  # how many times one command reaches a point (e.g. one version per stale instance)


@dataclass
class Context:
    root: Path
    prepare: Callable[[int], list[str]]  # trial number → the command's arguments (after making work for it)
    check: Callable[[int], list[str]]  # trial number → invariant failures after the recovery
    branches: set[str] = field(default_factory=lambda: {"main"})
    exit_codes: tuple[int, ...] = (0,)  # what the command run again exits with (3: a job of its own failed)


def _run_setup(folder: Path) -> Context:
    root = new_project(folder)
    import_rows(root, examples(0), message="load")
    must(root, "run")

    def prepare(trial: int) -> list[str]:
        import_rows(root, examples(trial + 1), message=f"trial {trial}")
        return ["run"]

    def check(trial: int) -> list[str]:
        return training_checks(root) + registry_checks(root)

    return Context(root, prepare, check)


def _watch_setup(folder: Path) -> Context:
    root = new_project(folder, release='builder = "none"\nauto = true')
    import_rows(root, examples(0), message="load")
    must(root, "watch", "--once")

    def prepare(trial: int) -> list[str]:
        import_rows(root, examples(trial + 1), message=f"trial {trial}")
        return ["watch", "--once"]

    def check(trial: int) -> list[str]:
        from tusk.project import Project

        problems = training_checks(root) + registry_checks(root) + release_checks(root)
        saved = json.loads((root / ".tusk" / "watch.json").read_text())
        with Project.open(root) as project:
            head = project.data.resolve("main")
        if saved.get("data_head") != head:
            problems.append("watch.json does not name the data head it handled")
        return problems

    return Context(root, prepare, check)


def _import_setup(folder: Path) -> Context:
    root = new_project(folder, models=False)
    rng = random.Random(7)

    def version(trial: int) -> Path:
        changed = set(rng.sample(range(BIG_ROWS), BIG_ROWS // 100))
        rows = [
            (i, f"c{i % 1000}", f"text {i}" + (f" edit {trial}" if i in changed else ""), f"l{i % 8}")
            for i in range(BIG_ROWS)
            if not (trial > 0 and i % 997 == trial % 997)
        ]
        return write_rows(root / f"big{trial % 2}.csv", rows)

    import_rows(root, [(0, "c0", "t", "l0")], table="big", message="create")

    def prepare(trial: int) -> list[str]:
        path = version(trial + 1)
        return ["data", "import", str(path), "--table", "big", "--key", "id", "-m", f"trial {trial}"]

    def check(trial: int) -> list[str]:
        from tusk.project import Project

        problems = store_checks(root, {"main"})
        if table_digest(root, "big") != file_digest(root / f"big{(trial + 1) % 2}.csv"):
            problems.append("table big differs from the file imported")
        with Project.open(root) as project:
            messages = [c.message for c in project.data.log("main")]
        if messages.count(f"trial {trial}") != 1:
            problems.append(f"commit 'trial {trial}' is there {messages.count(f'trial {trial}')} times")
        return problems

    return Context(root, prepare, check)


def _merge_setup(folder: Path) -> Context:
    root = new_project(folder, models=False)
    base = [(i, f"c{i % 5}", f"text {i}", "l0") for i in range(2000)]
    import_rows(root, base, message="load")
    expected: dict[int, Any] = {}

    def prepare(trial: int) -> list[str]:
        from tusk.project import Project

        branch = f"fix-{trial}"
        with Project.open(root) as project:
            project.data.create_branch(branch)
        edits = [(i, f"c{i % 5}", f"fixed by {trial}", "l1") for i in range(trial * 10, trial * 10 + 10)]
        import_rows(root, edits, branch=branch, mode="upsert", message=f"edit {trial}")
        main_edit = [(100_000 + trial, "c0", f"main {trial}", "l2")]
        import_rows(root, main_edit, mode="append", message=f"main {trial}")  # a real merge, not a fast-forward
        expected[trial] = edits
        return ["data", "merge", branch, "-m", f"merge {trial}"]

    def check(trial: int) -> list[str]:
        from tusk.project import Project

        problems = store_checks(root, {"main"} | {f"fix-{t}" for t in expected})
        with Project.open(root) as project:
            rows = {r[0]: r for r in project.data.query("SELECT * FROM examples", None, ref="main").rows}
            messages = [c.message for c in project.data.log("main")]
            status = project.data.query("SELECT count(*) FROM dolt_status", None, ref="main").rows[0][0]
        lost = [
            i
            for t, edits in expected.items()
            for (i, *_rest) in edits
            if rows.get(i, (None, None, None))[2] != f"fixed by {t}"
            and t <= trial
            and not any(i in range(u * 10, u * 10 + 10) for u in expected if u > t)
        ]
        if lost:
            problems.append(f"merged rows missing on main: {lost[:5]}")
        if messages.count(f"merge {trial}") != 1:
            problems.append(f"merge commit 'merge {trial}' is there {messages.count(f'merge {trial}')} times")
        if status:
            problems.append("main has uncommitted changes")
        return problems

    return Context(root, prepare, check)


def _sync_setup(folder: Path) -> Context:
    root = new_project(folder, models=False)
    import_rows(root, [(i, "c0", f"t{i}", "l0") for i in range(100)], message="load")
    config = root / "tusk.toml"
    config.write_text(
        config.read_text() + '\n[[sources]]\nname = "edits"\nurl = "source.csv"\ntable = "examples"\nkey = ["id"]\n'
    )

    def prepare(trial: int) -> list[str]:
        rows = [(i, "c0", f"t{i} sync {trial}" if i % 7 == trial % 7 else f"t{i}", "l0") for i in range(20_000)]
        write_rows(root / "source.csv", rows)
        return ["data", "sync"]

    def check(trial: int) -> list[str]:
        problems = store_checks(root, {"main", "sync/edits"})
        if table_digest(root, "examples", "sync/edits") != file_digest(root / "source.csv"):
            problems.append("sync/edits differs from its source")
        return problems

    return Context(root, prepare, check, {"main", "sync/edits"})


def _release_setup(folder: Path, rollback: bool = False) -> Context:
    builder = 'builder = "auto"' if shutil.which("buildah") and not rollback else 'builder = "none"'
    root = new_project(folder, release=builder)
    import_rows(root, examples(0), message="load")
    must(root, "run")
    must(root, "release", "create")
    state: dict[str, Any] = {}

    def bump(trial: int) -> None:
        """A new production version of one instance: a new manifest for the next release."""
        import_rows(root, examples(trial + 1, touched=1), message=f"trial {trial}")
        must(root, "run")

    def prepare(trial: int) -> list[str]:
        if not rollback:
            bump(trial)
            return ["release", "create"]
        from tusk.project import Project
        from tusk.release.store import ReleaseStore

        if trial == 0:
            bump(trial)
            must(root, "release", "create")
        with Project.open(root) as project:
            releases = ReleaseStore(project.tracker).list()  # type: ignore[arg-type]
        current = next(r for r in releases if r.current)
        target = next(r for r in reversed(releases) if r.md5 != current.md5)
        state["target"] = target.models
        return ["release", "rollback", f"v{target.version}"]

    def check(trial: int) -> list[str]:
        problems = registry_checks(root) + release_checks(root, state.get("target"))
        return problems

    return Context(root, prepare, check)


def _export_setup(folder: Path) -> Context:
    """tusk data export -o: the file is whole (the table as it is) or the old one, and no temporary file of a
    killed export is left beside it once the export ran again."""
    root = new_project(folder, models=False)
    rows = 40_000
    import_rows(root, [(i, f"c{i % 50}", f"text {i}", f"l{i % 3}") for i in range(rows)], message="load")
    out = root / "exports" / "examples.csv"

    def prepare(trial: int) -> list[str]:
        import_rows(
            root,
            [
                (i, f"c{i % 50}", f"text {i} v{trial}" if i % 10 == trial % 10 else f"text {i}", f"l{i % 3}")
                for i in range(rows)
            ],
            message=f"trial {trial}",
        )
        return ["data", "export", "examples", "-o", str(out)]

    def check(trial: int) -> list[str]:
        problems = store_checks(root, {"main"})
        if file_digest(out) != table_digest(root, "examples"):
            problems.append("the exported file differs from the table")
        temps = sorted(p.name for p in out.parent.iterdir() if p.name != out.name)
        if temps:
            problems.append(f"files left beside the export: {temps}")
        return problems

    return Context(root, prepare, check)


FAILING_MODEL = """
import time
def train(ctx):
    time.sleep(0.1)
    texts = list(ctx.inputs["examples"]["text"])
    if any("fail" in t for t in texts):
        raise ValueError("a row says fail")
    (ctx.output_dir / "m.txt").write_text(str(len(texts)))
    return {"rows": float(len(texts))}
"""


def _failing_run_setup(folder: Path) -> Context:
    """tusk run where one instance's job fails (exit 3) and others train: the failure is a FAILED run at the
    fingerprint planned, whatever moment the first run was killed at."""
    root = new_project(folder)
    (root / "models" / "m.py").write_text(FAILING_MODEL)
    import_rows(root, examples(0), message="load")
    must(root, "run")

    def prepare(trial: int) -> list[str]:
        rows = [(i, c, f"{t} fail {trial}" if c == "c0" else t, label) for i, c, t, label in examples(trial + 1)]
        import_rows(root, rows, message=f"trial {trial}")
        return ["run"]

    def check(trial: int) -> list[str]:
        from tusk.project import Project
        from tusk.train import logs

        problems = registry_checks(root)
        with Project.open(root) as project:
            plan = project.plan()
            failures = project.tracker.failures()
            states = project.tracker.states()
            aliases = project.tracker.aliases()
        owed = {p.name: p for p in plan.instances if p.status not in ("fresh", "orphaned")}
        if set(owed) != {"m-c0"} or owed["m-c0"].status != "failed":
            problems.append(f"the plan owes {[(n, p.status) for n, p in owed.items()]}, not m-c0 failed")
        planned = getattr(owed.get("m-c0"), "fingerprint", None)
        if "m-c0" not in failures or failures["m-c0"].fingerprint != planned:
            problems.append(f"no FAILED run of m-c0 at the fingerprint planned: {failures.get('m-c0')}")
        unpromoted = sorted(n for n, s in states.items() if aliases.get(n) != s.version)
        if unpromoted:
            problems.append(f"current version not in production: {unpromoted}")
        half = [f.name for f in logs.run_folders(root / ".tusk" / "jobs") if not (f / logs.DONE).exists()]
        if half:
            problems.append(f"job folders of a killed run: {half}")
        return problems

    return Context(root, prepare, check, exit_codes=(3,))


def _candidates_setup(folder: Path) -> Context:
    """tusk run --at BRANCH --candidates on a real merge preview: every version names a data commit that
    resolves (the preview's tag is made before the first record naming it), and no scratch branch is left."""
    from tusk.project import Project

    root = new_project(folder)
    import_rows(root, examples(0), message="load")
    must(root, "run")
    branches = {"main"}

    def prepare(trial: int) -> list[str]:
        branch = f"fix-{trial}"
        with Project.open(root) as project:
            project.data.create_branch(branch)
        customer = f"c{trial % CUSTOMERS}"
        edits = [(i, c, f"{t} fixed {trial}", label) for i, c, t, label in examples(0) if c == customer]
        import_rows(root, edits, branch=branch, mode="upsert", message=f"fix {trial}")
        import_rows(
            root,
            [(100_000 + trial, f"c{(trial + 1) % CUSTOMERS}", f"main {trial}", "l0")],
            mode="append",
            message=f"main {trial}",
        )  # main moves: the preview is a real merge, a commit of its own
        branches.add(branch)
        return ["run", "--at", branch, "--candidates"]

    def check(trial: int) -> list[str]:
        problems = store_checks(root, branches) + registry_checks(root)
        db = sqlite3.connect(f"file:{root / '.tusk' / 'mlflow.db'}?mode=ro", uri=True)
        try:
            named = {
                v for (v,) in db.execute("SELECT DISTINCT value FROM model_version_tags WHERE key = 'tusk.data_commit'")
            }
        finally:
            db.close()
        lost = []
        with Project.open(root) as project:
            project.data.gc()  # type: ignore[attr-defined]  (what only a scratch branch kept goes now)
            for commit in sorted(named):
                try:
                    project.data.resolve(commit)
                except Exception:  # noqa: BLE001
                    lost.append(commit[:10])
        if lost:
            problems.append(f"versions name data commits that do not resolve: {lost}")
        return problems

    return Context(root, prepare, check, branches)


def _comment_setup(folder: Path) -> Context:
    """tusk review comment: one commit on tusk-reviews; every comment before is there, this one once (twice
    when the kill came after its commit), and nothing of the conversation is in the review branch's history."""
    from tusk.project import Project

    root = new_project(folder, models=False)
    import_rows(root, examples(0), message="load")
    with Project.open(root) as project:
        project.data.create_branch("fix")
    import_rows(root, examples(1), branch="fix", mode="upsert", message="fix")

    def prepare(trial: int) -> list[str]:
        return ["review", "comment", "fix", f"comment {trial}"]

    def check(trial: int) -> list[str]:
        problems = store_checks(root, {"main", "fix"})
        with Project.open(root) as project:
            texts = [c.text for c in project.review_meta("fix").comments]
            messages = [c.message for c in project.data.log("fix")]
        for earlier in range(trial + 1):
            if not 1 <= texts.count(f"comment {earlier}") <= 2:
                problems.append(f"comment {earlier} is there {texts.count(f'comment {earlier}')} times")
        if any(m.startswith("review fix") for m in messages):
            problems.append("the conversation is in the review branch's history")
        return problems

    return Context(root, prepare, check, {"main", "fix"})


SCENARIOS = [
    Scenario(
        "run",
        [
            "run.locked",
            "run.planned",
            "run.result",
            "register.run",
            "register.version",
            "register.alias",
            "run.recorded",
        ],
        2.5,
        _run_setup,
        occurrences=2,
    ),
    Scenario(
        "data import",
        ["import.read", "import.staged", "import.applied", "import.before-commit", "import.committed"],
        2.0,
        _import_setup,
    ),
    Scenario("data merge", ["merge.begin", "merge.merged", "merge.committed"], 1.0, _merge_setup),
    Scenario(
        "data sync",
        ["sync.staging", "import.staged", "import.applied", "sync.committed", "sync.moved"],
        1.0,
        _sync_setup,
    ),
    Scenario(
        "release create",
        [
            "release.manifest",
            "release.context",
            "release.built",
            "release.run",
            "release.artifact",
            "release.version",
            "release.current",
        ],
        2.5,
        _release_setup,
    ),
    Scenario(
        "release rollback",
        ["release.rollback.models", "release.rollback"],
        2.0,
        lambda folder: _release_setup(folder, rollback=True),
    ),
    Scenario(
        "watch",
        [
            "watch.poll",
            "run.planned",
            "register.version",
            "register.alias",
            "watch.ran",
            "release.version",
            "release.current",
            "watch.released",
            "watch.saved",
        ],
        3.0,
        _watch_setup,
        occurrences=2,
    ),
    # what issues 22 and 23 added: an export's output file, a failed job's FAILED run, a candidate run's preview
    # tag, a review's comment on tusk-reviews
    Scenario("data export", ["output.written"], 1.5, _export_setup),
    Scenario(
        "run failing",
        ["run.planned", "failure.run", "failure.recorded", "register.version", "run.recorded"],
        2.5,
        _failing_run_setup,
    ),
    Scenario(
        "run candidates",
        ["run.planned", "preview.tagged", "candidate.version", "candidate.listed", "run.recorded"],
        2.5,
        _candidates_setup,
    ),
    Scenario("review comment", ["write.commit", "write.dolt-committed", "write.committed"], 1.0, _comment_setup),
]


def moments(scenario: Scenario, count: int, rng: random.Random) -> list[str]:
    """``count`` distinct moments: a fifth (at least one) timed kills, the rest named kill points (each point at
    its 1st occurrence, then its 2nd...), spread evenly over the command when there are more than needed."""
    named = [f"{point}:{n}" for n in range(1, scenario.occurrences + 1) for point in scenario.points]
    wanted = min(len(named), count - max(1, count // 5))
    step = len(named) / wanted if wanted else 1
    chosen = [named[int(i * step + step / 2) % len(named)] for i in range(wanted)]
    while len(chosen) < count:
        chosen.append(f"t+{rng.uniform(0.05, scenario.max_delay):.2f}s")
    return chosen


def trial(context: Context, command: str, number: int, moment: str) -> Trial:
    record = Trial(command, moment)
    args = context.prepare(number)
    if moment.startswith("t+"):
        proc = start(context.root, *args)
        time.sleep(float(moment[2:-1]))
        kill_group(proc.pid)
    else:
        proc = start(context.root, *args, crash_at=moment)
    record.killed = finish(proc).returncode == -signal.SIGKILL
    wait_gone(context.root)
    started = time.perf_counter()
    again = run_tusk(context.root, *args, timeout=600)
    record.seconds = time.perf_counter() - started
    record.recovered = again.returncode in context.exit_codes
    if not record.recovered:
        record.failures.append(f"the command again: exit {again.returncode}: {again.stderr.strip()[-300:]}")
    try:
        record.failures += context.check(number) + leftovers(context.root)
    except Exception as exc:  # an invariant that cannot even be read is a failure too  # noqa: BLE001
        record.failures.append(f"checking failed: {type(exc).__name__}: {exc}")
    return record


def run_suite(
    count: int,
    seed: int = 1,
    only: set[str] | None = None,
    folder: Path | None = None,
    say: Callable[[str], None] = print,
) -> list[Trial]:
    rng = random.Random(seed)
    trials: list[Trial] = []
    work = Path(tempfile.mkdtemp(prefix="tusk-crash-", dir=folder))
    try:
        for scenario in SCENARIOS:
            if only and scenario.name not in only:
                continue
            place = work / scenario.name.replace(" ", "-")
            place.mkdir()
            context = scenario.setup(place)
            for number, moment in enumerate(moments(scenario, count, rng)):
                result = trial(context, scenario.name, number, moment)
                trials.append(result)
                status = "ok" if result.ok else "FAILED: " + "; ".join(result.failures)
                say(f"{scenario.name:16} {moment:28} {'killed' if result.killed else 'finished':8} {status}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return trials


def table(trials: list[Trial]) -> str:
    lines = [
        "| command | trials | kill moments | killed mid-way | recovered, invariants held | command again (median) |",
        "|---|---|---|---|---|---|",
    ]
    for command in dict.fromkeys(t.command for t in trials):
        mine = [t for t in trials if t.command == command]
        lines.append(
            f"| `tusk {command}` | {len(mine)} | {len({t.moment for t in mine})} | "
            f"{sum(t.killed for t in mine)} | {sum(t.ok for t in mine)}/{len(mine)} | "
            f"{statistics.median(t.seconds for t in mine):.1f} s |"
        )
    total = len(trials)
    lines.append(
        f"| **all** | {total} | {len({(t.command, t.moment) for t in trials})} | "
        f"{sum(t.killed for t in trials)} | **{sum(t.ok for t in trials)}/{total}** | |"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--moments", type=int, default=20, help="distinct kill moments per command")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", help="comma-separated commands, e.g. 'run,data import'")
    parser.add_argument("--json", type=Path, help="write every trial here")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    trials = run_suite(args.moments, args.seed, only)
    print(table(trials))
    if args.json:
        args.json.write_text(json.dumps([t.__dict__ for t in trials], indent=1))
    sys.exit(0 if all(t.ok for t in trials) else 1)


if __name__ == "__main__":
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    main()
