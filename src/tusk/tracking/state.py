"""Where an instance's state lives in a model registry, and how it is read back after a crash.

Registering a trained instance takes several registry calls (create the model, create the version, move
the production alias), and a process can be killed between any two. So the state is written where it
cannot be half-done:

- each **version** carries, in its own ``tusk.state`` tag, the state it makes current (written by the
  same call that creates the version: a version without its state cannot exist);
- the **registered model**'s ``tusk.state`` tag (the *pointer*) is written only by moves that create no
  version (reuse, promote, rollback), and says up to which version it has seen (``latest``).

Reading: the instance's state is the pointer when it has seen the newest version, else the newest
version's own state. A pointer naming a version that does not exist (a *phantom*, left by a model created
just before a kill) is ignored. A version whose production alias was never set (killed after creating it)
is *unfinished*; ``MlflowTracker.recover`` sets the alias, so the next command finishes the job instead of
training it twice. Nothing here does I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from tusk.core.promote import pushed
from tusk.tracking.base import InstanceState

MAX_FINGERPRINTS = 500


@dataclass
class RegistryView:
    """What one pass over the registry returns for every model."""

    pointers: dict[str, str] = field(default_factory=dict)  # name → the registered model's tusk.state tag
    newest: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # name → (the newest version with a
    # tusk.state tag, that tag); a review's candidate versions carry none and never become current
    aliases: dict[str, str] = field(default_factory=dict)  # name → production version
    top: dict[str, str] = field(default_factory=dict)  # name → the newest version of any kind


@dataclass
class Unfinished:
    """A version registered without its production alias (the registration was killed half-way)."""

    name: str
    version: str
    alias_before: str | None  # where production pointed when the registration began


@dataclass
class Resolved:
    states: dict[str, InstanceState]
    unfinished: list[Unfinished]
    phantoms: dict[str, str]  # name → the version its pointer names, which does not exist


def version_state(state: InstanceState, previous: InstanceState | None, promote: bool) -> str:
    """The ``tusk.state`` tag of the version about to be created for ``state`` (its number is not known yet:
    the reader fills it in)."""
    carried = previous or InstanceState(name=state.name, version="", fingerprint="", data_commit="")
    data = state.to_json()
    data.update(
        version="",
        latest="",
        fingerprints=dict(carried.fingerprints),
        production=list(carried.production),
        promote=promote,
    )
    return json.dumps(data, sort_keys=True)


def from_version(text: str, version: str) -> tuple[InstanceState, bool] | None:
    """The state a version made current, and whether it was to be promoted; None if unreadable."""
    try:
        data = json.loads(text)
        state = InstanceState.from_json(data)
    except (ValueError, TypeError):
        return None
    promote = bool(data.get("promote"))
    advance(state, version, promote)
    return state, promote


def advance(state: InstanceState, version: str, promote: bool) -> None:
    """``state`` becomes version ``version`` (its fingerprint recorded; production history if promoted)."""
    state.version = state.latest = version
    state.fingerprints = trim({**state.fingerprints, state.fingerprint: version})
    if promote:
        state.production = pushed(state.production, version)


def pointer_json(state: InstanceState) -> str:
    return json.dumps(state.to_json(), sort_keys=True)


def _pointer(text: str | None) -> InstanceState | None:
    if not text:
        return None
    try:
        return InstanceState.from_json(json.loads(text))
    except (ValueError, TypeError):
        return None  # not a tusk model, or a damaged tag: planned as new


def _number(text: str | None) -> int:
    return int(text) if text and text.isdigit() else 0


def resolve(view: RegistryView, states_too: bool = True) -> Resolved:
    """Every instance's state, and what a crash left (unfinished registrations, phantom pointers). Without
    ``states_too`` only the latter are sure (what ``recover`` asks): a newest version that already holds the
    production alias is finished, so its state is not parsed (the JSON of 10,000 states is most of the cost)."""
    states: dict[str, InstanceState] = {}
    unfinished: list[Unfinished] = []
    phantoms: dict[str, str] = {}
    for name in sorted(set(view.pointers) | set(view.newest) | set(view.top)):
        pointer = _pointer(view.pointers.get(name))
        newest_version, newest_state = view.newest.get(name, (None, None))
        newest = _number(newest_version)
        if pointer is not None and not 0 < _number(pointer.version) <= _number(view.top.get(name)):
            phantoms[name] = pointer.version
            pointer = None
        seen = _number(pointer.latest or pointer.version) if pointer else 0
        if pointer is not None and seen >= newest:
            states[name] = pointer
            continue
        if not states_too and view.aliases.get(name) == str(newest):
            continue
        derived = from_version(newest_state, str(newest)) if newest_state else None
        if derived is None:
            if pointer is not None:  # versions from before states were kept on versions
                states[name] = pointer
            continue
        state, promote = derived
        states[name] = state
        if promote and view.aliases.get(name) != state.version:
            before = state.production[-2] if len(state.production) > 1 else None
            unfinished.append(Unfinished(name, state.version, before))
    return Resolved(states, unfinished, phantoms)


def trim(fingerprints: Mapping[str, str]) -> dict[str, str]:
    if len(fingerprints) <= MAX_FINGERPRINTS:
        return dict(fingerprints)
    items = sorted(fingerprints.items(), key=lambda kv: int(kv[1]) if kv[1].isdigit() else 0)
    return dict(items[-MAX_FINGERPRINTS:])
