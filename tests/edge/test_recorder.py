"""The edge's recorder on its own, against a real redis-server: when a batch leaves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from edge.recorder import EventRecorder
from tests.dispatcher.helpers import until
from tracer import hits, redis_keys

SHARDS = 4


@asynccontextmanager
async def running(
    redis_url: str, spool_dir: Path, *, max_events: int = 50, interval_s: float
) -> AsyncIterator[EventRecorder]:
    recorder = EventRecorder(
        redis_url,
        spool_dir,
        shards=SHARDS,
        flush_max_events=max_events,
        flush_interval_s=interval_s,
        redis_timeout_s=2.0,
        producer="test",
    )
    await recorder.start()
    try:
        yield recorder
    finally:
        await recorder.close()


def _queued(redis_client) -> int:
    """Hits in the queue (each flush pushes one hit batch per shard)."""
    return sum(
        hits.hits_in(raw)
        for shard in range(SHARDS)
        for raw in redis_client.lrange(redis_keys.event_shard(shard), 0, -1)
    )


def record(recorder: EventRecorder, event_id: str, shard: int = hits.ANY_SHARD) -> None:
    recorder.record(
        (hits.OPEN, "northjobs", "token", b"", b"", b"", ("192.0.2.1", 4000), "GET", 1.0,
         event_id, None, shard)
    )  # fmt: skip


async def test_a_full_buffer_leaves_without_waiting_out_the_interval(
    redis_url: str, redis_client, tmp_path: Path
) -> None:
    async with running(redis_url, tmp_path, interval_s=30.0) as recorder:
        record(recorder, "first")
        await asyncio.sleep(0.05)  # the flusher is now lingering for more
        for n in range(49):
            record(recorder, f"event {n}")
        await until(lambda: _queued(redis_client) == 50, 5.0, "the full batch, long before 30 s")
        assert recorder.stats.batches_pushed == 1


async def test_a_partial_buffer_leaves_after_the_interval(
    redis_url: str, redis_client, tmp_path: Path
) -> None:
    async with running(redis_url, tmp_path, interval_s=0.3) as recorder:
        record(recorder, "only")
        await asyncio.sleep(0.1)
        assert _queued(redis_client) == 0  # still lingering
        await asyncio.sleep(0.6)
        assert _queued(redis_client) == 1


async def test_redis_down_at_start_is_known_before_any_event(tmp_path: Path) -> None:
    async with running("redis://127.0.0.1:9/0", tmp_path, interval_s=0.002) as recorder:
        assert recorder.redis_available is False
