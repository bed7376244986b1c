"""Models that use other models: a base and an adapter per customer, on a real doltlite store and MLflow.

``needs = ["base"]`` makes the base's version an input of every adapter (its fingerprint is in theirs), a
run trains the base first and the adapters after it, a failed base skips its adapters, a cycle is refused
at plan time, and ``setup`` runs once per worker process, not once per job (counted, not timed).
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from train_fixtures import TrainProject, make_project
from tusk.core.config import ModelSpec
from tusk.core.needs import change_reason, check_needs, waves
from tusk.errors import ConfigError

CODE = textwrap.dedent("""
    import json, os

    def train_base(ctx):
        if ctx.params.get("fail"):
            raise RuntimeError("the base does not converge")
        (ctx.output_dir / "base.json").write_text(json.dumps({"rows": len(ctx.inputs["all"]),
                                                              "salt": ctx.params.get("salt", "")}))
        return {"rows": float(len(ctx.inputs["all"]))}

    def load_base(ctx):
        base = ctx.needs["base"]
        if os.environ.get("TUSK_TEST_SETUP_FAILS"):
            raise OSError("cannot read the base")
        with open(os.environ["TUSK_TEST_SETUP_CALLS"], "a") as calls:
            calls.write(f"{os.getpid()} {base.version}\\n")
        return {"version": base.version, "base": json.loads((base.path / "base.json").read_text())}

    def train_adapter(ctx):
        base = ctx.needs["base"]
        shared = ctx.shared if ctx.shared is not None else load_base(ctx)
        assert shared["version"] == base.version, (shared, base)
        assert base.metrics["rows"] == 40.0, base.metrics
        (ctx.output_dir / "adapter.json").write_text(json.dumps({"base_version": base.version}))
        return {"base_version": float(base.version), "rows": float(len(ctx.inputs["examples"])),
                "pid": float(os.getpid())}
""")


def fleet(base_params: str = 'salt = ""', setup: bool = True, extra: str = "") -> str:
    return (
        textwrap.dedent(f"""
        [[models]]
        name = "adapter-{{customer}}"
        train = "models/m.py:train_adapter"
        {'setup = "models/m.py:load_base"' if setup else ""}
        needs = ["base"]
        matrix.customer = "SELECT DISTINCT customer FROM examples ORDER BY customer"
        inputs.examples = "SELECT id, text, label FROM examples WHERE customer = :customer ORDER BY id"

        [[models]]
        name = "base"
        train = "models/m.py:train_base"
        inputs.all = "SELECT id, text FROM examples ORDER BY id"
        params = {{ {base_params} }}
    """)
        + extra
    )


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TrainProject:
    project = make_project(tmp_path, customers=10, per_customer=4)  # before the variable: one template for all
    monkeypatch.setenv("TUSK_TEST_SETUP_CALLS", str(tmp_path / "setup.calls"))
    (project.root / "models" / "m.py").write_text(CODE)
    project.set_models(fleet())
    return project


def setup_calls(project: TrainProject) -> list[tuple[str, str]]:
    path = project.root.parent / "setup.calls"
    if not path.exists():
        return []
    return [tuple(line.split()) for line in path.read_text().splitlines()]  # type: ignore[misc]


def adapters(jobs: dict[str, Any]) -> dict[str, Any]:
    return {name: job for name, job in jobs.items() if name.startswith("adapter-")}


def test_base_first_then_ten_adapters_each_on_the_new_base_and_setup_once_per_worker(project: TrainProject) -> None:
    jobs = project.run()
    assert len(adapters(jobs)) == 10 and {j["status"] for j in jobs.values()} == {"succeeded"}
    assert jobs["base"]["version"] == "1"
    assert {j["metrics"]["base_version"] for j in adapters(jobs).values()} == {1.0}, "every adapter got base v1"
    calls = setup_calls(project)
    worker_pids = {j["metrics"]["pid"] for j in adapters(jobs).values()}
    assert 1 <= len(calls) <= 2 and len(calls) == len({pid for pid, _ in calls}), calls
    assert {float(pid) for pid, _ in calls} == worker_pids, "setup ran in each worker that trained, once"
    assert {version for _, version in calls} == {"1"}
    state = project.client().get_model_version("adapter-c0", "1").tags
    assert state["tusk.inputs.base.digest"] == project.client().get_model_version("base", "1").tags["tusk.fingerprint"]

    # a new base: every adapter is stale, and says why
    project.set_models(fleet('salt = "v2"'))
    plan = project.plan()
    assert plan["base"]["status"] == "stale"
    for name, item in adapters(plan).items():
        assert item["status"] == "stale", name
        assert item["reasons"] == ["base: retrained (v1 → next version, trained first)"], item

    # the base alone: the adapters now name the version it became
    assert project.run("--only", "base")["base"]["version"] == "2"
    plan = project.plan()
    assert plan["base"]["status"] == "fresh"
    assert {tuple(i["reasons"]) for i in adapters(plan).values()} == {("base: retrained (v1 → v2)",)}
    again = project.run()
    assert {j["metrics"]["base_version"] for j in adapters(again).values()} == {2.0}
    assert {version for _, version in setup_calls(project)[len(calls) :]} == {"2"}, "a new base is loaded again"
    assert all(i["status"] == "fresh" for i in project.plan().values())


def test_a_failed_base_skips_its_adapters_with_the_reason(project: TrainProject) -> None:
    project.set_models(fleet("fail = true"))
    result = project.json("run", code=3)
    jobs = {j["name"]: j for j in result["jobs"]}
    assert jobs["base"]["status"] == "failed"
    for job in adapters(jobs).values():
        assert job["status"] == "skipped" and job["version"] is None, job
        assert job["error"] == "skipped: base failed: RuntimeError: the base does not converge", job
    assert setup_calls(project) == [], "nothing of the adapters ran"
    assert project.client().search_registered_models() == [], "nothing registered"
    plan = project.plan()
    assert plan.pop("base")["status"] == "failed", "its last job failed (DESIGN: failed, retried like new)"
    assert {i["status"] for i in plan.values()} == {"new"}, "all still to train"


def test_a_base_that_fails_after_a_good_one_leaves_the_adapters_on_the_old_base(project: TrainProject) -> None:
    project.run()
    project.set_models(fleet('fail = true, salt = "v2"'))
    jobs = project.run(code=3)
    assert jobs["base"]["status"] == "failed"
    assert {j["status"] for j in adapters(jobs).values()} == {"skipped"}
    assert {j["version"] for j in adapters(jobs).values()} == {None}
    states = {m["name"]: m for m in project.json("models", "list")["models"]}
    assert states["adapter-c3"]["version"] == "1" and states["base"]["version"] == "1"


def test_without_setup_each_job_loads_for_itself(project: TrainProject) -> None:
    project.set_models(fleet(setup=False))
    jobs = project.run()
    assert len(setup_calls(project)) == 10, "the adapter's own fallback: one load per job"
    assert {j["status"] for j in jobs.values()} == {"succeeded"}


def test_a_cycle_is_refused_at_plan_time_and_named(project: TrainProject) -> None:
    project.set_models(
        fleet(
            extra=textwrap.dedent("""
        [[models]]
        name = "loop-a"
        train = "models/m.py:train_base"
        needs = ["loop-b"]
        inputs.all = "SELECT id, text FROM examples"

        [[models]]
        name = "loop-b"
        train = "models/m.py:train_base"
        inputs.all = "model:loop-a"
    """)
        )
    )
    for command in ("plan", "run"):
        result = project.tusk(command, code=1)
        assert "cycle" in result.output and (
            "loop-a → loop-b → loop-a" in result.output or "loop-b → loop-a → loop-b" in result.output
        ), result.output
    assert project.client().search_registered_models() == []


def test_needs_name_existing_single_models() -> None:
    def spec(name: str, **more: Any) -> ModelSpec:
        return ModelSpec(name=name, train="m.py:t", **more)

    assert check_needs([spec("a", needs=["b"]), spec("b")]) == ["b", "a"]
    with pytest.raises(ConfigError, match="no \\[\\[models\\]\\] entry is named 'nope'"):
        check_needs([spec("a", needs=["nope"])])
    with pytest.raises(ConfigError, match="has a matrix"):
        check_needs([spec("a", needs=["b-{x}"]), spec("b-{x}", matrix={"x": ["1"]})])
    with pytest.raises(ConfigError, match="a → a"):
        check_needs([spec("a", needs=["a"])])
    assert spec("a", inputs={"foundation": "model:b", "rows": "SELECT 1"}).needs == {"foundation": "b"}
    assert spec("a", needs="b").needs == {"b": "b"}
    with pytest.raises(ValueError, match="setup"):
        ModelSpec(name="a", cmd="true", setup="m.py:load")
    with pytest.raises(ValueError, match="both an input and a need"):
        spec("a", needs=["b"], inputs={"b": "SELECT 1"})


def test_waves_and_reasons() -> None:
    assert waves(["a1", "a2", "base", "other"], {"a1": ["base"], "a2": ["base"]}) == [["base", "other"], ["a1", "a2"]]
    assert waves(["a1"], {"a1": ["base"]}) == [["a1"]], "a need outside the run is there already"
    assert change_reason("base", "3", "4", "fresh") == "base: retrained (v3 → v4)"
    assert change_reason("base", "4", "3", "reuse") == "base: went back (v4 → v3)"
    assert change_reason("base", None, "4", "fresh", had=False) == "base: newly needed (v4)"


def test_lineage_walks_from_an_adapter_to_its_base_data_and_code(project: TrainProject) -> None:
    project.run()
    base_commit = project.head()
    project.set_models(fleet('salt = "v2"'))
    project.import_rows([[100, "c3", "late", "l0"]], message="one more row")
    project.run("--only", "base")
    lineage = project.json("lineage", "adapter-c0@1")
    base = lineage["needs"]["base"]
    assert (base["name"], base["version"]) == ("base", "1"), "the base version it trained on, not the newest"
    assert base["data_commit"] == base_commit and base["fingerprint"] == lineage["inputs"]["base"]["digest"]
    assert "code_commit" in base and base["needs"] == {}
    text = project.tusk("lineage", "adapter-c0@1").output
    assert "needs base: base v1" in text and text.count("data commit") == 2


def test_a_release_holds_each_base_version_once_and_its_diff_shows_the_base_change(
    project: TrainProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = (project.root / "tusk.toml").read_text().replace('builder = "auto"', 'builder = "none"')
    (project.root / "tusk.toml").write_text(toml)
    project.run()
    first = project.json("release", "create")
    context = project.root / ".tusk" / "releases" / first["md5"] / "models"
    assert sorted(p.name for p in context.iterdir() if p.is_dir()) == [
        "adapter-c0",
        "adapter-c1",
        "adapter-c2",
        "adapter-c3",
        "adapter-c4",
        "adapter-c5",
        "adapter-c6",
        "adapter-c7",
        "adapter-c8",
        "adapter-c9",
        "base",
    ]
    needs = __import__("json").loads((context / "needs.json").read_text())
    assert needs["adapter-c4"] == {"base": {"model": "base", "version": "1", "folder": "base"}}
    assert first["needs"] == needs and first["models"]["base"] == "1"

    # the base alone retrained: the adapters still need v1, which the image then holds beside v2
    project.set_models(fleet('salt = "v2"'))
    project.run("--only", "base")
    second = project.json("release", "create")
    assert second["models"]["base"] == "2" and second["models"]["adapter-c4"] == "1"
    assert "adapter-c0 needs base v1 (the release's base is v2)" in second["note"]
    context = project.root / ".tusk" / "releases" / second["md5"] / "models"
    assert (context / "base@1" / "base.json").is_file() and (context / "base" / "base.json").is_file()
    assert second["needs"]["adapter-c4"]["base"]["folder"] == "base@1"

    project.run()
    third = project.json("release", "create")
    assert third["needs"]["adapter-c4"]["base"] == {"model": "base", "version": "2", "folder": "base"}
    assert not (project.root / ".tusk" / "releases" / third["md5"] / "models" / "base@1").exists()
    diff = project.json("release", "diff", second["md5"], third["md5"])
    changed = {c["name"]: c for c in diff["changed"]}
    assert set(changed) == {f"adapter-c{i}" for i in range(10)}
    assert changed["adapter-c4"]["needs"] == {"base": ["base@1", "base@2"]}
    monkeypatch.setenv("COLUMNS", "200")
    text = project.tusk("release", "diff", second["md5"], third["md5"]).output
    assert "v1 → v2 (base v1 → v2)" in text


def test_data_reverted_under_the_base_reuses_the_base_and_its_adapters(project: TrainProject) -> None:
    project.run()
    project.set_models(fleet('salt = "v2"'))
    assert {j["version"] for j in project.run().values()} == {"2"}
    project.set_models(fleet())
    plan = project.plan()
    assert {i["status"] for i in plan.values()} == {"reuse"}, plan
    assert plan["adapter-c0"]["reasons"][1] == "base: went back (v2 → v1)"
    jobs = project.run()
    assert {(j["status"], j["version"]) for j in jobs.values()} == {("reused", "1")}
    assert {i["status"] for i in project.plan().values()} == {"fresh"}


def test_a_setup_that_raises_fails_the_jobs_that_needed_it(
    project: TrainProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUSK_TEST_SETUP_FAILS", "1")
    jobs = project.run(code=3)
    assert jobs["base"]["status"] == "succeeded"
    for job in adapters(jobs).values():
        assert job["status"] == "failed" and job["error"] == "OSError: cannot read the base", job
        assert "in load_base" in Path(job["log"]).read_text(), "the traceback is in the job's log"
    monkeypatch.delenv("TUSK_TEST_SETUP_FAILS")
    again = project.run()
    assert set(again) == set(adapters(jobs)) and {j["status"] for j in again.values()} == {"succeeded"}


def test_a_need_that_names_no_model_is_one_line(project: TrainProject) -> None:
    project.set_models(fleet().replace('needs = ["base"]', 'needs = ["bsae"]'))
    result = project.tusk("plan", code=1)
    assert result.output.strip().splitlines() == [
        "error: model 'adapter-{customer}': needs.bsae = 'bsae', but no [[models]] entry is named 'bsae' "
        "(models with one instance: base)"
    ], result.output
