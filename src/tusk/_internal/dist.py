"""tusk's distribution on the package index. The import and command name is ``tusk``; the index's ``tusk``
(and ``tusk-ml``) belong to unrelated projects, so the distribution is ``tusk-mlops``.

``install_source`` says how the tusk that runs now was installed (PEP 610's ``direct_url.json``), so that a
project's ``requirements.txt`` and its CI workflow install the same one: a VCS URL at its commit, a wheel's URL,
or the pinned version from the index; a local folder or file is written too, with a warning that a CI runner
cannot reach it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

DISTRIBUTION = "tusk-mlops"
SOURCE_VERSION = "0.1.0"  # pyproject.toml's version, for a source tree that was not installed


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed(DISTRIBUTION)
    except PackageNotFoundError:  # running from a source tree that was not installed
        return SOURCE_VERSION


@dataclass(frozen=True)
class InstallSource:
    """The requirement line that installs this tusk elsewhere, and why a CI runner could not use it (or "")."""

    requirement: str
    warning: str = ""


def requirement(extras: str = "") -> str:
    """The requirement of the tusk that runs now: ``tusk-mlops @ git+URL@COMMIT``, ``tusk-mlops==0.1.0`` ..."""
    return install_source(extras).requirement


def install_source(extras: str = "", direct_url: dict[str, Any] | None = None) -> InstallSource:
    """How this tusk was installed, as a requirement (with ``extras``: ``adapters``). ``direct_url`` stands for
    the installed ``direct_url.json`` (read when None; absent for an install from an index)."""
    name = f"{DISTRIBUTION}[{extras}]" if extras else DISTRIBUTION
    info = (_direct_url() if direct_url is None else direct_url) or {}
    url = str(info.get("url", ""))
    if not url:
        return InstallSource(f"{name}=={version()}")
    subdirectory = str(info.get("subdirectory") or "")
    fragment = f"#subdirectory={subdirectory}" if subdirectory else ""
    vcs = info.get("vcs_info")
    if isinstance(vcs, dict):
        commit = vcs.get("commit_id") or vcs.get("requested_revision") or ""
        kind = str(vcs.get("vcs") or "git")
        line = f"{name} @ {kind}+{url}{'@' + commit if commit else ''}{fragment}"
        if url.startswith("file:"):
            return InstallSource(line, _unreachable(url))
        return InstallSource(line)
    if url.startswith("file:"):
        path = url.removeprefix("file://")
        from_git = _git_source(path, name, fragment)
        if from_git is not None:
            return from_git
        return InstallSource(f"{name} @ {url}{fragment}", _unreachable(url))
    return InstallSource(f"{name} @ {url}{fragment}")


def _unreachable(url: str) -> str:
    return (
        f"tusk was installed from {url}, a path on this machine that a CI runner cannot reach: install it from "
        f'git (pip install "{DISTRIBUTION} @ git+https://…") or point requirements.txt at a wheel the runner can '
        f"download"
    )


def _git_source(path: str, name: str, fragment: str) -> InstallSource | None:
    """A local checkout (``pip install -e .`` in a clone) with a remote: the remote's URL at the checkout's
    commit, which a runner can install once that commit is pushed."""
    from pathlib import Path

    from tusk._internal.git import git

    folder = Path(path)
    if not folder.is_dir():
        return None
    remote = git(folder, "remote", "get-url", "origin")
    commit = git(folder, "rev-parse", "HEAD")
    if remote is None or commit is None or remote.returncode or commit.returncode:
        return None
    origin, head = remote.stdout.strip(), commit.stdout.strip()
    if origin.startswith("git@") and ":" in origin:  # git@github.com:owner/repo.git → ssh://git@github.com/owner/…
        host, _, where = origin.partition(":")
        origin = f"ssh://{host}/{where}"
    if not origin.startswith(("https://", "http://", "ssh://")):
        return None
    line = f"{name} @ git+{origin}@{head}{fragment}"
    status = git(folder, "status", "--porcelain", "--untracked-files=no")
    if status is not None and status.returncode == 0 and status.stdout.strip():
        return InstallSource(
            line,
            f"tusk was installed from {folder}, whose files differ from its commit {head[:12]}: a CI runner "
            f"installs that commit from {origin} (commit and push the changes for it to have them)",
        )
    pushed = git(folder, "branch", "-r", "--contains", head)
    if pushed is not None and pushed.returncode == 0 and not pushed.stdout.strip():
        return InstallSource(
            line,
            f"tusk was installed from {folder} at commit {head[:12]}, which no branch of {origin} holds yet: "
            f"push it for a CI runner to install it",
        )
    return InstallSource(line)


def _direct_url() -> dict[str, Any] | None:
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        text = distribution(DISTRIBUTION).read_text("direct_url.json")
    except PackageNotFoundError:
        return None
    if not text:
        return None
    try:
        found = json.loads(text)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None
