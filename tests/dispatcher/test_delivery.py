"""End to end against real receivers: every delivery verified by `standardwebhooks`."""

from __future__ import annotations

import asyncio

from dispatcher.queue import shard_for
from tests.dispatcher.helpers import (
    SHARDS,
    Answer,
    Receiver,
    jobs_for,
    make_brands,
    new_secret,
    push,
    queued,
    until,
)
from tracer import redis_keys
from tracer.brands import Brands
from tracer.webhooks import endpoint_id


async def test_every_event_delivered_signed_and_verified(redis_client, receivers, make_dispatcher):
    secret, old_secret = new_secret(), new_secret()
    plain = await receivers(secret).start()
    # This receiver still knows only the previous secret: rotation keeps it verifying.
    rotating = await receivers(old_secret).start()
    brands = make_brands(
        {"url": plain.url, "secret": secret, "allow_private": True},
        {
            "url": rotating.url,
            "secret": new_secret(),
            "previous_secrets": [old_secret],
            "allow_private": True,
            "events": ["click"],
        },
    )
    jobs = jobs_for(brands, 150)
    push(redis_client, jobs)

    dispatcher = make_dispatcher(brands)
    await asyncio.wait_for(dispatcher.run(), 30)

    event_ids = {job.event.id for job in jobs}
    for receiver in (plain, rotating):
        assert receiver.rejected == []
        assert receiver.delivered_event_ids() == event_ids
        assert all(seen.webhook_id == seen.payload["id"] for seen in receiver.requests)
    assert {seen.content_type for seen in plain.requests} == {"application/json"}
    body = plain.requests[0].payload
    assert body["brand"] == "acme"
    assert body["campaign"] == "spring-hiring"
    assert body["job_source"] == "indeed"
    assert body["recipient"].startswith("rh_")
    assert queued(redis_client) == 0
    assert dispatcher.totals()["delivered"] == 300


async def test_500_then_200_is_retried_under_the_same_id(redis_client, receivers, make_dispatcher):
    secret = new_secret()
    plan = lambda webhook_id, nth: Answer(500 if nth == 1 else 200)  # noqa: E731
    receiver = await receivers(secret, plan).start()
    brands = make_brands({"url": receiver.url, "secret": secret, "allow_private": True})
    jobs = jobs_for(brands, 40)
    push(redis_client, jobs)

    dispatcher = make_dispatcher(brands)
    await asyncio.wait_for(dispatcher.run(), 30)

    assert receiver.delivered_event_ids() == {job.event.id for job in jobs}
    assert set(receiver.counts.values()) == {2}
    stats = dispatcher.metrics.endpoints[endpoint_id("acme", receiver.url)]
    assert stats.retried == 40
    assert stats.failed["http_500"] == 40


async def test_timeout_is_retried(redis_client, receivers, make_dispatcher):
    secret = new_secret()
    receiver = await receivers(
        secret, lambda webhook_id, nth: Answer(200, delay_s=1.0 if nth == 1 else 0.0)
    ).start()
    brands = make_brands(
        {"url": receiver.url, "secret": secret, "allow_private": True, "timeout_s": 0.2}
    )
    jobs = jobs_for(brands, 10)
    push(redis_client, jobs)

    dispatcher = make_dispatcher(brands)
    await asyncio.wait_for(dispatcher.run(), 30)

    # The slow first answers are 200s the dispatcher gave up on: they count as failures.
    stats = dispatcher.metrics.endpoints[endpoint_id("acme", receiver.url)]
    assert stats.failed["timeout"] == 10
    assert stats.delivered == 10
    assert receiver.delivered_event_ids() == {job.event.id for job in jobs}


async def test_retry_after_is_honoured(redis_client, receivers, make_dispatcher):
    secret = new_secret()
    first: dict[str, float] = {}

    def plan(webhook_id: str, nth: int) -> Answer:
        if nth == 1:
            return Answer(429, headers={"Retry-After": "1"})
        return Answer(200)

    receiver = await receivers(secret, plan).start()
    brands = make_brands({"url": receiver.url, "secret": secret, "allow_private": True})
    push(redis_client, jobs_for(brands, 5))

    # The back-off alone would retry within 50 ms; Retry-After asks for a second.
    dispatcher = make_dispatcher(brands, retry_schedule_s=(0.05, 0.05, 5.0))
    await asyncio.wait_for(dispatcher.run(), 30)

    for seen in receiver.requests:
        first.setdefault(seen.webhook_id, seen.at)
    gaps = [seen.at - first[seen.webhook_id] for seen in receiver.delivered]
    assert len(gaps) == 5
    assert min(gaps) >= 0.95


async def _gone_with_a_fallback_stream(receivers) -> tuple[Receiver, Brands]:
    """A receiver that answers 410 Gone, for an endpoint naming the stream `acme:events`."""
    secret = new_secret()
    receiver = await receivers(secret, lambda webhook_id, nth: Answer(410)).start()
    brands = make_brands(
        {
            "url": receiver.url,
            "secret": secret,
            "allow_private": True,
            "fallback_stream": "acme:events",
            "max_concurrency": 1,
        }
    )
    return receiver, brands


async def test_410_disables_the_endpoint_and_feeds_the_fallback_stream(
    redis_client, receivers, make_dispatcher
):
    receiver, brands = await _gone_with_a_fallback_stream(receivers)
    jobs = jobs_for(brands, 20)
    push(redis_client, jobs)

    dispatcher = make_dispatcher(brands)
    await asyncio.wait_for(dispatcher.run(), 30)

    hook_id = endpoint_id("acme", receiver.url)
    assert redis_client.hget(redis_keys.endpoint_state(hook_id), "disabled") == b"1"
    # One 410 is enough: later jobs go straight to the stream.
    assert len(receiver.requests) == 1
    entries = redis_client.xrange("acme:events")
    assert {fields[b"id"].decode() for _, fields in entries} == {job.event.id for job in jobs}
    assert redis_client.llen(redis_keys.webhook_dlq("acme")) == 0


async def test_a_fallback_stream_redis_refuses_loses_nothing_and_burst_mode_ends(
    redis_client, receivers, make_dispatcher, caplog
):
    """The endpoint is disabled and its stream's key holds another type, so Redis refuses
    every diversion: no job is acknowledged, burst mode still ends, and every job is back
    on the queue for the next run."""
    _, brands = await _gone_with_a_fallback_stream(receivers)
    redis_client.set("acme:events", "not a stream")
    jobs = jobs_for(brands, 6)
    push(redis_client, jobs)

    dispatcher = make_dispatcher(brands)
    await asyncio.wait_for(dispatcher.run(), 30)

    assert queued(redis_client) == len(jobs)
    assert dispatcher.recorder.refused == len(jobs)
    assert "go back on the queue" in caplog.text
    assert redis_client.llen(redis_keys.webhook_dlq("acme")) == 0


async def test_410_without_fallback_dead_letters(redis_client, receivers, make_dispatcher):
    secret = new_secret()
    receiver = await receivers(secret, lambda webhook_id, nth: Answer(410)).start()
    brands = make_brands({"url": receiver.url, "secret": secret, "allow_private": True})
    push(redis_client, jobs_for(brands, 5))

    await asyncio.wait_for(make_dispatcher(brands).run(), 30)

    assert redis_client.llen(redis_keys.webhook_dlq("acme")) == 5


async def test_each_endpoint_queue_depth_counts_its_jobs_until_settled(
    redis_client, receivers, make_dispatcher
):
    """Jobs queued the way the batcher and `dlq replay` queue them count up their
    endpoint's depth; delivered and dead-lettered jobs count it down, a job waiting for a
    retry does not; `/metrics` shows it per brand and endpoint."""
    from tracer.webhooks import ENQUEUE_SCRIPT, encode_job, enqueue_arguments

    secret = new_secret()
    ok = await receivers(secret, lambda webhook_id, nth: Answer(200)).start()
    later = Answer(503, headers={"Retry-After": "3600"})  # parked on the retry set
    busy = await receivers(secret, lambda webhook_id, nth: later).start()
    rejecting = await receivers(secret, lambda webhook_id, nth: Answer(400)).start()
    hooks = [{"url": r.url, "secret": secret, "allow_private": True} for r in (ok, busy, rejecting)]
    brands = make_brands(*hooks)
    ids = [endpoint_id("acme", r.url) for r in (ok, busy, rejecting)]
    sizes = dict(zip(ids, (4, 3, 2), strict=True))
    every_job = jobs_for(brands, 4)  # one per event and endpoint
    for endpoint, count in sizes.items():
        jobs = [job for job in every_job if job.endpoint == endpoint][:count]
        shard = shard_for(endpoint, SHARDS)
        keys = [redis_keys.webhook_shard(shard), redis_keys.webhook_pending(shard)]
        args = enqueue_arguments({endpoint: count}, [encode_job(job) for job in jobs])
        redis_client.eval(ENQUEUE_SCRIPT, 2, *keys, *args)

    def depth(endpoint: str) -> int:
        shard = shard_for(endpoint, SHARDS)
        return int(redis_client.hget(redis_keys.webhook_pending(shard), endpoint) or 0)

    assert [depth(endpoint) for endpoint in ids] == [4, 3, 2]
    dispatcher = make_dispatcher(brands, retry_schedule_s=(3600.0,))
    run = asyncio.create_task(dispatcher.run())
    await until(
        lambda: len(ok.delivered) == 4 and len(busy.requests) == 3 and len(rejecting.requests) == 2,
        20,
        "one attempt each",
    )
    await until(lambda: dispatcher.recorder.idle and depth(ids[0]) == 0, 10, "the acks")
    assert [depth(endpoint) for endpoint in ids] == [0, 3, 0]
    text = await dispatcher.render_metrics()
    dispatcher.should_exit.set()
    await asyncio.wait_for(run, 30)

    for endpoint, expected in zip(ids, (0, 3, 0), strict=True):
        assert f'tracer_webhook_pending{{brand="acme",endpoint="{endpoint}"}} {expected}' in text
    assert redis_client.llen(redis_keys.webhook_dlq("acme")) == 2
    assert redis_client.hexists(redis_keys.webhook_pending(shard_for(ids[0], SHARDS)), ids[0]) == 0
