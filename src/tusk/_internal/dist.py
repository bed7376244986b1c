"""tusk's distribution on the package index. The import and command name is ``tusk``; the index's ``tusk``
(and ``tusk-ml``) belong to unrelated projects, so the distribution is ``tusk-mlops``."""

from __future__ import annotations

DISTRIBUTION = "tusk-mlops"
SOURCE_VERSION = "0.1.0"  # pyproject.toml's version, for a source tree that was not installed


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed(DISTRIBUTION)
    except PackageNotFoundError:  # running from a source tree that was not installed
        return SOURCE_VERSION


def requirement() -> str:
    """The pinned requirement of the tusk that runs now: ``tusk-mlops==0.1.0``."""
    return f"{DISTRIBUTION}=={version()}"
