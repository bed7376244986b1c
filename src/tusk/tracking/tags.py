"""Every tag name tusk writes into a tracker, in one place. Pure: names and tiny helpers, no I/O.

On each **model version** (and its run) of an instance, written by ``tusk run``::

    tusk.instance, tusk.spec, tusk.fingerprint, tusk.data_commit, tusk.code_commit, tusk.code_dirty,
    tusk.code_digest, tusk.params, tusk.seconds, tusk.attempts, tusk.device, tusk.cpus, tusk.gpus,
    tusk.executor, tusk.inputs.<name>.digest, tusk.inputs.<name>.rows, tusk.state, tusk.not_promoted,
    tusk.needs.<name> (a model it needs: "base@3"; its input digest is that version's fingerprint)

A review's **candidate** also carries ``tusk.candidate``, ``tusk.review``, ``tusk.review_head`` and
``tusk.review_base``. A **reproduction** run carries ``tusk.reproduces`` (the original run),
``tusk.reproduces.version`` and ``tusk.fingerprint_equal``. On the **registered model**: ``tusk.state`` (the
instance's current state, JSON) and ``tusk.candidates``. A **release** (a version of ``tusk-release``) carries
the ``tusk.release.*`` tags below; a **release event** (a run in ``tusk-releases``) ``tusk.release.event``,
``tusk.release.md5`` and ``tusk.release.from``.
"""

from __future__ import annotations

PREFIX = "tusk."

# a trained version
INSTANCE = "tusk.instance"
SPEC = "tusk.spec"
FINGERPRINT = "tusk.fingerprint"
DATA_COMMIT = "tusk.data_commit"
CODE_COMMIT = "tusk.code_commit"
CODE_DIRTY = "tusk.code_dirty"
CODE_DIGEST = "tusk.code_digest"
PARAMS = "tusk.params"
SECONDS = "tusk.seconds"
ATTEMPTS = "tusk.attempts"
DEVICE = "tusk.device"
CPUS = "tusk.cpus"
GPUS = "tusk.gpus"
EXECUTOR = "tusk.executor"
NOT_PROMOTED = "tusk.not_promoted"
ERROR = "tusk.error"  # on a FAILED run: the last line of the job's error
OWNER = "tusk.owner"  # on a run: host:pid of the tusk process that made it (an abandoned RUNNING run is told apart)
INPUTS_PREFIX = "tusk.inputs."
NEEDS_PREFIX = "tusk.needs."  # tusk.needs.<name> = "base@3": the version of a needed model it trained against

# the instance's state: on the registered model (its pointer) and on each version it made current
STATE = "tusk.state"
CANDIDATES = "tusk.candidates"

# a review's candidate version
CANDIDATE = "tusk.candidate"
REVIEW = "tusk.review"
REVIEW_HEAD = "tusk.review_head"
REVIEW_BASE = "tusk.review_base"

# a reproduction's run
REPRODUCES = "tusk.reproduces"
REPRODUCES_VERSION = "tusk.reproduces.version"
FINGERPRINT_EQUAL = "tusk.fingerprint_equal"

# a release (a version of the registered model tusk-release) and its events (runs in tusk-releases)
RELEASE_MD5 = "tusk.release.md5"
RELEASE_SHA256 = "tusk.release.sha256"
RELEASE_IMAGE = "tusk.release.image"
RELEASE_MODELS = "tusk.release.models"
RELEASE_BUILT = "tusk.release.built"
RELEASE_MANIFEST = "tusk.release.manifest"
RELEASE_EVENT = "tusk.release.event"
RELEASE_FROM = "tusk.release.from"
RELEASE_VERDICT = "tusk.release.verdict"  # a verified event: ok | failed
RELEASE_VERIFIED_BY = "tusk.release.verified_by"  # context | podman | docker
RELEASE_VERIFY_DETAIL = "tusk.release.verify_detail"  # what failed, in a line

# MLflow's own tags, which tusk sets so that MLflow's UI shows them
USER = "mlflow.user"
SOURCE_TYPE = "mlflow.source.type"
SOURCE_NAME = "mlflow.source.name"
SOURCE_GIT_COMMIT = "mlflow.source.git.commit"


def input_digest(name: str) -> str:
    """``tusk.inputs.<name>.digest``: the digest of the rows input ``name`` read."""
    return f"{INPUTS_PREFIX}{name}.digest"


def input_rows(name: str) -> str:
    """``tusk.inputs.<name>.rows``: how many rows input ``name`` read."""
    return f"{INPUTS_PREFIX}{name}.rows"


def inputs_of(tags: dict[str, str]) -> dict[str, dict[str, str]]:
    """``{input: {"digest", "rows"}}`` from a version's tags."""
    found = {}
    for key, value in tags.items():
        if key.startswith(INPUTS_PREFIX) and key.endswith(".digest"):
            name = key[len(INPUTS_PREFIX) : -len(".digest")]
            found[name] = {"digest": value, "rows": tags.get(input_rows(name), "")}
    return found


def need(name: str) -> str:
    """``tusk.needs.<name>``: ``"base@3"``, the version of the needed model ``name`` the version trained against."""
    return f"{NEEDS_PREFIX}{name}"


def needs_of(tags: dict[str, str]) -> dict[str, tuple[str, str]]:
    """``{need: (model, version)}`` from a version's tags."""
    found = {}
    for key, value in tags.items():
        if key.startswith(NEEDS_PREFIX) and "@" in value:
            model, _, version = value.rpartition("@")
            found[key[len(NEEDS_PREFIX) :]] = (model, version)
    return found
