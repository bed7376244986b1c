"""A review's title, description, status and comments: kept in the data store, never in the data's history.

Decision: the conversation lives on a branch of its own, ``tusk-reviews`` (``META``), in the same doltlite store:
two tusk-owned tables, ``tusk_reviews`` (branch → title, description, status, author, times, and how it was
merged) and ``tusk_review_comments`` (one row per comment, approval, close, reopen or merge, keyed by a random id
so that two people's comments never conflict). That branch starts at the store's first commit and is never merged
into a data branch, so a comment is never a commit of the review branch, and merging a review brings its rows
only: the data branch's ``data log`` is data changes (DoltHub keeps pull-request comments outside the data in the
same way). It travels with the store: ``tusk data push`` sends it beside the branch pushed (merging the remote's
copy first when both moved: comments by id, a review's row by its newest ``updated``), and a fetched
``<remote>/tusk-reviews`` is read together with the local one, so a second clone sees the conversation after
``tusk data fetch`` or ``pull``. One write is one commit on ``tusk-reviews``: a write killed half-way leaves the
old state or the new one.

Stores written by older tusk kept these tables on the review branch itself (and, once merged or approved, on
the data branch): ``OWN_TABLES`` are still hidden from diffs and checks wherever the history holds them, and
their rows are still read as the review's conversation.

The tables are the data store's business: it reads them (``DataStore.review_records``, ``review_comments``) and
writes them in a transaction (``Transaction.put_review``, ``add_review_comments``); this module says what to write
and when, in no backend's SQL.

Status: ``open`` or ``closed`` as written; ``merged`` whenever the data branch holds every commit of the branch,
or, for a review whose branch is gone, as recorded when tusk merged it (with who merged it, when, the merge
commit and the data branch's head before it).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tusk._internal.crash import crash_point
from tusk.data.base import COMMENTS_TABLE, REVIEW_FIELDS, REVIEWS_TABLE, DataStore, SupportsRemotes
from tusk.data.base import ReviewComment as Comment
from tusk.data.names import META_BRANCH
from tusk.errors import DataError, TuskError

if TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from pathlib import Path

    from tusk.data.base import Transaction
    from tusk.ports import Ports

REVIEWS = REVIEWS_TABLE  # the store keeps them (DataStore.review_records, Transaction.put_review...)
COMMENTS = COMMENTS_TABLE
OWN_TABLES = (REVIEWS, COMMENTS)  # the conversation, never a change: hidden from reviews and diffs
META = META_BRANCH  # "tusk-reviews": the branch the conversation lives on: never merged into a data branch
KINDS = ("comment", "approve", "close", "reopen", "edit", "merge")
TEXT_MAX = 20_000
_COLUMNS = REVIEW_FIELDS


@dataclass
class ReviewMeta:
    branch: str
    title: str
    description: str
    status: str  # open | closed | merged
    author: str = ""
    created: str = ""
    updated: str = ""
    comments: list[Comment] = field(default_factory=list)
    merged_by: str = ""  # as recorded when tusk merged it
    merged_at: str = ""
    merge_commit: str = ""
    merged_from: str = ""  # the data branch's head before the merge: what the merge brought is merged_from..commit

    def to_json(self) -> dict[str, Any]:
        return {
            "branch": self.branch,
            "title": self.title,
            "description": self.description,
            "status": self.status,
            "author": self.author,
            "created": self.created,
            "updated": self.updated,
            "merged_by": self.merged_by,
            "merged_at": self.merged_at,
            "merge_commit": self.merge_commit,
            "merged_from": self.merged_from,
            "comments": [c.to_json() for c in self.comments],
        }


def now(precise: bool = False) -> str:
    """UTC as ISO text; ``precise``: to the microsecond, as comments are ordered by their time (a close and a sync's
    reopening, or two quick comments, often fall in the same second; ordered by their random ids they swapped)."""
    return datetime.now(UTC).isoformat(timespec="microseconds" if precise else "seconds")


# ----- reading: the local tusk-reviews, the remotes' copies, and (older stores) the branches themselves ----------
def meta_refs(store: DataStore) -> list[str]:
    """Where the conversation is read from: the local ``tusk-reviews`` and every fetched ``<remote>/tusk-reviews``."""
    refs = [META] if any(b.name == META for b in store.branches()) else []
    if isinstance(store, SupportsRemotes):
        refs += [b.name for b in store.remote_branches() if b.name.endswith("/" + META)]
    return refs


def _rows(store: DataStore, ref: str, branch: str | None) -> dict[str, dict[str, str]]:
    return store.review_records(ref, branch)


def records(store: DataStore, branch: str | None = None, legacy: list[str] | None = None) -> dict[str, dict[str, str]]:
    """branch → its review's row (the newest ``updated`` of every copy read), for one review or all."""
    found: dict[str, dict[str, str]] = {}
    for ref in [*meta_refs(store), *(legacy or [])]:
        for name, row in _rows(store, ref, branch).items():
            if name not in found or row.get("updated", "") > found[name].get("updated", ""):
                found[name] = row
    return found


def _comments(store: DataStore, refs: list[str], branch: str) -> list[Comment]:
    found: dict[str, Comment] = {}
    for ref in refs:
        for comment in store.review_comments(ref, branch):
            found.setdefault(comment.id, comment)
    return sorted(found.values(), key=lambda c: (c.time, c.id))


def _legacy(store: DataStore, branch: str, into: str) -> list[str]:
    """Older stores kept the conversation on the review branch (and, once merged, on the data branch)."""
    return [r for r in (branch, into) if _known(store, r)]


def _local(store: DataStore, branch: str) -> bool:
    return any(b.name == branch for b in store.branches())


def read(project: Ports, branch: str) -> ReviewMeta:
    """The review's record and every comment, wherever they are kept; its status as it stands."""
    store = project.data
    into = project.config.data.branch
    legacy = _legacy(store, branch, into)
    row = records(store, branch, legacy).get(branch)
    comments = _comments(store, [*meta_refs(store), *legacy], branch)
    exists = branch not in (into, META) and _local(store, branch)
    if row is None and not comments and not exists:
        if branch not in legacy:
            raise DataError(f"no review {branch!r}: no such branch, and no record of a review of that name")
        raise DataError(f"{branch!r} is not a review branch (the data branch is {into!r})")
    row = row or {}
    meta = ReviewMeta(
        branch,
        row.get("title", ""),
        row.get("description", ""),
        "open",
        row.get("author", ""),
        row.get("created", ""),
        row.get("updated", ""),
        comments,
        row.get("merged_by", ""),
        row.get("merged_at", ""),
        row.get("merge_commit", ""),
        row.get("merged_from", ""),
    )
    meta.status = status_of(store, into, branch, row.get("status", ""), exists)
    return meta


def status_of(store: DataStore, into: str, branch: str, written: str, exists: bool) -> str:
    """merged when the data branch holds the branch's every commit; else closed as written, or open (a branch
    merged once that has new commits is a new round: open). A review whose branch is gone: as recorded."""
    if not exists:
        return written or "open"
    head = store.resolve(branch)
    if store.merge_base(head, store.resolve(into)) == head:
        return "merged"
    return "closed" if written == "closed" else "open"


def _known(store: DataStore, ref: str) -> bool:
    try:
        store.resolve(ref)
        return True
    except TuskError:
        return False


# ----- writing: one commit on tusk-reviews per change ------------------------------------------------------------
def _start(store: DataStore) -> str:
    """Where ``tusk-reviews`` starts when this store has none yet: a remote's copy, else the store's first commit
    (which holds no table: the branch holds the conversation and nothing else)."""
    remote = [ref for ref in meta_refs(store) if ref != META]
    if remote:
        return str(store.resolve(remote[0]))
    return str(store.log(store.default_branch)[-1].hash)


def writer(store: DataStore) -> AbstractContextManager[Transaction]:
    """The one write of a change to the conversation: a transaction on ``tusk-reviews`` (made first if missing)."""
    return store.writer(META, create_at=None if _local(store, META) else _start(store))


def add_comment(tx: Transaction, branch: str, kind: str, author: str, text: str) -> Comment:
    comment = Comment(secrets.token_hex(8), branch, kind, author, now(precise=True), text)
    tx.add_review_comments([comment])
    return comment


def note(store: DataStore, branch: str, kind: str, author: str, text: str) -> str | None:
    """One comment (an approval's note), as its own commit on ``tusk-reviews`` → the commit."""
    with writer(store) as conn:
        add_comment(conn, branch, kind, author, text)
        return commit_write(conn, f"review {branch}: {kind} by {author}")


def reopen_closed(store: DataStore, branch: str, who: str, text: str) -> bool:
    """A review closed without merging opens again, saying why as a ``reopen`` comment → whether it was closed.
    New content for it is a new proposal to review: left closed, the next round would be hidden from the
    reviewers who closed the last."""
    row = records(store, branch).get(branch)
    if row is None or row.get("status") != "closed":
        return False
    with writer(store) as conn:
        conn.put_review({**row, "status": "open", "updated": now()})
        add_comment(conn, branch, "reopen", who, text)
        commit_write(conn, f"review {branch}: reopened by {who}")
    return True


def record_merge(project: Ports, branch: str, commit: str, before: str, who: str, how: str) -> None:
    """What tusk merged: the review's status ``merged``, by whom, when, the merge commit and the data branch's head
    before it, and a ``merge`` comment saying so, as one commit on ``tusk-reviews``."""
    store = project.data
    into = project.config.data.branch
    row = records(store, branch, _legacy(store, branch, into)).get(branch) or {}
    stamp = now()
    values = {
        **row,
        "branch": branch,
        "status": "merged",
        "author": row.get("author") or who,
        "created": row.get("created") or stamp,
        "updated": stamp,
        "merged_by": who,
        "merged_at": stamp,
        "merge_commit": commit,
        "merged_from": before,
    }
    with writer(store) as conn:
        conn.put_review(values)
        add_comment(conn, branch, "merge", who, f"merged into {into} as {commit[:7]} ({how})")
        commit_write(conn, f"review {branch}: merged by {who}")


def commit_write(tx: Transaction, message: str) -> str | None:
    """The write's one commit (the store's Transaction commits itself) → the commit, None if nothing changed."""
    return tx.commit(message)


def update(
    project: Ports,
    branch: str,
    who: str,
    *,
    title: str | None = None,
    description: str | None = None,
    status: str | None = None,
    comment: str | None = None,
    kind: str = "comment",
    expect_head: str | None = None,
) -> tuple[ReviewMeta, str]:
    """Write the review's record (and a comment) as one commit on ``tusk-reviews`` → (the new record, commit).
    The review branch does not move. ``expect_head``: refuse if the branch moved since the page showed it."""
    store = project.data
    into = project.config.data.branch
    local = branch not in (into, META) and _local(store, branch)
    row = records(store, branch, _legacy(store, branch, into)).get(branch)
    if branch in (into, META) or (not local and row is None):
        raise DataError(f"{branch!r} is not a local review branch (the data branch is {into!r})")
    if expect_head and local and store.resolve(branch) != store.resolve(expect_head):
        raise DataError(
            f"{branch} moved since the page showed it ({expect_head[:7]} → "
            f"{store.resolve(branch)[:7]}): reload the review and try again"
        )
    for name, value in (("title", title), ("description", description), ("comment", comment)):
        if value is not None and len(value) > TEXT_MAX:
            raise TuskError(f"the {name} is too long ({len(value):,} characters, at most {TEXT_MAX:,})")
    if title is not None and not title.strip():
        raise TuskError("a review's title cannot be empty")
    if comment is not None and not comment.strip():
        raise TuskError("an empty comment says nothing")
    if status is not None and status not in ("open", "closed"):
        raise TuskError(f"a review's status is open or closed, not {status!r}")
    if kind not in KINDS:
        raise TuskError(f"unknown kind of comment {kind!r}")
    stamp = now()
    old = row or {}
    values = {
        **old,
        "branch": branch,
        "title": title if title is not None else old.get("title", ""),
        "description": description if description is not None else old.get("description", ""),
        "status": status or old.get("status") or "open",
        "author": old.get("author") or who,
        "created": old.get("created") or stamp,
        "updated": stamp,
    }
    what = []
    if title is not None or description is not None:
        what.append("edited")
    if status is not None:
        what.append(status)
    with writer(store) as conn:
        conn.put_review(values)
        if comment is not None:
            add_comment(conn, branch, kind, who, comment.strip())
            what.append(kind)
        crash_point("review.write")  # killed here: nothing kept (the transaction never committed)
        commit = commit_write(conn, f"review {branch}: {', '.join(what) or 'updated'} by {who}")
    crash_point("review.written")  # killed here: the whole write kept
    return read(project, branch), commit or store.resolve(META)


# ----- upgrade: a store older tusk wrote kept the conversation on the branches ----------------------------------
UPGRADED = "reviews-upgraded"  # the marker in .tusk/: the upgrade is done, later opens do not look again


def upgrade(store: DataStore, into: str, state_dir: Path) -> bool:
    """Move the conversation older tusk kept in tables on the branches to ``tusk-reviews`` → whether it looked.

    Once per project (the marker ``.tusk/reviews-upgraded``, written last). 1. Copy every branch's rows to
    ``tusk-reviews`` as one commit: comments by id, a review's row by its newest ``updated`` (kept when the
    local copy is newer); a review whose branch is gone and whose row the data branch holds was merged. 2. Drop the
    tables, one commit per branch, from the data branch and from every branch not merged into it. A merged
    branch is left as it is: a commit on it would make it look unmerged (a new round); its tables stay in its
    history, hidden from diffs as ``OWN_TABLES``, and never come back to the data branch (both sides of a later
    merge dropped them, or the branch never changes them again). 3. The marker. Each step can be redone: a kill
    anywhere leaves the next open to finish (a copy adds nothing twice; a branch without the tables is skipped).
    """
    marker = state_dir / UPGRADED
    if marker.exists():
        return False
    names = [
        b.name for b in store.branches() if b.name != META and not b.name.startswith(("tusk-preview/", "tusk-sync/"))
    ]
    legacy = [name for name in names if set(OWN_TABLES) & set(store.tables(name))]
    if legacy:
        _copy_legacy(store, into, legacy, set(names))
        crash_point("review.upgrade.copied")
        into_head = store.resolve(into) if into in names else None
        for name in legacy:
            merged = (
                name != into
                and into_head is not None
                and store.merge_base(store.resolve(name), into_head) == store.resolve(name)
            )
            if merged:
                continue
            with store.writer(name) as conn:
                for table in OWN_TABLES:
                    conn.drop_table(table)
                conn.commit("tusk: the reviews' conversation moved to the tusk-reviews branch (not data)")
            crash_point("review.upgrade.dropped")
    marker.write_text("the reviews' conversation lives on tusk-reviews (review_meta.upgrade)\n")
    return True


def _copy_legacy(store: DataStore, into: str, legacy: list[str], branches: set[str]) -> None:
    found: dict[str, dict[str, str]] = {}
    for ref in legacy:
        for name, row in _rows(store, ref, None).items():
            if ref == into and name not in branches and row.get("status") != "closed":
                row = {**row, "status": "merged"}  # its rows reached the data branch and its branch is gone
            if name not in found or row.get("updated", "") > found[name].get("updated", ""):
                found[name] = row
    mine = records(store) if _local(store, META) else {}
    with writer(store) as conn:
        for name, row in found.items():
            if name not in mine or row.get("updated", "") > mine[name].get("updated", ""):
                conn.put_review({**mine.get(name, {}), **row, "branch": name})
        for ref in legacy:
            conn.add_review_comments(store.review_comments(ref))
        commit_write(conn, "tusk: the reviews' conversation copied from the branches (upgrade)")


# ----- sharing: tusk-reviews travels beside the branches pushed and pulled ------------------------------------
def _newest(conflicts: list[dict[str, Any]]) -> list[str]:
    """Two copies of one review's row: the one updated last wins (a comment never conflicts: random ids)."""
    return [
        "theirs"
        if c["theirs"] and c["ours"] and str(c["theirs"].get("updated") or "") > str(c["ours"].get("updated") or "")
        else "ours"
        for c in conflicts
    ]


def take_remote(store: SupportsRemotes, remote: str) -> None:
    """Bring the fetched ``<remote>/tusk-reviews`` into the local one (made from it when missing)."""
    theirs = f"{remote}/{META}"
    if not isinstance(store, DataStore) or theirs not in meta_refs(store):
        return
    if not _local(store, META):
        store.move_branch(META, store.resolve(theirs))
        return
    store.merge(theirs, META, f"Merge {theirs} into {META}", resolve=_newest)


def push(store: SupportsRemotes, remote: str) -> None:
    """Send ``tusk-reviews`` to ``remote`` beside a branch pushed; when the remote's copy moved too, merge it first."""
    if not isinstance(store, DataStore) or not _local(store, META):
        return
    try:
        store.push(remote, META)
    except DataError:
        store.fetch(remote)
        take_remote(store, remote)
        store.push(remote, META)


@dataclass
class ReviewRow:
    """A review in a list: its summary (``tusk review list``), its title and status (open, closed, merged)."""

    summary: Any  # tusk.review.summary.ReviewSummary
    title: str
    status: str

    def to_json(self) -> dict[str, Any]:
        return {**self.summary.to_json(), "title": self.title, "status": self.status}


def listing(project: Ports, found: list[Any], gone: bool = False) -> list[ReviewRow]:
    """Every review of ``tusk review list`` with its title (else its newest commit's message) and status; ``gone``:
    also the reviews whose branch was deleted (merged or closed), from their record."""
    from tusk.review.summary import ReviewSummary

    store = project.data
    into = project.config.data.branch
    recs = records(store, None, [r for r in [into, *(r.branch for r in found if not r.merged)] if _known(store, r)])
    rows = []
    for r in found:
        rec = recs.get(r.branch, {})
        status = "merged" if r.merged else ("closed" if rec.get("status") == "closed" else "open")
        rows.append(ReviewRow(r, rec.get("title") or (r.message.splitlines()[0] if r.message else r.branch), status))
    if gone:
        listed = {r.branch for r in found} | {into, META}
        for name, rec in sorted(recs.items(), key=lambda item: item[1].get("updated", ""), reverse=True):
            if name in listed:
                continue
            summary = ReviewSummary(
                name,
                rec.get("merge_commit", ""),
                rec.get("merged_from", ""),
                rec.get("status") == "merged",
                0,
                rec.get("title", ""),
                rec.get("updated", ""),
            )
            rows.append(ReviewRow(summary, rec.get("title") or name, rec.get("status") or "open"))
    return rows
