"""Periodic jobs: retention, rollup compaction, dead-list housekeeping, job leases."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import msgspec
import pytest
import redis

from batcher.dead import DeadEvent, decode_dead, encode_dead
from batcher.worker import Batcher
from tests.batcher.helpers import FAST
from tests.store.events import make_event
from tracer import redis_keys
from tracer.brands import Brands
from tracer.store.sqlite import SQLiteStore

DAY = 86_400.0


@pytest.fixture
async def sqlite_store(tmp_path: Path, example_brands: Brands) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "store.sqlite3", example_brands)
    await store.open()
    yield store
    await store.close()


async def test_retention_follows_each_brands_retention_days(
    sqlite_store: SQLiteStore, make_batcher: Callable[..., Batcher]
) -> None:
    now = time.time()
    # nordlys-jobb keeps 180 days, northjobs 395.
    await sqlite_store.write(
        [
            make_event("open", "nordlys-jobb", ts=now - 200 * DAY),
            make_event("open", "nordlys-jobb", ts=now - 100 * DAY),
            make_event("open", "northjobs", ts=now - 200 * DAY),
            make_event("open", "northjobs", ts=now - 400 * DAY),
        ]
    )

    result = await make_batcher(sqlite_store).jobs.run("retention")

    assert result == {"nordlys-jobb": 1, "northjobs": 1}
    assert await sqlite_store.count_events() == 2


async def test_compaction_attributes_late_conversions(
    sqlite_store: SQLiteStore, make_batcher: Callable[..., Batcher]
) -> None:
    await sqlite_store.write([make_event("conversion", click_id="k1")])
    await sqlite_store.write([make_event("click", campaign="c", click_id="k1")])

    result = await make_batcher(sqlite_store).jobs.run("rollup-compaction")

    assert result["conversions_attributed"] == 1


async def test_dead_lists_are_capped_and_aged(
    sqlite_store: SQLiteStore, make_batcher: Callable[..., Batcher], redis_client: redis.Redis
) -> None:
    now = time.time()

    def entry(age_s: float, tag: bytes) -> bytes:
        return encode_dead(
            DeadEvent(reason="undecodable", raw=tag, shard=0, consumer="c", ts=now - age_s)
        )

    key = redis_keys.event_dead(0)
    redis_client.rpush(key, *[entry(30 * DAY, b"ancient-%d" % i) for i in range(3)])
    redis_client.rpush(key, *[entry(60, b"recent-%d" % i) for i in range(6)])
    config = msgspec.structs.replace(FAST, dead_max_entries=8, dead_retention_s=14 * DAY)

    result = await make_batcher(sqlite_store, config).jobs.run("dead-lists")

    assert result == {"trimmed": 1, "expired": 2}
    left = [decode_dead(raw).raw for raw in redis_client.lrange(key, 0, -1)]
    assert left == [b"recent-%d" % i for i in range(6)]


async def test_each_job_run_is_taken_by_one_batcher_per_interval(
    sqlite_store: SQLiteStore, make_batcher: Callable[..., Batcher]
) -> None:
    first, second = make_batcher(sqlite_store), make_batcher(sqlite_store)

    turns = [
        await first.jobs._take_turn("retention", 60),
        await second.jobs._take_turn("retention", 60),
        await second.jobs._take_turn("dead-lists", 60),
    ]

    assert turns == [True, False, True]
