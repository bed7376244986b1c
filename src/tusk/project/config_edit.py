"""Edits of ``tusk.toml`` made by commands (``tusk data remote add``): a TOML round trip (tomlkit) that keeps
the user's comments, order and layout. The edited text is checked as a whole configuration before it
replaces the file, atomically: a refused edit leaves the file as it was."""

from __future__ import annotations

import os
import tempfile
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tusk.core.config import Config
from tusk.errors import ConfigError


@contextmanager
def editing(path: Path) -> Iterator[Any]:
    """The parsed document of ``path``; what the block changes is written back if it is still valid."""
    import tomlkit

    try:
        text = path.read_text(encoding="utf-8")
        document = tomlkit.parse(text)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    except Exception as exc:  # tomlkit's ParseError and friends
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    yield document
    edited = tomlkit.dumps(document)
    if edited == text:
        return
    try:
        Config(root=path.parent, path=path, **tomllib.loads(edited))
    except Exception as exc:
        raise ConfigError(f"{path}: the edit would make it invalid: {str(exc).splitlines()[0]}") from exc
    _replace(path, edited)


def _replace(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tusk.toml-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, path.stat().st_mode & 0o777)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def set_remote(path: Path, name: str, url: str) -> None:
    """``[data.remotes] NAME = URL`` (the table is made when missing; an inline table is kept inline)."""
    import tomlkit

    with editing(path) as document:
        data = document.get("data")
        if data is None:
            document["data"] = data = tomlkit.table()
        remotes = data.get("remotes")
        if remotes is None:
            remotes = tomlkit.table()
            remotes.add(name, url)
            remotes.add(tomlkit.nl())
            data["remotes"] = remotes
        else:
            remotes[name] = url


def remove_remote(path: Path, name: str) -> bool:
    """Drop ``NAME`` from ``[data.remotes]`` (and the table when it empties); → whether it was there."""
    with editing(path) as document:
        remotes = (document.get("data") or {}).get("remotes")
        if remotes is None or name not in remotes:
            return False
        del remotes[name]
        if not remotes:
            del document["data"]["remotes"]
    return True
