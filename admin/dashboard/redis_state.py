"""What Redis says about the pipeline: the event queue and its dead lists per shard, the
webhook queue and retries per shard, dead letters per brand, every endpoint's shared state
(breaker, disabled), and the batchers and dispatchers that keep a heartbeat.

Two round trips per reading, whatever the number of shards, brands and workers.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from admin.dashboard.model import Shard
from tracer import redis_keys
from tracer.brands import Brands
from tracer.events import queued_age_s
from tracer.webhooks import endpoints

# A reading must not hang the page on a Redis that does not answer.
READ_TIMEOUT_S = 2.0


@dataclass
class EndpointState:
    """An endpoint's state as the dispatchers share it (`dispatcher.state`)."""

    breaker: str
    disabled: bool
    disabled_reason: str
    open_until: float


@dataclass
class Heartbeat:
    role: str
    consumer: str
    # The heartbeat key exists: registered workers whose key expired are dead.
    alive: bool
    # Seconds left on the heartbeat key (None: dead, or a key without expiry).
    ttl_left_s: float | None
    # When the worker last announced itself (batchers record it; dispatchers do not).
    last_seen: float | None


@dataclass
class RedisReading:
    shards: list[Shard] = field(default_factory=list)
    dlq: dict[str, int] = field(default_factory=dict)
    endpoints: dict[str, EndpointState] = field(default_factory=dict)  # by endpoint id
    heartbeats: list[Heartbeat] = field(default_factory=list)


async def read_redis(
    client: aioredis.Redis, shards: int, brands: Brands, now: float
) -> RedisReading:
    """Raises RedisError, OSError or TimeoutError when Redis cannot be read."""
    endpoint_ids = [endpoint_id for brand in brands for endpoint_id in endpoints(brand)]
    async with asyncio.timeout(READ_TIMEOUT_S):
        async with client.pipeline(transaction=False) as pipe:
            for shard in range(shards):
                pipe.llen(redis_keys.event_shard(shard))
                pipe.llen(redis_keys.event_dead(shard))
                pipe.lindex(redis_keys.event_shard(shard), 0)
                pipe.llen(redis_keys.webhook_shard(shard))
                pipe.zcard(redis_keys.webhook_retry(shard))
                pipe.llen(redis_keys.webhook_dead(shard))
            for brand in brands:
                pipe.llen(redis_keys.webhook_dlq(brand.id))
            for endpoint_id in endpoint_ids:
                pipe.hgetall(redis_keys.endpoint_state(endpoint_id))
            pipe.zrange(redis_keys.worker_registry("batcher"), 0, -1, withscores=True)
            pipe.smembers(redis_keys.worker_registry("dispatcher"))
            replies = await pipe.execute()
        reading = RedisReading()
        at = 0
        for shard in range(shards):
            depth, dead, head, ready, retry, webhook_dead = replies[at : at + 6]
            at += 6
            reading.shards.append(
                Shard(
                    shard=shard,
                    depth=depth,
                    dead=dead,
                    oldest_age_s=queued_age_s(head, now),
                    webhook_ready=ready,
                    webhook_retry=retry,
                    webhook_dead=webhook_dead,
                )
            )
        for brand in brands:
            reading.dlq[brand.id] = replies[at]
            at += 1
        for endpoint_id in endpoint_ids:
            reading.endpoints[endpoint_id] = _endpoint_state(replies[at])
            at += 1
        batchers = [(member.decode(), score) for member, score in replies[at]]
        dispatchers = sorted(member.decode() for member in replies[at + 1])
        reading.heartbeats = await _heartbeats(client, batchers, dispatchers)
    return reading


async def _heartbeats(
    client: aioredis.Redis, batchers: list[tuple[str, float]], dispatchers: list[str]
) -> list[Heartbeat]:
    registered = [("batcher", name, seen) for name, seen in batchers]
    registered += [("dispatcher", name, None) for name in dispatchers]
    if not registered:
        return []
    async with client.pipeline(transaction=False) as pipe:
        for role, consumer, _seen in registered:
            pipe.pttl(redis_keys.consumer_heartbeat(role, consumer))
        ttls = await pipe.execute()
    return [
        # PTTL: -2 when the key is gone, -1 when it has no expiry.
        Heartbeat(role, consumer, ttl != -2, ttl / 1000 if ttl >= 0 else None, seen)
        for (role, consumer, seen), ttl in zip(registered, ttls, strict=True)
    ]


def _endpoint_state(raw: dict[bytes, bytes]) -> EndpointState:
    fields = {key.decode(): value.decode(errors="replace") for key, value in raw.items()}
    try:
        open_until = float(fields.get("open_until") or 0)
    except ValueError:
        open_until = 0.0
    return EndpointState(
        breaker=fields.get("breaker", "closed").replace("_", "-"),
        disabled=fields.get("disabled") == "1",
        disabled_reason=fields.get("disabled_reason", ""),
        open_until=open_until,
    )
