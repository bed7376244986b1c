"""``tusk init``: the project file, the data store, the tracking database, and the examples (intents, adapters)."""

from __future__ import annotations

import csv
import random
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from tusk.core.config import CONFIG_NAME, Config, load_config, url_path
from tusk.errors import ConfigError

TEMPLATE = """# tusk project. Relative paths resolve against this file's folder.
[data]
url = "doltlite:///data/training.db"
branch = "main"

[tracking]
url = "sqlite:///.tusk/mlflow.db"

[executor]
url = "local://?workers=2"
gpus = "auto"

[release]
image = "localhost/{image}"
base_image = "python:3.11-slim"
builder = "auto"
"""

MODEL_EXAMPLE = """
# One [[models]] entry per kind of model; its matrix makes one instance per value:
#
# [[models]]
# name = "intent-{customer}"
# train = "models/intent.py:train"
# code = ["models/*.py"]
# matrix.customer = "SELECT DISTINCT customer FROM examples ORDER BY customer"
# inputs.examples = "SELECT id, text, label FROM examples WHERE customer = :customer ORDER BY id"
# params = { C = 1.0 }
# resources = { cpus = 1, gpus = 0, timeout = "10m", retries = 1 }
# promote_if = "accuracy >= 0.5"
"""

INTENTS_MODEL = """
[[models]]
name = "intent-{customer}"
train = "models/intent.py:train"
code = ["models/*.py"]
matrix.customer = "SELECT DISTINCT customer FROM examples ORDER BY customer"
inputs.examples = "SELECT id, text, label FROM examples WHERE customer = :customer ORDER BY id"
params = { C = 1.0 }
resources = { cpus = 1, gpus = 0, timeout = "10m", retries = 1 }
promote_if = "accuracy >= 0.5"
"""

ADAPTERS_MODELS = """
# The shared base: one small transformer (made from a config, no download) trained on every customer's text.
[[models]]
name = "base"
train = "models/base.py:train"
code = ["models/base.py"]
inputs.examples = "SELECT id, text, label FROM examples ORDER BY id"
params = { epochs = 4, hidden = 64, layers = 2, heads = 2, lr = 0.002, seed = 0 }
resources = { cpus = 1, gpus = 0, timeout = "20m" }

# One LoRA adapter per customer on the base: needs = ["base"] makes the base's version an input (a new base
# makes every adapter stale; a run trains the base first), and setup loads it once per worker, not per job.
[[models]]
name = "adapter-{customer}"
train = "models/adapter.py:train"
setup = "models/adapter.py:load_base"
needs = ["base"]
code = ["models/adapter.py", "models/base.py"]
matrix.customer = "SELECT DISTINCT customer FROM examples ORDER BY customer"
inputs.examples = "SELECT id, text, label FROM examples WHERE customer = :customer ORDER BY id"
params = { epochs = 6, rank = 4, lr = 0.005, seed = 0 }
resources = { cpus = 1, gpus = 0, timeout = "10m", retries = 1 }
promote_if = "accuracy >= 0.5"
"""

EXAMPLES = ("intents", "adapters")
ADAPTER_CUSTOMERS = 10


def init_project(folder: Path, example: str | None = None) -> Path:
    """Create a project in ``folder``; refuses to overwrite an existing tusk.toml. (``init_with_git`` also makes
    it a git repository.)"""
    return init_with_git(folder, example, git=False).config


@dataclass(frozen=True)
class InitDone:
    config: Path
    git: GitStart
    warnings: list[str]


def init_with_git(folder: Path, example: str | None = None, git: bool = True) -> InitDone:
    """``init_project``, then (with ``git``) a git repository with a first commit (``start_repository``); the
    warnings say what a CI runner could not reach (a tusk installed from a local path)."""
    if example is not None and example not in EXAMPLES:
        raise ConfigError(f"unknown example {example!r} (known: {', '.join(EXAMPLES)})")
    folder = folder.resolve()
    config_path = folder / CONFIG_NAME
    if config_path.exists():
        raise ConfigError(f"{config_path} already exists")
    models = {"intents": INTENTS_MODEL, "adapters": ADAPTERS_MODELS}.get(example or "", MODEL_EXAMPLE)
    unreachable = _write_config(folder, models, extra="adapters" if example == "adapters" else "")
    if example == "intents":
        write_intents_example(folder)
    elif example == "adapters":
        write_adapters_example(folder)
    create_stores(config_path)
    started = start_repository(folder) if git else GitStart(None, "--no-git: the project is not a git repository")
    return InitDone(config_path, started, [unreachable] if unreachable else [])


def clone_project(url: str, folder: Path) -> Path:
    """The data of a shared remote, cloned into the project in ``folder`` (a new one when it has none).

    A project checked out from git has tusk.toml and the models but no data: the clone goes where its
    ``[data] url`` says. A failed clone leaves nothing behind (and no tusk.toml it wrote itself)."""
    from tusk.backends import backend_class

    folder = folder.resolve()
    config_path = folder / CONFIG_NAME
    before = set(folder.iterdir()) if folder.is_dir() else None
    if not config_path.exists():
        _write_config(folder, MODEL_EXAMPLE)
    try:
        config = load_config(config_path)
        store_class = backend_class("data", config.data.url)
        store_class.clone(url, url_path(config.data.url, config.root), config.data.branch).close()
    except BaseException:
        _remove_new(folder, before)
        raise
    _create_tracking(config)
    return config_path


def _remove_new(folder: Path, before: set[Path] | None) -> None:
    """Undo a failed clone: what it added to ``folder`` (all of it, if it made the folder)."""
    if before is None:
        shutil.rmtree(folder, ignore_errors=True)
        return
    for path in set(folder.iterdir()) - before:
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)


GITIGNORE = """# tusk's own state: the tracking database, job logs, caches, build contexts
.tusk/
# The training data is versioned in its data store: share it through remotes (tusk data remote add,
# tusk data push, tusk data pull), not through git. The lock file beside it belongs to this machine.
/data/training.db
/data/training.db-*
/data/.training.db-lock
"""

REQUIREMENTS = """# What CI runners install (tusk ci github): tusk, and the packages your train functions import.
# Pin them, so every runner trains with the same code.
{requirement}
"""


def _write_config(folder: Path, models: str, extra: str = "") -> str:
    """tusk.toml, .gitignore and requirements.txt; → why a CI runner could not install the tusk written into
    requirements.txt ("" when it can, or when the file was there already)."""
    from tusk._internal.dist import install_source

    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONFIG_NAME).write_text(TEMPLATE.format(image=_image_name(folder)) + models)
    _ignore(folder / ".gitignore")
    if (folder / "requirements.txt").exists():
        return ""
    source = install_source(extra)
    (folder / "requirements.txt").write_text(REQUIREMENTS.format(requirement=source.requirement))
    return source.warning


@dataclass(frozen=True)
class GitStart:
    """What ``tusk init`` did about git: the first commit it made (None when it made none) and why not."""

    commit: str | None
    note: str = ""


def start_repository(folder: Path) -> GitStart:
    """Make ``folder`` a git repository with a first commit of the project's files (tusk.toml, .gitignore,
    requirements.txt, the models' code and the example's data; the data store and .tusk/ are ignored), so that
    the first model's code is committed and ``tusk reproduce`` can check it out. Inside a repository already
    (that does not ignore the folder) nothing is done: the project's files are that repository's to commit. Never
    raises: no git, or a commit git refuses, is a note."""
    from tusk._internal.git import git, toplevel

    folder = folder.resolve()
    probe = git(folder, "--version")
    if probe is None or probe.returncode != 0:
        return GitStart(None, "git is not installed: the project is not a git repository (tusk reproduce needs one)")
    top = toplevel(folder)
    if top is not None:
        ignored = git(top, "check-ignore", "-q", str(folder))
        if ignored is None or ignored.returncode != 0:
            return GitStart(
                None,
                f"inside the git repository {top}: commit the project's files there (tusk reproduce needs them)",
            )
    made = git(folder, "init", "-q")
    if made is None or made.returncode != 0:
        return GitStart(None, f"git init failed: {_last_line(made)}")
    git(folder, "add", "-A")
    plain = ("-c", "commit.gpgsign=false")
    commit = git(folder, *plain, "commit", "-q", "--no-verify", "-m", INITIAL_COMMIT, timeout=60)
    if commit is not None and commit.returncode != 0 and "identity" in (commit.stderr + commit.stdout).lower():
        anonymous = ("-c", "user.name=tusk init", "-c", "user.email=tusk@localhost")  # no git identity set up
        commit = git(folder, *plain, *anonymous, "commit", "-q", "--no-verify", "-m", INITIAL_COMMIT, timeout=60)
    if commit is None or commit.returncode != 0:
        return GitStart(None, f"git repository made, but its first commit failed: {_last_line(commit)}")
    head = git(folder, "rev-parse", "HEAD")
    return GitStart(head.stdout.strip() if head is not None and head.returncode == 0 else None)


INITIAL_COMMIT = "tusk init: the project's config, code and requirements"


def _last_line(done: Any) -> str:
    text = ((done.stderr or done.stdout) if done is not None else "") or "no answer"
    return str(text).strip().splitlines()[-1] if str(text).strip() else "no answer"


def _ignore(path: Path) -> None:
    """Our lines in .gitignore: the whole file when there is none, else the ones it lacks."""
    if not path.exists():
        path.write_text(GITIGNORE)
        return
    text = path.read_text()
    have = {line.strip() for line in text.splitlines()}
    missing = [line for line in GITIGNORE.splitlines() if line.startswith("#") or line not in have]
    if any(not line.startswith("#") for line in missing):
        path.write_text(text + ("" if text.endswith("\n") or not text else "\n") + "\n".join(missing) + "\n")


def _image_name(folder: Path) -> str:
    name = "".join(c if c.isalnum() or c in "-_." else "-" for c in folder.name.lower()).strip("-.")
    return f"{name or 'tusk'}-models"


def create_stores(config_path: Path) -> None:
    from tusk.backends import open_store

    config = load_config(config_path)
    store = open_store(config.data.url, config)
    store.create()
    store.close()
    _create_tracking(config)


def _create_tracking(config: Config) -> None:
    from tusk.backends import backend_class

    (config.root / ".tusk").mkdir(exist_ok=True)
    tracker = backend_class("tracking", config.tracking.url)(config.tracking.url, config)
    if config.tracking.url.startswith("sqlite:"):
        url_path(config.tracking.url, config.root).parent.mkdir(parents=True, exist_ok=True)
    tracker.ensure_ready()


# ----- the intents example ---------------------------------------------------------------------------
CUSTOMERS = [
    "acme",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "stark",
    "wayne",
    "wonka",
    "tyrell",
    "cyberdyne",
    "soylent",
    "oscorp",
    "gringotts",
    "duff",
    "vandelay",
    "pied-piper",
    "dunder",
    "massive",
    "aperture",
    "monarch",
]
INTENTS = {
    "track_order": [
        "where is my {thing}",
        "track my {thing} please",
        "has my {thing} shipped yet",
        "when will the {thing} arrive",
        "status of order {n}",
    ],
    "cancel_order": [
        "cancel my {thing}",
        "i want to cancel order {n}",
        "please stop the {thing} order",
        "cancel the purchase of the {thing}",
        "i no longer want the {thing}",
    ],
    "refund": [
        "i want my money back for the {thing}",
        "refund order {n}",
        "how do i get a refund",
        "the {thing} was broken, refund please",
        "return the {thing} for a refund",
    ],
    "change_address": [
        "change my delivery address",
        "ship order {n} to a new address",
        "update the address for the {thing}",
        "i moved, new address please",
        "wrong address on order {n}",
    ],
    "opening_hours": [
        "when are you open",
        "what are your opening hours",
        "are you open on sunday",
        "what time do you close today",
        "opening times for the {thing} store",
    ],
    "speak_to_agent": [
        "let me talk to a human",
        "i want to speak to an agent",
        "connect me to support",
        "can a person call me about the {thing}",
        "real person please",
    ],
    "reset_password": [
        "i forgot my password",
        "reset my password",
        "cannot log in to my account",
        "locked out of my account",
        "send me a password reset link",
    ],
    "billing_question": [
        "why was i charged twice",
        "question about my invoice {n}",
        "explain this charge",
        "my bill for the {thing} is wrong",
        "when is my payment due",
    ],
}
THINGS = ["parcel", "laptop", "sofa", "bike", "phone", "order", "subscription", "jacket", "lamp", "printer"]


def intent_rows(per_intent: int = 15, seed: int = 7) -> list[tuple[int, str, str, str]]:
    """Deterministic synthetic utterances: every customer × intent, with customer-specific wording."""
    rng = random.Random(seed)
    rows: list[tuple[int, str, str, str]] = []
    for customer in CUSTOMERS:
        things = rng.sample(THINGS, 4)
        for intent, templates in INTENTS.items():
            for _ in range(per_intent):
                text = rng.choice(templates).format(thing=rng.choice(things), n=rng.randint(1000, 9999))
                if rng.random() < 0.3:
                    text = f"{rng.choice(['hi', 'hello', 'hey'])} {customer}, {text}"
                label = rng.choice(list(INTENTS)) if rng.random() < 0.08 else intent  # mislabelled by hand
                rows.append((len(rows) + 1, customer, text, label))
    return rows


def write_intents_example(folder: Path) -> None:
    _write_examples(folder, intent_rows())
    _copy_models(folder, "intents", ["intent.py"])


def write_adapters_example(folder: Path) -> None:
    """The data of ``adapter_rows``, a base model and a LoRA adapter per customer."""
    _write_examples(folder, adapter_rows())
    _copy_models(folder, "adapters", ["base.py", "adapter.py"])


def adapter_rows(customers: int = ADAPTER_CUSTOMERS) -> list[tuple[int, str, str, str]]:
    """The intents data of the first ``customers`` customers, each of which files one intent under another
    (acme's refunds are billing questions): what one shared model cannot know, and a customer's adapter learns."""
    intents = list(INTENTS)
    routes = {
        c: (intents[i % len(intents)], intents[(i + 3) % len(intents)]) for i, c in enumerate(CUSTOMERS[:customers])
    }
    rows = []
    for row_id, customer, text, label in intent_rows():
        if customer in routes:
            source, target = routes[customer]
            rows.append((row_id, customer, text, target if label == source else label))
    return rows


def _write_examples(folder: Path, rows: list[tuple[int, str, str, str]]) -> None:
    (folder / "data").mkdir(exist_ok=True)
    with (folder / "data" / "examples.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "customer", "text", "label"])
        writer.writerows(rows)


def _copy_models(folder: Path, example: str, files: list[str]) -> None:
    (folder / "models").mkdir(exist_ok=True)
    for name in files:
        with resources.as_file(resources.files("tusk") / "examples" / example / "models" / name) as path:
            shutil.copy(path, folder / "models" / name)
