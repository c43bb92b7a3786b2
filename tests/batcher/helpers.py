"""Helpers of the batcher tests: filling the queue as the edge does, and waiting."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

import redis

from batcher.config import BatcherConfig
from tests.store.events import make_event
from tracer import events as event_codec
from tracer import redis_keys
from tracer.events import Event

SHARDS = 8
# Short leases and back-offs so fault tests end in a second or two.
FAST = BatcherConfig(
    lease_ttl_s=0.6,
    heartbeat_ttl_s=0.6,
    idle_poll_s=0.001,
    backoff_initial_s=0.01,
    backoff_max_s=0.1,
    shutdown_grace_period_s=0.3,
    periodic_jobs=False,
)


def push(client: redis.Redis, payloads: Sequence[bytes | Event], shards: int = SHARDS) -> None:
    """RPUSH round-robin over the shards, as the edge's batched flush does."""
    pipe = client.pipeline(transaction=False)
    for index, item in enumerate(payloads):
        raw = item if isinstance(item, bytes) else event_codec.encode(item)
        pipe.rpush(redis_keys.event_shard(index % shards), raw)
    pipe.execute()


def events(count: int, event_type: str = "open", **fields: object) -> list[Event]:
    """`count` events of distinct messages."""
    return [make_event(event_type, message_id=f"m-{i}", **fields) for i in range(count)]


def queued(client: redis.Redis, shards: int = SHARDS) -> int:
    """Events still in Redis: in the shards and in every processing list."""
    total = sum(client.llen(redis_keys.event_shard(n)) for n in range(shards))
    for n in range(shards):
        for key in client.scan_iter(match=redis_keys.event_processing_pattern(n)):
            total += client.llen(key)
    return total


async def wait_until(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    """Poll a condition the test cannot be told about (e.g. another process's progress)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout_s}s")
        await asyncio.sleep(0.005)
