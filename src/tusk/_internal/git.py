"""The one way tusk asks git about the project's code: its commit, whether the models' files differ from it,
where the repository's top is, and a worktree at a recorded commit. A folder outside git, or no git at all,
is an answer ("" / None / dirty), never an error, except where a worktree is asked for."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path

from tusk.errors import GitError as GitError  # defined in errors.py's tree; importable from here as before


def git(root: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str] | None:
    """``git -C root ARGS``; None when git is missing or does not answer in time."""
    try:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None


def _out(root: Path, *args: str) -> str | None:
    done = git(root, *args)
    return done.stdout.strip() if done is not None and done.returncode == 0 else None


def head(root: Path) -> str:
    """The commit checked out in the repository holding ``root``; "" outside git."""
    return _out(root, "rev-parse", "HEAD") or ""


def toplevel(root: Path) -> Path | None:
    """The top folder of the repository holding ``root``; None outside git."""
    top = _out(root, "rev-parse", "--show-toplevel")
    return Path(top) if top else None


def relative_root(root: Path) -> str:
    """``root`` relative to its repository's top ("." at the top, or outside git)."""
    top = toplevel(root)
    if top is None:
        return "."
    return root.resolve().relative_to(top.resolve()).as_posix() or "."


def code_version(root: Path, files: Iterable[str]) -> tuple[str, bool]:
    """(the commit of ``root``, whether any of ``files`` differs from it or is not in git at all)."""
    wanted = sorted(set(files))
    commit = head(root)
    if not commit:
        return "", True
    tracked = _out(root, "ls-files", "--", *wanted)
    changed = _out(root, "status", "--porcelain", "--", *wanted)
    if tracked is None or changed is None:
        return commit, True
    return commit, bool(changed) or not set(wanted) <= set(tracked.split())


def add_worktree(root: Path, commit: str, into: Path) -> Path:
    """A detached worktree of ``root``'s repository at ``commit`` in ``into`` → the folder in it that
    corresponds to ``root``. Remove it with ``remove_worktree``."""
    top = toplevel(root)
    if top is None:
        raise GitError(f"{root} is not in a git repository; the recorded code cannot be checked out")
    found = git(root, "cat-file", "-e", f"{commit}^{{commit}}")
    if found is None or found.returncode != 0:
        raise GitError(f"code commit {commit[:12]} is not in this repository (was history rewritten?)")
    added = git(root, "worktree", "add", "--detach", str(into), commit, timeout=120)
    if added is None or added.returncode != 0:
        why = added.stderr.strip().splitlines()[-1] if added is not None and added.stderr.strip() else "no answer"
        raise GitError(f"git worktree failed: {why}")
    return into / root.resolve().relative_to(top.resolve())


def remove_worktree(root: Path, into: Path) -> None:
    git(root, "worktree", "remove", "--force", str(into), timeout=120)
