"""Login sessions of the dashboard: a signed cookie instead of the token itself.

The cookie holds `<expiry>.<HMAC-SHA256(key, expiry)>`, with the key derived from the
admin token: a stolen cookie expires, it never reveals the token, and changing the token
ends every session. The browser keeps it HttpOnly and SameSite=Strict.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

COOKIE_NAME = "tracer_dashboard"
SESSION_TTL_S = 12 * 3600


class Sessions:
    def __init__(
        self, token: str, ttl_s: float = SESSION_TTL_S, clock: Callable[[], float] = time.time
    ) -> None:
        # A key of its own: the token is never used directly as a MAC key for cookies.
        self._key = hmac.new(token.encode(), b"tracer dashboard session", hashlib.sha256).digest()
        self.ttl_s = ttl_s
        self._clock = clock

    def issue(self) -> str:
        """A new session cookie value, valid for `ttl_s`."""
        expires = str(int(self._clock() + self.ttl_s))
        return f"{expires}.{self._sign(expires)}"

    def valid(self, cookie: str | None) -> bool:
        if not cookie:
            return False
        expires, _, signature = cookie.partition(".")
        if not expires.isascii() or not expires.isdigit():
            return False
        # Bytes: `compare_digest` refuses non-ASCII text, and a cookie may hold anything.
        if not hmac.compare_digest(
            signature.encode(errors="replace"), self._sign(expires).encode()
        ):
            return False
        return int(expires) > self._clock()

    def _sign(self, expires: str) -> str:
        return hmac.new(self._key, expires.encode(), hashlib.sha256).hexdigest()
