"""Getting raw hits from the request path into Redis without the request ever waiting.

`record()` encodes the hit (one msgspec call), writes it to the worker's journal
(edge/journal.py) and appends it to an in-process buffer per queue shard, and returns: the
answer goes out only after that. A single flusher task sends the buffers to Redis every
`flush_interval_s` (or as soon as `flush_max_events` are waiting): per shard, one hit batch
(`tracer.hits.frame`: an envelope around the records as encoded, no per-hit work) in one
pipelined call. Clicks go to the shard of their message (the batcher's burst detection
sees all of a message's clicks); opens to any shard, round-robin per flush; a flush's
batches go in one pipelined round trip. When Redis is
unreachable, batches go to the spool file and the flusher replays them, in order, once
Redis answers again.

Exactly once into Redis: every batch carries (producer, sequence). A Lua script appends the
batch only if that producer's last applied sequence on the shard is lower, so a batch whose
reply was lost (Redis died after applying it) and is later replayed from the spool or the
journal is not pushed twice. A worker killed with SIGKILL leaves its journal behind; the
next worker to start, or a sibling within `ORPHAN_CHECK_INTERVAL_S`, replays what it holds
beyond the last acknowledged flush, rebuilding the batches of the flush under way with
their original sequences.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import zlib
from pathlib import Path
from typing import Any

import msgspec
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from edge.journal import DEFAULT_JOURNAL_BYTES, Journal, OrphanJournal, orphaned_journals
from edge.spool import SpooledBatch, SpoolFile, orphaned_spools
from tracer import hits, redis_keys
from tracer.redis_cluster import REDIS_ERRORS, run_script

logger = logging.getLogger(__name__)

# KEYS[1] the shard list, KEYS[2] the producer's sequence marker (same hash tag);
# ARGV[1] the batch sequence, ARGV[2..] the events.
PUSH_BATCH_SCRIPT = """
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
if tonumber(ARGV[1]) <= last then return 0 end
redis.call('RPUSH', KEYS[1], unpack(ARGV, 2))
redis.call('SET', KEYS[2], ARGV[1], 'EX', 1209600)
return 1
"""
# The same for several batches (each to its own shard) in one call, for a single Redis: one
# command per flush however many shards its hits go to. KEYS: (shard list, sequence marker)
# per batch; ARGV: per batch its sequence, its number of entries, then the entries.
PUSH_BATCHES_SCRIPT = """
local applied = 0
local at = 1
for k = 1, #KEYS, 2 do
    local sequence = tonumber(ARGV[at])
    local count = tonumber(ARGV[at + 1])
    local last = tonumber(redis.call('GET', KEYS[k + 1]) or '0')
    if sequence > last then
        redis.call('RPUSH', KEYS[k], unpack(ARGV, at + 2, at + 1 + count))
        redis.call('SET', KEYS[k + 1], ARGV[at], 'EX', 1209600)
        applied = applied + 1
    end
    at = at + 2 + count
end
return applied
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
        "events_recovered",
        "events_replayed",
        "events_spooled",
        "journals_adopted",
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
        cluster: bool = False,
        journal_bytes: int = DEFAULT_JOURNAL_BYTES,
    ) -> None:
        self.redis_url = redis_url
        self.spool_dir = spool_dir
        self.shards = shards
        self.flush_max_events = flush_max_events
        self.flush_interval_s = flush_interval_s
        self.redis_timeout_s = redis_timeout_s
        self.producer = producer
        self.cluster = cluster
        self.journal_bytes = journal_bytes
        self.stats = RecorderStats()
        self.redis_available = True
        # One list of encoded hits per shard, and a last one for hits of any shard.
        self._buffers: list[list[bytes]] = [[] for _ in range(shards + 1)]
        self._count = 0
        self._encode = hits.encode_hit_fields
        self._journal: Journal | None = None
        self._append = _no_journal
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
        self._push_many = None

    # --- the request path: no I/O, no await ---------------------------------------------
    def record(self, fields: tuple) -> None:
        """Keep one raw hit: `fields` are `tracer.hits.RawHit`'s, in order; the last one is
        its queue shard, or `hits.ANY_SHARD`."""
        record = self._encode(fields)
        self._append(record)
        self._buffers[fields[-1]].append(record)
        count = self._count = self._count + 1
        if count == 1:
            self._wake.set()
        elif count >= self.flush_max_events:
            self._wake.set()
            if self._lingering is not None:
                _end(self._lingering)

    def shard_of(self, message_id: str) -> int:
        """The queue shard of a message's hits: the same in every edge process."""
        return zlib.crc32(message_id.encode()) % self.shards

    @property
    def client(self) -> aioredis.Redis | RedisCluster:
        assert self._client is not None, "the recorder has not started"
        return self._client

    @property
    def buffered(self) -> int:
        return self._count

    @property
    def journal_overflows(self) -> int:
        return self._journal.overflows if self._journal is not None else 0

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
        self._push_many = self._client.register_script(PUSH_BATCHES_SCRIPT)
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        if self.journal_bytes:
            self._journal = Journal.create(self.spool_dir, self.producer, self.journal_bytes)
            self._append = self._journal.append
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
            self._spool = None
        if self._journal is not None:
            # Everything recorded is in Redis or the spool now.
            self._journal.remove()
            self._append = _no_journal

    # --- the flusher ----------------------------------------------------------------------
    async def _run(self) -> None:
        await self._adopt_orphans()
        last_orphan_check = last_probe = time.monotonic()
        while True:
            if not self._count and not self._closing:
                await self._wait_for_work()
            if self._count and self._count < self.flush_max_events and not self._closing:
                # Let a few more events arrive so one round trip carries many.
                await self._linger()
            if self._count:
                await self._flush()
            now = time.monotonic()
            if not self.redis_available and now - last_probe >= RECONNECT_INTERVAL_S:
                last_probe = now
                self.redis_available = await self._ping()
                if self.redis_available:
                    logger.info("Redis is reachable again; replaying the spool")
            if self._spool is not None and self.redis_available:
                await self._replay_own_spool()
            if self._closing and not self._count:
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

    async def _flush(self) -> None:
        """Push everything recorded so far: one batch per shard, each under its own
        sequence, the journal told before (what) and after (done)."""
        buffers, self._buffers = self._buffers, [[] for _ in range(self.shards + 1)]
        self._count = 0
        any_shard = self._next_shard
        self._next_shard = (any_shard + 1) % self.shards
        journal = self._journal
        end = journal.begin_flush(self._sequence + 1, any_shard) if journal is not None else None
        batches = []
        for shard, records in _groups(buffers, any_shard):
            self._sequence += 1
            batches.append(
                SpooledBatch(self.producer, self._sequence, shard, [hits.frame(records)])
            )
        await self._deliver(batches)
        if journal is not None and end is not None:
            journal.acknowledge(end, self._sequence + 1)

    async def _deliver(self, batches: list[SpooledBatch]) -> None:
        """A flush's batches (one per shard), in one pipelined round trip."""
        # Once anything is spooled, later batches queue behind it to keep their order.
        if self._spool is None and self.redis_available and await self._push_batch(*batches):
            self.stats.batches_pushed += len(batches)
            self.stats.events_pushed += sum(_hits_of(batch) for batch in batches)
            return
        # Some may have been applied before the failure: their replay is turned away.
        for batch in batches:
            self._spool_batch(batch)

    async def _push_batch(self, *batches: SpooledBatch) -> bool:
        """Push `batches` in one round trip: one script call on a single Redis, a pipeline
        of one call per batch on a cluster (each shard's keys are in one slot)."""
        assert self._push is not None and self._push_many is not None
        keys_of = redis_keys.event_shard, redis_keys.event_producer_sequence
        try:
            if self.cluster:
                calls = [
                    (
                        [keys_of[0](b.shard), keys_of[1](b.shard, b.producer)],
                        [b.sequence, *b.events],
                    )
                    for b in batches
                ]
                await run_script(self.client, self._push, calls)
            else:
                keys: list[str] = []
                args: list[Any] = []
                for b in batches:
                    keys += (keys_of[0](b.shard), keys_of[1](b.shard, b.producer))
                    args += (b.sequence, len(b.events), *b.events)
                await self._push_many(keys=keys, args=args)
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
        self.stats.events_spooled += _hits_of(batch)

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
            self.stats.events_replayed += _hits_of(batch)
        if replayed:
            logger.info(
                "replayed %d spooled batch(es) from %s in %.2fs",
                replayed,
                spool.path,
                time.monotonic() - started,
            )
        return True

    async def _adopt_orphans(self) -> None:
        """Replay spools, then journals, left by edge processes that died. A dead
        producer's spool goes first: its batches are older than anything in its journal,
        and the at-most-once script turns away a sequence lower than one already applied."""
        own = self._spool.path if self._spool is not None else None
        for orphan in orphaned_spools(self.spool_dir, own):
            self.stats.spools_adopted += 1
            logger.info("adopting spool %s left by a previous process", orphan.path)
            if await self._replay(orphan):
                orphan.discard()
            else:
                orphan.close()
                return
        own_journal = self._journal.path if self._journal is not None else None
        journals = orphaned_journals(self.spool_dir, own_journal)
        try:
            while journals:
                if not await self._replay_journal(journals.pop(0)):
                    return
        finally:
            for journal in journals:  # left locked by us otherwise: release them
                journal.close()

    async def _replay_journal(self, orphan: OrphanJournal) -> bool:
        """Push what a dead worker's journal holds beyond its last acknowledged flush;
        False (the journal left as it is, for a later try) when Redis fails."""
        try:
            state = orphan.read()
            if state is not None and (self.spool_dir / f"edge-{state.producer}.spool").exists():
                orphan.close()  # its spool first (being replayed, or waiting for Redis)
                return True
            if state is None:
                logger.error("%s is not a journal; left for inspection", orphan.path)
                orphan.path.rename(orphan.path.with_suffix(".damaged"))
                orphan.close()
                return True
            batches = _replay_batches(state, self.shards)
            for batch in batches:
                if not await self._push_batch(batch):
                    orphan.close()
                    return False
        except Exception:
            orphan.close()
            raise
        recovered = sum(_hits_of(batch) for batch in batches)
        self.stats.journals_adopted += 1
        self.stats.events_recovered += recovered
        logger.info(
            "replayed the journal %s of a worker that died: %d hit(s) in %d batch(es)",
            orphan.path.name,
            recovered,
            len(batches),
        )
        orphan.discard()
        return True

    async def _ping(self) -> bool:
        assert self._client is not None
        try:
            await self._client.ping()
        except (*REDIS_ERRORS, OSError):
            return False
        return True


def _groups(buffers: list[list[bytes]], any_shard: int) -> list[tuple[int, list[bytes]]]:
    """(shard, records) in shard order; the any-shard records join `any_shard`'s."""
    groups = []
    anywhere = buffers[-1]
    for shard in range(len(buffers) - 1):
        records = buffers[shard]
        if shard == any_shard and anywhere:
            records = records + anywhere if records else anywhere
        if records:
            groups.append((shard, records))
    return groups


def _replay_batches(state: Any, shards: int) -> list[SpooledBatch]:
    """The batches of a dead worker's unacknowledged records: those of the flush under
    way exactly as it built them (same grouping, same sequences), then the rest."""
    records = state.records
    flush = state.flush
    if flush is not None:
        parts = [
            ([r for seq, r in records if seq < flush.end_sequence], flush.first_batch),
            ([r for seq, r in records if seq >= flush.end_sequence], None),
        ]
    else:
        parts = [([r for _, r in records], state.next_batch)]
    batches: list[SpooledBatch] = []
    sequence = 0
    for part, first in parts:
        if first is not None:
            sequence = first
        buffers: list[list[bytes]] = [[] for _ in range(shards + 1)]
        for record in part:
            try:
                shard = hits.decode_hit(record).shard
            except (msgspec.DecodeError, msgspec.ValidationError):
                # Cut short by the kill: its request was never answered.
                logger.warning("skipped a journal record that does not decode")
                continue
            buffers[shard if 0 <= shard < shards else -1].append(record)
        for shard, grouped in _groups(buffers, state.any_shard % shards):
            batches.append(SpooledBatch(state.producer, sequence, shard, [hits.frame(grouped)]))
            sequence += 1
    return batches


def _hits_of(batch: SpooledBatch) -> int:
    return sum(hits.hits_in(entry) for entry in batch.events)


def _no_journal(record: bytes) -> bool:
    return False


def _end(lingering: asyncio.Future[None]) -> None:
    if not lingering.done():
        lingering.set_result(None)
