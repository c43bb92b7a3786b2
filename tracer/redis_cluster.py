"""What the batcher, the dispatcher and the admin API need to run on a Redis Cluster too
(`TRACER_REDIS_CLUSTER=1`; the edge has its own client in `edge/recorder.py`).

Every key a script or a transaction touches shares one hash tag (`tracer.redis_keys`),
so each runs on one node. What differs from a single Redis is in redis-py's cluster
client: a cluster pipeline refuses EVALSHA, and a cluster that cannot be reached raises
`RedisClusterException`, which is not a `RedisError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import redis
import redis.asyncio as aioredis
import redis.cluster
from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import RedisClusterException, RedisError

# A client of either kind: both speak the same commands for single-slot keys.
AnyRedis = aioredis.Redis | RedisCluster
AnySyncRedis = redis.Redis | redis.cluster.RedisCluster

# What "Redis is unavailable" raises: on a cluster, also "no node can be reached" and
# "the slots are not all covered" (while a node fails over).
REDIS_ERRORS: tuple[type[Exception], ...] = (RedisError, RedisClusterException)

# (keys, args) of one script call.
ScriptCall = tuple[Sequence[str], Sequence[Any]]


def is_cluster(client: object) -> bool:
    return isinstance(client, RedisCluster)


def connect(url: str, *, cluster: bool, **options: Any) -> AnyRedis:
    """An asyncio client of the Redis at `url`, or, with `cluster`, of the Redis Cluster
    that `url` names one node of (the client finds the others, and finds them again with
    the slots after a failover). `options` go to the client as they are."""
    if cluster:
        return RedisCluster.from_url(url, **options)
    return aioredis.Redis.from_url(url, **options)


def connect_sync(
    url: str, *, cluster: bool, **options: Any
) -> redis.Redis | redis.cluster.RedisCluster:
    """`connect` for the command-line tools, which are not asyncio programs."""
    if cluster:
        return redis.cluster.RedisCluster.from_url(url, **options)
    return redis.Redis.from_url(url, **options)


async def run_script(client: AnyRedis, script: AsyncScript, calls: Iterable[ScriptCall]) -> list:
    """Call `script` once per (keys, args), all in one pipeline; the replies in order.

    Each call is an EVAL carrying the script's text (a few hundred bytes; Redis keeps the
    compiled script under its hash). EVALSHA would need the script loaded on every node
    first: redis-py's pipeline then asks SCRIPT EXISTS before every execution, a round
    trip more each time, and a cluster pipeline refuses EVALSHA outright.
    """
    async with client.pipeline(transaction=False) as pipe:
        for keys, args in calls:
            pipe.eval(script.script, len(keys), *keys, *args)
        return await pipe.execute()
