"""CSRF tokens: every POST form carries one, and a POST without the right one changes nothing.

Synchronizer tokens derived, not stored: HMAC-SHA256(secret, purpose + session id). A signed-in
form's token is bound to that session, so a token seen in one session is worthless in another and a
new sign-in (a new session id) invalidates every old form. The sign-in form itself is protected by a
pre-session nonce in its own short-lived cookie, so a foreign page cannot sign a browser in with the
attacker's token (login CSRF).
"""

from __future__ import annotations

import base64
import hashlib
import hmac


class Csrf:
    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"incentives-console-csrf:" + secret.encode()).digest()

    def _mac(self, purpose: str, value: str) -> str:
        mac = hmac.new(self._key, f"{purpose}:{value}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def token(self, sid: str) -> str:
        return self._mac("session", sid)

    def valid(self, sid: str | None, presented: str | None) -> bool:
        return bool(sid and presented) and _same(self.token(sid or ""), presented or "")

    def login_token(self, nonce: str) -> str:
        return self._mac("login", nonce)

    def login_valid(self, nonce: str | None, presented: str | None) -> bool:
        return bool(nonce and presented) and _same(self.login_token(nonce or ""), presented or "")


def _same(expected: str, presented: str) -> bool:
    # As bytes: compare_digest refuses str with non-ASCII characters, and a form may send any.
    return hmac.compare_digest(expected.encode(), presented.encode())
