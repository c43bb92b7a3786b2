"""Gathering the dashboard: the edge's snapshot files, Redis, the batchers' and
dispatchers' `/metrics` and the event store, read side by side.

However many pages watch, there is at most one reading per `min_interval_s` (they share
it, already encoded), and the store is read at most every `engagement_interval_s`: its
queries cost more and its numbers move more slowly. A source that is down leaves its
section empty and says so in `sources`; it never fails the whole reading.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import msgspec
import redis.asyncio as aioredis

from admin.dashboard import sections
from admin.dashboard.edge_snapshots import EdgeReading, read_edge
from admin.dashboard.engagement import read_engagement
from admin.dashboard.model import Dashboard, Engagement, Source
from admin.dashboard.options import DashboardOptions
from admin.dashboard.prometheus import Samples, scrape
from admin.dashboard.redis_state import RedisReading, read_redis
from admin.dashboard.window import Point, Reading, Window
from admin.store import StoreHandle
from tracer.brands import Brands
from tracer.redis_cluster import REDIS_ERRORS
from tracer.store import StoreUnavailable

logger = logging.getLogger(__name__)

ENGAGEMENT_INTERVAL_S = 5.0
# A store that takes longer than this keeps its last reading on the page.
ENGAGEMENT_TIMEOUT_S = 3.0

_encode = msgspec.json.Encoder().encode


class Collector:
    def __init__(
        self,
        *,
        brands: Brands,
        shards: int,
        metrics_dir: Path,
        redis: aioredis.Redis,
        store: StoreHandle,
        session: aiohttp.ClientSession,
        options: DashboardOptions,
        clock: Callable[[], float] = time.time,
        engagement_interval_s: float = ENGAGEMENT_INTERVAL_S,
    ) -> None:
        self.brands = brands
        self.shards = shards
        self.metrics_dir = metrics_dir
        self.redis = redis
        self.store = store
        self.session = session
        self.options = options
        self.clock = clock
        self.min_interval_s = options.push_interval_s * 0.9
        self.engagement_interval_s = engagement_interval_s
        self.window = Window()
        self._lock = asyncio.Lock()
        self._latest: tuple[float, bytes] | None = None
        self._engagement = Engagement()
        self._engagement_source = Source(name="store", up=False, detail="not read yet")
        self._engagement_task: asyncio.Task[None] | None = None
        self._engagement_tried_at = float("-inf")

    async def latest(self) -> bytes:
        """The newest reading as JSON, taken now unless a fresh one is at hand."""
        async with self._lock:
            now = self.clock()
            if self._latest is None or now - self._latest[0] >= self.min_interval_s:
                self._latest = (now, _encode(await self.collect(now)))
            return self._latest[1]

    async def collect(self, now: float) -> Dashboard:
        edge = read_edge(self.metrics_dir, now)
        self._refresh_engagement_soon(now)
        redis, batchers, dispatchers = await asyncio.gather(
            self._read_redis(now),
            self._scrape_all("batcher metrics", self.options.targets("batcher")),
            self._scrape_all("dispatcher metrics", self.options.targets("dispatcher")),
        )
        redis_reading, redis_source = redis
        batcher_samples, batcher_source = batchers
        dispatcher_samples, dispatcher_source = dispatchers
        self.window.add(_reading(now, edge, batcher_samples))
        queue = sections.queue_section(redis_reading)
        edge_section = sections.edge_section(edge, self.window, batcher_samples)
        batcher_section = sections.batcher_section(batcher_samples, self.window)
        self.window.record(
            Point(
                t=now,
                edge_per_s=edge_section.per_s,
                p50_ms=edge_section.p50_ms,
                p99_ms=edge_section.p99_ms,
                queue_depth=queue.depth,
                stored_per_s=batcher_section.stored_per_s,
            )
        )
        return Dashboard(
            generated_at=round(now, 3),
            sources=[
                _edge_source(edge),
                redis_source,
                self._engagement_source,
                batcher_source,
                dispatcher_source,
            ],
            edge=edge_section,
            queue=queue,
            batcher=batcher_section,
            webhooks=sections.webhooks_section(self.brands, redis_reading, dispatcher_samples),
            workers=sections.workers_section(edge, redis_reading, now),
            engagement=self._engagement,
            history=self.window.history(),
        )

    async def _read_redis(self, now: float) -> tuple[RedisReading | None, Source]:
        try:
            reading = await read_redis(self.redis, self.shards, self.brands, now)
        except (*REDIS_ERRORS, OSError, TimeoutError) as exc:
            return None, Source(name="redis", up=False, detail=_reason(exc))
        return reading, Source(name="redis", up=True)

    async def _scrape_all(self, name: str, urls: tuple[str, ...]) -> tuple[Samples | None, Source]:
        """Every target's samples summed (the processes of one role), and how many answered."""
        if not urls:
            # No process of this role serves metrics for this instance (or none is listed).
            return None, Source(name=name, up=False, detail="not configured")
        replies = await asyncio.gather(*(scrape(self.session, url) for url in urls))
        answered = [samples for samples in replies if samples is not None]
        detail = f"{len(answered)} of {len(urls)} target(s) answered"
        if not answered:
            return None, Source(name=name, up=False, detail=detail)
        merged = Samples()
        for samples in answered:
            merged.merge(samples)
        return merged, Source(name=name, up=True, detail=detail)

    def _refresh_engagement_soon(self, now: float) -> None:
        """Read the store in the background: a slow store delays its own section only."""
        if self._engagement_task is not None and not self._engagement_task.done():
            return
        if now - self._engagement_tried_at < self.engagement_interval_s:
            return
        self._engagement_tried_at = now
        self._engagement_task = asyncio.create_task(self._refresh_engagement(now))

    async def close(self) -> None:
        if self._engagement_task is not None:
            self._engagement_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._engagement_task

    async def _refresh_engagement(self, now: float) -> None:
        try:
            async with asyncio.timeout(ENGAGEMENT_TIMEOUT_S):
                store = await self.store.get()
                self._engagement = await read_engagement(store, self.brands, now)
        except (StoreUnavailable, TimeoutError) as exc:
            self._engagement_source = Source(name="store", up=False, detail=_reason(exc))
            return
        except Exception:
            # A bug: logged once per attempt, and the page keeps its last engagement.
            logger.exception("Reading engagement from the store failed")
            self._engagement_source = Source(name="store", up=False, detail="internal error")
            return
        self._engagement_source = Source(name="store", up=True, detail=store.name)


def _reading(now: float, edge: EdgeReading, batchers: Samples | None) -> Reading:
    routes = {route: float(count) for route, count in edge.requests_by_route().items()}
    latency = {route: edge.cumulative_buckets(route) for route in edge.latency}
    latency[sections.ALL_ROUTES] = edge.cumulative_buckets()
    return Reading(
        t=now,
        edge_requests=routes,
        edge_latency=latency,
        rejected={reason: float(count) for reason, count in edge.rejected.items()},
        stored=batchers.total("tracer_batcher_events_stored_total") if batchers else None,
        lag=batchers.buckets("tracer_batcher_lag_seconds") if batchers else None,
    )


def _edge_source(edge: EdgeReading) -> Source:
    beating = sum(1 for worker in edge.workers if worker.beating)
    if not edge.workers:
        return Source(name="edge snapshots", up=False, detail="no live edge worker on this host")
    return Source(name="edge snapshots", up=beating > 0, detail=f"{beating} live worker(s)")


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
