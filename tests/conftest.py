"""Shared test setup. The tests live in one folder per wing; the helpers beside this file (train_fixtures,
jobs_for_tests, crash_helpers) are importable through pytest's `pythonpath`."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import tusk  # noqa: F401  (loads doltlite before anything imports sqlite3)

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")


def _private_image_store() -> None:
    """Images the tests build go to a store of their own, removed at exit: the machine's buildah store
    (what a user's `buildah images` lists) keeps only what people built."""
    if "CONTAINERS_STORAGE_CONF" in os.environ or shutil.which("buildah") is None:
        return
    root = Path(tempfile.mkdtemp(prefix="tusk-test-images-"))
    conf = root / "storage.conf"
    conf.write_text(f'[storage]\ndriver = "vfs"\ngraphroot = "{root}/graph"\nrunroot = "{root}/run"\n')
    os.environ["CONTAINERS_STORAGE_CONF"] = str(conf)
    import atexit

    atexit.register(shutil.rmtree, root, True)


_private_image_store()


def pytest_collection_modifyitems(config: object, items: list) -> None:
    """Ray's tests run last: once Ray's gRPC client has run in this process, a forked local worker can
    crash (gRPC threads do not survive fork), and the local executor's tests fork."""
    items.sort(key=lambda item: item.get_closest_marker("ray") is not None)


def pytest_terminal_summary(terminalreporter: object) -> None:
    """How many projects make_project built and how many it copied from a template built before."""
    from train_fixtures import TEMPLATE_USES

    if TEMPLATE_USES[False]:
        terminalreporter.write_line(  # type: ignore[attr-defined]
            f"project templates: {TEMPLATE_USES[False]} built, {TEMPLATE_USES[True]} copied"
        )
