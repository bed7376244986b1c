"""Who may use the page and how a request proves it: tokens, sessions, CSRF, the Host header. Pure: no I/O.

- Loopback only by default. Any other host refuses to start without a token (``--token`` or TUSK_UI_TOKEN).
- A token is ``NAME:SECRET`` (or a bare SECRET, named ``token``); several are separated by commas. With
  tokens, ``/login`` exchanges one for a session cookie (HttpOnly, SameSite=Strict); the token's name is who
  the log says did each action. Without tokens (loopback), every visitor is the user who started the page.
- Every state change is a POST carrying the session's CSRF token; a POST without it is refused (403).
- The Host header must name the address the page was started on (a DNS-rebinding page cannot reach it).
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import time
from dataclasses import dataclass, field

from tusk.errors import TuskError

SESSION_COOKIE = "tusk_session"
SESSION_SECONDS = 12 * 3600
LOCAL_NAMES = ("localhost",)


class UnsafeBinding(TuskError):
    """The page would listen beyond this machine without a token."""


def is_loopback(host: str) -> bool:
    if host.strip("[]") in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_tokens(spec: str | None) -> dict[str, str]:
    """``alice:s3cret,bob:t0ken`` → {secret: name}; a bare secret is named ``token``."""
    tokens: dict[str, str] = {}
    for part in (spec or "").split(","):
        part = part.strip()
        if not part:
            continue
        name, _, secret = part.rpartition(":") if ":" in part else ("token", "", part)
        if len(secret) < 8:
            raise TuskError("a UI token needs at least 8 characters (NAME:SECRET, or SECRET)")
        if not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise TuskError(f"a UI token's name is letters, digits, '-', '_' or '.': {name!r}")
        tokens[secret] = name
    return tokens


def check_binding(host: str, tokens: dict[str, str]) -> None:
    if not tokens and not is_loopback(host):
        raise UnsafeBinding(f"tusk ui refuses to listen on {host} without a token: anyone who reaches it could "
                            f"merge and release. Give --token NAME:SECRET (or TUSK_UI_TOKEN), or keep the "
                            f"default --host 127.0.0.1")


@dataclass
class Session:
    who: str
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    started: float = field(default_factory=time.time)


class Gate:
    """The sessions of one running page, and the rules a request must pass."""

    def __init__(self, tokens: dict[str, str], local_user: str, host: str, port: int) -> None:
        self.tokens = tokens
        self.local_user = local_user
        self.sessions: dict[str, Session] = {}
        self.hosts = {f"{host}:{port}", host}
        if is_loopback(host):
            self.hosts |= {f"{name}:{port}" for name in ("127.0.0.1", "localhost", "[::1]")}
            self.hosts |= {"127.0.0.1", "localhost", "[::1]"}

    @property
    def needs_login(self) -> bool:
        return bool(self.tokens)

    def host_allowed(self, host_header: str | None) -> bool:
        return host_header is None or host_header.lower() in self.hosts or not self.hosts

    def login(self, token: str) -> tuple[str, Session] | None:
        """A new session for a known token (compared in constant time), else None."""
        name = None
        for secret, owner in self.tokens.items():
            if hmac.compare_digest(secret.encode(), token.encode()):
                name = owner
        if name is None:
            return None
        return self._new(name)

    def local(self) -> tuple[str, Session]:
        """The session of a visitor when the page has no tokens: the user who started it."""
        return self._new(self.local_user)

    def _new(self, who: str) -> tuple[str, Session]:
        self._expire()
        sid = secrets.token_urlsafe(32)
        self.sessions[sid] = Session(who)
        return sid, self.sessions[sid]

    def session(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        found = self.sessions.get(sid)
        if found is not None and time.time() - found.started > SESSION_SECONDS:
            self.sessions.pop(sid, None)
            return None
        return found

    def logout(self, sid: str | None) -> None:
        if sid:
            self.sessions.pop(sid, None)

    @staticmethod
    def csrf_ok(session: Session | None, sent: str | None) -> bool:
        return session is not None and bool(sent) and hmac.compare_digest(session.csrf.encode(), str(sent).encode())

    def _expire(self) -> None:
        now = time.time()
        for sid in [s for s, v in self.sessions.items() if now - v.started > SESSION_SECONDS]:
            del self.sessions[sid]
        if len(self.sessions) > 10_000:  # a crawler without cookies makes one per visit: keep the newest
            for sid in sorted(self.sessions, key=lambda s: self.sessions[s].started)[:5_000]:
                del self.sessions[sid]
