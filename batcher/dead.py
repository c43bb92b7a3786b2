"""Dead list entries: payloads that could not be decoded or that the store rejected.

Each entry keeps the reason and the raw bytes exactly as they were in the queue, so an
operator can inspect them and, once the cause is fixed, push the bytes back onto a shard.
Entries are msgpack maps (field names, not arrays): they are read by people and tools.
"""

from __future__ import annotations

import msgspec


class DeadEvent(msgspec.Struct, kw_only=True):
    reason: str
    raw: bytes
    shard: int
    consumer: str
    # Unix seconds when it was dead-lettered (dead-list housekeeping ages entries by it).
    ts: float


encode_dead = msgspec.msgpack.Encoder().encode
decode_dead = msgspec.msgpack.Decoder(DeadEvent).decode
