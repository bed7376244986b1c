"""The command line's shape: one module per verb, and one place that renders ``--json``."""

from __future__ import annotations

import json
from pathlib import Path

import click
from click.testing import CliRunner

import tusk.cli
from tusk.cli import cli
from tusk.cli._common import Shown, output, raising
from tusk.errors import TuskError


def test_each_verb_lives_in_a_module_named_for_it() -> None:
    for name, command in cli.commands.items():
        assert command.callback is not None
        assert command.callback.__module__ == f"tusk.cli.{name}", name


def test_only_the_decorator_prints_json() -> None:
    folder = Path(tusk.cli.__file__).parent
    printing = [p.name for p in folder.glob("*.py") if "print_json(" in p.read_text() and p.name != "_common.py"]
    assert printing == []


class Answer:
    def to_json(self) -> dict[str, int]:
        return {"answer": 42}


@click.command()
@click.option("--fail", is_flag=True)
@click.option("--code", type=int, default=0)
@output
def answer(fail: bool, code: int) -> Shown:
    then = raising(TuskError("refused after answering")) if fail else None
    return Shown(Answer(), lambda: click.echo("the answer is 42"), then=then, code=code)


def test_output_renders_json_or_text_then_fails_or_exits() -> None:
    runner = CliRunner()
    assert runner.invoke(answer, []).output == "the answer is 42\n"
    done = runner.invoke(answer, ["--json"])
    assert json.loads(done.output) == {"answer": 42} and done.exit_code == 0
    assert runner.invoke(answer, ["--json", "--code", "3"]).exit_code == 3
    refused = runner.invoke(answer, ["--json", "--fail"])
    assert json.loads(refused.output) == {"answer": 42}
    assert isinstance(refused.exception, TuskError)
    assert "--json" in runner.invoke(answer, ["--help"]).output
