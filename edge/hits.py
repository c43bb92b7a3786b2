"""From answered requests ("hits") to encoded events, off the response path.

The request path only decodes the token, builds the response and appends a `Hit` (a plain
tuple of what it already has). Every flush, the recorder hands the pending hits to a
`HitEncoder`, which finds the client address, classifies the traffic, counts it and
encodes the event. Doing this in batches, between responses, keeps the request path
short: Python work on the request path costs more than its own CPU time under granian,
because it delays the runtime threads that feed the event loop.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from edge.metrics import EdgeMetrics
from edge.sites import Site
from edge.trust import ClientAddress
from tracer.classify import Verdict
from tracer.tokens import LinkPayload

logger = logging.getLogger("tracer.edge.hits")

# A hit: (route, site, payload, headers, client, method, now, event_id, list_id).
# `route` is one of ROUTES; `headers` and `client` are the ASGI scope's; `list_id` is the
# scope of an unsubscribe (None: the token's own), or the kind of rule that revoked a
# revoked click.
Hit = tuple[str, Site, LinkPayload, list[tuple[bytes, bytes]], Any, str, float, str, str | None]

# route -> (event type, HTTP status answered)
ROUTES = {
    "click": ("click", 302),
    "short_link": ("click", 302),
    # A click on a revoked link, answered with the landing page (tracer.revocations).
    "revoked_click": ("revoked_click", 302),
    "open": ("open", 200),
    "unsubscribe_view": ("unsubscribe_view", 200),
    "unsubscribe": ("unsubscribe", 200),
}
UNCLASSIFIED = Verdict("human", ("classify_error",))

_encode_fields = msgspec.msgpack.Encoder().encode


class HitEncoder:
    """Turns hits into msgpack-encoded `Event`s and counts them per route, brand and agent."""

    def __init__(self, client_address: ClientAddress, metrics: EdgeMetrics) -> None:
        self.client_address = client_address
        self.metrics = metrics

    def __call__(self, hits: list[Hit]) -> list[bytes]:
        encoded = []
        for hit in hits:
            try:
                encoded.append(self.encode(hit))
            except Exception:
                # A bug in classification must not lose the event: keep it, marked.
                logger.exception("cannot classify a %s hit; recording it unclassified", hit[0])
                encoded.append(self.encode(hit, UNCLASSIFIED))
        return encoded

    def encode(self, hit: Hit, verdict: Verdict | None = None) -> bytes:
        route, site, payload, raw_headers, client, method, now, event_id, list_id = hit
        headers = dict(raw_headers)
        ip = self.client_address(client, headers)
        ua = headers.get(b"user-agent", b"").decode("utf-8", "replace")
        kind, status = ROUTES[route]
        if verdict is None:
            verdict = _classify(site, kind, payload, ip, ua, method, now)
        reasons = verdict.reasons
        if kind == "revoked_click":
            reasons, list_id = [*reasons, f"revoked:{list_id}"], ""
        agent = verdict.agent
        self.metrics.count(route, status, site.id, agent)
        # The fields of `Event`, positionally: msgpack encodes this list exactly as it
        # encodes the array_like Struct (tests/edge/test_event_layout.py holds them equal).
        return _encode_fields(
            [
                event_id,
                kind,
                now,
                site.id,
                payload.channel,
                payload.message_id,
                payload.campaign,
                payload.job_source,
                payload.link,
                payload.url,
                payload.position,
                payload.recipient,
                site.truncate_ip(ip),
                ua if site.store_user_agent else "",
                agent,
                reasons,
                agent not in site.human_agents,
                event_id if kind == "click" else "",
                method,
                "",
                payload.issued,
                payload.list_id if list_id is None else list_id,
            ]
        )


def _classify(
    site: Site, kind: str, payload: LinkPayload, ip: str, ua: str, method: str, now: float
) -> Verdict:
    classifier = site.classifier
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
