"""Data checks (``[[checks]]``) at a ref and on a review's merge preview, and the merge they block unless forced
with a reason, on a real doltlite store."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from train_fixtures import CliProject
from tusk.cli import (
    _register,  # noqa: F401
    cli,
)

CHECKS = textwrap.dedent("""
    [[checks]]
    name = "labels"
    table = "examples"
    accepted_values = { column = "label", values = ["l0", "l1"] }

    [[checks]]
    name = "text present"
    table = "examples"
    not_null = "text"

    [[checks]]
    name = "one text per customer"
    table = "examples"
    unique = ["customer", "text"]

    [[checks]]
    name = "scores"
    table = "examples"
    range = { column = "score", min = 0, max = 1 }

    [[checks]]
    name = "size"
    table = "examples"
    row_count = { min = 10, max = 100 }

    [[checks]]
    name = "small reviews"
    table = "examples"
    max_changed_rows = 3

    [[checks]]
    name = "no shouting"
    sql = "SELECT id, text FROM examples WHERE text = upper(text) AND text <> lower(text)"
""")


class Proj(CliProject):
    def load(
        self, rows: list[list[Any]], branch: str | None = None, mode: str = "upsert", message: str = "edit"
    ) -> None:
        path = self.root / "rows.csv"
        lines = ["id,customer,text,label,score"] + [",".join("" if v is None else str(v) for v in r) for r in rows]
        path.write_text("\n".join(lines) + "\n")
        extra = ["--branch", branch] if branch else []
        self.tusk(
            "data", "import", str(path), "--table", "examples", "--key", "id", "--mode", mode, "-m", message, *extra
        )

    def checks(self, ref: str | None = None, code: int = 0) -> dict[str, dict[str, Any]]:
        report = self.json("data", "check", *([ref] if ref else []), code=code)
        return {c["name"]: c for c in report["checks"]}


def base_rows() -> list[list[Any]]:
    return [[i, f"c{i % 2}", f"text {i}", f"l{i % 2}", 0.5] for i in range(12)]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One initialised project with the rows loaded and the checks declared, copied for each test."""
    root = tmp_path_factory.mktemp("template") / "p"
    assert CliRunner().invoke(cli, ["init", str(root)]).exit_code == 0
    Proj(root).load(base_rows(), mode="replace", message="load")
    with (root / "tusk.toml").open("a") as handle:
        handle.write(CHECKS)
    return root


@pytest.fixture
def proj(template: Path, tmp_path: Path) -> Proj:
    shutil.copytree(template, tmp_path / "p")
    return Proj(tmp_path / "p")


def test_every_rule_at_a_ref(proj: Proj) -> None:
    results = proj.checks()
    assert {n: c["status"] for n, c in results.items()} == {
        "labels": "passed",
        "text present": "passed",
        "one text per customer": "passed",
        "scores": "passed",
        "size": "passed",
        "small reviews": "skipped",
        "no shouting": "passed",
    }
    assert results["size"]["message"] == "examples has 12 rows, within [10, 100]"

    bad = base_rows()
    bad[1][3] = "BAD"  # a label outside the accepted values
    bad[2][2] = None  # a missing text
    bad[3][2] = bad[5][2] = "same"  # c1 twice with the same text
    bad[4][4] = 1.5  # a score out of range
    bad[6][2] = "LOUD"  # the sql check's violation
    proj.load(bad, branch="bad", message="bad rows")
    proj.tusk("data", "branch", "tagged", "--from", "bad")
    report = proj.json("data", "check", "bad", code=1)
    assert report["preview"]["kind"] == "fast-forward"  # a review branch: checked as merged into main
    found = {c["name"]: c for c in report["checks"]}
    assert {n for n, c in found.items() if c["status"] == "failed"} == {
        "labels",
        "text present",
        "one text per customer",
        "scores",
        "small reviews",
        "no shouting",
    }
    assert (found["labels"]["violations"], found["labels"]["message"]) == (1, "1 row with label not in [l0, l1]")
    assert found["labels"]["rows"] == [[1, "c1", "text 1", "BAD", 0.5]]
    assert found["labels"]["columns"] == ["id", "customer", "text", "label", "score"]
    assert [r[0] for r in found["one text per customer"]["rows"]] == [3, 5]
    assert found["scores"]["rows"] == [[4, "c0", "text 4", "l0", 1.5]]
    assert found["no shouting"]["rows"] == [[6, "LOUD"]]
    assert found["small reviews"]["message"] == "the merge changes 6 rows in examples, more than 3"
    out = proj.tusk("data", "check", "bad", code=1)
    assert "FAILED labels (accepted_values): 1 row with label not in [l0, l1]" in out.stdout
    assert "BAD" in out.stdout  # the violating row itself
    assert out.stderr.strip().startswith("error: 6 of 7 check(s) failed at bad: labels (1 violation)")


def test_checks_run_on_the_merge_preview_not_the_branch_head(proj: Proj) -> None:
    proj.tusk("data", "branch", "fix")
    fixed = base_rows()
    fixed[0][3] = "l1"
    proj.load(fixed, branch="fix", message="relabel row 0")
    broken = base_rows()
    broken[7][3] = "BAD"
    proj.load(broken, message="main breaks a label")  # main moved on (and broke row 7)
    fix = proj.json("data", "check", "fix", code=1)
    assert fix["preview"]["kind"] == "merge" and fix["base"] == proj.json("data", "log")["commits"][0]["hash"]
    found = {c["name"]: c for c in fix["checks"]}
    assert found["labels"]["rows"][0][0] == 7  # the merged result carries main's bad row 7
    assert found["small reviews"]["message"] == "the merge changes 1 row in examples (at most 3)"
    assert fix["commit"] not in {b["head"] for b in proj.json("data", "branch")["branches"]}  # scratch removed
    assert not [b for b in proj.json("data", "branch")["branches"] if b["name"].startswith("tusk-preview/")]


def test_a_failing_check_blocks_the_merge_unless_forced_with_a_reason(proj: Proj) -> None:
    bad = base_rows()
    bad[1][3] = "BAD"
    proj.load(bad, branch="bad", message="bad label")
    head = proj.json("data", "log")["commits"][0]["hash"]
    refused = proj.tusk("data", "merge", "bad", code=1)
    assert "merge of bad refused: check labels failed: 1 row with label not in [l0, l1]" in refused.stderr
    assert proj.json("data", "log")["commits"][0]["hash"] == head  # nothing merged
    blocked = proj.json("data", "merge", "bad", code=1)
    assert blocked["merged"] is False and blocked["blocking"][0].startswith("check labels failed")

    assert "--force needs --reason" in proj.tusk("data", "merge", "bad", "--force", code=2).output
    assert proj.json("data", "log")["commits"][0]["hash"] == head
    merged = proj.json("data", "merge", "bad", "--force", "--reason", "BAD is a new label class", "-m", "take it")
    assert merged["forced"] and merged["commit"] and not merged["fast_forward"]  # a merge commit holds the reason
    message = proj.json("data", "log")["commits"][0]["message"]
    assert message == "take it\n\nforced: BAD is a new label class\npast: check labels"
    too_long = proj.tusk("data", "merge", "bad", "--force", "--reason", "x" * 300, code=0)  # nothing left to force
    assert "forced" not in too_long.stdout


def test_a_reason_too_long_for_the_merge_commit_is_refused_before_merging(proj: Proj) -> None:
    bad = base_rows()
    bad[1][3] = "BAD"
    proj.load(bad, branch="bad", message="bad label")
    head = proj.json("data", "log")["commits"][0]["hash"]
    err = proj.tusk("data", "merge", "bad", "--force", "--reason", "x" * 300, code=1).stderr
    assert "too long for a merge commit" in err
    assert proj.json("data", "log")["commits"][0]["hash"] == head


def test_checks_that_cannot_run_fail(proj: Proj) -> None:
    config = (proj.root / "tusk.toml").read_text()
    config += textwrap.dedent("""
        [[checks]]
        name = "gone"
        table = "missing"
        not_null = "x"

        [[checks]]
        name = "typo"
        table = "examples"
        not_null = "labell"

        [[checks]]
        name = "broken sql"
        sql = "SELEC nothing"
    """)
    (proj.root / "tusk.toml").write_text(config)
    found = proj.checks(code=1)
    assert found["gone"]["status"] == "failed" and "no table 'missing'" in found["gone"]["message"]
    assert found["typo"]["message"].startswith("cannot run:") and "labell" in found["typo"]["message"]
    assert found["broken sql"]["status"] == "failed" and "syntax error" in found["broken sql"]["message"]


@pytest.mark.parametrize(
    "block, message",
    [
        ('[[checks]]\nname = "x"\ntable = "examples"\n', "give exactly one of"),
        ('[[checks]]\nname = "x"\nnot_null = "a"\n', "not_null needs 'table'"),
        ('[[checks]]\nname = "x"\ntable = "examples"\nnot_null = "a"\nunique = "b"\n', "give exactly one of"),
        ('[[checks]]\nname = "x"\ntable = "a b"\nnot_null = "a"\n', "table 'a b'"),
        ('[[checks]]\nname = "x"\ntable = "examples"\nrange = { col = "a" }\n', "check 'x'"),
        ('[review]\ngate = "accuracy >= prod.accuracy"\n', "only production.<metric> may use a dot"),
        ('[review]\ngate = "accuracy >= production"\n', "use production.<metric>"),
    ],
)
def test_bad_checks_and_gates_are_one_line_errors(proj: Proj, block: str, message: str) -> None:
    config = (proj.root / "tusk.toml").read_text().split("[[checks]]")[0]
    (proj.root / "tusk.toml").write_text(config + "\n" + block)
    err = proj.tusk("data", "check", code=1).stderr
    assert message in err and len(err.strip().splitlines()) == 1, err
