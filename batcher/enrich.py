"""From raw hits to events: the work the edge leaves out of its request path.

For each raw hit (`tracer.hits.RawHit`): open an open's token (the edge only checked its
shape) or decode a click's plaintext, find the client address (X-Forwarded-For believed
only from a trusted proxy), classify the traffic with the brand's classifier, derive the
client details (email client, OS, device, and the country from the full address when a
GeoIP database is configured: `tracer.enrichment`), truncate the address per the brand's
privacy setting and build the `Event`. A hit whose token does
not open, belongs to another brand or route, or has expired is dropped and its reason
counted: it is never stored (docs/classification.md).

Classification runs here, in one process per queue shard, and the edge puts all of a
message's clicks on one shard: burst detection sees every click of a message, whichever
edge worker answered it.

A raw hit carries the full client address; nothing here logs it.
"""

from __future__ import annotations

import logging
import time

import msgspec

from tracer.brands import Brand, Brands
from tracer.classify import Classifier, Verdict
from tracer.client_address import ClientAddress
from tracer.enrichment import NO_FIELDS, ClientEnricher, ClientFields
from tracer.errors import TokenError
from tracer.events import Event
from tracer.hits import EVENT_TYPE_OF_ROUTE, RawHit
from tracer.keyring import KeyRing
from tracer.privacy import IpTruncator
from tracer.tokens import OPEN, LinkPayload, TokenCodec, decode_payload

logger = logging.getLogger(__name__)

# At most one logged client-info failure per this many seconds (a bad rule fails them all).
_LOG_EVERY_S = 60.0

UNCLASSIFIED = Verdict("human", ("classify_error",))


class BrandRules:
    """What enrichment needs of one brand, worked out once."""

    __slots__ = ("classifier", "human_agents", "id", "link_ttl_s", "store_user_agent", "truncate")

    def __init__(self, brand: Brand) -> None:
        self.id = brand.id
        self.classifier = Classifier.for_brand(brand)
        self.truncate = IpTruncator(brand.privacy.ipv4_prefix, brand.privacy.ipv6_prefix)
        self.store_user_agent = brand.privacy.store_user_agent
        self.human_agents = frozenset(brand.bot_policy.human_agents)
        self.link_ttl_s = brand.link_ttl_days * 86400


class Enricher:
    """Turns raw hits into events; `codec` is None when no key ring was given (every open
    is then dropped as `no_keyring`: a batcher must be given the edge's key ring)."""

    def __init__(
        self,
        brands: Brands,
        keyring: KeyRing | None,
        trusted_proxies: str,
        *,
        clients: ClientEnricher | None = None,
    ) -> None:
        self.codec = TokenCodec(keyring) if keyring is not None else None
        self.client_address = ClientAddress(trusted_proxies)
        self.clients = clients or ClientEnricher(brands)
        self._rules = {brand.id: BrandRules(brand) for brand in brands}
        # Hits stored without client details because deriving them failed, since the
        # last `take_client_failures()`.
        self._client_failures = 0
        self._failure_logged_at = -_LOG_EVERY_S

    def take_client_failures(self) -> int:
        failures, self._client_failures = self._client_failures, 0
        return failures

    def legacy(self, event: Event) -> Event:
        """An `Event` an edge from before raw hits queued: the client details it lacks
        (its address is already truncated: the country is looked up on that)."""
        try:
            return self.clients.enrich(event)
        except Exception:
            self._client_failed(event.brand)
            return event

    def rules(self, brand: str) -> BrandRules:
        rules = self._rules.get(brand)
        if rules is None:
            # A brand dropped from the configuration after the edge answered: its events
            # are still stored, under the default policy and privacy settings.
            rules = self._rules[brand] = BrandRules(
                Brand(id=brand, name=brand, hosts=[], landing_url="")
            )
        return rules

    def __call__(self, hit: RawHit) -> Event | str:
        """The event of `hit`, or the reason it is dropped."""
        rules = self.rules(hit.brand)
        if hit.token:
            payload = self._open(hit, rules)
            if payload.__class__ is str:
                return payload  # type: ignore[return-value]
        else:
            try:
                payload = decode_payload(hit.plain)
            except (msgspec.DecodeError, msgspec.ValidationError):
                return "bad_payload"
        kind = EVENT_TYPE_OF_ROUTE.get(hit.route)
        if kind is None:
            return "bad_route"
        ip = self.client_address(hit.peer, hit.xff)
        ua = hit.ua.decode("utf-8", "replace")
        try:
            verdict = _classify(rules.classifier, kind, payload, ip, ua, hit.method, hit.ts)
        except Exception:
            # Never the hit's address or user agent in a log line: only what failed.
            logger.exception("cannot classify a %s hit of %s; storing it unclassified",
                             kind, hit.brand)  # fmt: skip
            verdict = UNCLASSIFIED
        agent = verdict.agent
        reasons = list(verdict.reasons)
        list_id = payload.list_id if hit.list_id is None else hit.list_id
        if kind == "revoked_click":
            # The edge put the kind of rule that revoked the link where a scope would go.
            reasons.append(f"revoked:{hit.list_id}")
            list_id = ""
        client = self._client_fields(hit.brand, ua, ip, agent)
        return Event(
            id=hit.id,
            type=kind,
            ts=hit.ts,
            brand=hit.brand,
            channel=payload.channel,
            message_id=payload.message_id,
            campaign=payload.campaign,
            job_source=payload.job_source,
            link=payload.link,
            url=payload.url,
            position=payload.position,
            recipient=payload.recipient,
            ip=rules.truncate(ip),
            ua=ua if rules.store_user_agent else "",
            agent=agent,
            reasons=reasons,
            bot=agent not in rules.human_agents,
            click_id=hit.id if kind == "click" else "",
            method=hit.method,
            sent_ts=float(payload.issued),
            list_id=list_id,
            client=client.client,
            client_type=client.client_type,
            os=client.os,
            device=client.device,
            country=client.country,
        )

    def _client_fields(self, brand: str, ua: str, ip: str, agent: str) -> ClientFields:
        """Client details from the full user agent and address (neither is kept here; a
        brand's privacy settings may turn either lookup off). A failure stores the hit
        without them rather than holding the batch up."""
        try:
            return self.clients.lookup(brand, ua, ip, agent)
        except Exception:
            self._client_failed(brand)
            return NO_FIELDS

    def _client_failed(self, brand: str) -> None:
        self._client_failures += 1
        now = time.monotonic()
        if now - self._failure_logged_at >= _LOG_EVERY_S:
            self._failure_logged_at = now
            # The exception only: never the hit's address or user agent in a log line.
            logger.exception("cannot derive the client details of a hit of %s", brand)

    def _open(self, hit: RawHit, rules: BrandRules) -> LinkPayload | str:
        if self.codec is None:
            return "no_keyring"
        try:
            payload = self.codec.open(hit.token)
        except TokenError as exc:
            return exc.reason
        if payload.brand != hit.brand:
            return "wrong_host"
        if payload.kind != OPEN:
            return "wrong_route"
        if rules.link_ttl_s and payload.issued + rules.link_ttl_s < hit.ts:
            return "expired"
        return payload


def _classify(
    classifier: Classifier,
    kind: str,
    payload: LinkPayload,
    ip: str,
    ua: str,
    method: str,
    now: float,
) -> Verdict:
    if kind == "click" or kind == "revoked_click":
        return classifier.click(
            ip,
            ua,
            method,
            now - payload.issued,
            payload.canary,
            payload.message_id,
            payload.link,
            now,
        )
    if kind == "open":
        return classifier.open(ip, ua, method, now - payload.issued)
    return classifier.page(ip, ua, method)
