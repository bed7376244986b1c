"""Globs that always end (``tusk._internal.globbing``): the same files as ``glob.glob(recursive=True)`` on a tree
without
links, and ``**`` that does not descend into a linked folder: a link to ``..`` inside a project made the code
hash (plan, run, the page) walk without end, a link to ``/`` walked the whole disk."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import pytest

from train_fixtures import TrainProject, make_project
from tusk._internal.globbing import glob_files

FILES = [
    "m/a.py",
    "m/x/b.py",
    "m/x/y/c.py",
    "m/.h/d.py",
    "m/.h/z/e.py",
    ".top/f.py",
    "n/x/g.py",
    "m/.dot.py",
    "m/x/t.txt",
    "top.py",
    "n/.hidden.txt",
    "m/x/y/z/w/deep.py",
]
PATTERNS = [
    "**/*.py",
    "m/**",
    "**",
    "m/**/x/*.py",
    "**/.h/*.py",
    "m/**/*",
    "*/**/*.txt",
    "**/x/**/*.py",
    "m/**/.*",
    "**/*",
    "m/*.py",
    "**/.h/**/*.py",
    "m/**/**/*.py",
    "**/y",
    "*/x/**",
    "m/[ax]/**/*.py",
]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for name in FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    return tmp_path


@pytest.mark.parametrize("pattern", PATTERNS)
def test_the_same_files_as_glob_on_a_tree_without_links(
    tree: Path, pattern: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def files(p: str) -> list[str]:
        return sorted({m for m in glob.glob(p, recursive=True) if os.path.isfile(m)})  # glob repeats a file for **/**

    assert glob_files(str(tree / pattern)) == files(str(tree / pattern))
    monkeypatch.chdir(tree)  # a relative pattern gives relative paths, as glob's do
    assert glob_files(pattern) == files(pattern)


@pytest.mark.timeout(60)
def test_recursion_does_not_follow_a_linked_folder(tree: Path) -> None:
    (tree / "m" / "x" / "up").symlink_to("..")
    (tree / "m" / "self").symlink_to(".")
    (tree / "m" / "disk").symlink_to("/")
    (tree / "m" / "linked.py").symlink_to(tree / "top.py")  # a linked file is a file: kept, as glob keeps it
    (tree / "m" / "dangling.py").symlink_to(tree / "gone.py")  # a link to nothing is no file: left out, as glob does
    found = [Path(p).relative_to(tree).as_posix() for p in glob_files(str(tree / "m" / "**" / "*.py"))]
    assert found == ["m/a.py", "m/linked.py", "m/x/b.py", "m/x/y/c.py", "m/x/y/z/w/deep.py"]


@pytest.mark.timeout(120)
def test_a_code_glob_over_a_folder_with_a_loop_plans_and_hashes_the_real_files(tmp_path: Path) -> None:
    project = make_project(tmp_path, customers=2, extra='code = ["models/**/*.py"]')
    (project.root / "models" / "loop").symlink_to("..")
    (project.root / "models" / "disk").symlink_to("/")
    assert {n: i["status"] for n, i in plan(project).items()} == {"m-c0": "new", "m-c1": "new"}
    project.run()
    assert {i["status"] for i in plan(project).values()} == {"fresh"}
    (project.root / "models" / "helper.py").write_text("X = 1\n")  # a real file in the glob: stale
    assert {i["status"] for i in plan(project).values()} == {"stale"}


def plan(project: TrainProject) -> dict[str, dict[str, object]]:
    return {i["name"]: i for i in project.json("plan")["instances"]}
