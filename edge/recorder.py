"""Getting events from the request path into Redis without the request ever waiting.

`record()` appends a pending item (the edge's hits, see edge/hits.py) to an in-process
list and returns. A single flusher task turns the list into encoded events with the
`encode` callable every `flush_interval_s` (or as soon as `flush_max_events` are waiting)
and sends them to Redis as one command per batch. When Redis is unreachable, batches go
to the spool file and the flusher replays them, in order, once Redis answers again.

Exactly once into Redis: every batch carries (producer, sequence). A Lua script appends the
batch only if that producer's last applied sequence on the shard is lower, so a batch whose
reply was lost (Redis died after applying it) and is later replayed from the spool is not
pushed twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from edge.spool import SpooledBatch, SpoolFile, orphaned_spools
from tracer import redis_keys
from tracer.redis_cluster import REDIS_ERRORS

logger = logging.getLogger("tracer.edge.recorder")

# KEYS[1] the shard list, KEYS[2] the producer's sequence marker (same hash tag);
# ARGV[1] the batch sequence, ARGV[2..] the events.
PUSH_BATCH_SCRIPT = """
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
if tonumber(ARGV[1]) <= last then return 0 end
redis.call('RPUSH', KEYS[1], unpack(ARGV, 2))
redis.call('SET', KEYS[2], ARGV[1], 'EX', 1209600)
return 1
"""
# How often to try Redis again while it is unreachable.
RECONNECT_INTERVAL_S = 0.25
# How often to look for spool files left behind by edge processes that died.
ORPHAN_CHECK_INTERVAL_S = 5.0


class RecorderStats:
    """Counters the edge exports on /metrics."""

    __slots__ = (
        "batches_pushed",
        "batches_replayed",
        "batches_spooled",
        "events_pushed",
        "events_replayed",
        "events_spooled",
        "redis_errors",
        "spools_adopted",
    )

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, 0)


class EventRecorder:
    """Per-process event buffer, flusher and spool."""

    def __init__(
        self,
        redis_url: str,
        spool_dir: Path,
        *,
        shards: int,
        flush_max_events: int,
        flush_interval_s: float,
        redis_timeout_s: float,
        producer: str,
        encode: Callable[[list[Any]], list[bytes]] = list,
        cluster: bool = False,
    ) -> None:
        self.redis_url = redis_url
        self.spool_dir = spool_dir
        self.shards = shards
        self.flush_max_events = flush_max_events
        self.flush_interval_s = flush_interval_s
        self.redis_timeout_s = redis_timeout_s
        self.producer = producer
        self.encode = encode
        self.cluster = cluster
        self.stats = RecorderStats()
        self.redis_available = True
        self._buffer: list[Any] = []
        self._sequence = 0
        self._next_shard = int.from_bytes(os.urandom(2), "big") % shards
        self._spool: SpoolFile | None = None
        self._wake = asyncio.Event()
        # While the flusher lingers for more events: resolved when the wait is over
        # (its timer fired, or the buffer reached `flush_max_events`).
        self._lingering: asyncio.Future[None] | None = None
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._client: aioredis.Redis | RedisCluster | None = None
        self._push = None

    # --- the request path: no I/O, no await ---------------------------------------------
    def record(self, item: Any) -> None:
        buffer = self._buffer
        buffer.append(item)
        size = len(buffer)
        if size == 1:
            self._wake.set()
        elif size >= self.flush_max_events:
            self._wake.set()
            if self._lingering is not None:
                _end(self._lingering)

    @property
    def client(self) -> aioredis.Redis | RedisCluster:
        assert self._client is not None, "the recorder has not started"
        return self._client

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    @property
    def spool_bytes(self) -> int:
        return self._spool.size() if self._spool is not None else 0

    # --- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        options = {
            "socket_timeout": self.redis_timeout_s,
            "socket_connect_timeout": self.redis_timeout_s,
        }
        if self.cluster:
            # Each shard's keys share a hash tag, so the batch script stays in one slot.
            self._client = RedisCluster.from_url(self.redis_url, **options)
        else:
            self._client = aioredis.Redis.from_url(
                self.redis_url, retry_on_timeout=False, health_check_interval=0, **options
            )
        self._push = self._client.register_script(PUSH_BATCH_SCRIPT)
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        # Known before the first event: /readyz reports it, the flusher spools at once.
        self.redis_available = await self._ping()
        if not self.redis_available:
            logger.error("Redis unreachable at start; events are spooled until it answers")
        self._task = asyncio.get_running_loop().create_task(self._run(), name="event-flusher")

    async def close(self) -> None:
        """Flush everything: to Redis when it answers, otherwise to the spool."""
        self._closing = True
        self._wake.set()
        if self._lingering is not None:
            _end(self._lingering)
        if self._task is not None:
            await self._task
        if self._client is not None:
            await self._client.aclose()
        if self._spool is not None:
            logger.warning(
                "%d bytes of events stay in %s until Redis is reachable again",
                self._spool.size(),
                self._spool.path,
            )
            self._spool.sync()
            self._spool.close()

    # --- the flusher ----------------------------------------------------------------------
    async def _run(self) -> None:
        await self._adopt_orphans()
        last_orphan_check = last_probe = time.monotonic()
        while True:
            if not self._buffer and not self._closing:
                await self._wait_for_work()
            if self._buffer and len(self._buffer) < self.flush_max_events and not self._closing:
                # Let a few more events arrive so one round trip carries many.
                await self._linger()
            batch, self._buffer = self._buffer, []
            if batch:
                await self._deliver(self._next_batch(self.encode(batch)))
            now = time.monotonic()
            if not self.redis_available and now - last_probe >= RECONNECT_INTERVAL_S:
                last_probe = now
                self.redis_available = await self._ping()
                if self.redis_available:
                    logger.info("Redis is reachable again; replaying the spool")
            if self._spool is not None and self.redis_available:
                await self._replay_own_spool()
            if self._closing and not self._buffer:
                return
            if now - last_orphan_check >= ORPHAN_CHECK_INTERVAL_S:
                last_orphan_check = now
                if self.redis_available and self._spool is None:
                    await self._adopt_orphans()

    async def _linger(self) -> None:
        """Wait `flush_interval_s`, or until the buffer holds `flush_max_events`."""
        loop = asyncio.get_running_loop()
        lingering = self._lingering = loop.create_future()
        timer = loop.call_later(self.flush_interval_s, _end, lingering)
        try:
            await lingering
        finally:
            timer.cancel()
            self._lingering = None

    async def _wait_for_work(self) -> None:
        self._wake.clear()
        # With events waiting in the spool, or Redis down, wake up now and then to probe it.
        probing = self._spool is not None or not self.redis_available
        timeout = RECONNECT_INTERVAL_S if probing else ORPHAN_CHECK_INTERVAL_S
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    def _next_batch(self, events: list[bytes]) -> SpooledBatch:
        self._sequence += 1
        shard = self._next_shard
        self._next_shard = (shard + 1) % self.shards
        return SpooledBatch(self.producer, self._sequence, shard, events)

    async def _deliver(self, batch: SpooledBatch) -> None:
        # Once anything is spooled, later batches queue behind it to keep their order.
        if self._spool is None and self.redis_available and await self._push_batch(batch):
            self.stats.batches_pushed += 1
            self.stats.events_pushed += len(batch.events)
            return
        self._spool_batch(batch)

    async def _push_batch(self, batch: SpooledBatch) -> bool:
        assert self._push is not None
        keys = [
            redis_keys.event_shard(batch.shard),
            redis_keys.event_producer_sequence(batch.shard, batch.producer),
        ]
        try:
            await self._push(keys=keys, args=[batch.sequence, *batch.events])
        except (*REDIS_ERRORS, OSError) as exc:
            self.stats.redis_errors += 1
            if self.redis_available:
                logger.error(
                    "Redis unreachable (%s); spooling events to %s",
                    type(exc).__name__,
                    self.spool_dir,
                )
            self.redis_available = False
            return False
        return True

    def _spool_batch(self, batch: SpooledBatch) -> None:
        if self._spool is None:
            self._spool = SpoolFile.create(self.spool_dir / f"edge-{self.producer}.spool")
        self._spool.append(batch)
        self.stats.batches_spooled += 1
        self.stats.events_spooled += len(batch.events)

    async def _replay_own_spool(self) -> None:
        spool = self._spool
        assert spool is not None
        if await self._replay(spool):
            self._spool = None
            spool.discard()

    async def _replay(self, spool: SpoolFile) -> bool:
        """Push every batch of `spool` in order; False (and Redis marked down) on failure."""
        started = time.monotonic()
        replayed = 0
        for batch in spool.batches():
            if not await self._push_batch(batch):
                return False
            replayed += 1
            self.stats.batches_replayed += 1
            self.stats.events_replayed += len(batch.events)
        if replayed:
            logger.info(
                "replayed %d spooled batch(es) from %s in %.2fs",
                replayed,
                spool.path,
                time.monotonic() - started,
            )
        return True

    async def _adopt_orphans(self) -> None:
        """Replay spools left by edge processes that died before Redis came back."""
        own = self._spool.path if self._spool is not None else None
        for orphan in orphaned_spools(self.spool_dir, own):
            self.stats.spools_adopted += 1
            logger.info("adopting spool %s left by a previous process", orphan.path)
            if await self._replay(orphan):
                orphan.discard()
            else:
                orphan.close()
                return

    async def _ping(self) -> bool:
        assert self._client is not None
        try:
            await self._client.ping()
        except (*REDIS_ERRORS, OSError):
            return False
        return True


def _end(lingering: asyncio.Future[None]) -> None:
    if not lingering.done():
        lingering.set_result(None)
