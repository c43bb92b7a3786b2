"""Batcher metrics in the Prometheus text format (no client library, like the dispatcher's).

Three kinds of numbers, gathered three ways:
- histograms of what each acknowledged write did (size, store latency, lag), observed
  through the batcher's `on_batch` hook;
- counters the batcher keeps anyway (`BatcherStats`), read at scrape time;
- the queue as Redis sees it (depth, dead lists, age of the oldest waiting event) and the
  process's CPU and memory, read at scrape time only.

Counters are per batcher process; queue gauges describe the shared queue, so every batcher
reports the same values (aggregate them with `max`, not `sum`).
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from batcher.worker import BatcherStats, BatchReport
from tracer import queue_depths
from tracer.process_metrics import render_process
from tracer.prometheus import Exposition
from tracer.redis_cluster import REDIS_ERRORS

# Events per store write (a batch, or several small ones combined for SQLite).
BATCH_SIZE_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000)
# Store write until acknowledged, retries while the store is down included.
WRITE_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# Event time (the edge's clock) to stored (ours): the pipeline's delay as users feel it.
LAG_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
# A scrape must not hang on a Redis that does not answer.
QUEUE_READ_TIMEOUT_S = 2.0

# BatcherStats field -> (metric, help).
COUNTERS = {
    "batches": ("tracer_batcher_batches_total", "Batches written and acknowledged."),
    "inserted": ("tracer_batcher_events_stored_total", "Events newly written to the store."),
    "duplicates": (
        "tracer_batcher_events_duplicate_total",
        "Events the store already had (a batch written again after a crash or a lost ack).",
    ),
    "dead": (
        "tracer_batcher_events_dead_total",
        "Payloads set aside in a dead list (undecodable, or refused by the store).",
    ),
    "webhook_jobs": ("tracer_batcher_webhook_jobs_total", "Webhook jobs queued for dispatchers."),
    "pushed_back": (
        "tracer_batcher_events_pushed_back_total",
        "Events returned to their shard at shutdown, unwritten.",
    ),
    "adopted_lists": (
        "tracer_batcher_adopted_lists_total",
        "Processing lists of dead batchers taken over.",
    ),
    "store_failures": (
        "tracer_batcher_store_failures_total",
        "Store writes that failed and were retried.",
    ),
    "redis_failures": ("tracer_batcher_redis_errors_total", "Redis operations that failed."),
    "enrichment_failures": (
        "tracer_batcher_enrichment_failures_total",
        "Hits stored without client info because deriving it failed (logged).",
    ),
}


class Histogram:
    """Cumulative-bucket histogram of one unlabelled series."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def render(self, out: Exposition, name: str, help_text: str) -> None:
        out.family(name, "histogram", help_text)
        out.histogram(name, self.bounds, self.counts, round(self.sum, 6))


@dataclass(slots=True)
class QueueState:
    """The event queue as Redis sees it, per shard."""

    depth: list[int] = field(default_factory=list)
    dead: list[int] = field(default_factory=list)
    # Seconds the head event of each shard has waited (0 for an empty shard).
    oldest_age_s: list[float] = field(default_factory=list)


class BatcherMetrics:
    def __init__(self) -> None:
        self.batch_size = Histogram(BATCH_SIZE_BUCKETS)
        self.write_seconds = Histogram(WRITE_BUCKETS_S)
        self.lag_seconds = Histogram(LAG_BUCKETS_S)
        # (type, brand, agent) -> events stored: the traffic verdicts, which the batcher
        # works out since the edge records raw hits.
        self.events: dict[tuple[str, str, str], int] = {}
        self.started_at = time.time()

    def observe(self, report: BatchReport) -> None:
        """The batcher's `on_batch` hook: called once per acknowledged store write."""
        self.batch_size.observe(len(report.events) + report.dead)
        if report.events:
            self.write_seconds.observe(report.write_s)
        stored_at = report.stored_at
        observe_lag = self.lag_seconds.observe
        counts = self.events
        for event in report.events:
            # Clocks of edge nodes may run a little ahead of ours: no negative lag.
            observe_lag(max(0.0, stored_at - event.ts))
            key = (event.type, event.brand, event.agent)
            counts[key] = counts.get(key, 0) + 1

    def render(self, stats: BatcherStats, shards_owned: int, queue: QueueState | None) -> str:
        """Prometheus text; `queue` is None when Redis could not be read for this scrape."""
        out = Exposition()
        self.batch_size.render(
            out, "tracer_batcher_batch_size", "Events per store write (stored and dead)."
        )
        self.write_seconds.render(
            out,
            "tracer_batcher_store_write_duration_seconds",
            "Time for a store write to be acknowledged, retries included.",
        )
        self.lag_seconds.render(
            out,
            "tracer_batcher_lag_seconds",
            "Time from an event at the edge to its write in the store.",
        )
        for attribute, (name, help_text) in COUNTERS.items():
            out.single(name, "counter", help_text, getattr(stats, attribute))
        out.family("tracer_batcher_events_total", "counter",
                   "Events stored, by type, brand and traffic verdict.")  # fmt: skip
        for (kind, brand, agent), count in sorted(self.events.items()):
            out.sample("tracer_batcher_events_total", count,
                       {"type": kind, "brand": brand, "agent": agent})  # fmt: skip
        out.family("tracer_batcher_hits_dropped_total", "counter",
                   "Raw hits dropped, never stored (an open token that does not open, an "
                   "expired link...), by reason.")  # fmt: skip
        for reason, count in sorted(stats.dropped.items()):
            out.sample("tracer_batcher_hits_dropped_total", count, {"reason": reason})
        out.single("tracer_batcher_shards_owned", "gauge", "Queue shards this batcher holds.",
                   shards_owned)  # fmt: skip
        out.single("tracer_batcher_redis_up", "gauge", "1 when this scrape could read the queue.",
                   0 if queue is None else 1)  # fmt: skip
        if queue is not None:
            _render_queue(out, queue)
        render_process(out, self.started_at)
        return out.text()


def _render_queue(out: Exposition, queue: QueueState) -> None:
    series = (
        (
            "tracer_batcher_queue_depth",
            "Entries waiting in a queue shard (an edge flush's hit batch, or one event).",
            queue.depth,
        ),
        ("tracer_batcher_dead_list_size", "Entries in a shard's dead list.", queue.dead),
        (
            "tracer_batcher_queue_oldest_age_seconds",
            "Age of the oldest event waiting in a shard (0 when empty).",
            queue.oldest_age_s,
        ),
    )
    for name, help_text, values in series:
        out.family(name, "gauge", help_text)
        for shard, value in enumerate(values):
            out.sample(name, value, {"shard": shard})


async def read_queue(client: aioredis.Redis, shards: int) -> QueueState | None:
    """Depth, dead-list size and head event of every shard in one round trip; None when
    Redis does not answer in time."""
    try:
        async with asyncio.timeout(QUEUE_READ_TIMEOUT_S):
            async with client.pipeline(transaction=False) as pipe:
                queue_depths.read_event_shards(pipe, range(shards))
                replies = await pipe.execute()
    except (*REDIS_ERRORS, OSError, TimeoutError):
        return None
    state = QueueState()
    for shard in queue_depths.event_shards(replies, time.time()):
        state.depth.append(shard.depth)
        state.dead.append(shard.dead)
        state.oldest_age_s.append(shard.oldest_age_s)
    return state
