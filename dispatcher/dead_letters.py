"""Dead letters and fallback streams: where a job ends when it cannot be delivered.

A dead letter wraps the job with when and why it died and sits on the brand's list
(`tracer.redis_keys.webhook_dlq`) until `tracer dlq replay` re-drives it. An endpoint may
also name a Redis Stream (`fallback_stream`): its events are added there when it is
disabled or when they are dead-lettered, so the brand's platform can consume them anyway.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import msgspec
from redis import Redis

from dispatcher.queue import shard_for
from dispatcher.recorder import Command
from tracer import redis_keys
from tracer.brands import Brand
from tracer.events import to_json
from tracer.webhooks import (
    ENQUEUE_SCRIPT,
    WebhookJob,
    encode_job,
    endpoint_id,
    endpoints,
    enqueue_arguments,
    subscribers,
)


class DeadLetter(msgspec.Struct, array_like=True, kw_only=True):
    job: WebhookJob
    # Unix seconds when the job was dead-lettered.
    dead_at: float
    # Short cause ("http_400", "attempts_exhausted", ...); the detail is `job.last_error`.
    reason: str


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(DeadLetter)


def bury(job: WebhookJob, reason: str, now: float | None = None) -> Command:
    """The command that appends `job` to its brand's dead-letter list."""
    letter = DeadLetter(job=job, dead_at=time.time() if now is None else now, reason=reason)
    return ("rpush", (redis_keys.webhook_dlq(job.brand), _encoder.encode(letter)))


def to_stream(stream: str, job: WebhookJob, reason: str) -> Command:
    """The command that adds the job's event to a fallback stream. Entries are never
    trimmed by Tracer: the consumer acknowledges and trims them."""
    fields = {
        "id": job.event.id,
        "type": job.event.type,
        "brand": job.brand,
        "endpoint": job.endpoint,
        "reason": reason,
        "event": to_json(job.event),
    }
    return ("xadd", (stream, fields))


def read(redis: Redis, brand: str, since: float = 0.0) -> list[tuple[bytes, DeadLetter]]:
    """The brand's dead letters that died at or after `since`, oldest first, each with
    its raw entry (what `LREM` needs to remove it)."""
    letters = []
    for raw in redis.lrange(redis_keys.webhook_dlq(brand), 0, -1):
        letter = _decoder.decode(raw)
        if letter.dead_at >= since:
            letters.append((raw, letter))
    return letters


def current_targets(
    brand: Brand | None, successor: str | None = None
) -> Callable[[WebhookJob], list[str]]:
    """Where a dead letter of `brand` goes on replay, by the brands file as it is now: its
    own endpoint while the brand still lists it and it still takes the event; a letter
    whose endpoint is gone goes to `successor` (the URL of one of the brand's endpoints,
    e.g. after a URL change) if that one takes the event. Nowhere otherwise (the letter
    stays): a brand gone from the file, or an event no longer subscribed."""
    if brand is None:
        return lambda job: []
    known = endpoints(brand)
    following = None if successor is None else endpoint_id(brand.id, successor)

    def targets(job: WebhookJob) -> list[str]:
        endpoint = job.endpoint if job.endpoint in known else following
        if endpoint is None or known[endpoint] not in subscribers(brand, job.event):
            return []
        return [endpoint]

    return targets


def replay(
    redis: Redis,
    brand: str,
    shards: int,
    targets: Callable[[WebhookJob], list[str]],
    since: float = 0.0,
    progress: Callable[[int, int], None] | None = None,
    chunk: int = 500,
) -> tuple[int, int]:
    """Re-drive the brand's dead letters (from `since`) to the webhook queue with a fresh
    attempt count, each to the endpoints `targets` names for it. Each is queued before it
    leaves the dead-letter list, so an interrupted replay leaves duplicates (same
    `webhook-id`), never a gap. A letter with no target stays. Returns (replayed, kept)."""
    letters = read(redis, brand, since)
    replayed = kept = 0
    for batch in _chunks(letters, chunk):
        # Two round trips, not one pipeline: on a cluster the shard and the dead-letter
        # list live on different nodes, and the push must have landed before the removal.
        leaving = []
        # Per webhook shard: its jobs, and how many of them each endpoint has.
        queued: dict[int, tuple[dict[str, int], list[bytes]]] = {}
        for raw, letter in batch:
            endpoints_now = targets(letter.job)
            if not endpoints_now:
                kept += 1
                continue
            leaving.append(raw)
            for endpoint in endpoints_now:
                job = msgspec.structs.replace(
                    letter.job, endpoint=endpoint, attempt=0, last_error=""
                )
                counts, jobs = queued.setdefault(shard_for(endpoint, shards), ({}, []))
                counts[endpoint] = counts.get(endpoint, 0) + 1
                jobs.append(encode_job(job))
        with redis.pipeline(transaction=False) as pipe:
            for shard, (counts, jobs) in queued.items():
                keys = (redis_keys.webhook_shard(shard), redis_keys.webhook_pending(shard))
                # execute_command: a sync cluster pipeline has no eval() of this form;
                # EVAL is routed by its keys (one slot: the shard's hash tag).
                pipe.execute_command(
                    "EVAL", ENQUEUE_SCRIPT, 2, *keys, *enqueue_arguments(counts, jobs)
                )
            pipe.execute()
        with redis.pipeline(transaction=False) as pipe:
            for raw in leaving:
                pipe.lrem(redis_keys.webhook_dlq(brand), 1, raw)
            pipe.execute()
        replayed += len(leaving)
        if progress is not None:
            progress(replayed + kept, len(letters))
    return replayed, kept


def _chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
