"""The manifest ``{instance: version}`` of a release, its canonical JSON and its hashes. Pure: no I/O.

The canonical form is ``json.dumps(manifest, sort_keys=True, separators=(",", ":"))`` with versions as
strings; its md5 is the image tag (short, as in the article this design follows), its sha256 is recorded
beside it for integrity.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field


def normalise(manifest: Mapping[str, object]) -> dict[str, str]:
    return {str(name): str(version) for name, version in sorted(manifest.items())}


def canonical(manifest: Mapping[str, object]) -> str:
    return json.dumps(normalise(manifest), sort_keys=True, separators=(",", ":"))


def hashes(manifest: Mapping[str, object]) -> tuple[str, str]:
    """(md5, sha256) of the canonical JSON."""
    text = canonical(manifest).encode()
    return hashlib.md5(text).hexdigest(), hashlib.sha256(text).hexdigest()


@dataclass
class ManifestDiff:
    added: dict[str, str] = field(default_factory=dict)
    removed: dict[str, str] = field(default_factory=dict)
    changed: dict[str, tuple[str, str]] = field(default_factory=dict)  # name → (old, new)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def diff(old: Mapping[str, object], new: Mapping[str, object]) -> ManifestDiff:
    before, after = normalise(old), normalise(new)
    return ManifestDiff(
        added={n: v for n, v in after.items() if n not in before},
        removed={n: v for n, v in before.items() if n not in after},
        changed={n: (before[n], v) for n, v in after.items() if n in before and before[n] != v},
    )
