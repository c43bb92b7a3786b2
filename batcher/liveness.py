"""Heartbeats, and adoption of the processing lists of batchers that died.

Every batcher is in the registry (a sorted set, scored by the time it was last seen) and
keeps a heartbeat key with a TTL. A registered batcher whose heartbeat key has expired is
dead: each of its processing lists is renamed, whole, to the adopter's processing list of
the same shard, so the batch is written again exactly as it was (the store ignores the
events it already has) and then acknowledged by the adopter.
"""

from __future__ import annotations

import logging
import os
import socket
import time

from batcher import lua
from tracer import heartbeats, redis_keys
from tracer.redis_cluster import AnyRedis

logger = logging.getLogger(__name__)
ROLE = "batcher"


def new_consumer_id() -> str:
    """Unique per process and readable in `redis-cli keys`: host, pid and a random tag."""
    return f"{socket.gethostname()}-{os.getpid()}-{os.urandom(3).hex()}"


class Liveness:
    def __init__(self, client: AnyRedis, consumer: str, shards: int, ttl_s: float):
        self.client = client
        self.consumer = consumer
        self.shards = shards
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self._adopt = client.register_script(lua.ADOPT)

    async def beat(self) -> int:
        """Refresh our heartbeat; return how many batchers are alive (us included)."""
        async with self.client.pipeline(transaction=False) as pipe:
            heartbeats.beat(pipe, ROLE, self.consumer, self.ttl_ms / 1000, time.time())
            await pipe.execute()
        alive, _dead = await self.peers()
        return len(alive) + 1

    async def peers(self) -> tuple[list[str], list[str]]:
        """(alive, dead) registered batchers other than us."""
        async with self.client.pipeline(transaction=False) as pipe:
            heartbeats.read_registry(pipe, ROLE)
            (reply,) = await pipe.execute()
        others = [member for member in heartbeats.registered(reply) if member != self.consumer]
        if not others:
            return [], []
        async with self.client.pipeline(transaction=False) as pipe:
            heartbeats.read_alive(pipe, ROLE, others)
            beating = await pipe.execute()
        alive = [m for m, b in zip(others, beating, strict=True) if b]
        dead = [m for m, b in zip(others, beating, strict=True) if not b]
        return alive, dead

    async def adopt_from_dead(self) -> list[int]:
        """Adopt the processing lists of dead batchers; return the shards that now have a
        batch waiting in our own processing list."""
        _alive, dead = await self.peers()
        adopted: list[int] = []
        for member in dead:
            left = 0
            for shard in range(self.shards):
                moved = await self._adopt(
                    keys=[
                        redis_keys.event_processing(shard, member),
                        redis_keys.event_processing(shard, self.consumer),
                    ]
                )
                if moved > 0:
                    logger.warning(
                        "Adopted %d event(s) of dead batcher %s (shard %d)", moved, member, shard
                    )
                    adopted.append(shard)
                elif moved < 0:
                    left += 1  # our own list of that shard is busy: next round
            if not left:
                async with self.client.pipeline(transaction=False) as pipe:
                    heartbeats.deregister(pipe, ROLE, member)
                    await pipe.execute()
        return adopted

    async def has_processing_lists(self, consumers: list[str]) -> bool:
        async with self.client.pipeline(transaction=False) as pipe:
            for member in consumers:
                for shard in range(self.shards):
                    pipe.exists(redis_keys.event_processing(shard, member))
            return any(await pipe.execute())

    async def leave(self, keep_registration: bool) -> None:
        """Stop heartbeating. Stay registered while a processing list of ours is left,
        so that another batcher adopts it at once (our heartbeat is gone)."""
        async with self.client.pipeline(transaction=False) as pipe:
            heartbeats.stop_beating(pipe, ROLE, self.consumer)
            if not keep_registration:
                heartbeats.deregister(pipe, ROLE, self.consumer)
            await pipe.execute()
