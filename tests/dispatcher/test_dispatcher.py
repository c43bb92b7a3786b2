"""The dispatcher's own machinery: batching, reliable consumption, shutdown, metrics."""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import redis
from prometheus_client.parser import text_string_to_metric_families

from dispatcher.queue import shard_for
from tests.dispatcher.helpers import (
    SHARDS,
    Answer,
    jobs_for,
    make_brands,
    new_secret,
    push,
    queued,
    until,
)
from tracer import redis_keys
from tracer.redis_server import free_port
from tracer.webhooks import encode_job, endpoint_id


async def test_batches_are_json_arrays_of_at_most_n_events(
    redis_client, receivers, make_dispatcher
):
    secret = new_secret()
    receiver = await receivers(secret).start()
    brands = make_brands(
        {
            "url": receiver.url,
            "secret": secret,
            "allow_private": True,
            "batch_max_events": 10,
            "batch_max_wait_ms": 50,
        }
    )
    jobs = jobs_for(brands, 45)
    push(redis_client, jobs)

    await asyncio.wait_for(make_dispatcher(brands).run(), 30)

    assert receiver.rejected == []
    assert all(isinstance(seen.payload, list) for seen in receiver.requests)
    assert max(len(seen.payload) for seen in receiver.requests) == 10
    assert all(seen.webhook_id.startswith("batch_") for seen in receiver.requests)
    assert receiver.delivered_event_ids() == {job.event.id for job in jobs}


async def test_a_dead_dispatchers_jobs_are_adopted(redis_client, receivers, make_dispatcher):
    """1. A dispatcher took jobs into its processing list and died (no heartbeat).
    Result: the next dispatcher puts them back on the shard and delivers them."""
    secret = new_secret()
    receiver = await receivers(secret).start()
    brands = make_brands({"url": receiver.url, "secret": secret, "allow_private": True})
    jobs = jobs_for(brands, 8)
    redis_client.sadd(redis_keys.worker_registry("dispatcher"), "ghost")
    for job in jobs:
        redis_client.rpush(redis_keys.webhook_processing(1, "ghost"), encode_job(job))

    await asyncio.wait_for(make_dispatcher(brands).run(), 30)

    assert receiver.delivered_event_ids() == {job.event.id for job in jobs}
    assert not redis_client.exists(redis_keys.webhook_processing(1, "ghost"))
    assert not redis_client.sismember(redis_keys.worker_registry("dispatcher"), "ghost")


async def test_a_live_dispatchers_jobs_are_left_alone(redis_client, receivers, make_dispatcher):
    secret = new_secret()
    receiver = await receivers(secret).start()
    brands = make_brands({"url": receiver.url, "secret": secret, "allow_private": True})
    (job,) = jobs_for(brands, 1)
    redis_client.sadd(redis_keys.worker_registry("dispatcher"), "alive")
    redis_client.set(redis_keys.consumer_heartbeat("dispatcher", "alive"), b"1", px=10_000)
    redis_client.rpush(redis_keys.webhook_processing(0, "alive"), encode_job(job))

    await asyncio.wait_for(make_dispatcher(brands).run(), 30)

    assert receiver.requests == []
    assert redis_client.llen(redis_keys.webhook_processing(0, "alive")) == 1


async def test_undecodable_and_unknown_jobs_are_kept_not_dropped(
    redis_client, receivers, make_dispatcher
):
    secret = new_secret()
    receiver = await receivers(secret).start()
    brands = make_brands({"url": receiver.url, "secret": secret, "allow_private": True})
    (job,) = jobs_for(brands, 1)
    job.endpoint = "0000000000000000"
    redis_client.rpush(redis_keys.webhook_shard(0), b"\xc1 not msgpack", encode_job(job))

    await asyncio.wait_for(make_dispatcher(brands).run(), 30)

    assert redis_client.lrange(redis_keys.webhook_dead(0), 0, -1) == [b"\xc1 not msgpack"]
    assert redis_client.llen(redis_keys.webhook_dlq("acme")) == 1


async def test_shutdown_waits_for_deliveries_within_the_grace_period(
    redis_client, receivers, make_dispatcher, caplog
):
    """1. Requests are in flight (receiver takes 0.3 s). 2. Exit is requested.
    Result: they finish within the 2 s grace period; nothing is requeued."""
    secret = new_secret()
    receiver = await receivers(secret, lambda webhook_id, nth: Answer(delay_s=0.3)).start()
    brands = make_brands({"url": receiver.url, "secret": secret, "allow_private": True})
    push(redis_client, jobs_for(brands, 5))
    dispatcher = make_dispatcher(brands, burst=False, shutdown_grace_period_s=2.0)
    run = asyncio.create_task(dispatcher.run())
    await until(lambda: receiver.counts.total() == 5, what="requests in flight")
    caplog.set_level(logging.INFO, logger="dispatcher.service")
    dispatcher.request_exit()
    await asyncio.wait_for(run, 10)

    assert len(receiver.delivered) == 5
    assert "Waiting up to 2.0s for 5 delivery task(s)" in caplog.text
    assert "5 delivered ◆ 0 retried ◆ 0 dead-lettered ◆ 0 requeued" in caplog.text
    assert queued(redis_client) == 0


async def test_shutdown_cancels_after_the_grace_period_and_requeues(
    redis_client, receivers, make_dispatcher, caplog
):
    """1. Requests hang (receiver takes 5 s). 2. Exit is requested; grace is 0.3 s.
    Result: the deliveries are cancelled and their jobs are back on the shards."""
    secret = new_secret()
    receiver = await receivers(secret, lambda webhook_id, nth: Answer(delay_s=5)).start()
    brands = make_brands({"url": receiver.url, "secret": secret, "allow_private": True})
    push(redis_client, jobs_for(brands, 6))
    dispatcher = make_dispatcher(brands, burst=False, shutdown_grace_period_s=0.3)
    run = asyncio.create_task(dispatcher.run())
    await until(lambda: receiver.counts.total() == 6, what="requests in flight")
    caplog.set_level(logging.INFO, logger="dispatcher.service")
    dispatcher.request_exit()
    await asyncio.wait_for(run, 10)

    assert "Cancel 6 delivery task(s), graceful shutdown timeout exceeded" in caplog.text
    assert "6 requeued" in caplog.text
    assert queued(redis_client) == 6
    processing = [redis_keys.webhook_processing(n, dispatcher.consumer) for n in range(SHARDS)]
    assert not redis_client.exists(*processing)
    assert not redis_client.exists(redis_keys.consumer_heartbeat("dispatcher", dispatcher.consumer))


async def test_second_exit_request_skips_the_grace_period(redis_client, receivers, make_dispatcher):
    secret = new_secret()
    receiver = await receivers(secret, lambda webhook_id, nth: Answer(delay_s=5)).start()
    brands = make_brands({"url": receiver.url, "secret": secret, "allow_private": True})
    push(redis_client, jobs_for(brands, 2))
    dispatcher = make_dispatcher(brands, burst=False, shutdown_grace_period_s=30)
    run = asyncio.create_task(dispatcher.run())
    await until(lambda: receiver.counts.total() == 2, what="requests in flight")
    dispatcher.request_exit()
    await asyncio.sleep(0.1)
    dispatcher.request_exit()
    await asyncio.wait_for(run, 5)
    assert queued(redis_client) == 2


async def test_metrics_endpoint(redis_client, receivers, make_dispatcher):
    secret = new_secret()
    plan = lambda webhook_id, nth: Answer(503 if nth == 1 else 200)  # noqa: E731
    receiver = await receivers(secret, plan).start()
    brands = make_brands({"url": receiver.url, "secret": secret, "allow_private": True})
    push(redis_client, jobs_for(brands, 7))
    dispatcher = make_dispatcher(brands, burst=False, metrics_port=free_port())
    run = asyncio.create_task(dispatcher.run())
    try:
        await until(lambda: len(receiver.delivered) == 7, what="deliveries")
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{dispatcher.metrics_port}/metrics") as resp,
        ):
            assert resp.status == 200
            text = await resp.text()
    finally:
        dispatcher.request_exit()
        await run
    hook = endpoint_id("acme", receiver.url)
    samples = {
        (sample.name, sample.labels.get("reason"), sample.labels.get("queue")): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.labels.get("endpoint") in (hook, None)
    }
    assert samples[("tracer_webhook_delivered_total", None, None)] == 7
    assert samples[("tracer_webhook_retried_total", None, None)] == 7
    assert samples[("tracer_webhook_failed_total", "http_503", None)] == 7
    assert samples[("tracer_webhook_latency_seconds_count", None, None)] == 14
    assert samples[("tracer_webhook_breaker_state", None, None)] == 0
    assert ("tracer_webhook_queue_depth", None, "retry") in samples
    # The dispatcher runs in this process here: its own process series describe it.
    assert samples[("process_cpu_seconds_total", None, None)] > 0
    assert samples[("process_resident_memory_bytes", None, None)] > 10_000_000
    assert samples[("process_open_fds", None, None)] > 3
    assert samples[("process_start_time_seconds", None, None)] < time.time()
    assert secret.removeprefix("whsec_") not in text


async def test_a_slow_endpoint_fills_only_its_shards_share(
    redis_client, receivers, make_dispatcher
):
    """1. One receiver takes 3 s per answer; another, on another shard, answers at once.
    2. `max_inflight` = 8 over 4 shards: 2 jobs per shard.
    Result: the slow endpoint holds its shard's share only; the fast one's events arrive
    while the slow one's are still waiting."""
    secret = new_secret()
    slow = await receivers(secret, lambda webhook_id, nth: Answer(delay_s=3)).start()
    fast = await receivers(secret).start()
    slow_shard = shard_for(endpoint_id("acme", slow.url), SHARDS)
    fast_url = next(
        url
        for url in (f"{fast.url}?n={n}" for n in range(100))
        if shard_for(endpoint_id("acme", url), SHARDS) != slow_shard
    )
    brands = make_brands(
        {"url": slow.url, "secret": secret, "allow_private": True, "events": ["open"]},
        {"url": fast_url, "secret": secret, "allow_private": True, "events": ["click"]},
    )
    push(redis_client, jobs_for(brands, 40, event_type="open"))
    fast_jobs = jobs_for(brands, 10, event_type="click")
    push(redis_client, fast_jobs)
    dispatcher = make_dispatcher(brands, burst=False, max_inflight=8, shutdown_grace_period_s=0.1)
    run = asyncio.create_task(dispatcher.run())
    try:
        expected = {job.event.id for job in fast_jobs}
        await until(lambda: fast.delivered_event_ids() == expected, 2.5, "the fast endpoint")
        # Its share, plus the one job an idle wait may take.
        assert slow.counts.total() <= 2 + 1
    finally:
        dispatcher.request_exit()
        await run


async def test_jobs_of_a_take_whose_reply_was_lost_are_taken_up_again(receivers, tmp_path):
    """1. A running dispatcher's processing list holds jobs it never received: a take ran
    in Redis, and Redis died before the reply came back (set up here by hand).
    2. Redis is killed and started again (append-only file), so the dispatcher's next
    take fails.
    Result: once Redis is back the dispatcher finds those jobs and delivers them, without
    waiting to die or stop."""
    from dispatcher.service import Dispatcher
    from tests.dispatcher.helpers import fast_options
    from tracer.redis_server import RedisServer

    secret = new_secret()
    receiver = await receivers(secret).start()
    brands = make_brands({"url": receiver.url, "secret": secret, "allow_private": True})
    server = RedisServer(tmp_path / "redis", persistent=True, appendfsync="always").start()
    client = redis.Redis.from_url(server.url)
    dispatcher = Dispatcher(brands, server.url, shards=SHARDS, options=fast_options(burst=False),
                            consumer="me")  # fmt: skip
    run = asyncio.create_task(dispatcher.run())
    try:
        lost = jobs_for(brands, 5)
        shard = shard_for(lost[0].endpoint, SHARDS)
        await asyncio.sleep(0.5)  # the dispatcher is up and waiting on its shards
        client.rpush(redis_keys.webhook_processing(shard, "me"), *map(encode_job, lost))
        server.kill()
        await asyncio.sleep(0.5)
        server.start()

        await until(
            lambda: receiver.delivered_event_ids() == {job.event.id for job in lost},
            15.0,
            "the lost take's jobs delivered",
        )
    finally:
        dispatcher.request_exit()
        await asyncio.wait_for(run, 30)
        client.close()
        server.stop()
    assert receiver.rejected == []
