"""Putting the API's events (`sent`, `conversion`) on the event queue, as the edge does.

The API pushes each event with one RPUSH and answers only once Redis has it: an accepted
event is never lost, and when Redis is down the caller gets 503 and retries. A push
retried by the client library after a lost reply may append the event twice; that is
harmless, because the store ignores a second event with the same id.
"""

from __future__ import annotations

import itertools

import redis.asyncio as aioredis

from tracer import events, redis_keys
from tracer.events import Event


class EventQueue:
    def __init__(self, client: aioredis.Redis, shards: int) -> None:
        self.client = client
        # Round robin over the shards, so that no batcher lane gets all the API's events.
        self._shards = itertools.cycle(range(shards))

    async def push(self, event: Event) -> None:
        await self.client.rpush(redis_keys.event_shard(next(self._shards)), events.encode(event))
