"""Server-side sessions: the browser holds a random id, the console holds the operator token.

(For an operator signed in through OIDC the token is the console's own and `acting` names them.)

The operator token never reaches the browser: the cookie carries 256 random bits, and the store is
keyed by their SHA-256, so the store's contents (a memory dump, a debug print) are not cookies
anyone can present. A session ends at sign-out, after `idle_s` without a request, or `max_s` after
sign-in, whichever comes first. Sessions live in this process only: a restart signs everyone out,
which for a street office's console is the safe failure.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime


def _key(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


@dataclass
class Session:
    token: str = field(repr=False)
    actor: str  # as the services record this operator: operator:<name>, or operator:<token fingerprint>
    signed_in_at: datetime
    started: float  # monotonic clock
    last_seen: float
    acting: str | None = None  # signed in through OIDC: the operator the console's own token names
    flashes: list[tuple[str, str]] = field(default_factory=list)

    def flash(self, kind: str, message: str) -> None:
        """A message for the next page shown (after a redirect): kind is ok or error."""
        self.flashes.append((kind, message))

    def take_flashes(self) -> list[tuple[str, str]]:
        taken, self.flashes = self.flashes, []
        return taken


class SessionStore:
    def __init__(
        self, *, idle_s: float, max_s: float, capacity: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.idle_s = idle_s
        self.max_s = max_s
        self.capacity = capacity
        self.clock = clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()  # least recently seen first

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, token: str, actor: str, acting: str | None = None) -> tuple[str, Session]:
        """A new session (always a new id: signing in never reuses one, so none can be planted)."""
        self.sweep()
        while len(self._sessions) >= self.capacity:
            self._sessions.popitem(last=False)
        sid = secrets.token_urlsafe(32)
        now = self.clock()
        session = Session(token, actor, datetime.now(UTC), now, now, acting)
        self._sessions[_key(sid)] = session
        return sid, session

    def get(self, sid: str | None) -> Session | None:
        """The live session for this cookie value, touched; None if unknown or expired (then removed)."""
        if not sid:
            return None
        key = _key(sid)
        session = self._sessions.get(key)
        if session is None:
            return None
        now = self.clock()
        if self._expired(session, now):
            del self._sessions[key]
            return None
        session.last_seen = now
        self._sessions.move_to_end(key)
        return session

    def drop(self, sid: str | None) -> None:
        if sid:
            self._sessions.pop(_key(sid), None)

    def sweep(self) -> int:
        """Remove expired sessions; returns how many."""
        now = self.clock()
        dead = [k for k, s in self._sessions.items() if self._expired(s, now)]
        for key in dead:
            del self._sessions[key]
        return len(dead)

    def _expired(self, session: Session, now: float) -> bool:
        return now - session.last_seen > self.idle_s or now - session.started > self.max_s
