"""Raw hits: what the edge queues for each answered request, before any enrichment.

The edge answers and records only what it has in hand; the batcher turns each raw hit into
an `Event` (opens the open's token, finds the client address, classifies, truncates the
address) before anything is stored. A queue entry is then one of two things:

- a **hit batch** (this module, version 1): the msgpack array ``[1, [hit, hit, ...]]``,
  one entry per flush of an edge worker, each hit a `RawHit` array;
- an **`Event`** (`tracer.events`): what edges before raw hits queued, one per entry, and
  what may still wait in Redis or in a spool file after an upgrade. It is stored as it is.

The two never look alike on the wire: an `Event` has more than 15 fields, so its msgpack
array header is ``0xdc``; a hit batch starts with ``0x92`` (a 2-element array) and its
version number. A later layout of the hit batch gets a new version number and a decoder
here, next to this one (msgspec's schema-evolution rules: fields of `RawHit` are only
appended, with defaults).

A raw hit carries the client's full address (the peer and the raw X-Forwarded-For
header): it only ever travels through the queue. It is truncated before anything is
stored, and never logged or dead-listed in full (docs/classification.md, "Privacy of
raw hits").
"""

from __future__ import annotations

from typing import Any

import msgspec

from tracer import events as event_codec
from tracer.events import Event

HIT_BATCH_V1 = 1
# The first two bytes of every version-1 hit batch: a 2-element array, then its version.
HIT_BATCH_V1_PREFIX = bytes((0x92, HIT_BATCH_V1))

# Routes a raw hit comes from (the `route` field), and the event type each one records.
CLICK = "click"
SHORT_LINK = "short_link"
# A click on a revoked link (answered with the landing page, tracer.revocations): its
# `list_id` carries the kind of rule that revoked it.
REVOKED_CLICK = "revoked_click"
OPEN = "open"
UNSUBSCRIBE_VIEW = "unsubscribe_view"
UNSUBSCRIBE = "unsubscribe"
EVENT_TYPE_OF_ROUTE = {
    CLICK: "click",
    SHORT_LINK: "click",
    REVOKED_CLICK: "revoked_click",
    OPEN: "open",
    UNSUBSCRIBE_VIEW: "unsubscribe_view",
    UNSUBSCRIBE: "unsubscribe",
}
# `shard` of a hit that may go to any queue shard (an open: its message is not known
# before the token is opened, and no rule needs an open's hits together).
ANY_SHARD = -1


class RawHit(msgspec.Struct, array_like=True, gc=False):
    """One answered request as the edge saw it. Exactly one of `token` and `plain` is set:
    an open carries its token as received (the batcher opens it), every other route the
    plaintext its request path already decrypted (msgpack `LinkPayload` bytes)."""

    route: str
    brand: str
    token: str
    plain: bytes
    # The raw header values ("" when absent), exactly as received.
    ua: bytes
    xff: bytes
    # The ASGI scope's `client`: [host, port] of the peer, or None.
    peer: Any
    method: str
    ts: float
    id: str
    # Scope of an unsubscribe POST (None: the token's own).
    list_id: str | None = None
    # The queue shard the edge chose (ANY_SHARD for an open); kept so that a journal
    # replay regroups hits exactly as the flush it repeats.
    shard: int = ANY_SHARD


class HitBatch(msgspec.Struct, array_like=True, tag=HIT_BATCH_V1, gc=False):
    hits: list[RawHit]


_decode_hit_batch = msgspec.msgpack.Decoder(HitBatch).decode
_decode_hit = msgspec.msgpack.Decoder(RawHit).decode
_encoder = msgspec.msgpack.Encoder()

# What the edge's request path encodes: the fields of `RawHit` as a tuple, positionally
# (tests/edge/test_hit_layout.py holds the two equal). One call, no Struct to build.
encode_hit_fields = _encoder.encode


def frame(records: list[bytes]) -> bytes:
    """A hit batch from hits already encoded one by one (`encode_hit_fields`): the
    envelope's header, then the records as they are."""
    return HIT_BATCH_V1_PREFIX + _array_header(len(records)) + b"".join(records)


def encode_batch(hits: list[RawHit]) -> bytes:
    return _encoder.encode(HitBatch(hits))


def decode_hit(record: bytes) -> RawHit:
    return _decode_hit(record)


def is_hit_batch(raw: bytes) -> bool:
    return raw[:2] == HIT_BATCH_V1_PREFIX


def decode_queued(raw: bytes) -> list[RawHit] | Event:
    """A queue entry: the hits of a hit batch, or an `Event` queued by an older edge.
    Raises `msgspec.DecodeError` (or `ValidationError`) for anything else."""
    if raw[:2] == HIT_BATCH_V1_PREFIX:
        return _decode_hit_batch(raw).hits
    return event_codec.decode(raw)


def hits_in(raw: bytes) -> int:
    """How many answered requests a queue entry holds (1 for an `Event`), read from the
    array header alone; the batcher's take script counts the same way (batcher/lua.py)."""
    if raw[:2] != HIT_BATCH_V1_PREFIX or len(raw) < 3:
        return 1
    first = raw[2]
    if 0x90 <= first <= 0x9F:
        return first - 0x90
    if first == 0xDC:
        return int.from_bytes(raw[3:5], "big")
    if first == 0xDD:
        return int.from_bytes(raw[3:7], "big")
    return 1


def oldest_ts(raw: bytes) -> float | None:
    """The time of the first hit or event in a queue entry (None: not decodable)."""
    try:
        queued = decode_queued(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if isinstance(queued, Event):
        return queued.ts
    return queued[0].ts if queued else None


def _array_header(count: int) -> bytes:
    if count < 16:
        return bytes((0x90 | count,))
    if count < 65536:
        return b"\xdc" + count.to_bytes(2, "big")
    return b"\xdd" + count.to_bytes(4, "big")
