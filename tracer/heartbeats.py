"""Heartbeats of the batchers and dispatchers: the one writer and reader of their Redis
structures.

Each worker keeps a key (`redis_keys.consumer_heartbeat`) alive with a TTL, whose value
is the time of its last beat, and sits in its role's registry (`worker_registry`): a
sorted set scored by the time it was last seen for batchers, a set for dispatchers. A
registered worker whose key has expired is dead, and its work is adopted. Readers learn
when a worker last beat from the key itself, so none needs to know the writer's TTL.

Writers and readers take a pipeline, so that a caller batches them with its other
commands: the dashboard reads every registry in one round trip and every heartbeat in
a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tracer import redis_keys

ROLES = ("batcher", "dispatcher")
# Batchers keep when each was last seen as the registry's score (a sorted set).
_SCORED = {"batcher": True, "dispatcher": False}


@dataclass(frozen=True)
class Heartbeat:
    role: str
    consumer: str
    # The heartbeat key exists: a registered worker whose key expired is dead.
    alive: bool
    # Seconds left on the key (None: dead, or a key without expiry).
    ttl_left_s: float | None
    # When the worker last beat (None: unknown, a key written by an older release).
    last_beat: float | None


def beat(pipe: Any, role: str, consumer: str, ttl_s: float, now: float) -> None:
    """Refresh `consumer`'s heartbeat, and its registry entry (in case a slow beat lost it)."""
    pipe.set(redis_keys.consumer_heartbeat(role, consumer), repr(now), px=max(1, int(ttl_s * 1000)))
    registry = redis_keys.worker_registry(role)
    if _SCORED[role]:
        pipe.zadd(registry, {consumer: now})
    else:
        pipe.sadd(registry, consumer)


def stop_beating(pipe: Any, role: str, consumer: str) -> None:
    pipe.delete(redis_keys.consumer_heartbeat(role, consumer))


def deregister(pipe: Any, role: str, consumer: str) -> None:
    registry = redis_keys.worker_registry(role)
    if _SCORED[role]:
        pipe.zrem(registry, consumer)
    else:
        pipe.srem(registry, consumer)


def read_registry(pipe: Any, role: str) -> None:
    """Queue the read of `role`'s registry; `registered()` parses its reply."""
    registry = redis_keys.worker_registry(role)
    if _SCORED[role]:
        pipe.zrange(registry, 0, -1)
    else:
        pipe.smembers(registry)


def registered(reply: Any) -> list[str]:
    """The consumers of a registry reply, sorted."""
    return sorted(member.decode() for member in reply)


def read_alive(pipe: Any, role: str, consumers: Sequence[str]) -> None:
    """Queue one EXISTS per consumer; the replies say which heartbeats are alive."""
    for consumer in consumers:
        pipe.exists(redis_keys.consumer_heartbeat(role, consumer))


def read_heartbeats(pipe: Any, role: str, consumers: Sequence[str]) -> None:
    """Queue what `heartbeats()` needs for each consumer (its key's value and TTL)."""
    for consumer in consumers:
        key = redis_keys.consumer_heartbeat(role, consumer)
        pipe.get(key)
        pipe.pttl(key)


def heartbeats(role: str, consumers: Sequence[str], replies: Sequence[Any]) -> list[Heartbeat]:
    found = []
    for n, consumer in enumerate(consumers):
        value, ttl_ms = replies[2 * n], replies[2 * n + 1]
        # PTTL: -2 when the key is gone, -1 when it has no expiry.
        found.append(
            Heartbeat(
                role=role,
                consumer=consumer,
                alive=ttl_ms != -2,
                ttl_left_s=ttl_ms / 1000 if ttl_ms >= 0 else None,
                last_beat=_beat_time(value),
            )
        )
    return found


def _beat_time(value: bytes | None) -> float | None:
    try:
        moment = float(value) if value is not None else None
    except ValueError:
        return None
    # Older releases wrote "1": no time at all.
    return moment if moment is not None and moment > 1e9 else None
