"""``tusk ci github``: a GitHub Actions workflow that plans, trains in shards, and releases.

Triggers: a push touching the project's config or code; ``workflow_dispatch`` (inputs: the data ref,
an ``only`` glob); ``repository_dispatch`` of type ``tusk-data-push`` (a webhook sent when data is pushed
to the shared remote, with ``client_payload.ref``). Jobs: plan (says whether there is work) → a matrix of
``tusk run --shard i/N`` on the given runner labels → ``tusk release create``. The output is
deterministic: the same project and options give the same bytes.

Each job installs tusk from the project's own ``requirements.txt`` (``tusk init`` writes one naming
tusk as it was installed: a git URL at its commit, a wheel, the index's version), or else that same requirement
of the tusk that wrote the workflow; one installed from a path on this machine is warned about. Runners share
nothing but what the workflow names, so a tracking store or data that only this machine has is warned about (in the
output and at the top of the file), or refused with ``strict``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tusk._internal.dist import DISTRIBUTION, install_source, requirement
from tusk._internal.git import relative_root
from tusk._internal.output import write_text
from tusk.core.config import Config, url_path
from tusk.errors import ConfigError

MAX_MATRIX = 256  # GitHub's limit of jobs per matrix
DISPATCH_TYPE = "tusk-data-push"
REQUIREMENTS = "requirements.txt"


@dataclass
class WrittenWorkflow:
    path: Path
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"workflow": str(self.path), "warnings": self.warnings}


def _paths(config: Config, root: str) -> list[str]:
    prefix = "" if root == "." else root + "/"
    globs = {"tusk.toml"}
    for spec in config.models:
        globs.update(spec.code or ([spec.train.rsplit(":", 1)[0]] if spec.train else []))
    return sorted(prefix + g for g in globs)


def install_command(config: Config) -> str:
    """The project's own requirements when it has them, else the tusk that writes the workflow, pinned."""
    if (config.root / REQUIREMENTS).is_file():
        return f"python3 -m pip install -r {REQUIREMENTS}"
    return f'python3 -m pip install "{requirement()}"'


def sharing_problems(config: Config, remotes: dict[str, str]) -> list[str]:
    """What runners on other machines could not share: a local tracking file, data with no remote."""
    problems = []
    tracking = config.tracking.url
    if tracking.startswith("sqlite:"):
        path = url_path(tracking, config.root).resolve()
        inside = path.is_relative_to(config.root.resolve())
        problems.append(
            f"tracking is a local SQLite file ({path}){' inside the project, not in git' if inside else ''}"
            ": runners on other machines cannot share it, so each would register its own versions"
            ' — use an MLflow server: [tracking] url = "http://HOST:5000"'
        )
    if "origin" not in remotes:
        problems.append(
            "the data has no shared remote named origin: runners get no training data (the data "
            "store is not in git) — tusk data remote add origin URL, then tusk data push"
        )
    return problems


def install_problems(config: Config) -> list[str]:
    """Why a runner could not install tusk the way the workflow says: requirements.txt naming tusk by a path on
    this machine, or (without requirements.txt) this tusk installed from one."""
    path = config.root / REQUIREMENTS
    if not path.is_file():
        warning = install_source().warning
        return [warning] if warning else []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        text = line.split("#", 1)[0].strip() if not line.lstrip().startswith("#") else ""
        if not text:
            continue
        local = "file:" in text or text.startswith(("-e .", "-e /", ".", "/", "~"))
        if local and (DISTRIBUTION in text or text.startswith(("-e", ".", "/", "~"))):
            return [
                f"{REQUIREMENTS} line {number} installs from a path on this machine ({text}): a CI runner cannot "
                f'reach it; name a git URL ("{DISTRIBUTION} @ git+https://…@COMMIT") or a wheel it can download'
            ]
    return []


def _data_step(config: Config, remotes: dict[str, str]) -> list[dict[str, Any]]:
    """With a shared remote, a fresh checkout clones the data; a kept workspace pulls it."""
    if "origin" not in remotes:
        return []
    store = url_path(config.data.url, config.root).resolve().relative_to(config.root.resolve()).as_posix()
    return [
        {
            "name": "Get the training data",
            "run": (
                f'[ -f "{store}" ] || tusk data clone "{remotes["origin"]}" .\n'
                "# a branch is pulled; a commit hash is found in the fetched history\n"
                'tusk data pull origin --branch "$TUSK_DATA_REF" || tusk data fetch origin\n'
            ),
        }
    ]


def workflow(
    config: Config,
    shards: int = 4,
    runs_on: list[str] | None = None,
    max_parallel: int | None = None,
    timeout_minutes: int = 360,
    install: str | None = None,
    remotes: dict[str, str] | None = None,
) -> dict[str, Any]:
    if not 1 <= shards <= MAX_MATRIX:
        raise ConfigError(f"--shards {shards}: GitHub runs at most {MAX_MATRIX} jobs per matrix")
    labels = list(runs_on or ["self-hosted"])
    plan_labels = [label for label in labels if label.lower() != "gpu"] or ["self-hosted"]
    root = relative_root(config.root)
    ref = "${{ github.event.inputs.data_ref || github.event.client_payload.ref || '" + config.data.branch + "' }}"
    remotes = dict(config.data.remotes) if remotes is None else remotes
    setup = [
        {"uses": "actions/checkout@v4"},
        {"name": "Install tusk", "run": install or install_command(config)},
        *_data_step(config, remotes),
    ]
    return {
        "name": "tusk",
        "on": {
            "push": {"paths": _paths(config, root)},
            "workflow_dispatch": {
                "inputs": {
                    "data_ref": {
                        "description": "Data branch, tag or commit to train from",
                        "required": False,
                        "default": config.data.branch,
                        "type": "string",
                    },
                    "only": {
                        "description": "Only instances matching this glob (empty: all)",
                        "required": False,
                        "default": "",
                        "type": "string",
                    },
                }
            },
            "repository_dispatch": {"types": [DISPATCH_TYPE]},
        },
        "concurrency": {"group": "tusk-${{ github.ref }}", "cancel-in-progress": False},
        "env": {
            "TUSK_DATA_REF": ref,
            "TUSK_ONLY": "${{ github.event.inputs.only || '' }}",
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        },
        "defaults": {"run": {"working-directory": root, "shell": "bash"}},
        "jobs": {
            "plan": {
                "runs-on": plan_labels,
                "timeout-minutes": 30,
                "outputs": {"work": "${{ steps.plan.outputs.work }}"},
                "steps": [
                    *setup,
                    {
                        "id": "plan",
                        "name": "Plan",
                        "run": (
                            'tusk plan --at "$TUSK_DATA_REF"\n'
                            'tusk plan --at "$TUSK_DATA_REF" --json > "$RUNNER_TEMP/plan.json"\n'
                            'python3 -c "import json,sys; d=json.load(open(sys.argv[1]));'
                            " print('work=%d' % sum(i['status'] in ('new','stale','reuse') for i in d['instances']))\""
                            ' "$RUNNER_TEMP/plan.json" >> "$GITHUB_OUTPUT"\n'
                        ),
                    },
                ],
            },
            "train": {
                "needs": "plan",
                "if": "needs.plan.outputs.work != '0'",
                "runs-on": labels,
                "timeout-minutes": timeout_minutes,
                "strategy": {
                    "fail-fast": False,
                    "max-parallel": max_parallel or shards,
                    "matrix": {"shard": list(range(1, shards + 1))},
                },
                "steps": [
                    *setup,
                    {
                        "name": "Train shard ${{ matrix.shard }} of " + str(shards),
                        "run": (
                            f'tusk run --at "$TUSK_DATA_REF" --shard "${{{{ matrix.shard }}}}/{shards}"'
                            ' ${TUSK_ONLY:+--only "$TUSK_ONLY"}\n'
                        ),
                    },
                ],
            },
            "release": {
                "needs": ["plan", "train"],
                "if": "needs.plan.outputs.work != '0' && needs.train.result == 'success'",
                "runs-on": plan_labels,
                "timeout-minutes": 60,
                "steps": [*setup, {"name": "Release", "run": "tusk release create\ntusk release current\n"}],
            },
        },
    }


def render(data: dict[str, Any], warnings: list[str] | None = None) -> str:
    import yaml

    class _Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:  # steps shared by jobs are written out, not as &anchors
            return True

    header = "# Written by `tusk ci github`; edit the options there and run it again.\n"
    header += "".join(f"# WARNING: {warning}\n" for warning in warnings or [])
    return header + yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=120, default_flow_style=False)


def write(
    config: Config,
    output: Path | None = None,
    remotes: dict[str, str] | None = None,
    strict: bool = False,
    **options: Any,
) -> tuple[Path, list[str]]:
    """Write the workflow; → (its path, what runners could not share). ``strict`` refuses those instead."""
    remotes = dict(config.data.remotes) if remotes is None else remotes
    warnings = sharing_problems(config, remotes)
    if strict and warnings:
        raise ConfigError(f"{warnings[0]} (--strict; {len(warnings)} problem(s), nothing written)")
    warnings += install_problems(config)  # said, not refused: the requirement is the project's to change
    data = workflow(config, remotes=remotes, **options)
    path = output or config.root / ".github" / "workflows" / "tusk.yml"
    write_text(path, render(data, warnings))  # a regular file, written whole (a link or a FIFO is refused)
    return path, warnings
