"""Periodic jobs of the batcher role: retention, rollup compaction, dead-list housekeeping.

Every batcher runs the scheduler, but each run of a job is taken by one of them: the job
lease (`SET jobs:NAME NX PX interval`) both elects the runner and spaces the runs by the
interval. Each run is logged with what it did and how long it took.

Spool replay is listed for completeness: the edge replays its own spool files when Redis
is back, so the batcher's hook does nothing for now.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from batcher.config import BatcherConfig
from batcher.dead import decode_dead
from tracer import redis_keys
from tracer.brands import Brands
from tracer.redis_cluster import REDIS_ERRORS, AnyRedis
from tracer.store import EventStore, StoreUnavailable

logger = logging.getLogger(__name__)
_SECONDS_PER_DAY = 86_400
# How often the scheduler looks for a due job.
_TICK_S = 1.0
_DEAD_SCAN_CHUNK = 200

JobResult = dict[str, int]


class PeriodicJobs:
    def __init__(
        self,
        client: AnyRedis,
        store: EventStore,
        brands: Brands,
        shards: int,
        config: BatcherConfig,
        consumer: str,
    ) -> None:
        self.client = client
        self.store = store
        self.brands = brands
        self.shards = shards
        self.config = config
        self.consumer = consumer
        self.schedule: dict[str, tuple[float, Callable[[], Awaitable[JobResult]]]] = {
            "retention": (config.retention_interval_s, self.retention),
            "rollup-compaction": (config.compaction_interval_s, self.compaction),
            "dead-lists": (config.dead_housekeeping_interval_s, self.dead_lists),
            "spool-replay": (config.compaction_interval_s, self.spool_replay),
        }
        self.runs: dict[str, int] = dict.fromkeys(self.schedule, 0)

    async def run_forever(self) -> None:
        while True:
            for name, (interval_s, _job) in self.schedule.items():
                try:
                    if await self._take_turn(name, interval_s):
                        await self.run(name)
                except (*REDIS_ERRORS, StoreUnavailable) as exc:
                    logger.warning("Job %s skipped: %s", name, exc)
                except Exception:
                    # A broken job must not stop the others, nor the batcher.
                    logger.exception("Job %s failed", name)
            await asyncio.sleep(_TICK_S)

    async def _take_turn(self, name: str, interval_s: float) -> bool:
        key = redis_keys.periodic_job(name)
        return bool(await self.client.set(key, self.consumer, nx=True, px=int(interval_s * 1000)))

    async def run(self, name: str) -> JobResult:
        """Run one job now, whatever the schedule (also used by tests and operators)."""
        _interval, job = self.schedule[name]
        started = time.perf_counter()
        result = await job()
        self.runs[name] += 1
        took = time.perf_counter() - started
        summary = ", ".join(f"{key} {value}" for key, value in result.items()) or "nothing to do"
        logger.info("Job %s done in %.3fs: %s", name, took, summary)
        return result

    async def retention(self) -> JobResult:
        """Delete each brand's events older than its `privacy.retention_days`."""
        now = time.time()
        result: JobResult = {}
        for brand in self.brands:
            cutoff = now - brand.privacy.retention_days * _SECONDS_PER_DAY
            deleted = await self.store.delete_before(brand.id, cutoff)
            if deleted:
                result[brand.id] = deleted
        return result

    async def compaction(self) -> JobResult:
        report = await self.store.compact()
        return {"conversions_attributed": report.conversions_attributed, **report.details}

    async def dead_lists(self) -> JobResult:
        """Keep each shard's dead list under `dead_max_entries` and drop entries older than
        `dead_retention_s` (entries are appended in time order: the old ones are first)."""
        cutoff = time.time() - self.config.dead_retention_s
        trimmed = expired = 0
        for shard in range(self.shards):
            key = redis_keys.event_dead(shard)
            excess = await self.client.llen(key) - self.config.dead_max_entries
            if excess > 0:
                await self.client.ltrim(key, excess, -1)
                trimmed += excess
            expired += await self._drop_old_entries(key, cutoff)
        return {"trimmed": trimmed, "expired": expired}

    async def _drop_old_entries(self, key: str, cutoff: float) -> int:
        dropped = 0
        while True:
            head = await self.client.lrange(key, 0, _DEAD_SCAN_CHUNK - 1)
            old = 0
            for raw in head:
                if decode_dead(raw).ts >= cutoff:
                    break
                old += 1
            if old:
                # Only this job removes entries, and new ones are appended at the tail.
                await self.client.ltrim(key, old, -1)
                dropped += old
            if old < len(head) or not head:
                return dropped

    async def spool_replay(self) -> JobResult:
        """Hook only: the edge replays its own spool (`data_dir/spool`) once Redis is back."""
        return {}
