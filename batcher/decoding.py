"""Turning a batch of raw queue entries into events, setting aside what cannot be one.

A queue entry is a hit batch (many raw hits, `tracer.hits`) or, queued by an edge from
before raw hits, one encoded `Event`. Raw hits are enriched (batcher/enrich.py); events
are taken as they are. An entry that decodes as neither goes to the dead list; a raw-hit
batch does so without its bytes, which hold full client addresses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from batcher.enrich import Enricher
from tracer import events as event_codec
from tracer import hits as hit_codec
from tracer.events import Event


@dataclass(slots=True)
class Decoded:
    events: list[Event] = field(default_factory=list)
    # Each event's msgpack bytes: as queued for an `Event`, encoded here for a raw hit.
    payloads: list[bytes] = field(default_factory=list)
    # (reason, raw bytes) of each entry that is not a valid event or hit batch.
    bad: list[tuple[str, bytes]] = field(default_factory=list)
    # The reason of each raw hit dropped (a token that does not open, ...): counted only.
    dropped: list[str] = field(default_factory=list)


def decode_batch(items: list[bytes], enrich: Enricher) -> Decoded:
    decoded = Decoded()
    raw_hits: list[hit_codec.RawHit] = []
    for raw in items:
        try:
            queued = hit_codec.decode_queued(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            _set_aside(decoded, raw, exc)
            continue
        if queued.__class__ is list:
            raw_hits += queued  # type: ignore[arg-type]
        elif not queued.id or not queued.type:  # type: ignore[union-attr]
            decoded.bad.append(("invalid: event without id or type", raw))
        else:
            event = enrich.legacy(queued)  # type: ignore[arg-type]
            decoded.events.append(event)
            decoded.payloads.append(raw if event is queued else event_codec.encode(event))
    if raw_hits:
        _enrich(decoded, raw_hits, enrich)
    return decoded


def _enrich(decoded: Decoded, raw_hits: list[hit_codec.RawHit], enrich: Enricher) -> None:
    # Oldest first: burst detection reads a message's clicks in the order they happened,
    # whichever edge worker flushed first.
    raw_hits.sort(key=_time_of)
    encode = event_codec.encode
    events = decoded.events
    payloads = decoded.payloads
    dropped = decoded.dropped
    for hit in raw_hits:
        event = enrich(hit)
        if event.__class__ is str:
            dropped.append(event)  # type: ignore[arg-type]
            continue
        events.append(event)  # type: ignore[arg-type]
        payloads.append(encode(event))


def _time_of(hit: hit_codec.RawHit) -> float:
    return hit.ts


def _set_aside(decoded: Decoded, raw: bytes, exc: Exception) -> None:
    if hit_codec.is_hit_batch(raw):
        # Its bytes hold full client addresses: never kept in a dead list.
        decoded.bad.append((f"undecodable hit batch of {len(raw)} bytes (dropped): {exc}", b""))
    else:
        # msgspec's message carries the path, e.g. "Expected `str`, got `int` - at `$[0]`".
        decoded.bad.append((f"undecodable: {exc}", raw))
