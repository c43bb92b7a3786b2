"""The batcher end to end on a real redis-server, against each store backend."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import redis

from batcher.config import BatcherConfig
from batcher.dead import decode_dead
from batcher.worker import Batcher
from tests.batcher.helpers import FAST, SHARDS, events, push, queued
from tests.store.events import make_event
from tracer import events as event_codec
from tracer import redis_keys
from tracer.brands import Brands
from tracer.store import EventStore
from tracer.store.sqlite import SQLiteStore
from tracer.webhooks import decode_job, endpoint_id

MakeBatcher = Callable[..., Batcher]


class TestBatcher:
    async def test_burst_stores_every_event_once_and_empties_the_queue(
        self, store: EventStore, make_batcher: MakeBatcher, redis_client: redis.Redis,
        store_kind: str,
    ) -> None:  # fmt: skip
        count = 400 if store_kind == "sqlite" else 60
        sent = events(count, event_type="click", job_source="indeed")
        push(redis_client, sent + sent[:30])  # the edge may deliver twice after a replay

        config = msgspec.structs.replace(FAST, batch_max_events=10)
        stats = await make_batcher(store, config).run(burst=True)

        assert sorted(await store.event_ids()) == sorted(e.id for e in sent)
        assert (stats.inserted, stats.duplicates, stats.dead) == (count, 30, 0)
        assert queued(redis_client) == 0
        click = (await store.stats("northjobs")).of("click")
        assert (click.all, click.unique_all) == (count, count)

    async def test_malformed_payloads_go_to_the_dead_list_with_reason_and_bytes(
        self, store: EventStore, make_batcher: MakeBatcher, redis_client: redis.Redis
    ) -> None:
        good = events(10)
        garbage = b"\xc1 not msgpack"
        wrong_shape = msgspec.msgpack.encode({"id": 1})
        no_id = event_codec.encode(msgspec.structs.replace(make_event("open"), id=""))
        push(redis_client, [*good[:5], garbage, wrong_shape, no_id, *good[5:]], shards=1)

        stats = await make_batcher(store).run(burst=True)

        assert await store.count_events() == 10
        dead = [decode_dead(raw) for raw in redis_client.lrange(redis_keys.event_dead(0), 0, -1)]
        assert [entry.raw for entry in dead] == [garbage, wrong_shape, no_id]
        assert dead[0].reason.startswith("undecodable: ")
        assert "Expected `array`, got `object`" in dead[1].reason
        assert dead[2].reason == "invalid: event without id or type"
        assert stats.dead == 3 and queued(redis_client) == 0

    async def test_webhook_jobs_only_for_subscribed_endpoints_after_storing(
        self, store: EventStore, make_batcher: MakeBatcher, redis_client: redis.Redis
    ) -> None:
        # northjobs: hooks.northjobs (open, click, unsubscribe; people only) and the
        # analytics endpoint (every type, bots included).
        human_click = make_event("click")
        bot_click = make_event("click", agent="scanner", bot=True)
        sent = make_event("sent")
        unknown_brand = make_event("click", "no-such-brand")
        push(redis_client, [human_click, bot_click, sent, unknown_brand])

        await make_batcher(store).run(burst=True)

        jobs = []
        for shard in range(SHARDS):
            jobs += [
                decode_job(raw)
                for raw in redis_client.lrange(redis_keys.webhook_shard(shard), 0, -1)
            ]
        hooks = endpoint_id("northjobs", "https://hooks.northjobs.example/tracer")
        analytics = endpoint_id("northjobs", "https://ingest.analytics.northjobs.example/events")
        assert sorted((job.event.id, job.endpoint) for job in jobs) == sorted(
            [
                (human_click.id, hooks),
                (human_click.id, analytics),
                (bot_click.id, analytics),
                (sent.id, analytics),
            ]
        )
        assert all(job.brand == "northjobs" and job.attempt == 0 for job in jobs)
        assert await store.count_events() == 4
        # Each endpoint's queue depth counts its jobs, on its own shard.
        pending: dict[str, int] = {}
        for shard in range(SHARDS):
            for endpoint, count in redis_client.hgetall(redis_keys.webhook_pending(shard)).items():
                pending[endpoint.decode()] = pending.get(endpoint.decode(), 0) + int(count)
        assert pending == {hooks: 1, analytics: 3}

    async def test_two_batchers_at_once_share_the_queue_without_double_work(
        self, store_factory, example_brands: Brands, make_batcher: MakeBatcher,
        redis_client: redis.Redis, store_kind: str,
    ) -> None:  # fmt: skip
        count = 2_000 if store_kind == "sqlite" else 80
        sent = events(count)
        push(redis_client, sent)
        # TTLs well above any pause of a loaded machine: a live batcher must not look dead.
        config = BatcherConfig(batch_max_events=25, lease_ttl_s=3.0, heartbeat_ttl_s=3.0,
                               idle_poll_s=0.001, periodic_jobs=False)  # fmt: skip
        first = make_batcher(await store_factory(example_brands), config)
        second = make_batcher(await store_factory(example_brands), config)

        one, two = await asyncio.gather(first.run(burst=True), second.run(burst=True))

        assert one.events + two.events == count  # no batch was written twice
        # A write that timed out may have landed: its retry then meets duplicates, which is
        # the store's idempotence at work, not double work between the batchers.
        if one.store_failures + two.store_failures == 0:
            assert one.duplicates + two.duplicates == 0
        assert sorted(await first.store.event_ids()) == sorted(e.id for e in sent)
        assert queued(redis_client) == 0


async def test_dead_entries_go_to_their_own_shards_dead_list_when_batches_share_a_write(
    tmp_path: Path, example_brands: Brands, make_batcher: MakeBatcher, redis_client: redis.Redis
) -> None:
    store = SQLiteStore(tmp_path / "store.sqlite3", example_brands)
    await store.open()
    try:
        # Round-robin over 8 shards: payload i lands in shard i % 8.
        payloads = [event_codec.encode(e) for e in events(16)]
        payloads[3] = b"\xc1 bad three"
        payloads[13] = b"\xc1 bad thirteen"
        push(redis_client, payloads)

        stats = await make_batcher(store).run(burst=True)

        assert stats.inserted == 14 and stats.dead == 2
        dead = {
            shard: [
                decode_dead(raw).raw
                for raw in redis_client.lrange(redis_keys.event_dead(shard), 0, -1)
            ]
            for shard in range(SHARDS)
        }
        assert dead == {s: [] for s in range(SHARDS)} | {
            3: [b"\xc1 bad three"],
            5: [b"\xc1 bad thirteen"],
        }
    finally:
        await store.close()


async def test_a_stop_is_not_lost_when_a_background_task_swallows_its_cancellation(
    store: EventStore, make_batcher: MakeBatcher
) -> None:
    """1. A batcher runs its periodic jobs; their loop survives one cancellation, as when
    a socket timeout expiring at the moment of the cancel turns it into a TimeoutError.
    2. Stop is requested. Result: the batcher still returns, promptly."""
    config = msgspec.structs.replace(FAST, periodic_jobs=True)
    batcher = make_batcher(store, config)
    swallowed = []

    async def stubborn_jobs() -> None:
        while True:
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed.append(True)

    batcher.jobs.run_forever = stubborn_jobs  # type: ignore[method-assign]
    run = asyncio.create_task(batcher.run())
    await asyncio.sleep(0.2)
    stopped_at = time.monotonic()
    batcher.request_stop()

    done, _ = await asyncio.wait({run}, timeout=5)
    assert done == {run}, "the batcher did not stop"
    assert time.monotonic() - stopped_at < 2.0
    assert swallowed == [True]
