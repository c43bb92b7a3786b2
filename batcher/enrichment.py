"""The batcher's enrichment step: client info and country for each hit of a batch, before
it is stored and handed to webhooks.

An event that gains fields is encoded again, so the store and the dispatcher see the same
bytes; the rest keep the payload they came with.
"""

from __future__ import annotations

from batcher.decoding import Decoded
from tracer import events as event_codec
from tracer.enrichment import ClientEnricher


def enrich_batch(decoded: Decoded, enricher: ClientEnricher) -> int:
    """Enrich `decoded`'s events in place; returns how many changed."""
    events, payloads = decoded.events, decoded.payloads
    enrich, encode = enricher.enrich, event_codec.encode
    changed = 0
    for index, event in enumerate(events):
        enriched = enrich(event)
        if enriched is not event:
            events[index] = enriched
            payloads[index] = encode(enriched)
            changed += 1
    return changed
