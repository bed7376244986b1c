"""What every command shares: opening the project, ``--json``, errors on one line, rich output."""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from tusk.cli._text import printable
from tusk.errors import TuskError

if TYPE_CHECKING:
    from tusk.project import Project

F = TypeVar("F", bound=Callable[..., Any])

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_JOBS_FAILED = 3


class TuskGroup(click.Group):
    """A click group that turns TuskError into one line on stderr and exit 1 (traceback with --debug)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TuskError as exc:
            if (ctx.obj or {}).get("debug"):
                raise
            fail(str(exc))
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    message = printable(message)
    first = message.strip().splitlines()[0] if message.strip() else "error"
    click.echo(f"error: {first}", err=True)
    sys.exit(code)


def json_option(function: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of tables.")(function)


@dataclass(frozen=True)
class Shown:
    """What a command answers: ``result`` (an object with ``to_json()``, or JSON-ready data) printed by ``--json``,
    ``show`` printing it for people; after either, ``then`` (a refusal to raise: ``raising(exc)``, a ``fail``), and
    the process ends with ``code`` (``EXIT_JOBS_FAILED`` when jobs failed)."""

    result: Any
    show: Callable[[], object] | None = None
    then: Callable[[], object] | None = None
    code: int = 0


def output(command: Callable[..., Shown | None]) -> Callable[..., None]:
    """``--json`` for a command, rendered in one place (sqlite-utils' ``output_options`` is the model): the command
    returns a ``Shown`` and never looks at ``--json`` to print (``wants_json()`` when it must behave differently,
    e.g. not prompt); ``None`` when it printed everything itself (a follow, a stream)."""

    @functools.wraps(command)
    def run(*args: Any, as_json: bool, **kwargs: Any) -> None:
        click.get_current_context().meta[_JSON] = as_json
        shown = command(*args, **kwargs)
        if shown is None:
            return
        render(shown)
        if shown.then is not None:
            shown.then()
        if shown.code:
            sys.exit(shown.code)

    return json_option(run)


def render(shown: Shown) -> None:
    """Print ``shown`` as the command was asked to: its result as JSON with ``--json``, else for people. A command
    under ``output`` returns it; one that answers while it goes on (``tusk ui`` once it listens) calls this."""
    if wants_json():
        result = shown.result
        print_json(result.to_json() if hasattr(result, "to_json") else result)
    elif shown.show is not None:
        shown.show()


_JSON = "tusk.json"


def raising(error: BaseException) -> Callable[[], NoReturn]:
    """``Shown.then`` for a command that answers and then fails with ``error`` (a merge conflict: its rows, then the
    one-line error and exit 1)."""

    def then() -> NoReturn:
        raise error

    return then


def wants_json() -> bool:
    """Whether the running command was given ``--json`` (a command under ``output``)."""
    return bool(click.get_current_context().meta.get(_JSON, False))


def open_project() -> Project:
    """The project of ``-C DIR`` (default: the working directory), found by its tusk.toml."""
    from tusk.project import Project

    ctx = click.get_current_context()
    folder = (ctx.find_root().obj or {}).get("project_dir")
    return Project.open(Path(folder) if folder else None)


def _default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


def print_json(data: Any) -> None:
    click.echo(_C1.sub(lambda m: f"\\u{ord(m.group()):04x}", json_text(data)))


# JSON escapes C0 controls (ESC is \u001b) but writes C1 ones (U+0080-U+009F: U+009B is a CSI on some
# terminals) as they are when ensure_ascii is off; they can only be inside strings, where \u escapes mean the same
_C1 = re.compile("[\x7f-\x9f]")


LONG_LIST = 50  # a top-level list longer than this is written one element per line


def json_text(data: Any) -> str:
    """Indented JSON; a document with a long top-level list (10,000 instances) has one compact element per line
    instead: as readable, greppable line by line, and written by json's C encoder (its indenting encoder is pure
    Python: 35 ms for a 10,000-instance plan against 8 ms)."""
    if not isinstance(data, dict) or not any(isinstance(v, list) and len(v) > LONG_LIST for v in data.values()):
        return json.dumps(data, indent=2, default=_default, ensure_ascii=False)
    dump = _compact_encoder()
    lines = []
    for key, value in data.items():
        if isinstance(value, list) and value:
            items = ",\n    ".join(dump(item) for item in value)
            lines.append(f"  {dump(key)}: [\n    {items}\n  ]")
        else:
            lines.append(f"  {dump(key)}: {dump(value)}")
    return "{\n" + ",\n".join(lines) + "\n}"


def _compact_encoder() -> Any:
    """value → compact JSON (as ``json.dumps(value, default=_default, ensure_ascii=False)``) by one C encoder made
    once: ``json.dumps`` makes one per call, which was two thirds of writing a 10,000-element list."""
    from json import encoder

    make_encoder = getattr(encoder, "c_make_encoder", None)
    if make_encoder is None:  # pragma: no cover - CPython always has it
        return lambda value: json.dumps(value, default=_default, ensure_ascii=False)
    make = make_encoder(None, _default, encoder.encode_basestring, None, ": ", ", ", False, False, True)
    return lambda value: "".join(make(value, 0))


def console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Any:
    from rich.table import Table
    from rich.text import Text

    out = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for number, column in enumerate(columns):
        # A long value wraps and is never cut short with "…"; the other columns give way before the first
        # (the row's name), which folds only when nothing else can.
        out.add_column(column, overflow="fold", no_wrap=number == 0)
    for row in rows:  # a rich Text cell is shown as it is; other cells as text with rich markup, no control codes
        out.add_row(*["" if cell is None else cell if isinstance(cell, Text) else printable(str(cell)) for cell in row])
    return out


def data_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Any:
    """A table of values from the data (a query's rows, a check's violations): each cell shown as the text it is,
    never read as rich markup ("[/]" in a cell is text, not an error) and without terminal control codes."""
    from rich.text import Text

    return table(title, [printable(str(c)) for c in columns], [[Text(data_text(cell)) for cell in row] for row in rows])


def data_text(value: Any) -> str:
    """A value from the data as a terminal may show it: NULL empty, bytes as hex, no control codes."""
    if value is None:
        return ""
    return printable(value.hex() if isinstance(value, bytes) else str(value))


def short(commit: str | None, length: int = 7) -> str:
    return (commit or "")[:length]


STATUS_STYLE = {
    "new": "cyan",
    "stale": "yellow",
    "reuse": "magenta",
    "fresh": "green",
    "orphaned": "dim",
    "succeeded": "green",
    "failed": "red",
    "reused": "magenta",
    "cancelled": "red",
    "skipped": "yellow",
}


DELTA_STYLE = {"worse": "red", "better": "green"}


def delta_markup(name: str, delta: float, *values: float) -> str:
    """A metric's change as rich markup: ``−0.067`` to the metrics' digits, ``±0``; a worse change in red."""
    from tusk.project import Project

    text, quality = Project.metric_delta(name, delta, *values)
    style = DELTA_STYLE.get(quality)
    return f"[{style}]{text}[/]" if style else text


def escape(text: str) -> str:
    """Text printed among rich markup, shown as it is."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def styled(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"
