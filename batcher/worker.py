"""The batcher: moves events from the Redis queue into the event store, exactly once.

One round: for every shard we own (and every processing list of ours still holding a
batch) one pipelined Lua call moves up to `batch_max_events` from the shard into our
processing list of that shard. Each such list is one batch, written to the store in one
bulk call; only after the store acknowledged do its webhook jobs go to the dispatcher and
the list get deleted (the ack). A batch is never split or merged, so writing it again,
after a failure or by the batcher that adopts it, is the same idempotent write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from batcher import lua
from batcher.backoff import Backoff
from batcher.config import BatcherConfig
from batcher.dead import DeadEvent, encode_dead
from batcher.decoding import Decoded, decode_batch
from batcher.enrich import Enricher
from batcher.handoff import Handoff, ShardJobs
from batcher.jobs import PeriodicJobs
from batcher.leases import ShardLeases
from batcher.liveness import Liveness, new_consumer_id
from tracer import redis_keys
from tracer.brands import Brands
from tracer.enrichment import ClientEnricher
from tracer.events import Event
from tracer.keyring import KeyRing
from tracer.redis_cluster import REDIS_ERRORS, AnyRedis, run_script
from tracer.settings import Settings
from tracer.store import EventStore, StoreUnavailable, WriteResult
from tracer.webhooks import ENQUEUE_SCRIPT, enqueue_arguments

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class BatcherStats:
    batches: int = 0
    # Valid events written (new or already stored) and, of those, the new ones.
    events: int = 0
    inserted: int = 0
    duplicates: int = 0
    dead: int = 0
    webhook_jobs: int = 0
    adopted_lists: int = 0
    pushed_back: int = 0
    left_for_adoption: int = 0
    store_failures: int = 0
    redis_failures: int = 0
    # Events stored without client info because deriving it failed (logged).
    enrichment_failures: int = 0
    # Raw hits dropped (never stored), by reason: an open's token that does not open, ...
    dropped: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class Batch:
    shard: int
    items: list[bytes]
    # Taken again from our processing list (a failed attempt or an adopted list).
    resumed: bool


@dataclass(slots=True)
class BatchReport:
    """Passed to `on_batch` after each acknowledged write (benchmarks measure lag here)."""

    shards: list[int]
    events: list[Event]
    result: WriteResult
    stored_at: float
    write_s: float
    dead: int = 0
    # Raw hits dropped, by reason (never stored).
    dropped: dict[str, int] = field(default_factory=dict)


class Batcher:
    def __init__(
        self,
        client: AnyRedis,
        store: EventStore,
        brands: Brands,
        *,
        shards: int,
        config: BatcherConfig | None = None,
        consumer: str | None = None,
        on_batch: Callable[[BatchReport], None] | None = None,
        keyring: KeyRing | None = None,
        trusted_proxies: str | None = None,
        enricher: ClientEnricher | None = None,
    ) -> None:
        """`client` must return bytes (no `decode_responses`); the caller opens and closes
        `client` and `store`. `shards` is `settings.queue_shards`, as the edge uses it.
        `client` may be a `RedisCluster`: every script and transaction stays in one slot.
        `keyring` (the edge's) opens the tokens of raw hits; `trusted_proxies` is
        `settings.trusted_proxies`, as the edge was given it. `enricher` adds client info
        (and, with a GeoIP database, countries) to hits; by default client info only."""
        self.client = client
        self.store = store
        self.brands = brands
        self.shards = shards
        self.config = config or BatcherConfig()
        self.consumer = consumer or new_consumer_id()
        self.on_batch = on_batch
        self.stats = BatcherStats()
        self.leases = ShardLeases(client, self.consumer, shards, self.config.lease_ttl_s)
        self.liveness = Liveness(client, self.consumer, shards, self.config.heartbeat_ttl_s)
        self.handoff = Handoff(brands, shards)
        if trusted_proxies is None:
            trusted_proxies = Settings().trusted_proxies
        self.enrich = Enricher(
            brands, keyring, trusted_proxies, clients=enricher or ClientEnricher(brands)
        )
        self.jobs = PeriodicJobs(client, store, brands, shards, self.config, self.consumer)
        self.should_exit = False
        self.force_exit = False
        self.exit_requested = asyncio.Event()
        self._force_requested = asyncio.Event()
        self._stop_requested_at = 0.0
        # Shards whose processing list of ours may hold a batch although we do not own
        # the shard (adopted lists, acks that failed).
        self._resume: set[int] = set()
        self._take = client.register_script(lua.TAKE)
        self._push_back_script = client.register_script(lua.PUSH_BACK)
        self._ack_script = client.register_script(lua.ACK)
        self._enqueue_script = client.register_script(ENQUEUE_SCRIPT)

    # --- lifecycle ---------------------------------------------------------------------
    def request_stop(self) -> None:
        """First call: stop taking events and finish the batch in hand. Second call: give
        up retrying at once (what is not acknowledged stays in Redis)."""
        if self.should_exit:
            logger.warning("Stop requested again: giving up retries, unacknowledged events "
                           "stay in Redis")  # fmt: skip
            self.force_exit = True
            self._force_requested.set()
            return
        logger.info("Stop requested: taking no more events, finishing the batches in hand")
        self.should_exit = True
        self._stop_requested_at = time.monotonic()
        self.exit_requested.set()

    async def run(self, burst: bool = False) -> BatcherStats:
        """Consume until `request_stop()`; with `burst`, until the queue is drained (every
        shard and every processing list empty), then return."""
        logger.info(
            "Batcher %s starting: %d shard(s), batches of up to %d event(s), store %s",
            self.consumer, self.shards, self.config.batch_max_events, self.store.name,
        )  # fmt: skip
        await self._join()
        maintenance = asyncio.create_task(self._maintain_forever(), name="batcher-maintenance")
        periodic = None
        if self.config.periodic_jobs and not burst:
            periodic = asyncio.create_task(self.jobs.run_forever(), name="batcher-jobs")
        try:
            await self._consume(burst)
        finally:
            for task in (maintenance, periodic):
                if task is not None:
                    await _stop_task(task)
            await self._leave()
        stats = self.stats
        logger.info(
            "Batcher %s stopped ◆ %d batch(es) ◆ %d event(s) stored, %d duplicate(s) ◆ "
            "%d dead ◆ %d webhook job(s) ◆ %d pushed back ◆ %d left for adoption",
            self.consumer, stats.batches, stats.inserted, stats.duplicates, stats.dead,
            stats.webhook_jobs, stats.pushed_back, stats.left_for_adoption,
        )  # fmt: skip
        return stats

    async def _join(self) -> None:
        """Register, claim shards and adopt orphans; wait for Redis if it is down."""
        backoff = Backoff(self.config.backoff_initial_s, self.config.backoff_max_s)
        while not self.should_exit:
            try:
                await self._maintain()
                return
            except REDIS_ERRORS as exc:
                self._redis_failed(exc, "joining")
                await backoff.wait(self.exit_requested)

    async def _leave(self) -> None:
        try:
            await self.leases.release_all()
            left = await self.liveness.has_processing_lists([self.consumer])
            await self.liveness.leave(keep_registration=left)
        except REDIS_ERRORS as exc:
            # Our heartbeat and leases expire by themselves; our lists get adopted then.
            logger.warning("Could not leave cleanly (%s): leases expire in %.1fs", exc,
                           self.config.lease_ttl_s)  # fmt: skip

    async def _maintain_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.maintenance_interval_s)
            try:
                await self._maintain()
            except REDIS_ERRORS as exc:
                self._redis_failed(exc, "heartbeat")
            except Exception:
                # Never let the heartbeat die quietly: others would adopt our work.
                logger.exception("Maintenance round failed")

    async def _maintain(self) -> None:
        live = await self.liveness.beat()
        await self.leases.rebalance(live)
        adopted = await self.liveness.adopt_from_dead()
        self.stats.adopted_lists += len(adopted)
        self._resume.update(adopted)

    # --- consuming ---------------------------------------------------------------------
    async def _consume(self, burst: bool) -> None:
        backoff = Backoff(self.config.backoff_initial_s, self.config.backoff_max_s)
        idle_s = self.config.idle_poll_s
        while not self.should_exit:
            try:
                batches = await self._take_batches()
                if not batches and burst and await self._drained():
                    return
                backoff.reset()
            except REDIS_ERRORS as exc:
                self._redis_failed(exc, "taking events")
                await backoff.wait(self.exit_requested)
                continue
            if not batches:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.exit_requested.wait(), idle_s)
                continue
            await self._process_round(batches)

    async def _process_round(self, batches: list[Batch]) -> None:
        """Write a round's batches, `concurrent_batches` groups at a time: while the store
        works on one group (SQLite in its thread, MongoDB on the wire), the next is decoded
        and prepared. At shutdown the groups not started yet go back to their shards."""
        waiting = self._groups(batches)

        async def lane() -> None:
            while waiting and not self.should_exit:
                await self._process(waiting.pop(0))

        lanes = min(self.config.concurrent_batches, len(waiting))
        await asyncio.gather(*(lane() for _ in range(lanes)))
        if waiting:
            await self._push_back([batch for group in waiting for batch in group])

    def _groups(self, batches: list[Batch]) -> list[list[Batch]]:
        """Batches written together in one store call. A store whose write is exactly-once
        however events are grouped (SQLite: one transaction) gets small batches combined
        up to `batch_max_events` per call: fewer commits, less lag when traffic is light.
        For the others (MongoDB) a batch is always written alone, as it will be if retried."""
        if not self.store.batches_may_be_combined:
            return [[batch] for batch in batches]
        groups: list[list[Batch]] = [[]]
        size = 0
        for batch in batches:
            if size >= self.config.batch_max_events:
                groups.append([])
                size = 0
            groups[-1].append(batch)
            size += len(batch.items)
        return groups

    async def _take_batches(self) -> list[Batch]:
        shards = sorted(self.leases.owned | self._resume)
        if not shards:
            return []
        args = [self.consumer, self.config.batch_max_events]
        calls = [
            (
                [
                    redis_keys.event_shard(shard),
                    redis_keys.event_processing(shard, self.consumer),
                    redis_keys.event_shard_owner(shard),
                ],
                args,
            )
            for shard in shards
        ]
        replies = await run_script(self.client, self._take, calls)
        batches = []
        for shard, (resumed, items) in zip(shards, replies, strict=True):
            self._resume.discard(shard)
            if items:
                batches.append(Batch(shard, items, bool(resumed)))
        return batches

    async def _drained(self) -> bool:
        """Burst mode is done when no shard holds an event and no batcher (dead or alive)
        holds a processing list: a dead one's lists must be adopted first."""
        async with self.client.pipeline(transaction=False) as pipe:
            for shard in range(self.shards):
                pipe.llen(redis_keys.event_shard(shard))
            if any(await pipe.execute()):
                return False
        alive, dead = await self.liveness.peers()
        return not await self.liveness.has_processing_lists([self.consumer, *alive, *dead])

    async def _process(self, group: list[Batch]) -> None:
        decoded = [decode_batch(batch.items, self.enrich) for batch in group]
        self.stats.enrichment_failures += self.enrich.take_client_failures()
        events = [event for part in decoded for event in part.events]
        payloads = [payload for part in decoded for payload in part.payloads]
        started = time.perf_counter()
        result = await self._write(group, events, payloads)
        if result is None:
            return  # shutting down with the store still failing: left for adoption
        write_s = time.perf_counter() - started
        rejected = {r.index: r.reason for r in result.rejected}
        if rejected:
            kept = [index for index in range(len(events)) if index not in rejected]
            stored = [events[index] for index in kept]
            jobs = self.handoff.jobs(stored, [payloads[index] for index in kept])
        else:
            stored = events
            jobs = self.handoff.jobs(events, payloads)
        dead_by_batch = _dead_entries(decoded, rejected)
        if not await self._acknowledge(group, dead_by_batch, jobs):
            self._resume.update(batch.shard for batch in group)
            return
        dead = sum(len(entries) for entries in dead_by_batch)
        stats = self.stats
        stats.batches += len(group)
        stats.events += len(stored)
        stats.inserted += result.inserted
        stats.duplicates += result.duplicates
        stats.dead += dead
        stats.webhook_jobs += sum(len(v.payloads) for v in jobs.values())
        dropped = _count(reason for part in decoded for reason in part.dropped)
        for reason, count in dropped.items():
            stats.dropped[reason] = stats.dropped.get(reason, 0) + count
        for batch, entries in zip(group, dead_by_batch, strict=True):
            if entries:
                logger.warning("Dead-lettered %d payload(s) of shard %d: %s", len(entries),
                               batch.shard, entries[0][0])  # fmt: skip
        if self.on_batch is not None:
            shards = [batch.shard for batch in group]
            self.on_batch(
                BatchReport(
                    shards, stored, result, time.time(), write_s, dead=dead, dropped=dropped
                )
            )

    async def _write(
        self, group: list[Batch], events: list[Event], payloads: list[bytes]
    ) -> WriteResult | None:
        """The store's bulk write, retried with back-off while the store is unavailable.
        Returns None only when shutting down and the grace period ran out."""
        if not events:
            return WriteResult()
        shards = ", ".join(str(batch.shard) for batch in group)
        backoff = Backoff(self.config.backoff_initial_s, self.config.backoff_max_s)
        while True:
            try:
                result = await self.store.write(events, payloads)
            except StoreUnavailable as exc:
                reason = str(exc)
            except Exception as exc:
                # Unknown errors are not a reason to drop events either: log and retry.
                logger.exception("Unexpected error writing the batch of shard(s) %s", shards)
                reason = repr(exc)
            else:
                if backoff.failures:
                    logger.info("Store is back after %d failed attempt(s)", backoff.failures)
                return result
            self.stats.store_failures += 1
            if self._grace_is_over():
                for batch in group:
                    self.stats.left_for_adoption += len(batch.items)
                    logger.warning(
                        "Left %d event(s) in %s for another batcher to adopt (store: %s)",
                        len(batch.items), redis_keys.event_processing(batch.shard, self.consumer),
                        reason,
                    )  # fmt: skip
                return None
            if backoff.failures == 0 or backoff.failures % 20 == 0:
                logger.warning(
                    "Store unavailable (%s): %d event(s) of shard(s) %s wait in Redis, retrying",
                    reason, len(events), shards,
                )  # fmt: skip
            await backoff.wait(self._force_requested)

    def _grace_is_over(self) -> bool:
        if self.force_exit:
            return True
        if not self.should_exit:
            return False
        elapsed = time.monotonic() - self._stop_requested_at
        return elapsed >= self.config.shutdown_grace_period_s

    async def _acknowledge(
        self,
        group: list[Batch],
        dead_by_batch: list[list[tuple[str, bytes]]],
        jobs: dict[int, ShardJobs],
    ) -> bool:
        """Webhook jobs first, then the acks: per webhook shard, its jobs and their counts
        per endpoint in one atomic script (`tracer.webhooks.ENQUEUE_SCRIPT`); per batch,
        its dead entries and the removal of its processing list in one atomic script (one
        slot each), all in one pipeline per kind. A crash in between sends a webhook twice
        (counted twice, settled twice), never loses one; acks sent again after a lost reply
        change nothing (`lua.ACK`)."""
        now = time.time()
        backoff = Backoff(self.config.backoff_initial_s, self.config.backoff_max_s)
        acks = [
            (
                [redis_keys.event_dead(batch.shard),
                 redis_keys.event_processing(batch.shard, self.consumer)],
                [self._dead_entry(batch, reason, raw, now) for reason, raw in dead],
            )
            for batch, dead in zip(group, dead_by_batch, strict=True)
        ]  # fmt: skip
        enqueues = [
            ([j.key, j.pending_key], enqueue_arguments(j.counts, j.payloads)) for j in jobs.values()
        ]
        while True:
            try:
                if jobs:
                    await run_script(self.client, self._enqueue_script, enqueues)
                    jobs = {}
                await run_script(self.client, self._ack_script, acks)
                return True
            except REDIS_ERRORS as exc:
                self._redis_failed(exc, "acknowledging")
                if self._grace_is_over():
                    return False
                await backoff.wait(self._force_requested)

    def _dead_entry(self, batch: Batch, reason: str, raw: bytes, now: float) -> bytes:
        return encode_dead(
            DeadEvent(reason=reason, raw=raw, shard=batch.shard, consumer=self.consumer, ts=now)
        )

    async def _push_back(self, batches: list[Batch]) -> None:
        """Shutdown: batches taken but not started go back to the head of their shard.
        Resumed batches stay in their processing list, to be adopted whole."""
        for batch in batches:
            if batch.resumed:
                continue
            try:
                moved = await self._push_back_script(
                    keys=[
                        redis_keys.event_processing(batch.shard, self.consumer),
                        redis_keys.event_shard(batch.shard),
                    ]
                )
            except REDIS_ERRORS as exc:
                self._redis_failed(exc, "pushing back")
                continue
            self.stats.pushed_back += moved
            logger.info("Pushed %d event(s) back to shard %d", moved, batch.shard)

    def _redis_failed(self, exc: Exception, doing: str) -> None:
        self.stats.redis_failures += 1
        if self.stats.redis_failures == 1 or self.stats.redis_failures % 20 == 0:
            logger.warning("Redis unavailable while %s (%s): reconnecting", doing, exc)


async def _stop_task(task: asyncio.Task, interval_s: float = 0.1, attempts: int = 100) -> None:
    """Cancel a background task and wait until it is done, cancelling it again while it
    runs on. A cancellation can be lost inside a library (for instance a socket timeout
    expiring at the same moment turns it into a TimeoutError, which the task's loop logs
    and survives): batchers stopped while claiming their shards were seen running their
    periodic jobs for minutes after SIGTERM. A stop must not wait forever on such a task."""
    for _ in range(attempts):
        task.cancel()
        done, _pending = await asyncio.wait({task}, timeout=interval_s)
        if done:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                task.result()
            return
    logger.error("Background task %s did not stop; leaving it behind", task.get_name())


def _count(reasons: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for reason in reasons:
        counts[reason] = counts.get(reason, 0) + 1
    return counts


def _dead_entries(
    decoded: list[Decoded], rejected: dict[int, str]
) -> list[list[tuple[str, bytes]]]:
    """(reason, raw bytes) per batch: what did not decode, and what the store refused
    (`rejected` indexes the group's events, batch after batch)."""
    if not rejected:
        return [list(part.bad) for part in decoded]
    out = []
    offset = 0
    for part in decoded:
        entries = list(part.bad)
        for index, payload in enumerate(part.payloads):
            reason = rejected.get(offset + index)
            if reason is not None:
                entries.append((reason, payload))
        offset += len(part.payloads)
        out.append(entries)
    return out
