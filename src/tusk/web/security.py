"""Who may use the page and how a request proves it: tokens, sessions, CSRF, the Host header. Pure: no I/O.

- Loopback only by default. Any other host refuses to start without a token (``--token`` or TUSK_UI_TOKEN).
- A token is ``NAME:SECRET`` (or a bare SECRET, named ``token``); several are separated by commas. With
  tokens, ``/login`` exchanges one for a session cookie (HttpOnly, SameSite=Strict); the token's name is who
  the log says did each action. Without tokens (loopback), every visitor is the user who started the page.
- Every state change is a POST carrying the session's CSRF token; a POST without it is refused (403).
- The Host header must name the page: a request without one is refused (400), one naming another host gets 421
  (a DNS-rebinding page cannot reach it). The names are the address it listens on; with loopback, every
  loopback name; listening on all interfaces (0.0.0.0, ::), also the loopback names, this machine's host name
  and any IP address (an address typed in a browser cannot be a rebinding); and every ``--allowed-host`` (the
  name people open, e.g. behind a proxy). The port in the header is not compared: rebinding is about the name.
- Wrong tokens are throttled per remote address: after ``FREE_FAILURES`` wrong ones, each next try waits
  1, 2, 4 ... up to ``MAX_WAIT`` seconds after the last failure and is refused (429) before that, without
  looking at the token; a right one clears the count. (Behind a proxy every visitor shares its address.)
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tusk.errors import TuskError
from tusk.errors import UnsafeBinding as UnsafeBinding  # defined in errors.py's tree

SESSION_COOKIE = "tusk_session"
SESSION_SECONDS = 12 * 3600
LOCAL_NAMES = ("localhost",)
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
ALL_INTERFACES = ("0.0.0.0", "::", "")
FREE_FAILURES = 5  # wrong tokens from one address before throttling starts
MAX_WAIT = 300.0  # seconds: the longest a throttled address waits between tries
FORGET_AFTER = 3600.0  # an address quiet this long starts again from zero


def is_loopback(host: str) -> bool:
    if host.strip("[]") in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_name(value: str) -> str:
    """The name in a Host header or an address (``Name:8765``, ``[::1]:8765``, ``name.``) → ``name``, ``::1``."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    if value.count(":") > 1:  # a bare IPv6 address
        return value
    return value.split(":", 1)[0].rstrip(".")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def parse_allowed_host(value: str) -> str:
    """``tusk.example.com``, ``tusk.example.com:443`` or the URL people open → the host name it allows."""
    text = value.strip()
    name = _host_name(urlsplit(text).netloc if "://" in text else text)
    if not name or not (
        _is_ip(name) or all(part and part.replace("-", "").replace("_", "").isalnum() for part in name.split("."))
    ):
        raise TuskError(f"--allowed-host takes a host name, NAME:PORT or the URL people open, not {value!r}")
    return name


def machine_names() -> set[str]:
    """This machine's host name and fully qualified name (what a colleague types)."""
    names = set()
    for find in (socket.gethostname, socket.getfqdn):
        try:
            names.add(_host_name(find()))
        except OSError:
            continue
    return {name for name in names if name}


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
        raise UnsafeBinding(
            f"tusk ui refuses to listen on {host} without a token: anyone who reaches it could "
            f"merge and release. Give --token NAME:SECRET (or TUSK_UI_TOKEN), or keep the "
            f"default --host 127.0.0.1"
        )


@dataclass
class Session:
    who: str
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    started: float = field(default_factory=time.time)


class Gate:
    """The sessions of one running page, and the rules a request must pass."""

    def __init__(
        self, tokens: dict[str, str], local_user: str, host: str, port: int, allowed_hosts: Iterable[str] = ()
    ) -> None:
        self.tokens = tokens
        self.local_user = local_user
        self.sessions: dict[str, Session] = {}
        self.failures: dict[str, tuple[int, float]] = {}  # remote address → (wrong tokens, time of the last)
        bound = _host_name(host) if host.strip() not in ALL_INTERFACES else host.strip()
        self.any_address = bound in ALL_INTERFACES
        self.hosts = {bound} | {parse_allowed_host(name) for name in allowed_hosts}
        if is_loopback(host) or self.any_address:
            self.hosts |= set(LOOPBACK_NAMES)
        if self.any_address:
            self.hosts |= machine_names()
        self.hosts.discard("")

    @property
    def needs_login(self) -> bool:
        return bool(self.tokens)

    def host_allowed(self, host_header: str | None) -> bool:
        """Whether a request's Host header names this page (a request without one is not)."""
        if not host_header or not host_header.strip():
            return False
        name = _host_name(host_header)
        return name in self.hosts or (self.any_address and _is_ip(name))

    def login_wait(self, peer: str) -> float:
        """Seconds ``peer`` must still wait before its next token is looked at (0: now)."""
        count, last = self.failures.get(peer, (0, 0.0))
        if count < FREE_FAILURES:
            return 0.0
        return max(0.0, last + min(MAX_WAIT, 2.0 ** (count - FREE_FAILURES)) - time.time())

    def login(self, token: str, peer: str = "?") -> tuple[str, Session] | None:
        """A new session for a known token (compared in constant time), else None (counted against ``peer``)."""
        name = None
        for secret, owner in self.tokens.items():
            if hmac.compare_digest(secret.encode(), token.encode()):
                name = owner
        if name is None:
            self._failed(peer)
            return None
        self.failures.pop(peer, None)
        return self._new(name)

    def _failed(self, peer: str) -> None:
        now = time.time()
        count, last = self.failures.get(peer, (0, 0.0))
        self.failures[peer] = (0 if now - last > FORGET_AFTER else count) + 1, now
        if len(self.failures) > 10_000:  # many addresses: forget the quiet ones first
            for old in sorted(self.failures, key=lambda p: self.failures[p][1])[:5_000]:
                del self.failures[old]

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
