"""The batcher on a local three-node Redis Cluster (`TRACER_REDIS_CLUSTER=1`): the event
shards spread over the nodes, and leases, adoption, acks and the webhook hand-off work
there as on one Redis."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from redis.cluster import RedisCluster

from batcher.config import BatcherConfig
from batcher.main import redis_client
from batcher.metrics import read_queue
from batcher.worker import Batcher
from tests.batcher.helpers import (
    ROOT,
    SHARDS,
    events,
    heir_stores_everything_once,
    push,
    queued,
    stored_count,
    wait_until,
)
from tests.redis_cluster import (
    ClusterNode,
    node_ports,
    seed_url,
    stop_cluster,
    wait_for_cluster,
)
from tracer import events as event_codec
from tracer import redis_keys
from tracer.brands import Brands
from tracer.store.sqlite import SQLiteStore

# TTLs well above any pause of a loaded machine: a live batcher must not look dead.
CONFIG = BatcherConfig(batch_max_events=25, lease_ttl_s=3.0, heartbeat_ttl_s=3.0,
                       idle_poll_s=0.001, backoff_initial_s=0.01, backoff_max_s=0.1,
                       periodic_jobs=False)  # fmt: skip
EVENT_SHARDS = [redis_keys.event_shard(shard) for shard in range(SHARDS)]


@pytest.fixture
async def make_cluster_batcher(
    redis_cluster: list[ClusterNode], example_brands: Brands, tmp_path: Path
) -> AsyncIterator[Callable[..., Batcher]]:
    """Batchers on the cluster, each with its own cluster client and its own connection
    to one SQLite file; all closed at the end."""
    opened: list[Batcher] = []

    async def make(consumer: str) -> Batcher:
        client = redis_client(seed_url(redis_cluster), timeout_s=2.0, cluster=True)
        store = SQLiteStore(tmp_path / "store.sqlite3", example_brands)
        await store.open()
        batcher = Batcher(client, store, example_brands, shards=SHARDS, config=CONFIG,
                          consumer=consumer)  # fmt: skip
        opened.append(batcher)
        return batcher

    yield make
    for batcher in opened:
        await batcher.store.close()
        await batcher.client.aclose()


async def test_two_batchers_share_the_shards_adopt_a_dead_ones_lists_and_store_each_event_once(
    cluster_client: RedisCluster, make_cluster_batcher: Callable[..., Batcher]
) -> None:
    """1. 1,200 events wait in the 8 shards, which live on all three nodes.
    2. "ghost" died: still registered, no heartbeat, holding a batch in its processing
    lists of shards 1 and 6 and the leases of shards 2 and 5 (expiring in 0.8 s).
    3. Two batchers share the free shards, then drain the queue in burst mode.
    Result: the ghost's batches are adopted whole and its shards claimed once its leases
    expire; every event is stored once, by one batcher, and queues two webhook jobs
    (northjobs: the hooks endpoint and the analytics one)."""
    queued_events = events(1_200)
    push(cluster_client, queued_events)
    assert len(node_ports(cluster_client, EVENT_SHARDS)) == 3
    ghost_events = [event_codec.encode(e) for e in events(1_240)[1_200:]]
    cluster_client.zadd(redis_keys.worker_registry("batcher"), {"ghost": 1.0})
    cluster_client.rpush(redis_keys.event_processing(1, "ghost"), *ghost_events[:25])
    cluster_client.rpush(redis_keys.event_processing(6, "ghost"), *ghost_events[25:])
    for shard in (2, 5):
        cluster_client.set(redis_keys.event_shard_owner(shard), "ghost", px=800)

    first, second = await make_cluster_batcher("first"), await make_cluster_batcher("second")
    # Joining one after the other: `first` claims the 6 free shards and adopts the
    # ghost's lists, then gives 2 shards back once it sees `second` (fair share: 4).
    await first._maintain()
    await second._maintain()
    await first._maintain()
    assert (len(first.leases.owned), len(second.leases.owned)) == (4, 0)
    assert first.stats.adopted_lists == 2
    queue = await read_queue(first.client, SHARDS)  # what /metrics shows
    assert queue is not None and sum(queue.depth) == 1_200

    one, two = await asyncio.wait_for(
        asyncio.gather(first.run(burst=True), second.run(burst=True)), 20
    )

    sent = [e.id for e in queued_events] + [event_codec.decode(raw).id for raw in ghost_events]
    assert sorted(await first.store.event_ids()) == sorted(sent)
    assert one.events + two.events == 1_240  # no batch was written twice
    if one.store_failures + two.store_failures == 0:
        assert one.duplicates + two.duplicates == 0
    assert one.batches > 0 and two.batches > 0
    # The ghost's leases expired and its shards were claimed and drained.
    assert all(cluster_client.llen(redis_keys.event_shard(shard)) == 0 for shard in (2, 5))
    assert one.redis_failures + two.redis_failures == 0
    assert queued(cluster_client) == 0
    assert cluster_client.zscore(redis_keys.worker_registry("batcher"), "ghost") is None
    webhook_jobs = sum(cluster_client.llen(redis_keys.webhook_shard(n)) for n in range(SHARDS))
    assert webhook_jobs == one.webhook_jobs + two.webhook_jobs == 2 * 1_240


async def test_dead_entries_and_the_ack_land_together_on_the_shards_node(
    cluster_client: RedisCluster, make_cluster_batcher: Callable[..., Batcher]
) -> None:
    """A payload that does not decode goes to its shard's dead list in the same atomic
    step as the ack, on whichever node holds the shard."""
    payloads = [event_codec.encode(e) for e in events(16)]
    payloads[3] = b"\xc1 bad three"  # shard 3
    payloads[12] = b"\xc1 bad twelve"  # shard 4
    push(cluster_client, payloads)
    dead_lists = [redis_keys.event_dead(3), redis_keys.event_dead(4)]
    assert len(node_ports(cluster_client, dead_lists)) == 2

    stats = await asyncio.wait_for((await make_cluster_batcher("solo")).run(burst=True), 20)

    assert (stats.inserted, stats.dead) == (14, 2)
    assert [cluster_client.llen(key) for key in dead_lists] == [1, 1]
    assert queued(cluster_client) == 0


async def test_a_batcher_started_while_no_node_answers_waits_for_the_cluster(
    redis_cluster: list[ClusterNode],
    cluster_client: RedisCluster,
    make_cluster_batcher: Callable[..., Batcher],
) -> None:
    """1. Every node of the cluster is down when a batcher starts (the client cannot
    even learn the slots: redis-py raises `RedisClusterException`, not a `RedisError`).
    2. The nodes come back and 200 events are queued.
    Result: the batcher kept retrying, then joins and stores them all."""
    stop_cluster(redis_cluster)
    batcher = await make_cluster_batcher("early")
    running = asyncio.create_task(batcher.run())
    try:
        await wait_until(lambda: batcher.stats.redis_failures >= 2, 10)
        assert not running.done()
        # What /metrics shows meanwhile: the queue cannot be read (not a failed scrape).
        assert await read_queue(batcher.client, SHARDS) is None
        for node in redis_cluster:
            node.start()
        wait_for_cluster(redis_cluster)
        sent = events(200)
        push(cluster_client, sent)
        await wait_until(lambda: batcher.stats.inserted == 200, 15)
    finally:
        batcher.request_stop()
        stats = await asyncio.wait_for(running, 10)
    assert sorted(await batcher.store.event_ids()) == sorted(e.id for e in sent)
    assert stats.inserted == 200 and queued(cluster_client) == 0


async def test_kill_9_mid_batch_on_a_cluster_then_an_heir_stores_every_event_exactly_once(
    tmp_path: Path,
    redis_cluster: list[ClusterNode],
    cluster_client: RedisCluster,
    example_brands: Brands,
) -> None:
    """`tracer batcher` with TRACER_REDIS_CLUSTER=1, as deployed.
    1. A batcher works through 10,000 events and is killed with SIGKILL mid-batch.
    2. `tracer batcher --burst` is started.
    Result: it takes the shards over once the leases expire, adopts the dead batcher's
    processing lists, and every event is in the store exactly once."""
    data_dir = tmp_path / "var"
    sent = events(10_000)
    push(cluster_client, sent)
    env = {**os.environ, "REDIS_URL": seed_url(redis_cluster), "TRACER_REDIS_CLUSTER": "1",
           "TRACER_DATA_DIR": str(data_dir), "TRACER_LOG_FORMAT": "text"}  # fmt: skip
    command = [sys.executable, "-m", "cli", "batcher", "--batch-size", "500",
               "--lease-ttl", "0.6", "--no-periodic-jobs", "--metrics-port", "0"]  # fmt: skip
    victim = await asyncio.create_subprocess_exec(
        *command, "--consumer", "victim", env=env, cwd=ROOT, stderr=subprocess.DEVNULL
    )
    processing = [redis_keys.event_processing(n, "victim") for n in range(SHARDS)]
    try:
        await wait_until(
            lambda: (
                stored_count(data_dir) > 0 and any(cluster_client.exists(k) for k in processing)
            ),
            15,
        )
    finally:
        victim.send_signal(signal.SIGKILL)
        await victim.wait()
    assert 0 < stored_count(data_dir) < 10_000

    await heir_stores_everything_once(command, env, data_dir, sent, example_brands)
    assert queued(cluster_client) == 0
