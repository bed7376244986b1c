"""An oracle for the planner: after any sequence of inserts, updates, deletes, branch merges and reverts over
several tables and partitions, the diff-aware plan equals the plan of a full re-hash of every instance
(the same status for each instance, the same fingerprint, the same version to reuse).

Hypothesis drives a state machine over a real doltlite store. ``train`` records what a run would (the
instances the plan says to train or reuse become current at this commit), so later plans compare against
states from many different commits. The planner keeps its matrix cache across steps, as ``tusk plan`` does.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import tusk  # noqa: F401
from plan_oracle import oracle
from tusk.core.config import load_config
from tusk.core.plan import Planner
from tusk.data.doltlite import DoltliteStore
from tusk.tracking.base import InstanceState

pytestmark = pytest.mark.slow

CONFIG = '''
[data]
url = "doltlite:///data/training.db"

[[models]]
name = "a-{customer}"
train = "m.py:train"
matrix.customer = "SELECT DISTINCT customer FROM examples ORDER BY customer"
inputs.examples = "SELECT id, text, label FROM examples WHERE customer = :customer ORDER BY id"

[[models]]
name = "b-{customer}"
train = "m.py:train"
matrix.customer = "SELECT DISTINCT customer FROM examples WHERE label != 'x' ORDER BY customer DESC"
inputs.joined = """SELECT e.id, e.text, l.meaning FROM examples e JOIN labels l ON l.label = e.label
                   WHERE e.customer = :customer ORDER BY e.id"""
inputs.labels = "SELECT label, meaning FROM labels ORDER BY label"

[[models]]
name = "d-{customer}-{region}"
train = "m.py:train"
matrix.customer = "SELECT DISTINCT customer FROM examples ORDER BY customer"
matrix.region = ["north", "south"]
inputs.examples = """SELECT id, text FROM examples
  WHERE (region = :region) AND label != 'x' AND :customer = customer ORDER BY id"""

[[models]]
name = "c-{region}"
train = "m.py:train"
matrix.region = ["north", "south"]
inputs.counts = "SELECT label, count(*) AS n FROM examples WHERE region = :region GROUP BY label ORDER BY label"
'''

CUSTOMERS = ["acme", "bolt", "core", "dune", "echo"]
LABELS = ["l0", "l1", "l2", "x"]
REGIONS = ["north", "south"]


class PlannerOracle(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="tusk-oracle-"))
        (self.folder / "tusk.toml").write_text(CONFIG)
        (self.folder / "m.py").write_text("def train(ctx):\n    return {}\n")
        self.config = load_config(self.folder / "tusk.toml")
        self.store = DoltliteStore(self.config.data.url, self.config)
        self.store.create()
        self.cache: dict[str, tuple[str, list[Any]]] = {}
        self.states: dict[str, InstanceState] = {}
        self.versions: dict[str, int] = {}
        self.next_id = 0
        self.commits: list[str] = []
        with self.store.writer() as conn:
            conn.execute(
                "CREATE TABLE examples (id INTEGER PRIMARY KEY, customer TEXT, region TEXT, text TEXT, label TEXT)"
            )
            conn.execute("CREATE TABLE labels (label TEXT PRIMARY KEY, meaning TEXT)")
            conn.executemany("INSERT INTO labels VALUES (?, ?)", [(label, f"means {label}") for label in LABELS])
            for customer in CUSTOMERS[:3]:
                for _ in range(3):
                    self._insert(conn, customer, "l0")
            conn.commit("load")
        self.commits.append(self.store.resolve("main"))

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _insert(self, conn: Any, customer: str, label: str) -> None:
        self.next_id += 1
        conn.execute(
            "INSERT INTO examples VALUES (?, ?, ?, ?, ?)",
            (self.next_id, customer, REGIONS[self.next_id % 2], f"text {self.next_id}", label),
        )

    def _edit(self, branch: str, edit: Any) -> None:
        with self.store.writer(branch) as conn:
            edit(conn)
            conn.commit("edit")
        if branch == "main":
            self.commits.append(self.store.resolve("main"))

    def _some_id(self, conn: Any, pick: int) -> int | None:
        ids = [r[0] for r in conn.execute("SELECT id FROM examples ORDER BY id")]
        return ids[pick % len(ids)] if ids else None

    # ----- edits ----------------------------------------------------------------------------------------
    @rule(customer=st.sampled_from(CUSTOMERS), label=st.sampled_from(LABELS))
    def insert(self, customer: str, label: str) -> None:
        self._edit("main", lambda conn: self._insert(conn, customer, label))

    @rule(
        pick=st.integers(0, 50),
        column=st.sampled_from(["text", "label", "customer", "region"]),
        value=st.sampled_from(CUSTOMERS + LABELS + REGIONS + ["other text"]),
    )
    def update(self, pick: int, column: str, value: str) -> None:
        def edit(conn: Any) -> None:
            row = self._some_id(conn, pick)
            if row is not None:
                conn.execute(f"UPDATE examples SET {column} = ? WHERE id = ?", (value, row))

        self._edit("main", edit)

    @rule(pick=st.integers(0, 50))
    def delete(self, pick: int) -> None:
        def edit(conn: Any) -> None:
            row = self._some_id(conn, pick)
            if row is not None and conn.execute("SELECT count(*) FROM examples")[0][0] > 1:
                conn.execute("DELETE FROM examples WHERE id = ?", (row,))

        self._edit("main", edit)

    @rule(
        kind=st.sampled_from(["many", "empty", "move", "new"]),
        customer=st.sampled_from(CUSTOMERS),
        other=st.sampled_from(CUSTOMERS),
        label=st.sampled_from(LABELS),
        parity=st.integers(0, 1),
    )
    def bulk(self, kind: str, customer: str, other: str, label: str, parity: int) -> None:
        """Many rows at once (the planner then re-reads many partitions in one grouped query): a row in every
        other id changed, a partition emptied, a partition's rows moved to another, a partition's first rows."""

        def edit(conn: Any) -> None:
            if kind == "many":
                conn.execute("UPDATE examples SET label = ?, text = text || '.' WHERE id % 2 = ?", (label, parity))
            elif kind == "empty":
                if conn.execute("SELECT count(*) FROM examples WHERE customer != ?", (customer,))[0][0]:
                    conn.execute("DELETE FROM examples WHERE customer = ?", (customer,))
            elif kind == "move":
                conn.execute("UPDATE examples SET customer = ? WHERE customer = ?", (other, customer))
            else:
                for _ in range(2):
                    self._insert(conn, customer, label)

        self._edit("main", edit)

    @rule(label=st.sampled_from(LABELS), meaning=st.sampled_from(["a", "b", "c"]))
    def relabel(self, label: str, meaning: str) -> None:
        self._edit("main", lambda conn: conn.execute("UPDATE labels SET meaning = ? WHERE label = ?", (meaning, label)))

    @rule(customer=st.sampled_from(CUSTOMERS), pick=st.integers(0, 50), also_main=st.booleans())
    def branch_and_merge(self, customer: str, pick: int, also_main: bool) -> None:
        name = f"b{len(self.commits)}"
        self.store.create_branch(name)
        self.next_id += 1000  # ids the branch takes never collide with main's
        self._edit(name, lambda conn: self._insert(conn, customer, "l1"))
        self._edit(name, lambda conn: conn.execute("UPDATE labels SET meaning = 'branch' WHERE label = 'l2'"))
        if also_main:
            self._edit("main", lambda conn: self._insert(conn, CUSTOMERS[pick % len(CUSTOMERS)], "l0"))
        self.store.merge(name, "main", f"merge {name}")
        self.commits.append(self.store.resolve("main"))
        self.store.delete_branch(name, force=True)

    @rule(back=st.integers(1, 6))
    def revert(self, back: int) -> None:
        """Make main's tables equal to an earlier commit's (a revert), as a new commit."""
        old = self.commits[max(0, len(self.commits) - 1 - back)]
        tables = {t: self.store.query(f"SELECT * FROM {t}", None, ref=old).rows for t in ("examples", "labels")}

        def edit(conn: Any) -> None:
            for table, rows in tables.items():
                conn.execute(f"DELETE FROM {table}")
                if rows:
                    conn.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(rows[0]))})", rows)

        self._edit("main", edit)

    @rule()
    def train(self) -> None:
        """What ``tusk run`` records: every instance the plan trains or reuses becomes current here."""
        commit = self.store.resolve("main")
        for name, planned in oracle(self.config, self.store, commit, self.states).items():
            previous = self.states.get(name)
            if planned["status"] in ("fresh", "orphaned"):
                continue
            if planned["status"] == "reuse":
                version = planned["reuse"]
            else:
                self.versions[name] = self.versions.get(name, 0) + 1
                version = str(self.versions[name])
            fingerprints = {**(previous.fingerprints if previous else {}), planned["fingerprint"]: version}
            self.states[name] = InstanceState(
                name=name,
                version=version,
                fingerprint=planned["fingerprint"],
                data_commit=commit,
                code_digest=planned["code"],
                params=planned["params"],
                inputs=planned["inputs"],
                fingerprints=fingerprints,
            )

    # ----- the property ---------------------------------------------------------------------------------
    @precondition(lambda self: hasattr(self, "store"))
    @invariant()
    def diff_aware_plan_equals_a_full_rehash(self) -> None:
        commit = self.store.resolve("main")
        plan = Planner(self.config, self.store, self.states, matrix_cache=self.cache).plan("main")
        got = {
            p.name: {
                "status": p.status,
                "reuse": p.reuse_version,
                "fingerprint": p.fingerprint if p.status not in ("new", "orphaned") else None,
            }
            for p in plan.instances
        }
        expected = {
            name: {
                "status": o["status"],
                "reuse": o["reuse"],
                "fingerprint": o["fingerprint"] if o["status"] not in ("new", "orphaned") else None,
            }
            for name, o in oracle(self.config, self.store, commit, self.states).items()
        }
        assert got == expected

    @precondition(lambda self: hasattr(self, "store"))
    @invariant()
    def a_plan_of_some_instances_is_theirs_in_the_whole_plan(self) -> None:
        """Planning every other instance (as the models page plans its rows), with only their states, says of
        each exactly what the whole plan says."""
        whole = Planner(self.config, self.store, self.states, matrix_cache=self.cache).plan("main")
        some = {p.name for p in whole.instances[::2]}
        planner = Planner(
            self.config, self.store, {n: s for n, s in self.states.items() if n in some}, matrix_cache=self.cache
        )
        part = planner.plan_instances(planner.instances("main"), only=some)

        def said(plan: Any) -> list[tuple[Any, ...]]:
            return [(p.name, p.status, p.reasons, p.fingerprint, p.reuse_version) for p in plan.instances]

        assert said(part) == [s for s in said(whole) if s[0] in some]


PlannerOracle.TestCase.settings = settings(
    max_examples=25, stateful_step_count=15, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
test_diff_aware_plan_equals_a_full_rehash = PlannerOracle.TestCase


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "parquet"])
def test_import_export_import_makes_no_commit(tmp_path: Path, fmt: str) -> None:
    """Exporting a table and importing the file back (replace mode) changes nothing: no commit."""
    from click.testing import CliRunner

    from train_fixtures import TrainProject, write_csv
    from tusk.cli import (
        _register,  # noqa: F401
        cli,
    )

    root = tmp_path / "proj"
    assert CliRunner().invoke(cli, ["init", str(root)]).exit_code == 0
    project = TrainProject(root)
    if "export" not in project.tusk("data", "--help").output:
        pytest.skip("tusk data export lands with the issue 'Review semantics'")
    rows = [
        [
            i,
            f"c{i % 3}",
            f'text {i}, with "quotes"\nand a newline' if i % 5 == 0 else f"t{i}",
            "007" if i % 7 == 0 else f"l{i % 2}",
        ]
        for i in range(50)
    ]
    project.tusk("data", "import", str(write_csv(tmp_path / "in.csv", rows)), "--table", "examples", "--key", "id")
    head = project.head()
    out = tmp_path / f"out.{fmt}"
    project.tusk("data", "export", "examples", "--format", fmt, "-o", str(out))
    again = project.json("data", "import", str(out), "--table", "examples", "--key", "id")
    assert again["commit"] is None and project.head() == head
