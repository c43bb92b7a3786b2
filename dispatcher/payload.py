"""Webhook bodies: one JSON object per event, or a JSON array for a batch.

The object holds every field of `tracer.events.Event` by name, so brand, campaign and
job_source are always present; the recipient is the keyed hash the edge stored, never an
address or a phone number.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import msgspec

from tracer.events import Event, to_dict, to_json

_encoder = msgspec.json.Encoder()


def event_body(event: Event) -> bytes:
    return to_json(event)


def batch_body(events: Sequence[Event]) -> bytes:
    return _encoder.encode([to_dict(event) for event in events])


def batch_id(events: Sequence[Event]) -> str:
    """`webhook-id` of a batch: derived from its event ids, so resending the same batch
    keeps the id. Batches regroup after a retry, so receivers of batched endpoints
    deduplicate on each event's `id`."""
    digest = hashlib.sha256("\n".join(sorted(event.id for event in events)).encode())
    return "batch_" + digest.hexdigest()[:32]


def message(events: Sequence[Event], batched: bool) -> tuple[str, bytes]:
    """(`webhook-id`, body). A batching endpoint always gets an array, even of one event,
    so its receiver parses one shape; any other gets one object under the event's id."""
    if batched:
        return batch_id(events), batch_body(events)
    (event,) = events
    return event.id, event_body(event)
