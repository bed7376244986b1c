"""Attach each command module to the ``tusk`` group. Modules import their heavy parts lazily."""

from __future__ import annotations

import importlib

from tusk.cli import cli

COMMAND_MODULES = ["data", "remote", "train", "release", "ops", "review", "ui"]

for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(f"tusk.cli.{_name}")
    except ModuleNotFoundError as exc:  # a module not written yet must not break the others
        if exc.name != f"tusk.cli.{_name}":
            raise
        continue
    for _command in getattr(_module, "COMMANDS", []):
        cli.add_command(_command)
