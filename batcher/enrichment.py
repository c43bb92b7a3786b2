"""The batcher's enrichment step: client info and country for each hit of a batch, before
it is stored and handed to webhooks.

An event that gains fields is encoded again, so the store and the dispatcher see the same
bytes; the rest keep the payload they came with. A failure to enrich one event (a bug, a
string no rule expected) never holds the batch up: the event is stored as it came.
"""

from __future__ import annotations

import logging
import time

from batcher.decoding import Decoded
from tracer import events as event_codec
from tracer.enrichment import ClientEnricher

logger = logging.getLogger(__name__)

# At most one logged failure per this many seconds: a bad rule would fail every event.
_LOG_EVERY_S = 60.0
_last_logged = -_LOG_EVERY_S


def enrich_batch(decoded: Decoded, enricher: ClientEnricher) -> tuple[int, int]:
    """Enrich `decoded`'s events in place; returns how many changed and how many could
    not be enriched."""
    events, payloads = decoded.events, decoded.payloads
    enrich, encode = enricher.enrich, event_codec.encode
    changed = failed = 0
    for index, event in enumerate(events):
        try:
            enriched = enrich(event)
        except Exception:
            failed += 1
            _log_failure(event.id)
            continue
        if enriched is not event:
            events[index] = enriched
            payloads[index] = encode(enriched)
            changed += 1
    return changed, failed


def _log_failure(event_id: str) -> None:
    global _last_logged
    now = time.monotonic()
    if now - _last_logged >= _LOG_EVERY_S:
        _last_logged = now
        logger.exception("Cannot enrich event %s: stored without client info", event_id)
