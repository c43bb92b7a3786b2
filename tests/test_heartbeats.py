"""The heartbeat keys and worker registries, written and read by their one module, on a
real redis-server: readers learn when a worker last beat from the key itself."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from tracer import heartbeats, redis_keys


async def read(client: aioredis.Redis, role: str) -> list[heartbeats.Heartbeat]:
    async with client.pipeline(transaction=False) as pipe:
        heartbeats.read_registry(pipe, role)
        (reply,) = await pipe.execute()
    consumers = heartbeats.registered(reply)
    async with client.pipeline(transaction=False) as pipe:
        heartbeats.read_heartbeats(pipe, role, consumers)
        replies = await pipe.execute()
    return heartbeats.heartbeats(role, consumers, replies)


async def test_each_role_beats_and_is_read_back_with_the_time_of_its_last_beat(
    redis_url: str,
) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        now = time.time()
        async with client.pipeline(transaction=False) as pipe:
            heartbeats.beat(pipe, "batcher", "b-1", 10.0, now - 3)
            heartbeats.beat(pipe, "dispatcher", "d-1", 15.0, now - 1)
            heartbeats.beat(pipe, "dispatcher", "d-2", 0.05, now - 1)
            await pipe.execute()
        # An older release's dispatcher wrote "1": alive, time unknown.
        await client.set(redis_keys.consumer_heartbeat("dispatcher", "d-3"), b"1", px=15_000)
        await client.sadd(redis_keys.worker_registry("dispatcher"), "d-3")
        await asyncio.sleep(0.1)  # d-2's key expires

        (batcher,) = await read(client, "batcher")
        dispatchers = {beat.consumer: beat for beat in await read(client, "dispatcher")}

        assert (batcher.alive, batcher.last_beat) == (True, now - 3)
        assert 0 < batcher.ttl_left_s <= 10
        assert dispatchers["d-1"].alive and dispatchers["d-1"].last_beat == now - 1
        assert not dispatchers["d-2"].alive and dispatchers["d-2"].ttl_left_s is None
        assert dispatchers["d-3"].alive and dispatchers["d-3"].last_beat is None

        async with client.pipeline(transaction=False) as pipe:
            heartbeats.stop_beating(pipe, "dispatcher", "d-1")
            heartbeats.deregister(pipe, "dispatcher", "d-1")
            heartbeats.deregister(pipe, "batcher", "b-1")
            await pipe.execute()
        assert await read(client, "batcher") == []
        assert "d-1" not in {beat.consumer for beat in await read(client, "dispatcher")}
    finally:
        await client.aclose()
