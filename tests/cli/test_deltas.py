"""A metric's change reads as a person reads it: to the metrics' own digits (``−0.067``, not ``-0.06667``), ``±0``
for no change (not ``+0``), and a worse change marked: red in the terminal, ``worse`` on the page. A drop of a
metric that is better higher (accuracy) is worse; a drop of a loss or an error is better."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from train_fixtures import TrainProject, model_block, project_template
from tusk.cli._common import delta_markup
from tusk.project import Project
from web_client import client

MODEL = textwrap.dedent("""
    def train(ctx):
        df = ctx.inputs["examples"]
        (ctx.output_dir / "m.txt").write_text(str(len(df)))
        right = float((df["label"] == "l0").mean())
        return {"accuracy": right, "val_loss": 1.0 - right, "rows": float(len(df))}
""")
GATE = '\n[review]\ngate = "accuracy >= production.accuracy - 0.01"\n'


@pytest.mark.parametrize(
    ("name", "delta", "values", "text", "quality"),
    [
        ("accuracy", 14 / 15 - 1.0, (14 / 15, 1.0), "−0.067", "worse"),
        ("accuracy", 0.0, (0.5, 0.5), "±0", "same"),
        ("accuracy", 1e-12, (0.9333, 0.9333), "±0", "same"),  # no change that the metrics' digits show
        ("accuracy", 0.625 - 0.5, (0.625, 0.5), "+0.125", "better"),  # exact at the metrics' digits: as it is
        ("val_loss", -0.25, (0.25, 0.5), "−0.25", "better"),  # a loss that drops is better
        ("rmse", 0.1, (1.1, 1.0), "+0.1", "worse"),
        ("rows", 234.0, (1234.0, 1000.0), "+234", "better"),  # a whole number is never rounded into tens
        ("f1", -0.06666666, (), "−0.067", "worse"),  # no values: two significant digits
    ],
)
def test_a_change_is_shown_to_the_metrics_digits(
    name: str, delta: float, values: tuple[float, ...], text: str, quality: str
) -> None:
    assert Project.metric_delta(name, delta, *values) == (text, quality)
    marked = delta_markup(name, delta, *values)
    assert marked == {"worse": f"[red]{text}[/]", "better": f"[green]{text}[/]"}.get(quality, text)


def _project(tmp_path: Path) -> TrainProject:
    from click.testing import CliRunner

    from tusk.cli import _register, cli  # noqa: F401

    root = tmp_path / "proj"
    assert CliRunner().invoke(cli, ["init", str(root), "--no-git"]).exit_code == 0
    proj = TrainProject(root)
    (root / "models").mkdir()
    (root / "models" / "m.py").write_text(MODEL)
    proj.set_models(model_block(params={}) + GATE)
    rows = [[i, f"c{i % 2}", f"text {i}", "l0" if i % 4 < 2 else "l1"] for i in range(16)]
    proj.import_rows(rows, mode="replace", message="load")
    proj.run()
    return proj


def test_a_regression_is_marked_worse_in_the_terminal_and_on_the_page(tmp_path: Path) -> None:
    project = project_template(tmp_path, (__name__, "project"), _project)
    rows = [[i, f"c{i % 2}", f"text {i}", "l0" if i % 4 < 2 else "l1"] for i in range(16)]
    for i in (0, 4):
        rows[i][3] = "l1"  # c0: 2 of 8 rows l0 where 4 were
    project.import_rows(rows, branch="worse", message="relabel c0")
    project.json("run", "--at", "worse", "--candidates")
    text = project.tusk("review", "show", "worse").stdout
    said = re.search(r"FAILED m-c0: (.*)", text)
    assert said, text
    assert said.group(1) == (
        "gate 'accuracy >= production.accuracy - 0.01' fails: candidate v2 vs production v1: "
        "accuracy 0.25 (0.5, −0.25), rows 8 (8, ±0), val_loss 0.75 (0.5, +0.25)"
    )
    with client(project.root) as web:
        impact = web.get("/review/impact?branch=worse&part=1").text
    assert '<span class="delta worse" title="worse">−0.25</span>' in impact  # accuracy dropped
    assert '<span class="delta same">±0</span>' in impact  # rows
    assert '<span class="delta worse" title="worse">+0.25</span>' in impact  # the loss rose
