"""How full the queues are, shard by shard: the one reader of the lengths of the event
queue (`redis_keys.event_shard`, its dead list, the age of its head entry) and of the
webhook queue (ready list, retry set, dead list). The batcher's and the dispatcher's
`/metrics` and the dashboard read them through here.

Readers queue their commands on a caller's pipeline and parse the replies, so a caller
reads everything it needs in one round trip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tracer import redis_keys
from tracer.events import queued_age_s

# Replies per shard of each reader.
EVENT_REPLIES = 3
WEBHOOK_REPLIES = 3


@dataclass(frozen=True, slots=True)
class EventShardDepth:
    # Entries waiting (a hit batch of an edge flush, or one event of an older edge).
    depth: int
    # Entries set aside as undecodable or refused by the store.
    dead: int
    # How long the head entry's oldest hit has waited (0 when the shard is empty).
    oldest_age_s: float


@dataclass(frozen=True, slots=True)
class WebhookShardDepth:
    ready: int
    retry: int
    dead: int


def read_event_shards(pipe: Any, shards: Sequence[int]) -> None:
    for shard in shards:
        pipe.llen(redis_keys.event_shard(shard))
        pipe.llen(redis_keys.event_dead(shard))
        pipe.lindex(redis_keys.event_shard(shard), 0)


def event_shards(replies: Sequence[Any], now: float) -> list[EventShardDepth]:
    """The replies of `read_event_shards`, shard by shard."""
    return [
        EventShardDepth(depth, dead, queued_age_s(head, now))
        for depth, dead, head in _groups(replies, EVENT_REPLIES)
    ]


def read_webhook_shards(pipe: Any, shards: Sequence[int]) -> None:
    for shard in shards:
        pipe.llen(redis_keys.webhook_shard(shard))
        pipe.zcard(redis_keys.webhook_retry(shard))
        pipe.llen(redis_keys.webhook_dead(shard))


def webhook_shards(replies: Sequence[Any]) -> list[WebhookShardDepth]:
    """The replies of `read_webhook_shards`, shard by shard."""
    return [WebhookShardDepth(*group) for group in _groups(replies, WEBHOOK_REPLIES)]


def _groups(replies: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [replies[at : at + size] for at in range(0, len(replies), size)]
