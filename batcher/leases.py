"""Shard ownership: each shard is consumed by the one batcher holding its lease.

A lease is `SET owner consumer NX PX ttl`, renewed while held and given up on shutdown.
Batchers share the shards evenly: each aims at ceil(shards / live batchers), takes free
shards up to that and gives back what it holds beyond it, so a newcomer gets its share
within a couple of maintenance rounds and a dead batcher's shards are free one TTL later.
"""

from __future__ import annotations

import logging
import math
import random

from batcher import lua
from tracer import redis_keys
from tracer.redis_cluster import AnyRedis, run_script

logger = logging.getLogger(__name__)


class ShardLeases:
    def __init__(self, client: AnyRedis, consumer: str, shards: int, ttl_s: float):
        self.client = client
        self.consumer = consumer
        self.shards = shards
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self.owned: set[int] = set()
        self._renew = client.register_script(lua.RENEW)
        self._release = client.register_script(lua.RELEASE)

    def fair_share(self, live_batchers: int) -> int:
        return math.ceil(self.shards / max(1, live_batchers))

    async def rebalance(self, live_batchers: int) -> None:
        """Renew what we hold, then claim or release shards towards our fair share."""
        await self._renew_owned()
        target = self.fair_share(live_batchers)
        if len(self.owned) < target:
            await self._claim(target - len(self.owned))
        elif len(self.owned) > target:
            await self._release_some(len(self.owned) - target)

    async def _renew_owned(self) -> None:
        owned = sorted(self.owned)
        if not owned:
            return
        args = [self.consumer, self.ttl_ms]
        calls = [([redis_keys.event_shard_owner(shard)], args) for shard in owned]
        renewed = await run_script(self.client, self._renew, calls)
        for shard, still_ours in zip(owned, renewed, strict=True):
            if not still_ours:
                # Our lease expired (a long pause) and another batcher may own it now.
                logger.warning("Lost the lease of shard %d", shard)
                self.owned.discard(shard)

    async def _claim(self, wanted: int) -> None:
        free = [shard for shard in range(self.shards) if shard not in self.owned]
        # Random order: batchers starting together do not all race for shard 0.
        random.shuffle(free)
        for shard in free:
            if wanted <= 0:
                return
            key = redis_keys.event_shard_owner(shard)
            if await self.client.set(key, self.consumer, nx=True, px=self.ttl_ms):
                self.owned.add(shard)
                wanted -= 1
                logger.info("Claimed shard %d", shard)

    async def _release_some(self, count: int) -> None:
        for shard in sorted(self.owned, reverse=True)[:count]:
            await self.release(shard)

    async def release(self, shard: int) -> None:
        self.owned.discard(shard)
        await self._release(keys=[redis_keys.event_shard_owner(shard)], args=[self.consumer])
        logger.info("Released shard %d", shard)

    async def release_all(self) -> None:
        for shard in sorted(self.owned):
            await self.release(shard)
