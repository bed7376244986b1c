"""A review's title, description, status and comments, kept in the data store so that they travel with the data.

Decision: two tusk-owned tables (like ``tusk_sources``), written **on the review branch itself**, one commit
per change: ``tusk_reviews`` (branch → title, description, status, author, times) and
``tusk_review_comments`` (one row per comment, approval or close, keyed by a random id so that two people's
comments never conflict). Why the review branch: it is what a reviewer pushes, pulls and fetches, so the
conversation goes wherever the rows go (a second clone sees it after ``tusk data pull``/``fetch``); merging
the review keeps the conversation on the data branch as its record; and the data branch does not move (a
comment written there would turn every review's fast-forward into a merge). The two tables are tusk's
bookkeeping: the review page shows them as the conversation, never as changed rows, and no check counts them.

An approval per model is a commit on the data branch (the rows it accepts); its comment row goes into that
same commit, so the approval is recorded where its rows are. The review page reads comments from both.

Status: ``open`` or ``closed`` as written; ``merged`` whenever the data branch holds every commit of the
branch (nothing is written for that: it is a fact of the history).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from tusk.errors import DataError, TuskError

if TYPE_CHECKING:
    from tusk.ports import Ports

REVIEWS = "tusk_reviews"
COMMENTS = "tusk_review_comments"
OWN_TABLES = (REVIEWS, COMMENTS)  # the conversation, never a change: hidden from reviews and diffs
KINDS = ("comment", "approve", "close", "reopen", "edit")
TEXT_MAX = 20_000


@dataclass
class Comment:
    id: str
    branch: str
    kind: str  # comment | approve | close | reopen | edit
    author: str
    time: str
    text: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


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

    def to_json(self) -> dict[str, Any]:
        return {"branch": self.branch, "title": self.title, "description": self.description,
                "status": self.status, "author": self.author, "created": self.created, "updated": self.updated,
                "comments": [c.to_json() for c in self.comments]}


def now(precise: bool = False) -> str:
    """UTC as ISO text; ``precise``: to the microsecond, as comments are ordered by their time (a close and a sync's
    reopening, or two quick comments, often fall in the same second; ordered by their random ids they swapped)."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds" if precise else "seconds")


def _row(store: Any, ref: str, branch: str) -> tuple[Any, ...] | None:
    if REVIEWS not in store.tables(ref):
        return None
    found = store.query(f"SELECT title, description, status, author, created, updated FROM {REVIEWS} "
                        f"WHERE branch = ?", [branch], ref=ref).rows
    return tuple(found[0]) if found else None


def _comments(store: Any, ref: str, branch: str) -> list[Comment]:
    if COMMENTS not in store.tables(ref):
        return []
    rows = store.query(f"SELECT id, branch, kind, author, time, text FROM {COMMENTS} WHERE branch = ?", [branch],
                       ref=ref).rows
    return [Comment(*(str(v or "") for v in row)) for row in rows]


def read(project: "Ports", branch: str, merged: bool = False) -> ReviewMeta:
    """The review's metadata at its head (the data branch's copy once the branch is gone) and every comment
    from the branch and the data branch."""
    store = project.data
    into = project.config.data.branch
    refs = [r for r in (branch, into) if _known(store, r)]
    if not refs:
        raise DataError(f"unknown branch {branch!r}")
    row = next((found for found in (_row(store, r, branch) for r in refs) if found), None)
    comments: dict[str, Comment] = {}
    for ref in refs:
        for comment in _comments(store, ref, branch):
            comments.setdefault(comment.id, comment)
    ordered = sorted(comments.values(), key=lambda c: (c.time, c.id))
    if row is None and not ordered and branch not in refs:
        raise DataError(f"no review {branch!r}: no such branch, and the data branch {into!r} holds no record of it")
    if row is None:
        meta = ReviewMeta(branch, "", "", "open")
    else:
        title, description, status, author, created, updated = (str(v or "") for v in row)
        meta = ReviewMeta(branch, title, description, status or "open", author, created, updated)
    meta.comments = ordered
    if merged:
        meta.status = "merged"
    return meta


def _known(store: Any, ref: str) -> bool:
    try:
        store.resolve(ref)
        return True
    except TuskError:
        return False


def summaries(project: "Ports", branches: list[str]) -> dict[str, tuple[str, str]]:
    """branch → (title, written status) for many reviews: one query per branch head."""
    store = project.data
    found = {}
    for branch in branches:
        row = _row(store, branch, branch)
        if row is not None:
            found[branch] = (str(row[0] or ""), str(row[2] or "open"))
    return found


def ensure_tables(conn: Any) -> None:
    conn.execute(f"CREATE TABLE IF NOT EXISTS {REVIEWS} (branch TEXT NOT NULL PRIMARY KEY, title TEXT, "
                 "description TEXT, status TEXT, author TEXT, created TEXT, updated TEXT)")
    conn.execute(f"CREATE TABLE IF NOT EXISTS {COMMENTS} (id TEXT NOT NULL PRIMARY KEY, branch TEXT, kind TEXT, "
                 "author TEXT, time TEXT, text TEXT)")


def carry(store: Any, old_head: str, branch: str, conn: Any) -> bool:
    """Write the review's metadata and comments as they are at ``old_head`` (the branch's head before a sync
    rebuilt it from the data branch) into the write ``conn`` of the rebuilt branch → whether there was any."""
    row, comments = _row(store, old_head, branch), _comments(store, old_head, branch)
    if row is None and not comments:
        return False
    ensure_tables(conn)
    if row is not None:
        conn.execute(f"INSERT OR REPLACE INTO {REVIEWS} (branch, title, description, status, author, created, "
                     "updated) VALUES (?, ?, ?, ?, ?, ?, ?)", [branch, *row])
    for comment in comments:
        conn.execute(f"INSERT OR IGNORE INTO {COMMENTS} (id, branch, kind, author, time, text) "
                     "VALUES (?, ?, ?, ?, ?, ?)", [comment.id, branch, comment.kind, comment.author, comment.time,
                                                   comment.text])
    return True


def reopen_closed(conn: Any, branch: str, who: str, text: str) -> bool:
    """In the write ``conn`` (whose branch holds the review's tables): a review closed without merging opens again,
    saying why as a ``reopen`` comment → whether it was closed. New content for it is a new proposal to review:
    left closed, the next round would be hidden from the reviewers who closed the last."""
    found = list(conn.execute(f"SELECT status FROM {REVIEWS} WHERE branch = ?", [branch]))
    if not found or found[0][0] != "closed":
        return False
    conn.execute(f"UPDATE {REVIEWS} SET status = 'open', updated = ? WHERE branch = ?", [now(), branch])
    add_comment(conn, branch, "reopen", who, text)
    return True


def add_comment(conn: Any, branch: str, kind: str, author: str, text: str) -> Comment:
    ensure_tables(conn)
    comment = Comment(secrets.token_hex(8), branch, kind, author, now(precise=True), text)
    conn.execute(f"INSERT INTO {COMMENTS} (id, branch, kind, author, time, text) VALUES (?, ?, ?, ?, ?, ?)",
                 [comment.id, branch, kind, author, comment.time, text])
    return comment


def commit_write(tx: Any, message: str) -> str | None:
    """The write's one commit: a Transaction commits itself; a doltlite connection through the store."""
    import sqlite3

    from tusk.data import doltlite

    if isinstance(tx, sqlite3.Connection):  # a store whose writer() gives its connection
        made: str | None = getattr(doltlite.DoltliteStore, "commit")(tx, message)
        return made
    found: str | None = tx.commit(message)
    return found


def update(project: "Ports", branch: str, who: str, *, title: str | None = None,
           description: str | None = None, status: str | None = None, comment: str | None = None,
           kind: str = "comment", expect_head: str | None = None) -> tuple[ReviewMeta, str]:
    """Write the review's metadata (and a comment) on ``branch`` as one commit → (the new metadata, commit).

    ``expect_head``: refuse if the branch moved since the page showed it."""
    store = project.data
    if branch == project.config.data.branch or branch not in {b.name for b in store.branches()}:
        raise DataError(f"{branch!r} is not a local review branch (the data branch is {project.config.data.branch!r})")
    if expect_head and store.resolve(branch) != store.resolve(expect_head):
        raise DataError(f"{branch} moved since the page showed it ({expect_head[:7]} → "
                        f"{store.resolve(branch)[:7]}): reload the review and try again")
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
    with store.writer(branch) as conn:
        ensure_tables(conn)
        found = list(conn.execute(f"SELECT title, description, status, author, created FROM {REVIEWS} "
                                  "WHERE branch = ?", [branch]))
        old = found[0] if found else ("", "", "open", who, stamp)
        values = [branch, title if title is not None else old[0], description if description is not None else old[1],
                  status or old[2] or "open", old[3] or who, old[4] or stamp, stamp]
        conn.execute(f"INSERT OR REPLACE INTO {REVIEWS} (branch, title, description, status, author, created, "
                     "updated) VALUES (?, ?, ?, ?, ?, ?, ?)", values)
        what = []
        if title is not None or description is not None:
            what.append("edited")
        if status is not None:
            what.append(status)
        if comment is not None:
            add_comment(conn, branch, kind, who, comment.strip())
            what.append(kind if kind != "comment" else "comment")
        commit = commit_write(conn, f"review {branch}: {', '.join(what) or 'updated'} by {who}")
    return read(project, branch), commit or store.resolve(branch)


@dataclass
class ReviewRow:
    """A review in a list: its summary (``tusk review list``), its title and status (open, closed, merged)."""

    summary: Any  # tusk.review.ReviewSummary
    title: str
    status: str

    def to_json(self) -> dict[str, Any]:
        return {**self.summary.to_json(), "title": self.title, "status": self.status}


def listing(project: "Ports", found: list[Any]) -> list[ReviewRow]:
    """Every review of ``tusk review list`` with its title (else its newest commit's message) and status."""
    titles = summaries(project, [r.branch for r in found if not r.merged])
    rows = []
    for r in found:
        title, status = titles.get(r.branch, ("", "open"))
        rows.append(ReviewRow(r, title or (r.message.splitlines()[0] if r.message else r.branch),
                              "merged" if r.merged else status))
    return rows
