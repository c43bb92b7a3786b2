"""Login sessions of the dashboard: a signed cookie instead of the token itself, ended on
the server at logout.

The cookie holds `<expiry>.<session id>.<HMAC-SHA256(key, expiry.session id)>`, with the key
derived from the admin token: a stolen cookie expires, it never reveals the token, and
changing the token ends every session. The browser keeps it HttpOnly and SameSite=Strict.

Logging out revokes the session id until the cookie would have expired: in this process at
once, and in Redis for every other admin process that shares it. (Should Redis not answer
a check, the process's own list decides: the dashboard stays reachable during an outage,
which is when it is needed most.)
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable

from tracer import redis_keys
from tracer.redis_cluster import REDIS_ERRORS, AnyRedis

logger = logging.getLogger(__name__)

COOKIE_NAME = "tracer_dashboard"
SESSION_TTL_S = 12 * 3600


class Session:
    __slots__ = ("expires", "id")

    def __init__(self, session_id: str, expires: int) -> None:
        self.id = session_id
        self.expires = expires


class Sessions:
    def __init__(
        self, token: str, ttl_s: float = SESSION_TTL_S, clock: Callable[[], float] = time.time
    ) -> None:
        # A key of its own: the token is never used directly as a MAC key for cookies.
        self._key = hmac.new(token.encode(), b"tracer dashboard session", hashlib.sha256).digest()
        self.ttl_s = ttl_s
        self._clock = clock
        # Session id -> expiry of the sessions ended by this process.
        self._revoked: dict[str, int] = {}

    def issue(self) -> str:
        """A new session cookie value, valid for `ttl_s`."""
        body = f"{int(self._clock() + self.ttl_s)}.{secrets.token_urlsafe(16)}"
        return f"{body}.{self._sign(body)}"

    def session(self, cookie: str | None) -> Session | None:
        """The session a cookie carries, if it is genuine and not expired (revocation is
        checked by `valid`)."""
        if not cookie:
            return None
        body, _, signature = cookie.rpartition(".")
        expires, _, session_id = body.partition(".")
        if not expires.isascii() or not expires.isdigit() or not session_id:
            return None
        # Bytes: `compare_digest` refuses non-ASCII text, and a cookie may hold anything.
        if not hmac.compare_digest(signature.encode(errors="replace"), self._sign(body).encode()):
            return None
        if int(expires) <= self._clock():
            return None
        return Session(session_id, int(expires))

    async def valid(self, cookie: str | None, redis: AnyRedis | None) -> bool:
        session = self.session(cookie)
        if session is None or session.id in self._revoked:
            return False
        if redis is None:
            return True
        try:
            return not await redis.exists(redis_keys.dashboard_session_revoked(session.id))
        except REDIS_ERRORS as exc:
            logger.warning("cannot check dashboard session revocations in Redis: %s", exc)
            return True

    async def revoke(self, cookie: str | None, redis: AnyRedis | None) -> bool:
        """End the cookie's session for good; True when there was one to end."""
        session = self.session(cookie)
        if session is None:
            return False
        now = self._clock()
        self._revoked = {sid: exp for sid, exp in self._revoked.items() if exp > now}
        self._revoked[session.id] = session.expires
        if redis is not None:
            key = redis_keys.dashboard_session_revoked(session.id)
            try:
                await redis.set(key, b"1", exat=session.expires)
            except REDIS_ERRORS as exc:
                logger.warning("logout: the session is ended in this process only (Redis: %s)", exc)
        return True

    def _sign(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()
