"""Turning a batch of raw queue payloads into events, setting aside what cannot be one."""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from tracer import events as event_codec
from tracer.events import Event


@dataclass(slots=True)
class Decoded:
    events: list[Event] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)
    # (reason, raw bytes) of each payload that is not a valid event.
    bad: list[tuple[str, bytes]] = field(default_factory=list)


def decode_batch(items: list[bytes]) -> Decoded:
    decoded = Decoded()
    decode = event_codec.decode
    for raw in items:
        try:
            event = decode(raw)
        except msgspec.DecodeError as exc:
            # msgspec's message carries the path, e.g. "Expected `str`, got `int` - at `$[0]`".
            decoded.bad.append((f"undecodable: {exc}", raw))
            continue
        if not event.id or not event.type:
            decoded.bad.append(("invalid: event without id or type", raw))
            continue
        decoded.events.append(event)
        decoded.payloads.append(raw)
    return decoded
