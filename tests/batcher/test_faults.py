"""Faults: nothing lost, nothing doubled.

Each scenario is numbered as it happens; the result says what must hold.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import msgspec
import redis

from batcher.main import CLIENT_RETRIES, CLIENT_RETRY_CAP_S
from batcher.worker import Batcher
from tests.batcher.helpers import (
    FAST,
    ROOT,
    SHARDS,
    events,
    heir_stores_everything_once,
    push,
    queued,
    stored_count,
    wait_until,
)
from tests.store.backends import FAST_FAILURE, mongoeco_server
from tracer import events as event_codec
from tracer import redis_keys
from tracer.brands import Brands
from tracer.redis_server import RedisServer
from tracer.store.mongo import MongoStore
from tracer.store.sqlite import SQLiteStore

MakeBatcher = Callable[..., Batcher]


async def test_sqlite_locked_backs_off_keeps_events_in_redis_then_stores_all(
    tmp_path: Path, example_brands: Brands, make_batcher: MakeBatcher, redis_client: redis.Redis
) -> None:
    """1. Another connection holds an exclusive transaction on the SQLite file.
    2. 200 events are queued and a batcher drains in burst mode.
    Result: the batcher backs off, the 200 events stay in Redis; once the lock is
    released every event is stored once."""
    path = tmp_path / "store.sqlite3"
    store = SQLiteStore(path, example_brands, busy_timeout_s=0.02)
    await store.open()
    locker = sqlite3.connect(path, isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        sent = events(200)
        push(redis_client, sent)
        batcher = make_batcher(store)
        run = asyncio.create_task(batcher.run(burst=True))

        await wait_until(lambda: batcher.stats.store_failures >= 3)
        assert queued(redis_client) == 200
        assert locker.execute("SELECT count(*) FROM events").fetchone()[0] == 0
        locker.execute("ROLLBACK")
        stats = await asyncio.wait_for(run, 30)

        assert sorted(await store.event_ids()) == sorted(e.id for e in sent)
        assert stats.inserted == 200 and queued(redis_client) == 0
    finally:
        locker.close()
        await store.close()


async def test_mongodb_down_backs_off_keeps_events_in_redis_then_stores_all(
    example_brands: Brands, make_batcher: MakeBatcher, redis_client: redis.Redis
) -> None:
    """1. The MongoDB server process is stopped (SIGSTOP: its port still accepts
    connections but nothing answers, the nastier kind of outage). 2. 30 events are
    queued; a batcher drains them. 3. The server continues (SIGCONT).
    Result: the batcher backs off with the events kept in Redis, then stores all 30."""
    server = mongoeco_server()
    store = MongoStore(server.url(socketTimeoutMS=500, **FAST_FAILURE), example_brands)
    try:
        await store.open()
        server.pause()
        sent = events(30)
        push(redis_client, sent, shards=1)
        batcher = make_batcher(store)
        run = asyncio.create_task(batcher.run(burst=True))

        await wait_until(lambda: batcher.stats.store_failures >= 2)
        assert queued(redis_client) == 30
        server.resume()
        stats = await asyncio.wait_for(run, 60)

        assert sorted(await store.event_ids()) == sorted(e.id for e in sent)
        # The write that timed out may still have been applied when the server woke up:
        # the retry then finds the events stored, and still counts them exactly once.
        assert stats.inserted + stats.duplicates == 30 and queued(redis_client) == 0
        assert (await store.stats("northjobs")).of("open").all == 30
    finally:
        await store.close()
        server.stop()


async def test_redis_restart_reconnects_and_loses_nothing(
    tmp_path: Path, example_brands: Brands, make_batcher: MakeBatcher
) -> None:
    """1. A batcher drains 3,000 events in batches of 25. 2. Redis is stopped mid-way, for
    longer than the client's own retries last, and started again (append-only file).
    Result: the batcher backs off, reconnects by itself and every event is stored exactly
    once."""
    with RedisServer(tmp_path / "redis", persistent=True) as server:
        client = redis.Redis.from_url(server.url)
        store = SQLiteStore(tmp_path / "store.sqlite3", example_brands)
        await store.open()
        try:
            sent = events(3_000)
            push(client, sent)
            batcher = make_batcher(
                store, msgspec.structs.replace(FAST, batch_max_events=25), url=server.url
            )
            run = asyncio.create_task(batcher.run(burst=True))
            await wait_until(lambda: batcher.stats.batches >= 3)

            await asyncio.to_thread(server.stop)
            await asyncio.sleep(CLIENT_RETRIES * CLIENT_RETRY_CAP_S + 0.5)
            await asyncio.to_thread(server.start)
            stats = await asyncio.wait_for(run, 30)

            assert stats.redis_failures >= 1
            assert sorted(await store.event_ids()) == sorted(e.id for e in sent)
            rollups = await store.rollups("northjobs")
            assert sum(row.all for row in rollups) == 3_000
            assert queued(client) == 0
        finally:
            client.close()
            await store.close()


async def test_kill_9_mid_batch_then_restart_stores_every_event_exactly_once(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis, example_brands: Brands
) -> None:
    """1. `tracer batcher` (a subprocess) works through a backlog of 10,000 events.
    2. It is killed with SIGKILL while a batch is in its processing list.
    3. `tracer batcher --burst` is started. Result: it takes the shards over once the
    leases expire, adopts the dead batcher's processing lists, and every event is in
    the store exactly once, counted once in the rollups."""
    data_dir = tmp_path / "var"
    sent = events(10_000)
    push(redis_client, sent)
    env = {**os.environ, "REDIS_URL": redis_url, "TRACER_DATA_DIR": str(data_dir),
           "TRACER_LOG_FORMAT": "text"}  # fmt: skip
    command = [sys.executable, "-m", "cli", "batcher", "--batch-size", "500",
               "--lease-ttl", "0.6", "--no-periodic-jobs"]  # fmt: skip
    victim = await asyncio.create_subprocess_exec(
        *command, "--consumer", "victim", env=env, cwd=ROOT, stderr=subprocess.DEVNULL
    )
    processing = [redis_keys.event_processing(n, "victim") for n in range(SHARDS)]
    try:
        await wait_until(
            lambda: stored_count(data_dir) > 0 and redis_client.exists(*processing) > 0, 30
        )
    finally:
        victim.send_signal(signal.SIGKILL)
        await victim.wait()
    assert victim.returncode == -signal.SIGKILL
    assert 0 < stored_count(data_dir) < 10_000

    await heir_stores_everything_once(command, env, data_dir, sent, example_brands)
    assert queued(redis_client) == 0


async def test_graceful_shutdown_pushes_back_untouched_batches_and_leaves_the_failing_one(
    tmp_path: Path, example_brands: Brands, make_batcher: MakeBatcher, redis_client: redis.Redis
) -> None:
    """1. A batcher takes one batch of 4 from each of the 8 shards; the store is locked.
    2. Stop is requested while the writes of the first two batches (two in flight at
    once) keep failing.
    Result: after the grace period the failing batches stay in their processing lists (to
    be adopted whole), the 6 untouched batches go back to the head of their shards in
    order; a new batcher adopts at once (no TTL wait) and stores all 64 events."""
    path = tmp_path / "store.sqlite3"
    store = SQLiteStore(path, example_brands, busy_timeout_s=0.02)
    # One batch per write, as with MongoDB (SQLite would take a round in one write per lane).
    store.batches_may_be_combined = False
    await store.open()
    locker = sqlite3.connect(path, isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        sent = events(64)
        push(redis_client, sent)
        config = msgspec.structs.replace(FAST, batch_max_events=4, lease_ttl_s=30.0,
                                         heartbeat_ttl_s=30.0, concurrent_batches=2)  # fmt: skip
        batcher = make_batcher(store, config, consumer="stopping")
        run = asyncio.create_task(batcher.run())
        await wait_until(lambda: batcher.stats.store_failures >= 2)

        batcher.request_stop()
        stats = await asyncio.wait_for(run, 10)

        assert (stats.left_for_adoption, stats.pushed_back, stats.inserted) == (8, 24, 0)
        for shard in (0, 1):
            left = redis_client.lrange(redis_keys.event_processing(shard, "stopping"), 0, -1)
            assert [event_codec.decode(raw).id for raw in left] == [e.id for e in sent[shard:32:8]]
        for shard in range(2, SHARDS):
            queue = redis_client.lrange(redis_keys.event_shard(shard), 0, -1)
            assert [event_codec.decode(raw).id for raw in queue] == [e.id for e in sent[shard::8]]
        assert not redis_client.exists(redis_keys.consumer_heartbeat("batcher", "stopping"))

        locker.execute("ROLLBACK")
        heir = await make_batcher(store, config).run(burst=True)

        assert heir.adopted_lists == 2
        assert sorted(await store.event_ids()) == sorted(e.id for e in sent)
        assert queued(redis_client) == 0
    finally:
        locker.close()
        await store.close()
