"""``Project``: opens the backends named in ``tusk.toml``; the one facade the CLI and the web page share.

Backends are opened lazily: ``tusk data log`` never imports MLflow, ``tusk plan`` never starts workers.
Each area keeps its logic in its own module (``plan``, ``runner``, ``release``, ``lineage``, ...); the
methods here only wire the project's backends into them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tusk.ports import RunCancel
from tusk.project._data import DataMethods
from tusk.project._faces import FaceMethods
from tusk.project._pages import PageMethods
from tusk.project._releases import ReleaseMethods
from tusk.project._reviews import ReviewMethods
from tusk.project._serving import ServeMethods
from tusk.project._training import TrainingMethods

if TYPE_CHECKING:
    from tusk.project.results import Cloned, Initialised

__all__ = ["Project", "RunCancel", "clone", "init"]


class Project(DataMethods, TrainingMethods, ReleaseMethods, ReviewMethods, PageMethods, FaceMethods, ServeMethods):
    """A project: its ``tusk.toml`` and the ports it names. One method per command (``DataMethods``,
    ``TrainingMethods``, ``ReleaseMethods``, ``ReviewMethods``) and per page (``PageMethods``); each returns data (a
    dataclass with ``to_json()``), never prints."""


def init(directory: Path | str = ".", example: str | None = None, git: bool = True) -> Initialised:
    """A new project in ``directory``: tusk.toml, a data store, a tracking database (and the example's files);
    with ``git``, a git repository with a first commit of its files (not inside a repository already)."""
    from tusk.project.results import Initialised
    from tusk.project.scaffold import init_with_git

    done = init_with_git(Path(directory), example, git)
    return Initialised(done.config, example, done.git.commit, done.git.note, done.warnings)


def clone(url: str, directory: Path | str) -> Cloned:
    """The data at ``url`` cloned into the project in ``directory`` (a new project when it has no tusk.toml)."""
    from tusk.project.results import Cloned
    from tusk.project.scaffold import clone_project

    config_path = clone_project(url, Path(directory))
    with Project.open(config_path) as project:
        branch = project.config.data.branch
        return Cloned(config_path, project.config.data.url, branch, project.data.resolve(branch))
