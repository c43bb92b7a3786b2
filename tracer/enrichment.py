"""Client info and country for hit events, as each brand's privacy settings allow.

`ClientEnricher.lookup(brand, ua, ip)` is the one call the batcher makes per hit: the
client from the user agent (`tracer.clients`, cached per string) and the country from the
full client address (`tracer.geo`, when `TRACER_GEOIP_DB` is set). Nothing here keeps an
address: only the derived fields go into the event.
"""

from __future__ import annotations

from typing import NamedTuple

import msgspec

from tracer.brands import Brands, Privacy
from tracer.clients import NO_CLIENT, ClientInfo, ClientParser, shared_client_parser
from tracer.events import HIT_TYPES, Event
from tracer.geo import GeoIP

# Apple's relays fetch for Mail Privacy Protection whatever the string they send says.
MPP_CLIENT = ClientInfo("Apple Mail", "proxy", "", "unknown")
_HITS = frozenset(HIT_TYPES)
_DEFAULT_PRIVACY = Privacy()


class ClientFields(NamedTuple):
    client: str
    client_type: str
    os: str
    device: str
    country: str


NO_FIELDS = ClientFields("", "", "", "unknown", "")


class ClientEnricher:
    def __init__(
        self,
        brands: Brands | None = None,
        geoip: GeoIP | None = None,
        parser: ClientParser | None = None,
    ) -> None:
        """`parser` defaults to the process-wide one; without `geoip` countries stay ""."""
        self.parser = parser or shared_client_parser()
        self.geoip = geoip
        privacy = {brand.id: brand.privacy for brand in brands or ()}
        self._client_on = {b: p.client_info for b, p in privacy.items()}
        self._country_on = {b: p.country and geoip is not None for b, p in privacy.items()}
        self._country_default = _DEFAULT_PRIVACY.country and geoip is not None

    def lookup(self, brand: str, ua: str, ip: str, agent: str = "") -> ClientFields:
        """The fields of a hit of `brand` from `ua` and the client address `ip` (give the
        full one: it is only looked up, never kept). `agent` is the classifier's verdict:
        an Apple MPP prefetch is reported as Apple's proxy, whatever its string."""
        if self._client_on.get(brand, True):
            info = MPP_CLIENT if agent == "mpp" else self.parser(ua)
        else:
            info = NO_CLIENT
        country = ""
        if ip and self._country_on.get(brand, self._country_default):
            country = self.geoip.country(ip)  # type: ignore[union-attr]
        return ClientFields(*info, country)

    def enrich(self, event: Event, ip: str | None = None) -> Event:
        """`event` with its client fields, or `event` itself when it is not a hit, already
        has them, or has nothing to add. `ip`: the full client address when known (the
        edge's raw hit); otherwise the event's own, truncated one is looked up."""
        if event.type not in _HITS or event.client or event.country:
            return event
        fields = self.lookup(event.brand, event.ua, event.ip if ip is None else ip, event.agent)
        if fields == NO_FIELDS:
            return event
        return msgspec.structs.replace(
            event,
            client=fields.client,
            client_type=fields.client_type,
            os=fields.os,
            device=fields.device,
            country=fields.country,
        )
