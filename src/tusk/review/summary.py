"""A review in ``tusk review list``: its branch, heads and newest commit. Apart from ``reviews`` (which lists them)
so that ``review.meta``, which adds their title and status, imports it without an import cycle."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class ReviewSummary:
    branch: str
    head: str
    merge_base: str
    merged: bool  # the data branch already has every commit of the branch
    commits: int  # commits on the branch since it left the data branch
    message: str  # its newest commit's message
    date: str
    source: str | None = None  # the [[sources]] entry a sync/<name> branch belongs to

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)
