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
from tracer import heartbeats, queue_depths, redis_keys
from tracer.brands import Brands
from tracer.endpoint_state import EndpointState
from tracer.heartbeats import Heartbeat
from tracer.webhooks import endpoints

# A reading must not hang the page on a Redis that does not answer.
READ_TIMEOUT_S = 2.0


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
            queue_depths.read_event_shards(pipe, range(shards))
            queue_depths.read_webhook_shards(pipe, range(shards))
            for brand in brands:
                pipe.llen(redis_keys.webhook_dlq(brand.id))
            for endpoint_id in endpoint_ids:
                pipe.hgetall(redis_keys.endpoint_state(endpoint_id))
            for role in heartbeats.ROLES:
                heartbeats.read_registry(pipe, role)
            replies = await pipe.execute()
        reading = RedisReading()
        at = shards * queue_depths.EVENT_REPLIES
        events = queue_depths.event_shards(replies[:at], now)
        webhooks = queue_depths.webhook_shards(
            replies[at : at + shards * queue_depths.WEBHOOK_REPLIES]
        )
        at += shards * queue_depths.WEBHOOK_REPLIES
        for shard, (queued, jobs) in enumerate(zip(events, webhooks, strict=True)):
            reading.shards.append(
                Shard(
                    shard=shard,
                    depth=queued.depth,
                    dead=queued.dead,
                    oldest_age_s=queued.oldest_age_s,
                    webhook_ready=jobs.ready,
                    webhook_retry=jobs.retry,
                    webhook_dead=jobs.dead,
                )
            )
        for brand in brands:
            reading.dlq[brand.id] = replies[at]
            at += 1
        for endpoint_id in endpoint_ids:
            reading.endpoints[endpoint_id] = EndpointState.parse(replies[at])
            at += 1
        workers = {role: heartbeats.registered(replies[at + n])
                   for n, role in enumerate(heartbeats.ROLES)}  # fmt: skip
        reading.heartbeats = await _heartbeats(client, workers)
    return reading


async def _heartbeats(client: aioredis.Redis, workers: dict[str, list[str]]) -> list[Heartbeat]:
    if not any(workers.values()):
        return []
    async with client.pipeline(transaction=False) as pipe:
        for role, consumers in workers.items():
            heartbeats.read_heartbeats(pipe, role, consumers)
        replies = await pipe.execute()
    found: list[Heartbeat] = []
    at = 0
    for role, consumers in workers.items():
        found += heartbeats.heartbeats(role, consumers, replies[at : at + 2 * len(consumers)])
        at += 2 * len(consumers)
    return found
