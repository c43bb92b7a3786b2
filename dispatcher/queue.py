"""The dispatcher's side of the webhook queue in Redis.

Reliable consumption: jobs move atomically from a shard to this dispatcher's processing
list (one per shard, same hash tag) and leave it only once their outcome is recorded. A
dispatcher announces itself in a registry and keeps a heartbeat key alive; when the
heartbeat of a registered dispatcher has expired, whoever notices first pushes its
processing lists back to the front of the shards.
"""

from __future__ import annotations

import logging
import time
from collections import Counter

from tracer import heartbeats, queue_depths, redis_keys
from tracer.redis_cluster import AnyRedis, run_script

log = logging.getLogger(__name__)

ROLE = "dispatcher"

# Up to ARGV[1] jobs from the head of the shard, appended to the processing list.
_TAKE = """
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #items > 0 then
  redis.call('LTRIM', KEYS[1], #items, -1)
  redis.call('RPUSH', KEYS[2], unpack(items))
end
return items
"""

# The whole processing list back to the front of the shard, order kept (tail first).
_REQUEUE = """
local moved = 0
while redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT') do
  moved = moved + 1
end
return moved
"""

# Retries that are due (score <= ARGV[1]), at most ARGV[2], appended to the shard.
_PROMOTE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #due > 0 then
  redis.call('ZREM', KEYS[1], unpack(due))
  redis.call('RPUSH', KEYS[2], unpack(due))
end
return #due
"""


def shard_for(endpoint: str, shards: int) -> int:
    """Shard of an endpoint's jobs: the batcher's rule (`batcher.handoff.webhook_shard_of`),
    kept in step here because stages do not import each other."""
    return int(endpoint[:8], 16) % shards


class WebhookQueue:
    def __init__(self, redis: AnyRedis, shards: int, consumer: str) -> None:
        self.redis = redis
        self.shards = range(shards)
        self.consumer = consumer
        self._take = redis.register_script(_TAKE)
        self._requeue = redis.register_script(_REQUEUE)
        self._promote = redis.register_script(_PROMOTE)

    def processing(self, shard: int) -> str:
        return redis_keys.webhook_processing(shard, self.consumer)

    async def take(self, shard: int, limit: int) -> list[bytes]:
        keys = [redis_keys.webhook_shard(shard), self.processing(shard)]
        return await self._take(keys=keys, args=[limit])

    async def unknown_jobs(self, shard: int, held: Counter[bytes]) -> list[bytes]:
        """Jobs in our processing list of `shard` that we do not hold: moved there by a take
        whose reply was lost (Redis died after running it). Taking them again is safe: a
        job held and acked meanwhile is at worst delivered twice (receivers dedupe on
        webhook-id), never lost."""
        unclaimed = Counter(held)
        unknown = []
        for raw in await self.redis.lrange(self.processing(shard), 0, -1):
            if unclaimed[raw] > 0:
                unclaimed[raw] -= 1
            else:
                unknown.append(raw)
        return unknown

    async def wait_take(self, shard: int, timeout_s: float) -> bytes | None:
        """Block until one job arrives (or `timeout_s` passes), so that an idle dispatcher
        neither polls nor adds latency to the next job."""
        return await self.redis.blmove(
            redis_keys.webhook_shard(shard), self.processing(shard), timeout_s, "LEFT", "RIGHT"
        )

    async def promote_due(self, now: float, limit: int = 1000) -> int:
        """Move due retries of every shard back to their shard, in one round trip."""
        calls = [
            ([redis_keys.webhook_retry(shard), redis_keys.webhook_shard(shard)], [now, limit])
            for shard in self.shards
        ]
        return sum(await run_script(self.redis, self._promote, calls))

    async def requeue(self, consumer: str) -> int:
        """Push every job of `consumer`'s processing lists back to the front of its shard."""
        moved = 0
        for shard in self.shards:
            keys = [
                redis_keys.webhook_processing(shard, consumer),
                redis_keys.webhook_shard(shard),
            ]
            moved += await self._requeue(keys=keys)
        return moved

    async def beat(self, ttl_s: float) -> None:
        """Refresh the heartbeat, and the registry entry in case a slow beat lost it."""
        async with self.redis.pipeline(transaction=False) as pipe:
            heartbeats.beat(pipe, ROLE, self.consumer, ttl_s, time.time())
            await pipe.execute()

    async def adopt_orphans(self) -> int:
        """Requeue the jobs of registered dispatchers whose heartbeat has expired."""
        async with self.redis.pipeline(transaction=False) as pipe:
            heartbeats.read_registry(pipe, ROLE)
            (reply,) = await pipe.execute()
        others = [c for c in heartbeats.registered(reply) if c != self.consumer]
        async with self.redis.pipeline(transaction=False) as pipe:
            heartbeats.read_alive(pipe, ROLE, others)
            beating = await pipe.execute() if others else []
        adopted = 0
        for consumer, alive in zip(others, beating, strict=True):
            if alive:
                continue
            moved = await self.requeue(consumer)
            async with self.redis.pipeline(transaction=False) as pipe:
                heartbeats.deregister(pipe, ROLE, consumer)
                await pipe.execute()
            if moved:
                log.warning(
                    "Adopted %d job(s) of dispatcher %s (heartbeat expired)", moved, consumer
                )
            adopted += moved
        return adopted

    async def leave(self, deregister: bool = True) -> int:
        """Requeue what this dispatcher still holds and deregister it (clean shutdown)."""
        moved = await self.requeue(self.consumer)
        if not deregister:
            return moved
        async with self.redis.pipeline(transaction=False) as pipe:
            heartbeats.stop_beating(pipe, ROLE, self.consumer)
            heartbeats.deregister(pipe, ROLE, self.consumer)
            await pipe.execute()
        return moved

    async def depths(self) -> list[tuple[str, int, int]]:
        """(queue, shard, length) for the ready lists and the retry sets."""
        async with self.redis.pipeline(transaction=False) as pipe:
            queue_depths.read_webhook_shards(pipe, self.shards)
            replies = await pipe.execute()
        rows = []
        for shard, depth in zip(self.shards, queue_depths.webhook_shards(replies), strict=True):
            rows.append(("ready", shard, depth.ready))
            rows.append(("retry", shard, depth.retry))
        return rows

    async def is_drained(self, stuck: int = 0) -> bool:
        """No job ready, waiting for a retry or held by this dispatcher (burst mode), but
        the `stuck` ones whose outcome Redis refused to record (requeued on leaving)."""
        await self.adopt_orphans()
        async with self.redis.pipeline(transaction=False) as pipe:
            for shard in self.shards:
                pipe.llen(redis_keys.webhook_shard(shard))
                pipe.zcard(redis_keys.webhook_retry(shard))
                pipe.llen(self.processing(shard))
            counts = await pipe.execute()
        return not any(counts[0::3]) and not any(counts[1::3]) and sum(counts[2::3]) <= stuck
