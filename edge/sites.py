"""Everything the edge precomputes for a brand, found by the request's Host header."""

from __future__ import annotations

from edge.pages import UnsubscribePages
from edge.redirects import RedirectBuilder
from edge.responses import Response, html_response, redirect_response
from tracer.brands import Brand, Brands
from tracer.hits import EVENT_TYPE_OF_ROUTE

_HOST_CACHE_LIMIT = 1024


class Site:
    """One brand as the edge serves it."""

    __slots__ = (
        "brand",
        "counts",
        "id",
        "invalid_page",
        "landing",
        "link_ttl_s",
        "pages",
        "redirects",
    )

    def __init__(self, brand: Brand) -> None:
        self.brand = brand
        self.id = brand.id
        self.landing: Response = redirect_response(brand.landing_url.encode())
        # Requests answered and recorded, per route (their verdicts are the batcher's).
        self.counts = dict.fromkeys(EVENT_TYPE_OF_ROUTE, 0)
        self.link_ttl_s = brand.link_ttl_days * 86400
        self.redirects = RedirectBuilder(brand)
        self.pages = UnsubscribePages(brand)
        self.invalid_page: Response = html_response(404, self.pages.invalid())


class SiteDirectory:
    """Host header -> `Site`. The raw header bytes are looked up first (the usual case);
    other spellings (upper case, a port, a trailing dot) are normalised once and cached."""

    def __init__(self, brands: Brands) -> None:
        sites = {brand.id: Site(brand) for brand in brands}
        self.by_id = sites
        self._by_host: dict[bytes, Site | None] = {
            host.encode(): sites[brand.id] for brand in brands for host in brand.hosts
        }
        self._known = dict(self._by_host)
        # The raw-bytes lookup alone, for the hot path (None: call `find`).
        self.cached = self._by_host.get

    def find(self, host: bytes) -> Site | None:
        try:
            return self._by_host[host]
        except KeyError:
            return self._find_slow(host)

    def _find_slow(self, host: bytes) -> Site | None:
        name = host.strip().lower().rstrip(b".")
        site = self._known.get(name)
        if site is None and not name.startswith(b"["):  # an IPv6 literal is never a brand
            site = self._known.get(name.split(b":", 1)[0].rstrip(b"."))
        if len(self._by_host) < len(self._known) + _HOST_CACHE_LIMIT:
            self._by_host[host] = site
        return site
