"""End to end against real receivers: every delivery verified by `standardwebhooks`."""

from __future__ import annotations

import asyncio

from tests.dispatcher.helpers import (
    Answer,
    jobs_for,
    make_brands,
    new_secret,
    push,
    queued,
)
from tracer import redis_keys
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


async def test_410_disables_the_endpoint_and_feeds_the_fallback_stream(
    redis_client, receivers, make_dispatcher
):
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
