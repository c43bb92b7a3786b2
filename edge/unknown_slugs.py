"""Slugs Redis did not know, remembered for a while: a request for an unknown SMS slug
costs one Redis lookup per worker and minute, not one per request."""

from __future__ import annotations

from collections import OrderedDict
from time import monotonic

# A slug is stored in Redis before its link is handed out, so one Redis did not know a
# minute ago is nobody's link; the entry expires all the same, in case it becomes one.
UNKNOWN_SLUG_TTL_S = 60.0
UNKNOWN_SLUG_CACHE_SIZE = 100_000


class UnknownSlugs:
    def __init__(
        self, size: int = UNKNOWN_SLUG_CACHE_SIZE, ttl_s: float = UNKNOWN_SLUG_TTL_S
    ) -> None:
        self.size = size
        self.ttl_s = ttl_s
        self._expiry: OrderedDict[str, float] = OrderedDict()

    def __contains__(self, slug: str) -> bool:
        expires = self._expiry.get(slug)
        if expires is None:
            return False
        if expires < monotonic():
            del self._expiry[slug]
            return False
        return True

    def add(self, slug: str) -> None:
        self._expiry[slug] = monotonic() + self.ttl_s
        self._expiry.move_to_end(slug)
        if len(self._expiry) > self.size:
            self._expiry.popitem(last=False)

    def __len__(self) -> int:
        return len(self._expiry)
