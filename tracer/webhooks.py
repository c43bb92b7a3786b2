"""What crosses from the batcher to the dispatcher: one delivery job per event and endpoint."""

from __future__ import annotations

import hashlib

import msgspec

from tracer.brands import Brand, Webhook
from tracer.events import Event


class WebhookJob(msgspec.Struct, array_like=True, kw_only=True):
    event: Event
    brand: str
    endpoint: str
    # Attempts already made (0 for a fresh job).
    attempt: int = 0
    # Unix seconds when the batcher queued the job (for end-to-end latency).
    enqueued: float = 0.0
    # Why the last attempt failed, kept for the dead-letter list.
    last_error: str = ""


encode_job = msgspec.msgpack.Encoder().encode
decode_job = msgspec.msgpack.Decoder(WebhookJob).decode

# Queues jobs and counts them per endpoint in one atomic step (the shard and its pending
# hash share a hash tag: one cluster slot). KEYS: webhook_shard(n), webhook_pending(n).
# ARGV: E (how many endpoints), then E pairs (endpoint id, jobs of it), then the jobs.
# The dispatcher's ack takes the count down as each job is settled.
ENQUEUE_SCRIPT = """
local endpoints = tonumber(ARGV[1])
local first = 2 + 2 * endpoints
for i = first, #ARGV, 1000 do
    redis.call('RPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
for i = 2, first - 1, 2 do
    redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1])
end
return #ARGV - first + 1
"""


def enqueue_arguments(counts: dict[str, int], jobs: list[bytes]) -> list[bytes | str | int]:
    """ARGV of `ENQUEUE_SCRIPT` for `jobs`, of which `counts[endpoint]` are each endpoint's."""
    pairs = [value for endpoint, count in counts.items() for value in (endpoint, count)]
    return [len(counts), *pairs, *jobs]


def endpoint_id(brand_id: str, url: str) -> str:
    """Stable id of a brand's endpoint, independent of its position in the brands file."""
    return hashlib.sha256(f"{brand_id}\0{url}".encode()).hexdigest()[:16]


def subscribers(brand: Brand, event: Event) -> list[Webhook]:
    """The brand's endpoints that want this event: its type is subscribed, and machine
    traffic only goes where the endpoint opted in."""
    return [
        hook
        for hook in brand.webhooks
        if event.type in hook.events and (hook.include_bots or not event.bot)
    ]


def endpoints(brand: Brand) -> dict[str, Webhook]:
    return {endpoint_id(brand.id, hook.url): hook for hook in brand.webhooks}
