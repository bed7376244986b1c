"""The planner on real doltlite and MLflow stores: every status, and reasons a person understands."""

from __future__ import annotations

from pathlib import Path

import pytest

from train_fixtures import TrainProject, make_project, model_block, rows


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> TrainProject:
    project = make_project(tmp_path_factory.mktemp("plan"))
    first = project.plan()
    assert {i["status"] for i in first.values()} == {"new"}
    assert first["m-c0"]["reasons"] == ["new instance: customer=c0"]
    jobs = project.run()
    assert sorted(jobs) == ["m-c0", "m-c1", "m-c2", "m-c3"]
    assert {j["status"] for j in jobs.values()} == {"succeeded"}
    return project


def non_fresh(plan: dict) -> dict[str, tuple[str, list[str]]]:
    return {n: (i["status"], i["reasons"]) for n, i in plan.items() if i["status"] != "fresh"}


def test_after_a_run_everything_is_fresh(trained: TrainProject) -> None:
    assert non_fresh(trained.plan()) == {}


def test_data_changes_make_only_their_partition_stale(trained: TrainProject) -> None:
    before = trained.head()
    data = rows()
    data[1][3] = "lX"  # id 1 → c1, modified
    data.append([1000, "c2", "new", "l1"])  # added to c2
    del data[3]  # id 3 → c3, removed
    trained.import_rows(data, mode="replace", branch="edits")
    plan = trained.plan("--at", "edits")
    assert non_fresh(plan) == {
        "m-c1": ("stale", [f"examples: 1 row modified since {before[:7]}"]),
        "m-c2": ("stale", [f"examples: 1 row added since {before[:7]}"]),
        "m-c3": ("stale", [f"examples: 1 row removed since {before[:7]}"]),
    }
    assert trained.head() == before, "planning a branch leaves main alone"
    assert non_fresh(trained.plan()) == {}


def test_a_change_to_an_unread_column_is_fresh(trained: TrainProject, tmp_path: Path) -> None:
    # the input selects id, text, label; customer moves no rows, so a rewrite with equal values is a no-op
    data = rows()
    trained.import_rows(data, mode="replace", branch="same")
    assert non_fresh(trained.plan("--at", "same")) == {}


def test_code_and_params_changes_are_explained(trained: TrainProject) -> None:
    model = trained.root / "models" / "m.py"
    original = model.read_text()
    model.write_text(original + "\n# a comment changes the code digest\n")
    try:
        plan = trained.plan()
        assert {n: r for n, (s, r) in non_fresh(plan).items()} == {
            f"m-c{i}": ["code changed: models/m.py"] for i in range(4)
        }
    finally:
        model.write_text(original)
    trained.set_models(model_block(params={"C": 0.5}))
    try:
        plan = trained.plan()
        assert non_fresh(plan)["m-c0"] == ("stale", ["params changed: C 1.0→0.5"])
    finally:
        trained.set_models(model_block())
    assert non_fresh(trained.plan()) == {}


def test_new_matrix_value_is_new_and_removed_is_orphaned(trained: TrainProject) -> None:
    data = [r for r in rows() if r[1] != "c0"] + [[2000, "c9", "hello", "l0"]]
    trained.import_rows(data, mode="replace", branch="reshape")
    plan = trained.plan("--at", "reshape")
    assert plan["m-c9"]["status"] == "new"
    assert plan["m-c0"]["status"] == "orphaned"
    assert plan["m-c0"]["reasons"] == ["no [[models]] entry produces it any more"]


def test_revert_is_reused_not_retrained(tmp_path: Path) -> None:
    project = make_project(tmp_path, customers=2, per_customer=5)
    assert len(project.run()) == 2
    data = rows(2, 5)
    data[1][3] = "changed"
    project.import_rows(data)
    assert project.run()["m-c1"]["status"] == "succeeded"
    project.import_rows(rows(2, 5), message="revert")
    plan = project.plan()
    assert plan["m-c1"]["status"] == "reuse"
    assert plan["m-c1"]["reuse_version"] == "1"
    assert plan["m-c1"]["reasons"][0] == "reuse v1: it was trained from exactly these inputs"
    jobs = project.run()
    assert jobs == {"m-c1": jobs["m-c1"]} and jobs["m-c1"]["status"] == "reused"
    assert jobs["m-c1"]["version"] == "1"
    client = project.client()
    assert str(client.get_model_version_by_alias("m-c1", "production").version) == "1"
    assert len(client.search_model_versions("name='m-c1'")) == 2, "reuse registers no new version"
    assert non_fresh(project.plan()) == {}, "a reuse is planned once, not on every run"


def test_plan_json_errors(trained: TrainProject) -> None:
    result = trained.tusk("plan", "--at", "no-such-branch", code=1)
    assert result.output.startswith("error: ") and "no-such-branch" in result.output
    assert "Traceback" not in result.output


def test_a_recorded_commit_this_store_lacks_is_rehashed_not_an_error(trained: TrainProject, tmp_path: Path) -> None:
    """A second store that shares the tracker (a gc'd history, or a team's other clone): inputs are compared
    by digest; equal data is fresh, different data is stale and says why."""
    other = make_project(tmp_path / "other", own_history=True)
    config = (other.root / "tusk.toml").read_text()
    shared = f'url = "sqlite:///{trained.root / ".tusk" / "mlflow.db"}"'
    (other.root / "tusk.toml").write_text(config.replace('url = "sqlite:///.tusk/mlflow.db"', shared))
    assert other.head() != trained.head()
    assert {p["status"] for p in other.plan().values()} == {"fresh"}
    other.import_rows([[2, "c2", "changed elsewhere", "l0"]])
    plan = other.plan()
    assert {n for n, p in plan.items() if p["status"] != "fresh"} == {"m-c2"}
    assert plan["m-c2"]["reasons"] == [
        f"examples: changed since {trained.head()[:7]} (a commit this data store does not have)"
    ]


class CountingStore:
    """The real store, counting the queries that would scan a whole table for matrix values."""

    def __init__(self, store: object) -> None:
        self.store, self.distinct_queries = store, 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)

    def query(self, sql: str, params: object = None, ref: str | None = None) -> object:
        self.distinct_queries += "DISTINCT" in sql.upper()
        return self.store.query(sql, params, ref=ref)


@pytest.mark.parametrize(
    "matrix",
    [
        "SELECT DISTINCT customer FROM examples ORDER BY customer",
        "SELECT DISTINCT customer FROM examples WHERE label != 'skip' ORDER BY customer DESC",
    ],
)
def test_matrix_values_follow_the_diff_and_equal_a_full_query(tmp_path: Path, matrix: str) -> None:
    """Matrix values come from the cached values plus the changed rows; after every kind of edit they
    equal what the query returns on the whole table, without re-running it."""
    import random

    from tusk import Project
    from tusk.core.plan import Planner

    project = make_project(tmp_path, customers=5, matrix=f'matrix.customer = "{matrix}"')
    cache: dict = {}
    data = rows(5)
    chance = random.Random(5)
    edits = [
        lambda d: d.append([1000, "c9", "new customer", "l0"]),  # a new value
        lambda d: [r for r in d if r[1] != "c3"],  # a value's rows all removed
        lambda d: [[*r[:1], "c7", *r[2:]] if r[0] == 1 else r for r in d],  # a row moves to a new value
        lambda d: [[*r[:3], "skip"] if r[1] == "c2" else r for r in d],  # filtered out by the WHERE
        lambda d: [[*r[:2], f"text {chance.random()}", r[3]] for r in d],  # many rows, no value changes
    ]
    for number, edit in enumerate(edits):
        data = edit(data) or data
        project.import_rows(data, mode="replace", message=f"edit {number}")
        with Project.open(project.root) as opened:
            full = [r[0] for r in opened.data.query(matrix).rows]
            counting = CountingStore(opened.data)
            plan = Planner(opened.config, counting, opened.tracker.states(), matrix_cache=cache).plan()  # type: ignore[arg-type]
            names = [p.name for p in plan.instances if p.status != "orphaned"]
            if number > 0:
                assert counting.distinct_queries == 0, "the matrix query was not re-run"
            assert names == [f"m-{value}" for value in full], f"after edit {number}"
