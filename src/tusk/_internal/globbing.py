"""Globs that always end: ``glob.glob(pattern, recursive=True)``'s matches, except that ``**`` does not descend
into symlinked directories. Python's ``**`` follows them, so one link to ``..`` or ``/`` inside a project (a
``code`` glob, a files source) walked without end or across the whole disk. A ``**`` here walks the real tree
below the pattern's literal prefix once, and matches names as glob does: a wildcard never matches a name that
starts with a dot unless the pattern's component does, and ``**`` matches no hidden folder."""

from __future__ import annotations

import fnmatch
import glob
import os

RECURSIVE = "**"


def glob_files(pattern: str) -> list[str]:
    """The sorted files (not folders) that ``pattern`` names, a path as ``glob.glob`` takes it."""
    parts = pattern.split(os.sep)
    if RECURSIVE not in parts:
        return sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
    first_magic = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    base = os.sep.join(parts[:first_magic]) or (os.sep if pattern.startswith(os.sep) else os.curdir)
    rest = parts[first_magic:]
    found: list[str] = []
    for folder, dirs, files in os.walk(base, followlinks=False):
        relative = os.path.relpath(folder, base)
        states = _states(rest, [] if relative == os.curdir else relative.split(os.sep))
        dirs[:] = sorted(d for d in dirs if _advance(rest, states, d))
        for name in files:
            path = os.path.join(folder, name)
            if len(rest) in _advance(rest, states, name) and os.path.isfile(path):  # not a dangling link
                found.append(path if first_magic else os.path.relpath(path))
    return sorted(found)


def _closure(pats: list[str], states: set[int]) -> set[int]:
    """A ``**`` may match no folder at all: the component after it is reachable too."""
    todo, seen = list(states), set(states)
    while todo:
        i = todo.pop()
        if i < len(pats) and pats[i] == RECURSIVE and i + 1 not in seen:
            seen.add(i + 1)
            todo.append(i + 1)
    return seen


def _advance(pats: list[str], states: set[int], name: str) -> set[int]:
    """The pattern positions reachable after matching one more path component ``name``."""
    after: set[int] = set()
    for i in states:
        if i >= len(pats):
            continue
        if pats[i] == RECURSIVE:
            if not name.startswith("."):
                after.add(i)
        elif _matches(name, pats[i]):
            after.add(i + 1)
    return _closure(pats, after)


def _states(pats: list[str], names: list[str]) -> set[int]:
    states = _closure(pats, {0})
    for name in names:
        states = _advance(pats, states, name)
    return states


def _matches(name: str, pat: str) -> bool:
    if not glob.has_magic(pat):
        return name == pat
    if name.startswith(".") and not pat.startswith("."):
        return False
    return fnmatch.fnmatchcase(name, pat)
