"""Shard leases, heartbeats and adoption, driven step by step on a real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
import redis
import redis.asyncio as aioredis

from batcher import lua
from batcher.leases import ShardLeases
from batcher.liveness import Liveness
from tests.batcher.helpers import SHARDS
from tracer import redis_keys


@pytest.fixture
async def clients(redis_url: str) -> AsyncIterator[Callable[[], aioredis.Redis]]:
    opened: list[aioredis.Redis] = []

    def factory() -> aioredis.Redis:
        opened.append(aioredis.Redis.from_url(redis_url))
        return opened[-1]

    yield factory
    for client in opened:
        await client.aclose()


async def test_two_batchers_converge_on_half_the_shards_each(clients) -> None:
    first = ShardLeases(clients(), "first", SHARDS, ttl_s=5)
    second = ShardLeases(clients(), "second", SHARDS, ttl_s=5)

    await first.rebalance(live_batchers=1)
    await second.rebalance(live_batchers=2)
    assert (len(first.owned), len(second.owned)) == (8, 0)

    await first.rebalance(live_batchers=2)
    await second.rebalance(live_batchers=2)
    assert (len(first.owned), len(second.owned)) == (4, 4)
    assert first.owned.isdisjoint(second.owned)


async def test_a_lease_taken_over_meanwhile_is_dropped_not_renewed(
    clients, redis_client: redis.Redis
) -> None:
    leases = ShardLeases(clients(), "slow", SHARDS, ttl_s=5)
    await leases.rebalance(live_batchers=1)
    # "slow" paused past its TTL and "fast" took shard 3.
    redis_client.set(redis_keys.event_shard_owner(3), "fast")

    await leases.rebalance(live_batchers=2)

    assert 3 not in leases.owned
    assert redis_client.get(redis_keys.event_shard_owner(3)) == b"fast"


async def test_take_moves_nothing_from_a_shard_whose_lease_is_not_ours(
    clients, redis_client: redis.Redis
) -> None:
    client = clients()
    take = client.register_script(lua.TAKE)
    redis_client.rpush(redis_keys.event_shard(0), b"a", b"b", b"c")
    redis_client.set(redis_keys.event_shard_owner(0), "someone-else")
    keys = [
        redis_keys.event_shard(0),
        redis_keys.event_processing(0, "me"),
        redis_keys.event_shard_owner(0),
    ]

    assert await take(keys=keys, args=["me", 2]) == [0, []]
    redis_client.set(redis_keys.event_shard_owner(0), "me")
    assert await take(keys=keys, args=["me", 2]) == [0, [b"a", b"b"]]
    # Not acknowledged: the same batch again, not the next one.
    assert await take(keys=keys, args=["me", 2]) == [1, [b"a", b"b"]]
    assert redis_client.lrange(redis_keys.event_shard(0), 0, -1) == [b"c"]


async def test_a_dead_batchers_processing_lists_are_adopted_whole(
    clients, redis_client: redis.Redis
) -> None:
    # "dead" registered, holds batches of shards 2 and 5, and its heartbeat has expired.
    redis_client.zadd(redis_keys.worker_registry("batcher"), {"dead": 1.0})
    redis_client.rpush(redis_keys.event_processing(2, "dead"), b"x1", b"x2")
    redis_client.rpush(redis_keys.event_processing(5, "dead"), b"y1")
    # Our own list of shard 5 is busy: that one waits for the next round.
    redis_client.rpush(redis_keys.event_processing(5, "heir"), b"mine")
    liveness = Liveness(clients(), "heir", SHARDS, ttl_s=5)
    await liveness.beat()

    assert await liveness.adopt_from_dead() == [2]
    assert redis_client.lrange(redis_keys.event_processing(2, "heir"), 0, -1) == [b"x1", b"x2"]
    assert redis_client.zscore(redis_keys.worker_registry("batcher"), "dead") is not None

    redis_client.delete(redis_keys.event_processing(5, "heir"))
    assert await liveness.adopt_from_dead() == [5]
    assert redis_client.zscore(redis_keys.worker_registry("batcher"), "dead") is None


async def test_a_live_batcher_is_not_adopted(clients, redis_client: redis.Redis) -> None:
    alive = Liveness(clients(), "alive", SHARDS, ttl_s=5)
    await alive.beat()
    redis_client.rpush(redis_keys.event_processing(1, "alive"), b"in-flight")
    heir = Liveness(clients(), "heir", SHARDS, ttl_s=5)

    assert await heir.beat() == 2
    assert await heir.adopt_from_dead() == []
    assert redis_client.llen(redis_keys.event_processing(1, "alive")) == 1
